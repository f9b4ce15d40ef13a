"""The VAE's maths: analytic KL, learned sigma, and the ELBO as a bound on the exact linear-Gaussian likelihood."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from engine.data import DataSpec
from engine.models.vae import VAE, VAEConfig, gaussian_kl_to_standard

D, K = 5, 3


def linear_vae(seed: int = 0) -> VAE:
    """Linear decoder G(z) = Wz + b and linear encoder, in float64 so the comparison is sharp."""
    torch.manual_seed(seed)
    config = dataclasses.replace(VAEConfig(), latent_dim=K, g_depth=0, e_depth=0, batch_size=8)
    return VAE(config, DataSpec(name="t", kind="vector", shape=(D,), low=-1.0, high=1.0)).double()


def set_generator(model: VAE, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random W (with W^T S^-1 W diagonal, so the exact posterior is in the encoder family), b and sigma."""
    sigma = 0.3 + torch.rand(D, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(D, K, generator=gen, dtype=torch.float64))
    w = sigma[:, None] * q * (0.5 + 2 * torch.rand(K, generator=gen, dtype=torch.float64))
    b = torch.randn(D, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        model.decoder[0].weight.copy_(w)
        model.decoder[0].bias.copy_(b)
        s = sigma - model.config.sigma_min
        model.sigma_raw.copy_(s + torch.log(-torch.expm1(-s)))       # inverse softplus
    assert torch.allclose(model.observation_sigma(), sigma)
    return w, b, sigma


def exact_log_likelihood(x, w, b, sigma) -> torch.Tensor:
    """log N(x; b, W W^T + diag sigma^2), the marginal of the linear-Gaussian model."""
    cov = w @ w.T + torch.diag(sigma**2)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=cov).log_prob(x)


def set_encoder(model: VAE, a, c, log_var) -> None:
    """mu(x) = A x + c, log_var(x) = log_var (constant)."""
    with torch.no_grad():
        model.encoder[0].weight.zero_()
        model.encoder[0].weight[:K].copy_(a)
        model.encoder[0].bias.copy_(torch.cat([c, log_var]))


def test_vae_kl_is_the_analytic_gaussian_kl():
    mu, log_var = torch.randn(6, 4), torch.randn(6, 4)
    q = torch.distributions.Normal(mu, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(gaussian_kl_to_standard(mu, log_var), expected, atol=1e-5)


def test_vae_elbo_is_below_the_exact_log_likelihood_and_tight_at_the_exact_posterior():
    gen = torch.Generator().manual_seed(0)
    model = linear_vae()
    w, b, sigma = set_generator(model, gen)
    x = b + torch.randn(8, D, generator=gen, dtype=torch.float64) * 1.5
    log_p = exact_log_likelihood(x, w, b, sigma)
    torch.manual_seed(1)
    for _ in range(5):                                    # random encoders: a strict, visible gap
        set_encoder(model, torch.randn(K, D, generator=gen, dtype=torch.float64),
                    torch.randn(K, generator=gen, dtype=torch.float64),
                    torch.randn(K, generator=gen, dtype=torch.float64))
        with torch.no_grad():
            gap = log_p - model.elbo(x, samples=20_000)
        assert (gap > 0.05).all(), gap
    # the exact posterior: cov = (I + W^T S^-1 W)^-1 (diagonal by construction), mean = cov W^T S^-1 (x - b)
    precision = torch.eye(K, dtype=torch.float64) + w.T @ torch.diag(sigma**-2) @ w
    cov = torch.linalg.inv(precision)
    assert torch.allclose(cov, torch.diag(torch.diagonal(cov)), atol=1e-10)
    a = cov @ w.T @ torch.diag(sigma**-2)
    set_encoder(model, a, -a @ b, torch.diagonal(cov).log())
    with torch.no_grad():
        gap = log_p - model.elbo(x, samples=20_000)
    assert gap.abs().max() < 0.03, gap                  # equality, up to Monte Carlo error


def test_vae_sigma_is_learned_per_dimension_and_positive():
    model = linear_vae()
    sigma = model.observation_sigma()
    assert sigma.shape == (D,) and torch.allclose(sigma, torch.full((D,), model.config.sigma_init, dtype=sigma.dtype))
    x = torch.randn(8, D, dtype=torch.float64) * torch.tensor([0.01, 0.01, 10.0, 10.0, 1.0], dtype=torch.float64)
    for _ in range(200):
        out = model.train_step(x)
    sigma = model.observation_sigma()
    assert (sigma > model.config.sigma_min).all()
    assert sigma[:2].max() < sigma[2:4].min()             # each dimension learns its own scale
    assert out["sigma_mean"] == pytest.approx(sigma.mean().item())


def test_vae_train_step_losses_are_the_negative_elbo():
    model = linear_vae()
    x = torch.randn(8, D, dtype=torch.float64)
    torch.manual_seed(5)
    with torch.no_grad():
        expected = -model.elbo(x).mean().item()
    torch.manual_seed(5)
    out = model.train_step(x)
    assert out["loss_recon"] + out["loss_kl"] == pytest.approx(expected, rel=1e-9)
    assert out["loss_kl"] > 0


def test_vae_encode_decode_reconstruct_shapes():
    model = linear_vae()
    x = torch.randn(4, D, dtype=torch.float64)
    z = model.encode(x)
    assert z.shape == (4, K)
    assert torch.equal(model.reconstruct(x), model.decode(z))
    assert model.float().sample(6).shape == (6, D)
    assert F.softplus(model.sigma_raw).min() > 0 and math.isfinite(model.observation_sigma().sum().item())


def test_vae_kl_warmup_weights_the_kl_gradient_from_zero_to_one():
    model = linear_vae()
    model.config = dataclasses.replace(model.config, kl_warmup_steps=4)
    x = torch.randn(8, D, dtype=torch.float64)

    def gradients(kl_weight: float) -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(5)
        nll, kl = model.elbo_terms(x)
        (nll.mean() + kl_weight * kl.mean()).backward()
        return [p.grad.clone() for p in model.encoder.parameters()]

    for step, weight in enumerate([0.0, 0.25, 0.5, 0.75, 1.0, 1.0]):
        assert model.kl_weight() == weight
        expected, full = gradients(weight), gradients(1.0)
        torch.manual_seed(5)
        model.train_step(x)
        used = [p.grad for p in model.encoder.parameters()]
        assert all(torch.allclose(u, e) for u, e in zip(used, expected)), step
        if weight < 1.0:  # the KL term does move the encoder, so the weight is visible in its gradient
            assert not all(torch.allclose(u, f) for u, f in zip(used, full)), step
    assert int(model.state_dict()["steps_done"]) == 6  # checkpointed with the weights, so a resume continues it
