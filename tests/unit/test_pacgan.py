"""PacGAN's maths: the discriminator judges packs of m samples, all real or all generated."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.config import ConfigError, build_run_config
from engine.data import DataSpec
from engine.models.gan import GAN, GANConfig
from engine.models.pacgan import PacGAN, PacGANConfig, pack_samples
from engine.registry import MODELS


def spec(dim: int = 2) -> DataSpec:
    return DataSpec(name="t", kind="vector", shape=(dim,), low=-1.0, high=1.0)


def build(pack: int = 2, dim: int = 2, batch_size: int = 12, seed: int = 0) -> PacGAN:
    torch.manual_seed(seed)
    return PacGAN(dataclasses.replace(PacGANConfig(), pack=pack, batch_size=batch_size), spec(dim))


@pytest.mark.parametrize("dim", [2, 1200])
@pytest.mark.parametrize("pack", [1, 2, 3, 4])
def test_pacgan_discriminator_input_width_is_pack_times_dim(pack, dim):
    model = build(pack=pack, dim=dim)
    assert model.discriminator[0].in_features == pack * dim
    assert model.generator[-1].out_features == dim      # the generator still makes one sample at a time
    assert model.sample(5).shape == (5, dim)


def test_pack_samples_puts_distinct_samples_side_by_side():
    x = torch.arange(12.0).reshape(6, 2)                  # rows (0,1), (2,3), ... all distinct
    packed = pack_samples(x, 3)
    assert packed.shape == (2, 6)
    assert torch.equal(packed[0], torch.cat([x[0], x[1], x[2]]))
    assert torch.equal(packed[1], torch.cat([x[3], x[4], x[5]]))
    # permuting within a pack reorders the input but keeps the same samples in it
    swapped = pack_samples(x[[1, 0, 2, 3, 4, 5]], 3)
    assert not torch.equal(swapped[0], packed[0])
    assert sorted(swapped[0].reshape(3, 2).tolist()) == sorted(packed[0].reshape(3, 2).tolist())
    assert torch.equal(swapped[1], packed[1])


@pytest.mark.parametrize("pack", [2, 3])
def test_pacgan_packs_are_all_real_or_all_generated(pack):
    model = build(pack=pack, batch_size=12)
    x = 100.0 + torch.arange(24.0).reshape(12, 2)         # far from anything the generator makes
    seen = []
    model.discriminator.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
    model.train_step(x)
    real_rows = {tuple(r) for r in x.tolist()}
    d_inputs = torch.cat(seen)                            # D step (real, fake) then G step (fake)
    assert d_inputs.shape == (3 * 12 // pack, pack * 2)
    n_real = 0
    for row in d_inputs:
        members = [tuple(s) in real_rows for s in row.reshape(pack, 2).tolist()]
        assert all(members) or not any(members)           # a pack never mixes real and generated
        n_real += all(members)
    assert n_real == 12 // pack
    # the real packs use every example of the batch exactly once
    real_samples = [tuple(s) for s in seen[0].reshape(-1, 2).tolist()]
    assert sorted(real_samples) == sorted(real_rows)


def test_pacgan_batch_size_must_be_a_multiple_of_pack():
    with pytest.raises(ConfigError, match=r"model\.batch_size=500 must be a multiple of model\.pack=3"):
        build_run_config(MODELS, {"model_name": "pacgan", "model": {"pack": 3}})
    assert build_run_config(MODELS, {"model_name": "pacgan", "model": {"pack": 4}}).model.batch_size == 500


def test_pacgan_with_pack_one_is_the_gan():
    """pack = 1 must reproduce engine/models/gan.py exactly (packing is the only change)."""
    shared = {f.name: getattr(PacGANConfig(), f.name) for f in dataclasses.fields(GANConfig)}
    torch.manual_seed(0)
    gan = GAN(GANConfig(**{**shared, "batch_size": 16}), spec())
    pac = build(pack=1, batch_size=16)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(4))
    for _ in range(3):
        torch.manual_seed(9)
        expected = gan.train_step(x)
        torch.manual_seed(9)
        assert pac.train_step(x) == expected
    two = build(pack=2, batch_size=16)
    torch.manual_seed(9)
    assert two.train_step(x) != expected


@pytest.mark.parametrize("model_class", [GAN, PacGAN])
def test_g_steps_repeats_the_generator_step_on_the_same_z(model_class):
    """g_steps = 2 (PacGAN's Stacked-MNIST code): one discriminator update, two generator updates, the second on
    the first's z through the updated generator."""
    torch.manual_seed(0)
    model = model_class(dataclasses.replace(model_class.Config(), batch_size=8, g_steps=2), spec())
    codes = []
    model.generator.register_forward_hook(lambda mod, inp, out: codes.append(inp[0].detach().clone()))
    model.train_step(torch.randn(8, 2))
    steps = {name: {int(state["step"]) for state in opt.state.values()}
             for name, opt in (("d", model.opt_d), ("g", model.opt_g))}
    assert steps == {"d": {1}, "g": {2}}
    assert len(codes) == 2 and torch.equal(codes[0], codes[1])
