"""Network builders: the architecture follows the data spec; image nets have the right shapes and options."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine import nets
from engine.config import ConfigError
from engine.data import DataSpec


def image_spec(channels: int, side: int) -> DataSpec:
    return DataSpec(name=f"img{side}", kind="image", shape=(channels, side, side), low=-1.0, high=1.0)


VECTOR = DataSpec(name="v3", kind="vector", shape=(3,), low=-1.0, high=1.0)


@pytest.mark.parametrize("channels,side", [(1, 28), (3, 32), (3, 64)])
def test_image_generator_and_discriminator_shapes(channels, side):
    spec = image_spec(channels, side)
    g = nets.generator(spec, 16, hidden=32, depth=2, activation="relu", width=4)
    x = g(torch.randn(5, 16))
    assert x.shape == (5, channels, side, side)
    assert x.abs().max() <= 1.0  # tanh output: the data's [-1, 1] range
    assert g(torch.randn(2, 3, 16)).shape == (2, 3, channels, side, side)  # leading dims kept
    d = nets.discriminator(spec, 7, hidden=32, depth=1, activation="relu", width=4)
    assert d(x).shape == (5, 7)
    joint = nets.joint_discriminator(spec, 16, 1, hidden=32, depth=1, activation="relu", width=4)
    assert joint(torch.randn(5, 16), x).shape == (5, 1)


def test_widest_layer_follows_dcgan():
    # 64 px: 8 x width channels at 4 x 4 (DCGAN's generator), 28 px: 2 x width at 7 x 7
    g64 = nets.generator(image_spec(3, 64), 10, 0, 0, "relu", width=2)
    g28 = nets.generator(image_spec(1, 28), 10, 0, 0, "relu", width=2)
    assert g64.net[0].out_channels == 16 and g64.net[0].kernel_size == (4, 4)
    assert g28.net[0].out_channels == 4 and g28.net[0].kernel_size == (7, 7)


def test_vector_specs_get_plain_mlps():
    # the HMC fast path recognises an nn.Sequential of Linear layers: vector generators must stay one
    g = nets.generator(VECTOR, 4, hidden=8, depth=2, activation="tanh")
    assert type(g) is nn.Sequential and g(torch.randn(6, 4)).shape == (6, 3)
    joint = nets.joint_discriminator(VECTOR, 4, 1, hidden=8, depth=1, activation="relu")
    assert joint(torch.randn(6, 4), torch.randn(6, 3)).shape == (6, 1)


@pytest.mark.parametrize("spec,match", [
    (DataSpec(name="bad", kind="image", shape=(1, 30, 30), low=-1, high=1), "28, 32, 64 px"),
    (DataSpec(name="bad", kind="image", shape=(28, 28), low=-1, high=1), "C x H x W"),
    (DataSpec(name="bad", kind="vector", shape=(1, 28, 28), low=-1, high=1), "vectors of shape"),
])
def test_unsupported_shapes_are_errors_not_silent_mlps(spec, match):
    with pytest.raises(ConfigError, match=match):
        nets.discriminator(spec, 1, 8, 1, "relu", width=4)


def test_spectral_norm_reaches_convolutions():
    spec = image_spec(1, 28)
    d = nets.discriminator(spec, 1, 8, 1, "relu", width=4, spectral_norm=True)
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())  # SN-GAN's critic has no batch norm
    d.train()
    for _ in range(30):  # power iterations converge during training forwards
        d(torch.randn(4, *spec.shape))
    conv = layers[0]
    sigma = torch.linalg.matrix_norm(conv.weight.flatten(1), ord=2)
    assert sigma <= 1.05


def test_a_generator_drawing_many_images_in_eval_mode_gives_the_same_images_in_chunks():
    spec = DataSpec(name="i28", kind="image", shape=(1, 28, 28), low=-1.0, high=1.0)
    generator = nets.ImageGenerator(spec, 8, 8).eval()
    codes = torch.randn(nets.INFERENCE_CHUNK * 2 + 7, 8)
    whole = generator.net(codes.view(len(codes), 8, 1, 1))  # one batch, with gradients: the unchunked path
    with torch.no_grad():
        chunked = generator(codes)
    assert chunked.shape == (len(codes), 1, 28, 28) and torch.allclose(chunked, whole, atol=1e-6)
    generator.train()  # training mode: batch-norm statistics of the whole batch, never chunked
    with torch.no_grad():
        assert not torch.allclose(generator(codes[:8]), generator(codes)[:8], atol=1e-4)
