"""BMS-VAE-GAN maths: best-of-many reconstruction, least realistic sample, T = 1 reduction, spectral norm."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.losses import hinge_d_loss
from engine.data import DataSpec
from tests.conftest import Fn
from engine.models.bms_vae_gan import BMSVAEGAN, BMSVAEGANConfig

SPEC = DataSpec(name="t2", kind="vector", shape=(2,), low=-1.0, high=1.0)


def build(**overrides) -> BMSVAEGAN:
    torch.manual_seed(0)
    config = dataclasses.replace(BMSVAEGANConfig(), batch_size=16, latent_dim=2, **overrides)
    return BMSVAEGAN(config, SPEC)


def transparent(model: BMSVAEGAN) -> BMSVAEGAN:
    """q(z|x) = N(x, I) and G = identity, so reconstruction i of x is x + eps_i; the critic scores x by x[0]."""
    model.encoder = Fn(lambda x: torch.cat([x, torch.zeros_like(x)], dim=1))
    model.generator = Fn(lambda z: z)
    model.discriminator = Fn(lambda x: x[:, :1])
    return model


# three examples, T = 3: per-sample L1 errors sum|eps_i| (shown halved: the mean) and critic scores x[0] + eps_i[0] are known
X = torch.tensor([[0.0, 0.0], [1.0, -1.0], [2.0, 0.5]])
EPS = torch.tensor([
    [[0.5, 0.5], [0.1, -0.1], [-0.9, 0.9]],    # errors 0.5, 0.1, 0.9  -> best 0.1;  scores 0.5, 0.1, -0.9
    [[0.2, 0.2], [-0.4, 0.2], [0.3, -0.3]],    # errors 0.2, 0.3, 0.3  -> best 0.2;  scores 1.2, 0.6, 1.3
    [[-1.0, 1.0], [0.6, 0.6], [0.05, -0.05]],  # errors 1.0, 0.6, 0.05 -> best 0.05; scores 1.0, 2.6, 2.05
])
Z = torch.tensor([[0.25, 0.0], [-0.5, 0.0], [1.0, 0.0]])


def test_reconstruction_term_is_the_minimum_over_the_samples():
    losses = transparent(build(num_samples=3, recon_loss="l1")).losses(X, EPS, Z)
    assert losses["loss_recon"].item() == pytest.approx(2 * (0.1 + 0.2 + 0.05) / 3)  # sums over 2 dimensions
    # the average over samples (the alpha-GAN / VAE term) is a different number here
    assert losses["loss_recon"].item() != pytest.approx(2 * EPS.abs().mean().item())


def test_reconstruction_gradient_reaches_only_the_best_sample():
    model = transparent(build(num_samples=3))
    eps = EPS.clone().requires_grad_(True)
    model.losses(X, eps, Z)["loss_recon"].backward()
    used = eps.grad.abs().sum(dim=2) > 0
    assert used.tolist() == [[False, True, False], [True, False, False], [False, False, True]]


def test_adversarial_term_uses_the_least_realistic_sample():
    losses = transparent(build(num_samples=3)).losses(X, EPS, Z)
    worst = torch.tensor([-0.9, 0.6, 1.0])   # min over T of the critic scores, per example
    assert losses["loss_adv"].item() == pytest.approx(-(worst.mean() + Z[:, 0].mean()).item())


def test_critic_hinge_loss_counts_reconstructions_and_samples_as_fake():
    losses = transparent(build(num_samples=3)).losses(X, EPS, Z)
    scores = (X[:, None, 0] + EPS[:, :, 0])
    fake = (F.relu(1 + scores).mean() + F.relu(1 + Z[:, 0]).mean()) / 2  # one fake term, half each
    assert losses["loss_d"].item() == pytest.approx((F.relu(1 - X[:, 0]).mean() + fake).item())


def test_lipschitz_bound_scales_the_critic_scores():
    """d_lipschitz = 4: every critic score is 4 x the network's, so the adversarial term is 4 x too."""
    one = transparent(build(num_samples=3)).losses(X, EPS, Z)
    four = transparent(build(num_samples=3, d_lipschitz=4.0)).losses(X, EPS, Z)
    assert four["loss_adv"].item() == pytest.approx(4 * one["loss_adv"].item())
    assert four["loss_d"].item() != pytest.approx(one["loss_d"].item())


def test_critic_is_pushed_up_on_data_that_reconstructions_match():
    """Reconstructions equal to the data must not cancel the real term: the critic's loss still falls
    as its score on the data rises from -1 (the hinge loss would be flat there with a full term each)."""
    real = torch.full((8,), -0.5, requires_grad=True)
    hinge_d_loss(real, real, torch.full((8,), -2.0)).backward()
    assert real.grad.sum() < 0


def test_one_sample_reduces_to_the_single_sample_objective():
    """T = 1: the hybrid VAE-GAN objective with one reparameterised code, computed here by hand."""
    model = build(num_samples=1, recon_loss="l2", recon_weight=3.0, adv_weight=0.5).eval()  # eval: fixed SN weights
    torch.manual_seed(1)
    x, eps, z = torch.randn(16, 2), torch.randn(16, 1, 2), torch.randn(16, 2)
    losses = model.losses(x, eps, z)
    mean, log_var = model.encoder(x).chunk(2, dim=1)
    z_hat = mean + (0.5 * log_var).exp() * eps[:, 0]
    recon = (model.generator(z_hat) - x).pow(2).sum(dim=1).mean()  # a sum over dimensions, as the paper
    adv = -(model.discriminator(model.generator(z_hat)).mean() + model.discriminator(model.generator(z)).mean())
    code = -model.code_discriminator(z_hat).mean()
    assert losses["loss_recon"].item() == pytest.approx(recon.item(), rel=1e-5)
    assert losses["loss_adv"].item() == pytest.approx(adv.item(), rel=1e-5)
    assert losses["loss_g"].item() == pytest.approx((3.0 * recon + 0.5 * adv + code).item(), rel=1e-5)


def test_critic_is_spectrally_normalised():
    model = build()
    for _ in range(30):  # power iterations run in training forwards
        model.train_step(torch.randn(16, 2) * 3)
    model.eval()
    for layer in model.discriminator:
        if isinstance(layer, nn.Linear):
            assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_one_generator_pass_per_iteration():
    model = build(num_samples=5)
    calls = []
    model.generator.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    model.train_step(torch.randn(16, 2))
    assert calls == [16 * 5 + 16]   # the n*T codes and the n prior draws, decoded together
