"""Reconstructions, inference via optimisation (IvOM) and interpolations of a trained model (issue 12).

- Reconstruction: decode(encode(x)) for models that encode.
- IvOM (Metz et al. 2017, section 3.4.1, as VEEGAN's evaluation code runs it; DESIGN.md section 7): for each
  target x, minimise 1/2 |G(z) - x|^2 over z with SciPy's L-BFGS-B from 3 starts drawn from the prior, keep
  the best. Every model has it, GAN included. One problem at a time, as VEEGAN's code runs it: a batched
  L-BFGS would share its line search and curvature pairs across targets, so a target's fit would depend on
  the others (measured: more restarts then did worse on some targets).
- Errors: per-example mean squared error per dimension, for images on pixels mapped to [0, 1] ((v + 1) / 2,
  VEEGAN's IvOM figure), for vectors on the data's own scale.
- Interpolation between two codes, linear or spherical (Shoemake 1985; White 2016 for generative models).
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.config import ConfigError
from engine.data import DataSpec
from engine.models.base import Encodes, GenerativeModel, frozen_weights

IVOM_RESTARTS = 3  # VEEGAN's evaluation code
PATHS = ("linear", "spherical")
# VEEGAN Table 2, CIFAR-10 IvOM (mean +- spread as published; the spread's definition is not retrieved)
PUBLISHED_IVOM = {"DCGAN": "0.00844 +- 0.002", "ALI": "0.0067 +- 0.004", "Unrolled GAN": "0.013 +- 0.0009",
                  "VEEGAN": "0.0068 +- 0.0001"}


def squared_error(x: Tensor, y: Tensor, spec: DataSpec) -> Tensor:
    """Per-example mean squared error per dimension; images on [0, 1] (a [-1, 1] difference halves)."""
    scale = 0.5 if spec.kind == "image" else 1.0
    return ((x - y) * scale).square().flatten(1).mean(1)


def error_name(spec: DataSpec) -> str:
    return "MSE per pixel on [0, 1]" if spec.kind == "image" else "MSE per dimension (data scale)"


def reconstruct(model: GenerativeModel, x: Tensor) -> Tensor:
    """decode(encode(x)) of a model that encodes."""
    if not isinstance(model, Encodes):
        raise ConfigError(f"{type(model).__name__} has no encoder: use IvOM (reconstruction by optimisation)")
    with torch.no_grad():
        return model.decode(model.encode(x))


def ivom(model: GenerativeModel, x: Tensor, iterations: int = 50, restarts: int = IVOM_RESTARTS,
         seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """(best codes (n, d), their decodes, their per-example errors) over `restarts` L-BFGS-B runs per target,
    each from its own prior draw."""
    from scipy.optimize import minimize

    n, d = len(x), model.latent_dim
    with frozen_weights(model):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            starts = model.prior(restarts * n).view(restarts, n, d).double().cpu().numpy()
        codes = torch.empty(restarts, n, d)
        for r in range(restarts):
            for i in range(n):
                target = x[i:i + 1]

                def loss_and_grad(z_flat):
                    z = torch.from_numpy(z_flat).float().view(1, d).to(x.device).requires_grad_(True)
                    loss = 0.5 * (model.decode(z) - target).square().sum()
                    (grad,) = torch.autograd.grad(loss, z)
                    return loss.item(), grad.double().cpu().numpy().ravel()

                found = minimize(loss_and_grad, starts[r, i], jac=True, method="L-BFGS-B",
                                 options={"maxiter": iterations})
                codes[r, i] = torch.from_numpy(found.x).float()
        with torch.no_grad():
            decoded = model.decode(codes.flatten(0, 1).to(x.device)).unflatten(0, (restarts, n))
            errors = torch.stack([squared_error(decoded[r], x, model.spec) for r in range(restarts)])
            best = errors.argmin(0)
            rows = torch.arange(n)
            return codes.to(x.device)[best, rows], decoded[best, rows], errors[best, rows]


def interpolate(model: GenerativeModel, start: Tensor, end: Tensor, steps: int = 8,
                path: str = "spherical") -> Tensor:
    """decode of `steps` codes from start to end (each (d,)), (steps, *shape)."""
    if path not in PATHS:
        raise ConfigError(f"path={path!r} must be one of {', '.join(PATHS)}")
    t = torch.linspace(0.0, 1.0, steps, device=start.device)[:, None]
    if path == "linear":
        codes = (1 - t) * start + t * end
    else:
        cos = torch.dot(start, end) / (start.norm() * end.norm())
        omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
        codes = (torch.sin((1 - t) * omega) * start + torch.sin(t * omega) * end) / torch.sin(omega)
    with torch.no_grad():
        return model.decode(codes)
