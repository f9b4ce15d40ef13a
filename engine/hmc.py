"""Batched Hamiltonian Monte Carlo (Neal, 2011, arXiv:1206.1901) over many independent chains at once.

Used by PresGAN (Dieng, Ruiz, Blei, Titsias, 2019, arXiv:1910.04302) to sample p(z | x) for its
entropy gradient, and meant for the log-likelihood estimator too. All chains move together: one
potential evaluation (one generator pass) per leapfrog step for the whole batch, a
Metropolis-Hastings test per chain, and one shared step size adapted during burn-in toward a target
acceptance rate, exactly as the released PresGAN code (`hmc.get_samples`) adapts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GRADIENTS = ("full", "prior")


class Potential(Protocol):
    """U(z) = -log of the (unnormalised) target density, one value per chain; z is (n, d)."""

    def energy(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """(U (n,), aux) without gradients; aux is any per-chain by-product worth keeping (e.g. G(z))."""

    def energy_and_grad(self, z: Tensor, with_energy: bool = True) -> tuple[Tensor | None, Tensor, Tensor | None]:
        """(U or None, dU/dz (n, d), aux); U may be skipped where only the gradient is needed."""


class GaussianPosterior:
    """Posterior of z under z ~ N(0, I), x | z ~ N(G(z), diag sigma^2):
    U(z) = 1/2 |z|^2 + 1/2 sum_j (x_j - G(z)_j)^2 / sigma_j^2 (constants dropped). aux = G(z).

    sigma broadcasts against x (one value per data dimension, or a scalar). The generator is used as it is
    (train or eval mode); its parameters get no gradient from here. An nn.Sequential of Linear layers and
    elementwise activations (what engine.nets.mlp builds) takes a fast path: its forward pass keeps the
    activations and dU/dz is back-propagated by hand, with no autograd graph (a third less time per
    leapfrog step on a small CPU MLP); any other generator goes through one autograd.grad call per step.
    """

    def __init__(self, generator: Callable[[Tensor], Tensor], x: Tensor, sigma: Tensor):
        self.generator = generator
        self.x = x.detach()
        self.inv_var = sigma.detach().pow(-2)
        self.layers = _mlp_layers(generator)

    def _energy(self, z: Tensor, diff: Tensor, scaled: Tensor) -> Tensor:
        return 0.5 * (z.square().sum(1) + (diff * scaled).flatten(1).sum(1))

    def energy(self, z: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            mu = self.generator(z) if self.layers is None else _mlp_forward(self.layers, z)[0]
            diff = mu - self.x
            return self._energy(z, diff, diff * self.inv_var), mu

    def energy_and_grad(self, z: Tensor, with_energy: bool = True) -> tuple[Tensor | None, Tensor, Tensor]:
        z = z.detach()
        if self.layers is not None:
            with torch.no_grad():
                mu, hidden = _mlp_forward(self.layers, z)
                diff = mu - self.x
                scaled = diff * self.inv_var  # dU/dG(z)
                grad = _mlp_vjp(self.layers, hidden, scaled)
        else:
            z_leaf = z.requires_grad_(True)
            with torch.enable_grad():
                mu = self.generator(z_leaf)
            diff = mu.detach() - self.x
            scaled = diff * self.inv_var
            # one backward pass for the whole batch: chains are independent, so d(sum_n U_n)/dz_n = dU_n/dz_n
            (grad,) = torch.autograd.grad(mu, z_leaf, grad_outputs=scaled)
            z, mu = z.detach(), mu.detach()
        energy = self._energy(z, diff, scaled) if with_energy else None
        return energy, grad + z, mu


# derivative of an activation from its output h, times the incoming gradient g
_ACTIVATION_VJP = {
    nn.ReLU: lambda m, g, h: torch.ops.aten.threshold_backward(g, h, 0.0),
    nn.Tanh: lambda m, g, h: torch.ops.aten.tanh_backward(g, h),
    nn.LeakyReLU: lambda m, g, h: torch.where(h > 0, g, g * m.negative_slope),
    nn.ELU: lambda m, g, h: torch.where(h > 0, g, g * (h + m.alpha)),
}


def _mlp_layers(net) -> list[tuple[nn.Linear, nn.Module | None]] | None:
    """(Linear, following activation or None) pairs when net is such an nn.Sequential, else None."""
    if not isinstance(net, nn.Sequential) or len(net) == 0:
        return None
    modules, pairs = list(net), []
    while modules:
        linear = modules.pop(0)
        if type(linear) is not nn.Linear:
            return None
        activation = modules.pop(0) if modules and type(modules[0]) in _ACTIVATION_VJP else None
        if activation is not None and getattr(activation, "inplace", False):
            return None
        pairs.append((linear, activation))
    return pairs


def _mlp_forward(layers, h: Tensor) -> tuple[Tensor, list[Tensor]]:
    """The output and every layer's output (after its activation), which _mlp_vjp needs."""
    outputs = []
    for linear, activation in layers:
        h = F.linear(h, linear.weight, linear.bias)
        if activation is not None:
            h = activation(h)
        outputs.append(h)
    return h, outputs


def _mlp_vjp(layers, outputs: list[Tensor], g: Tensor) -> Tensor:
    """g^T d(output)/d(input): the chain rule through the layers, last to first."""
    for (linear, activation), out in zip(reversed(layers), reversed(outputs)):
        if activation is not None:
            g = _ACTIVATION_VJP[type(activation)](activation, g, out)
        g = g @ linear.weight
    return g


@dataclass
class HMCResult:
    samples: Tensor        # (num_samples, n, d) the states after each post-burn-in transition
    aux: Tensor | None     # (num_samples, n, ...) the potential's aux at those states (e.g. G(z_s))
    accept: Tensor         # (burn_in + num_samples, n) 1.0 where the chain accepted its proposal
    step_size: float       # the step size after burn-in adaptation (carry it to the next call)

    @property
    def accept_rate(self) -> Tensor:
        return self.accept.mean()


