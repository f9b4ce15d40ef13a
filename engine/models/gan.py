"""GAN (Goodfellow et al., 2014, arXiv:1406.2661): BCE discriminator, non-saturating generator loss.

Defaults follow VEEGAN's 2-D notebook (Srivastava et al., 2017), the setting of VEEGAN Table 1's
GAN row: batch 500, 128-unit ReLU MLPs, Adam lr 1e-3 with beta1 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import Section, param
from engine.data import DataSpec
from engine.losses import gan_updates
from engine.models.base import GenerativeModel
from engine import nets
from engine.nets import ACTIVATIONS, conv_width_param


def g_steps_param() -> int:
    """The config field of the GAN and PacGAN: generator updates per discriminator update (engine.losses)."""
    return param(1, range=(1, 10), help="generator updates per discriminator update, on the same z (Goodfellow et "
                                        "al.: 1; carpedm20's DCGAN and PacGAN's Stacked-MNIST code: 2)")


@dataclass
class GANConfig(Section):
    """Defaults: VEEGAN 2-D notebook (generator 2 x 128 ReLU, discriminator 1 x 128 ReLU)."""

    latent_dim: int = param(256, range=(1, 4096), search=(2, 512, "log"),
                            help="z dimension; VEEGAN's 2-D notebook feeds 254-d z plus 1-d noise (~256)")
    g_hidden: int = param(128, range=(1, 8192), help="generator hidden width (VEEGAN notebook: 128)")
    g_depth: int = param(2, range=(1, 16), help="generator hidden layers (VEEGAN notebook: 2)")
    d_hidden: int = param(128, range=(1, 8192), help="discriminator hidden width (VEEGAN notebook: 128)")
    d_depth: int = param(1, range=(1, 16), help="discriminator hidden layers (VEEGAN notebook uses 1)")
    activation: str = param("relu", choices=tuple(ACTIVATIONS), search=tuple(ACTIVATIONS),
                            help="hidden activation (VEEGAN: relu)")
    conv_width: int = conv_width_param()
    batch_size: int = param(500, range=(1, 65_536), help="minibatch size (VEEGAN notebook: 500)")
    lr_g: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"), help="generator Adam lr (VEEGAN: 1e-3)")
    lr_d: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"),
                        help="discriminator Adam lr (VEEGAN: 1e-3)")
    beta1: float = param(0.5, range=(0.0, 0.999), help="Adam beta1 (VEEGAN: 0.5)")
    beta2: float = param(0.999, range=(0.0, 0.9999), help="Adam beta2 (TensorFlow default 0.999)")
    g_steps: int = g_steps_param()


class GAN(GenerativeModel):
    Config = GANConfig
    PRESETS = {
        # PresGAN Figure 1 reproduced: the networks and optimiser of PresGAN's ring10 preset; this GAN
        # collapses to 0-2 modes up to ~40k steps (measured, one seed), PresGAN with them covers all 10
        "ring10": {"latent_dim": 32, "batch_size": 64, "lr_g": 1e-3, "lr_d": 1e-4},
        # images: DCGAN with VEEGAN's Stacked-MNIST setting (nets.DCGAN_SETTING); noise N(0, I), PacGAN's re-run
        # U(-1, 1); two generator steps as PacGAN's DCGAN code (Stacked MNIST seed 1, 5,000 steps: KL 0.170 -> 0.110)
        **nets.image_presets(GANConfig, g_steps=2),
    }

    def __init__(self, config: GANConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        self.generator = nets.generator(spec, c.latent_dim, c.g_hidden, c.g_depth, c.activation, c.conv_width)
        self.discriminator = nets.discriminator(spec, 1, c.d_hidden, c.d_depth, c.activation, c.conv_width)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2))

    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        # the discriminator step, then the non-saturating generator step(s) on the same z (engine.losses)
        z = self.prior(x.shape[0])
        return gan_updates(self.discriminator, x, lambda: self.generator(z), self.opt_d, self.opt_g,
                           self.config.g_steps)
