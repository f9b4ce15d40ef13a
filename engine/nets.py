"""Shared networks, built from the data spec: MLPs for vectors, DCGAN convolutional nets for images.

Every model builds its networks through `generator`, `discriminator`, `encoder` and `joint_discriminator`,
which read the spec's kind and shape; no model reads `spec.shape` itself, so an image spec can never become
an MLP of input width 1. Image nets follow DCGAN (Radford, Metz, Chintala 2016, arXiv:1511.06434), as
PresGAN's official code does: transposed convolutions with batch norm and ReLU up to a tanh output; strided
convolutions with leaky ReLU 0.2 and batch norm (none on the first layer) down to a 4 x 4 map (7 x 7 at
28 px), then one output layer. The MLP arguments (hidden, depth, activation) apply to vectors and to the
MLP head of a joint discriminator; `width` (DCGAN's ngf / ndf) to convolutions.
"""

from __future__ import annotations

import dataclasses

import math

import torch
from torch import nn

from engine.config import ConfigError, param
from engine.data import DataSpec

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}
IMAGE_SIZES = {28: 7, 32: 4, 64: 4}  # image side -> side of the smallest feature map


# VEEGAN's Stacked-MNIST setting as PacGAN re-ran it (algorithms.md 2.3: DCGAN gf = df = 64, z 100, batch 64,
# Adam 2e-4, beta1 0.5); PresGAN's official defaults are the same numbers (algorithms.md 3.5)
DCGAN_SETTING = {"latent_dim": 100, "batch_size": 64, "lr_g": 2e-4, "lr_d": 2e-4, "lr_e": 2e-4, "beta1": 0.5,
                 "conv_width": 64}
IMAGE_SETS = ("mnist", "mnist5k", "imbalanced_mnist", "stacked_mnist", "cifar10")
STACKED_EVAL_SAMPLES = 26_000  # VEEGAN / PacGAN's Stacked-MNIST sample count


def image_presets(config: type, **extra) -> dict[str, dict]:
    """Presets of every image set: DCGAN_SETTING (the fields `config` has) and the method's `extra` fields;
    Stacked MNIST is evaluated on the papers' 26,000 samples."""
    names = {f.name for f in dataclasses.fields(config)}
    base = {**{k: v for k, v in DCGAN_SETTING.items() if k in names}, **extra}
    return {name: {**base, **({"train.eval_samples": STACKED_EVAL_SAMPLES} if name == "stacked_mnist" else {})}
            for name in IMAGE_SETS}


# the fields only one kind of network reads: image generators and encoders are DCGANs, which ignore MLP widths
# and depths (d_hidden / d_depth stay: VEEGAN's joint image critic has an MLP head; code discriminators are MLPs
# on codes for either kind), MLPs ignore the convolution width
MLP_SIZE_FIELDS = ("g_hidden", "g_depth", "e_hidden", "e_depth", "f_hidden", "f_depth")


def unused_fields(kind: str | None) -> tuple[str, ...]:
    """Config fields a method's networks do not read on data of this kind (the Train form hides them)."""
    return {"image": MLP_SIZE_FIELDS, "vector": ("conv_width",)}.get(kind, ())


def conv_width_param() -> int:
    """The config field every method carries for its image networks."""
    return param(64, range=(1, 1024), help="images: DCGAN base channels, ngf = ndf (PresGAN official: 64); "
                                           "the widest layer has 2, 4 or 8 x this at 28, 32 or 64 px")


def mlp(in_dim: int, out_dim: int, hidden: int, depth: int, activation: str = "relu") -> nn.Sequential:
    """in_dim -> depth x (Linear(hidden) + activation) -> Linear(out_dim), linear output."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def spectrally_normalised(net: nn.Module) -> nn.Module:
    """Every Linear and convolution of net with spectral normalisation (Miyato et al. 2018): Lipschitz
    constant <= 1 per layer, one power iteration per training forward."""
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.utils.parametrizations.spectral_norm(module)
        elif isinstance(module, nn.ConvTranspose2d):  # its output channels are dim 1 of the weight
            nn.utils.parametrizations.spectral_norm(module, dim=1)
    return net


def vector_width(spec: DataSpec) -> int:
    """D of a vector spec; anything else is an error, never a silent width."""
    if spec.kind != "vector" or len(spec.shape) != 1:
        raise ConfigError(f"data {spec.name!r}: an MLP needs vectors of shape (D,), got {spec.kind} {spec.shape}")
    return spec.shape[0]


def image_layout(spec: DataSpec) -> tuple[int, int, int]:
    """(channels, side, side of the smallest map) of a square image spec at a supported size."""
    if spec.kind != "image" or len(spec.shape) != 3 or spec.shape[1] != spec.shape[2]:
        raise ConfigError(f"data {spec.name!r}: DCGAN nets need square C x H x W images, got {spec.shape}")
    channels, side = spec.shape[0], spec.shape[1]
    if side not in IMAGE_SIZES:
        raise ConfigError(f"data {spec.name!r}: images must be {', '.join(map(str, IMAGE_SIZES))} px, got {side}")
    return channels, side, IMAGE_SIZES[side]


def _dcgan_init(net: nn.Module) -> nn.Module:
    """DCGAN's initialisation (section 4): conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)
    return net


