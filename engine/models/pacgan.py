"""PacGAN (Lin, Khetan, Fanti, Oh, NeurIPS 2018, arXiv:1712.04086): the discriminator judges packs.

A GAN whose discriminator sees `pack` samples concatenated along the feature axis, all real or all
generated; PacGAN2 (pack = 2) is the default. Everything else is engine/models/gan.py: the same
networks, optimiser and update order, so GAN and PacGAN runs at the same settings differ only in packing
(both image presets take PacGAN's code's two generator steps per iteration)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from engine.config import ConfigError, Section, param
from engine.data import DataSpec
from engine.losses import gan_updates
from engine.models.gan import g_steps_param
from engine.models.base import GenerativeModel
from engine import nets
from engine.nets import ACTIVATIONS, conv_width_param


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(B, D) -> (B / pack, pack * D), images (B, C, H, W) -> (B / pack, pack * C, H, W): rows i*pack ..
    i*pack + pack - 1 side by side along the first data axis (features; an image's channels, as PacGAN's
    image code stacks them).

    Minibatch rows are drawn independently, so consecutive rows form a random pack.
    """
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


def packed_spec(spec: DataSpec, pack: int) -> DataSpec:
    """The spec of what the discriminator reads: packs of `pack` examples (see pack_samples)."""
    return dataclasses.replace(spec, shape=(pack * spec.shape[0], *spec.shape[1:]))


@dataclass
class PacGANConfig(Section):
    """Defaults: GANConfig's (VEEGAN 2-D notebook networks and Adam), plus PacGAN2's pack = 2."""

    pack: int = param(2, range=(1, 16), search=(1, 4, "int"),
                      help="m, samples per discriminator input (PacGAN Table 1: PacGAN2/3/4; 1 is the GAN)")
    latent_dim: int = param(256, range=(1, 4096), search=(2, 512, "log"),
                            help="z dimension (as GANConfig; the ring8/grid25 presets use PacGAN's own 2)")
    g_hidden: int = param(128, range=(1, 8192), help="generator hidden width (VEEGAN notebook: 128)")
    g_depth: int = param(2, range=(1, 16), help="generator hidden layers (VEEGAN notebook: 2)")
    d_hidden: int = param(128, range=(1, 8192), help="discriminator hidden width (VEEGAN notebook: 128)")
    d_depth: int = param(1, range=(1, 16), help="discriminator hidden layers (VEEGAN notebook: 1)")
    activation: str = param("relu", choices=tuple(ACTIVATIONS), search=tuple(ACTIVATIONS),
                            help="hidden activation (VEEGAN: relu)")
    conv_width: int = conv_width_param()
    batch_size: int = param(500, range=(1, 65_536),
                            help="samples per minibatch, real and generated each; the discriminator sees "
                                 "batch_size / pack packs of each (PacGAN's code: 100 packs of m samples)")
    lr_g: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"), help="generator Adam lr (VEEGAN: 1e-3)")
    lr_d: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"),
                        help="discriminator Adam lr (VEEGAN: 1e-3)")
    beta1: float = param(0.5, range=(0.0, 0.999), help="Adam beta1 (VEEGAN: 0.5)")
    beta2: float = param(0.999, range=(0.0, 0.9999), help="Adam beta2 (TensorFlow default 0.999)")
    g_steps: int = g_steps_param()

    def check(self, prefix: str) -> None:
        if self.batch_size % self.pack:
            raise ConfigError(f"{prefix}.batch_size={self.batch_size} must be a multiple of "
                              f"{prefix}.pack={self.pack} (each pack holds {self.pack} samples)")


class PacGAN(GenerativeModel):
    Config = PacGANConfig
    # PacGAN's own 2-D setting (fjxmlzn/PacGAN synthetic_data_experiments/2D*_GAN&PacGAN/config.py) has z 2-d,
    # G 4 x 400 ReLU + BN, D 3 x 200 maxout, Adam 1e-4 / beta1 0.8, 100 packs a batch, 400 epochs of 100k
    # (400k steps). Its z dimension is kept; its slower nets and lr need far more than a 20k-step run.
    PRESETS = {
        "ring8": {"latent_dim": 2},   # PacGAN config num_zdim = 2 (Table 1 setting)
        "grid25": {"latent_dim": 2},  # PacGAN config num_zdim = 2 (Table 1 setting)
        # images: PacDCGAN2 of PacGAN Table 2: VEEGAN's Stacked-MNIST setting with pack 2 and its code's two
        # generator steps (stacked_MNIST_experiments/VEEGAN_experiment/model.py); 1000 modes, KL 0.145 at 4,000 steps
        **nets.image_presets(PacGANConfig, pack=2, g_steps=2),
    }

    def __init__(self, config: PacGANConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        self.generator = nets.generator(spec, c.latent_dim, c.g_hidden, c.g_depth, c.activation, c.conv_width)
        # the only change to the GAN: the discriminator's input is a pack of m samples (PacGAN's packing)
        self.discriminator = nets.discriminator(packed_spec(spec, c.pack), 1, c.d_hidden, c.d_depth, c.activation,
                                                c.conv_width)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))

    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        m = self.config.pack
        if x.shape[0] % m:  # the trainer draws batch_size rows, which check() made a multiple of m
            raise ValueError(f"a batch of {x.shape[0]} rows cannot be split into packs of {m}")
        # packs of real samples and packs of generated ones, never mixed, then the GAN's two steps on packs
        # (the GAN objective on packed inputs, as in the official code's bricks.py)
        z = self.prior(x.shape[0])
        return gan_updates(self.discriminator, pack_samples(x, m), lambda: pack_samples(self.generator(z), m),
                           self.opt_d, self.opt_g, self.config.g_steps)
