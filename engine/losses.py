"""Loss formulas used by two or more methods (style.md section 5: one place, no copies)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def logistic_loss(logits_one: torch.Tensor, logits_zero: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of a logistic classifier: logits_one labelled 1, logits_zero labelled 0.

    The GAN discriminator loss (Goodfellow et al. 2014, eq. 1) and VEEGAN's O_LR (Algorithm 1, step 2)
    are both this; which side is "1" is the caller's choice.
    """
    return (F.binary_cross_entropy_with_logits(logits_one, torch.ones_like(logits_one))
            + F.binary_cross_entropy_with_logits(logits_zero, torch.zeros_like(logits_zero)))


def ratio_loss(logits: torch.Tensor) -> torch.Tensor:
    """alpha-GAN's adversarial loss R(u) = -log u + log(1 - u) of a classifier u = sigmoid(logit), batch mean.

    The sum of the saturating and non-saturating GAN generator losses (alpha-GAN Algorithm 1, eqs. 10
    and 12): the negative log density ratio u / (1 - u). From logits it is exact and stable:
    -log sigmoid(l) + log(1 - sigmoid(l)) = softplus(-l) - softplus(l) = -l.
    """
    return -logits.mean()


def hinge_d_loss(real: torch.Tensor, *fakes: torch.Tensor) -> torch.Tensor:
    """Hinge loss of a critic: mean relu(1 - D(real)) plus mean relu(1 + D(fake)) over one fake batch made of
    equal shares of each kind of fake.

    SN-GAN's discriminator loss (Miyato et al. 2018), which BMS-VAE-GAN uses for its image critic, with its
    single fake term. The kinds share it (alpha-GAN's L_D has one term for reconstructions and one for
    samples): with a full term each, reconstructions that match the data cancel the real term there, the
    hinge then has no slope between -1 and 1 on the data, and the critic sinks to -1 everywhere.
    """
    return F.relu(1.0 - real).mean() + sum(F.relu(1.0 + fake).mean() for fake in fakes) / len(fakes)


def sum_over_example(values: torch.Tensor, batch_dims: int = 1) -> torch.Tensor:
    """Sum over every dimension after the first `batch_dims`: one figure per example of a vector (n, D) or an
    image (n, C, H, W) batch, or per (example, sample) with batch_dims=2."""
    return values.flatten(batch_dims).sum(dim=-1)


def reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor, kind: str = "l1", batch_dims: int = 1) -> torch.Tensor:
    """Per-example reconstruction error summed over the data's dimensions: ||x - x_hat||_1 ("l1", a Laplace
    likelihood, alpha-GAN eq. 10, as BMS writes it too) or ||x - x_hat||^2 ("l2", a Gaussian one). A sum, as
    the papers write it, so their weights mean what they say. x broadcasts against x_hat, whose first
    `batch_dims` dimensions index examples (BMS: 2, example and sample).
    """
    diff = x_hat - x
    return sum_over_example(diff.abs() if kind == "l1" else diff.pow(2), batch_dims)


def gan_updates(discriminator: torch.nn.Module, real: torch.Tensor, generate: Callable[[], torch.Tensor],
                opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer, g_steps: int = 1) -> dict[str, float]:
    """One GAN iteration on discriminator inputs `real` and generate()'s fakes (attached to G, from one fixed z).

    Shared by the GAN and PacGAN, which differ only in what the discriminator reads. g_steps > 1 repeats the
    generator step on the same z, as carpedm20's DCGAN and PacGAN's Stacked-MNIST code do (2, "to make sure
    that d_loss does not go to zero"); loss_g is the first step's.
    """
    fake = generate()
    # 1. discriminator step: max log D(x) + log(1 - D(G(z))) (Goodfellow et al. 2014, eq. 1)
    loss_d = logistic_loss(discriminator(real), discriminator(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    for step in range(g_steps):
        # 2. generator step, non-saturating: max log D(G(z)) (same paper, section 3); the first on the same
        #    fakes (no second generator pass), any further one on G's new output for the same z
        logits = discriminator(fake if step == 0 else generate())
        loss_g = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if step == 0:
            reported_g = loss_g.item()
    return {"loss_d": loss_d.item(), "loss_g": reported_g}