class ImageGenerator(nn.Module):
    """(..., in_dim) codes -> (..., C, H, W) images in [-1, 1]: DCGAN's generator."""

    def __init__(self, spec: DataSpec, in_dim: int, width: int):
        super().__init__()
        channels, side, base = image_layout(spec)
        ups = round(math.log2(side // base))
        ch = width * 2 ** (ups - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, ch, base, 1, 0, bias=False), nn.BatchNorm2d(ch),
                                   nn.ReLU(True)]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = _dcgan_init(nn.Sequential(*layers))
        self.in_dim, self.shape = in_dim, tuple(spec.shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        codes = z.reshape(-1, self.in_dim, 1, 1)
        if self.training or torch.is_grad_enabled() or len(codes) <= INFERENCE_CHUNK:
            return self.net(codes).view(*lead, *self.shape)
        # inference in eval mode: each image depends on its code alone, so chunks give the same images, faster
        return torch.cat([self.net(chunk) for chunk in codes.split(INFERENCE_CHUNK)]).view(*lead, *self.shape)


# codes per forward when a generator only draws images: 10,000 32-px DCGAN images took 10-20 s in one batch and
# 3.6 s in chunks of 256 on two threads here (transposed convolutions on a huge batch leave the cache)
INFERENCE_CHUNK = 256


def image_trunk(spec: DataSpec, width: int, batch_norm: bool = True) -> tuple[nn.Sequential, int]:
    """DCGAN's discriminator without its output layer, and the flat size of its features."""
    channels, side, base = image_layout(spec)
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    ch, side = width, side // 2
    while side > base:
        layers += [nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False), *([nn.BatchNorm2d(2 * ch)] if batch_norm else []),
                   nn.LeakyReLU(0.2, True)]
        ch, side = 2 * ch, side // 2
    return _dcgan_init(nn.Sequential(*layers)), ch * base * base


class ImageReader(nn.Module):
    """(n, C, H, W) -> (n, out_dim): the DCGAN trunk, then one linear output layer over its last map (the
    DCGAN discriminator's final 4 x 4 convolution is this)."""

    def __init__(self, spec: DataSpec, out_dim: int, width: int, batch_norm: bool = True):
        super().__init__()
        self.trunk, features = image_trunk(spec, width, batch_norm)
        self.head = nn.Linear(features, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x).flatten(1))


def generator(spec: DataSpec, in_dim: int, hidden: int, depth: int, activation: str, width: int = 64) -> nn.Module:
    """Codes (..., in_dim) -> data (..., *spec.shape): an MLP with a linear output, or DCGAN's generator."""
    if spec.kind == "image":
        return ImageGenerator(spec, in_dim, width)
    return mlp(in_dim, vector_width(spec), hidden, depth, activation)


def discriminator(spec: DataSpec, out_dim: int, hidden: int, depth: int, activation: str, width: int = 64,
                  spectral_norm: bool = False) -> nn.Module:
    """Data (n, *spec.shape) -> (n, out_dim) logits or scores. With spectral_norm every layer is normalised and
    image nets drop batch norm (SN-GAN's discriminators have none)."""
    if spec.kind == "image":
        net: nn.Module = ImageReader(spec, out_dim, width, batch_norm=not spectral_norm)
    else:
        net = mlp(vector_width(spec), out_dim, hidden, depth, activation)
    return spectrally_normalised(net) if spectral_norm else net


def encoder(spec: DataSpec, out_dim: int, hidden: int, depth: int, activation: str, width: int = 64) -> nn.Module:
    """Data -> (n, out_dim) codes or posterior parameters: the discriminator's network with out_dim outputs (for
    images, PresGAN's VAE encoder: the DCGAN discriminator without its output layer, then a linear layer)."""
    return discriminator(spec, out_dim, hidden, depth, activation, width)


class JointMLP(nn.Sequential):
    """An MLP on the pair (z, x) concatenated, z first."""

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat([z, x], dim=1))


class JointImageCritic(nn.Module):
    """x through the DCGAN trunk, its features joined with z, then an MLP head."""

    def __init__(self, spec: DataSpec, z_dim: int, out_dim: int, hidden: int, depth: int, activation: str,
                 width: int):
        super().__init__()
        self.trunk, features = image_trunk(spec, width)
        self.head = mlp(z_dim + features, out_dim, hidden, depth, activation)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([z, self.trunk(x).flatten(1)], dim=1))


def joint_discriminator(spec: DataSpec, z_dim: int, out_dim: int, hidden: int, depth: int, activation: str,
                        width: int = 64) -> nn.Module:
    """(z (n, z_dim), x (n, *spec.shape)) -> (n, out_dim): a discriminator of (code, data) pairs (VEEGAN)."""
    if spec.kind == "image":
        return JointImageCritic(spec, z_dim, out_dim, hidden, depth, activation, width)
    layers = mlp(z_dim + vector_width(spec), out_dim, hidden, depth, activation)
    return JointMLP(*layers)
