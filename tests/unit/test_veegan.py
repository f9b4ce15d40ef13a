"""VEEGAN's maths (Algorithm 1): the joint discriminator's pairs and labels, F's gradient, simultaneous updates."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from engine.data import DataSpec
from engine.models.veegan import VEEGAN, VEEGANConfig


def spec(dim: int = 2) -> DataSpec:
    return DataSpec(name="t", kind="vector", shape=(dim,), low=-1.0, high=1.0)


def build(seed: int = 0, dim: int = 2, **changes) -> VEEGAN:
    torch.manual_seed(seed)
    return VEEGAN(dataclasses.replace(VEEGANConfig(), batch_size=64, **changes), spec(dim))


def batch(n: int = 64, dim: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dim", [2, 1200])
def test_veegan_discriminator_input_is_the_z_x_pair(dim):
    model = build(dim=dim)
    assert model.discriminator[0].in_features == model.config.latent_dim + dim
    z, x = torch.randn(5, model.config.latent_dim), torch.randn(5, dim)
    base = model.discriminate(z, x)
    assert not torch.allclose(model.discriminate(z + 1.0, x), base)   # z alone changes D's output
    assert not torch.allclose(model.discriminate(z, x + 1.0), base)   # and so does x alone


def test_veegan_reconstructor_gets_gradient_only_from_the_l2_term():
    model = build()
    z, eps = model._noise(64)
    losses = model.losses(batch(), z, eps)
    f_params = list(model.reconstructor.parameters())
    # the l2 term zeroed: what is left (D's loss and the logit term) gives F exactly nothing
    without_l2 = torch.autograd.grad(losses["loss_d"] + losses["loss_g"], f_params, allow_unused=True,
                                     retain_graph=True)
    assert all(g is None or torch.count_nonzero(g) == 0 for g in without_l2)
    with_l2 = torch.autograd.grad(losses["loss_recon"], f_params, retain_graph=True)
    assert sum(g.abs().sum() for g in with_l2) > 0
    # the generator does receive the logit term (the raw D, Algorithm 1 step 4)
    g_logit = torch.autograd.grad(losses["loss_g"], list(model.generator.parameters()))
    assert sum(g.abs().sum() for g in g_logit) > 0


def test_veegan_reconstructor_update_ignores_the_discriminator():
    """Two models that differ only in D: after one step, F is identical and G is not."""
    a, b = build(seed=0), build(seed=0)
    with torch.no_grad():
        for p in b.discriminator.parameters():
            p.mul_(-3.0)
    for model in (a, b):
        torch.manual_seed(7)
        model.train_step(batch())
    for pa, pb in zip(a.reconstructor.parameters(), b.reconstructor.parameters(), strict=True):
        assert torch.equal(pa.grad, pb.grad) and torch.equal(pa, pb)
    assert any(not torch.equal(pa, pb) for pa, pb in zip(a.generator.parameters(), b.generator.parameters(),
                                                       strict=True))


def test_veegan_discriminator_pairs_and_labels():
    """D sees (z, G(z)) and (F(x) + N(0, I), x); loss_d labels them 1 and 0; loss_g is the raw logit."""
    model = build(extra_noise_dim=0)   # G deterministic given z, so the generator pair can be checked
    before = copy.deepcopy(model)
    x = batch(n=64)
    calls = []
    # the joint discriminator's inputs (z, x), joined as its MLP reads them
    model.discriminator.register_forward_hook(
        lambda mod, inp, out: calls.append((torch.cat(inp, dim=1).detach(), out.detach())))
    out = model.train_step(x)
    k = model.config.latent_dim
    (gen_in, gen_logit), (rec_in, rec_logit) = calls
    with torch.no_grad():
        assert torch.allclose(gen_in[:, k:], before.generator(gen_in[:, :k]), atol=1e-6)
        assert torch.equal(rec_in[:, k:], x)
        code_noise = rec_in[:, :k] - before.reconstructor(x)   # F(x) + N(0, I): the sampled code
        recon = 0.5 * (gen_in[:, :k] - before.reconstructor(gen_in[:, k:])).pow(2).sum(1).mean()
    assert abs(code_noise.mean().item()) < 0.03 and abs(code_noise.std().item() - 1.0) < 0.03
    labelled = (F.binary_cross_entropy_with_logits(gen_logit, torch.ones_like(gen_logit))
                + F.binary_cross_entropy_with_logits(rec_logit, torch.zeros_like(rec_logit)))
    swapped = (F.binary_cross_entropy_with_logits(gen_logit, torch.zeros_like(gen_logit))
               + F.binary_cross_entropy_with_logits(rec_logit, torch.ones_like(rec_logit)))
    assert out["loss_d"] == pytest.approx(labelled.item(), rel=1e-6)
    assert abs(labelled - swapped) > 1e-3          # the check can tell the two conventions apart
    assert out["loss_g"] == pytest.approx(gen_logit.mean().item(), rel=1e-6, abs=1e-7)
    assert out["loss_recon"] == pytest.approx(recon.item(), rel=1e-6)


def test_veegan_updates_are_simultaneous():
    """G and F step on gradients taken at the pre-step D (Algorithm 1 step 5), not at the updated D."""
    model = build()
    reference = copy.deepcopy(model)
    x = batch()
    torch.manual_seed(3)
    model.train_step(x)
    torch.manual_seed(3)
    losses = reference.losses(x, *reference._noise(64))
    reference.opt_g.zero_grad()
    (losses["loss_g"] + losses["loss_recon"]).backward(inputs=reference._gf_params)
    reference.opt_g.step()
    for p, q in zip(model._gf_params, reference._gf_params, strict=True):
        assert torch.allclose(p.grad, q.grad, rtol=1e-5, atol=1e-8) and torch.allclose(p, q, atol=1e-7)
    # and D moved, so a sequential (D first) update would have given G other gradients
    assert any(not torch.equal(p, q) for p, q in zip(model.discriminator.parameters(),
                                                     reference.discriminator.parameters(), strict=True))


def test_veegan_encode_is_the_reconstructor():
    model = build()
    x = batch(n=9)
    assert model.encode(x).shape == (9, model.config.latent_dim)
    assert torch.equal(model.encode(x), model.reconstructor(x).detach())


def test_veegan_code_noise_sets_the_real_pairs_code_spread():
    """p(z | x) = N(F(x), s^2 I): s = 0 gives D the reconstructor's code itself, s = 0.3 that spread around it."""
    x = batch(n=256)
    for noise in (0.0, 0.3):
        model = build(code_noise=noise)
        calls = []
        model.discriminator.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].detach()))
        with torch.no_grad():
            expected = model.reconstructor(x)
        model.losses(x, *model._noise(256))
        spread = (calls[1] - expected).std().item()
        assert spread == pytest.approx(noise, abs=0.02)


def test_veegan_recon_weight_scales_only_the_generators_autoencoder_term():
    """recon_weight = 0 leaves G the logit term alone; the generator's gradient then equals grad loss_g."""
    a, b = build(seed=0, recon_weight=0.0), build(seed=0, recon_weight=1.0)
    x = batch()
    grads = []
    for model in (a, b):
        torch.manual_seed(7)
        model.train_step(x)
        grads.append([p.grad.clone() for p in model.generator.parameters()])
    reference = build(seed=0)
    torch.manual_seed(7)
    losses = reference.losses(x, *reference._noise(64))
    only_logit = torch.autograd.grad(losses["loss_g"], list(reference.generator.parameters()))
    assert all(torch.allclose(g, r, atol=1e-7) for g, r in zip(grads[0], only_logit, strict=True))
    assert any(not torch.allclose(g, r, atol=1e-6) for g, r in zip(grads[1], only_logit, strict=True))