def hmc(potential: Potential, z: Tensor, step_size: float | Tensor, *, num_samples: int = 2, burn_in: int = 2,
        leapfrog_steps: int = 5, target_accept: float = 0.67, adapt_rate: float = 0.02, gradient: str = "full",
        start: tuple[Tensor, Tensor | None, Tensor | None] | None = None) -> HMCResult:
    """Run burn_in + num_samples HMC transitions of every chain (rows of z) and keep the last num_samples.

    gradient="full": the leapfrog uses dU/dz (textbook HMC). gradient="prior": the leapfrog uses only the
    gradient of the N(0, I) prior's energy, z, as the released PresGAN code does (its G(z) runs under
    no_grad); the MH test still uses the full U, so the chain still targets exp(-U), and each transition
    costs one potential evaluation instead of leapfrog_steps.
    During burn-in the step size moves by adapt_rate * (accepted share - target_accept) * step_size
    (PresGAN's hmc_learning_rate rule); adapt_rate = 0 keeps it fixed.
    start: (U, dU/dz or None, aux) at z if the caller already has them; they are computed otherwise.
    """
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient={gradient!r} must be one of {', '.join(GRADIENTS)}")
    z = z.detach()
    # a Python float: the leapfrog then needs one fused op per update (one host sync per burn-in transition)
    step = float(step_size)
    energy, grad, aux = start if start is not None else (None, None, None)
    if gradient == "full" and (energy is None or grad is None):
        energy, grad, aux = potential.energy_and_grad(z)
    elif energy is None:
        (energy, aux), grad = potential.energy(z), None
    if gradient == "prior":
        grad = None  # the prior dynamics never read it
    samples, kept_aux, accepts = [], [], []
    for i in range(burn_in + num_samples):
        momentum = torch.randn_like(z)
        if gradient == "full":
            z_new, p_new, energy_new, grad_new, aux_new = _leapfrog_full(potential, z, momentum, grad, step,
                                                                         leapfrog_steps)
        else:
            z_new, p_new = _leapfrog_prior(z, momentum, step, leapfrog_steps)
            (energy_new, aux_new), grad_new = potential.energy(z_new), None
        # Metropolis-Hastings per chain on H = U + |p|^2 / 2 (negating p at the end leaves |p|^2 unchanged);
        # a NaN proposal compares False and is rejected
        log_ratio = energy - energy_new + 0.5 * (momentum.square().sum(1) - p_new.square().sum(1))
        accept = torch.rand_like(energy).log() < log_ratio
        keep = _selector(accept, bool(torch.isfinite(energy_new).all()))
        z, energy = keep(z_new, z), torch.where(accept, energy_new, energy)
        grad = keep(grad_new, grad) if grad is not None else None
        aux = keep(aux_new, aux) if aux is not None else None
        accepts.append(accept)
        if i < burn_in:
            step += adapt_rate * (accept.float().mean().item() - target_accept) * step
        else:
            samples.append(z)
            kept_aux.append(aux)
    return HMCResult(samples=torch.stack(samples) if samples else z.new_empty(0, *z.shape),
                     aux=torch.stack(kept_aux) if kept_aux and aux is not None else None,
                     accept=torch.stack(accepts).to(z.dtype), step_size=step)


def _selector(accept: Tensor, finite: bool) -> Callable[[Tensor, Tensor], Tensor]:
    """(new, old) -> new in accepted rows, old elsewhere. lerp with 0/1 weights is exact and several times
    faster than a broadcast where on the CPU, but 0 * inf is NaN, so where takes over if a proposal is not
    finite (a finite U implies a finite z and G(z))."""
    if finite:
        weight = accept.to(torch.get_default_dtype())
        return lambda new, old: torch.lerp(old, new, weight.view(-1, *[1] * (old.dim() - 1)).to(old.dtype))
    return lambda new, old: torch.where(accept.view(-1, *[1] * (old.dim() - 1)), new, old)


def _leapfrog_full(potential: Potential, z: Tensor, p: Tensor, grad: Tensor, step: float, n_steps: int):
    """Half momentum step, n_steps position steps with full momentum steps between, final half step.
    The gradient at the end is returned so the next transition starts without a generator pass."""
    p = p.add(grad, alpha=-0.5 * step)
    energy, aux = None, None
    for j in range(n_steps):
        z = z.add(p, alpha=step)
        last = j == n_steps - 1
        energy, grad, aux = potential.energy_and_grad(z, with_energy=last)
        p = p.add_(grad, alpha=-(0.5 if last else 1.0) * step)
    return z, p, energy, grad, aux


def _leapfrog_prior(z: Tensor, p: Tensor, step: float, n_steps: int) -> tuple[Tensor, Tensor]:
    """The same leapfrog with dU/dz replaced by the prior's z. Every step is then linear in (z, p), so the
    n_steps collapse into one 2 x 2 map, composed on Python floats: no generator pass, four tensor ops."""
    z_coef, p_coef = (1.0, 0.0), (-0.5 * step, 1.0)  # (z, p) as multiples of the starting (z, p)
    for j in range(n_steps):
        z_coef = (z_coef[0] + step * p_coef[0], z_coef[1] + step * p_coef[1])
        h = (0.5 if j == n_steps - 1 else 1.0) * step
        p_coef = (p_coef[0] - h * z_coef[0], p_coef[1] - h * z_coef[1])
    return z.mul(z_coef[0]).add_(p, alpha=z_coef[1]), z.mul(p_coef[0]).add_(p, alpha=p_coef[1])
