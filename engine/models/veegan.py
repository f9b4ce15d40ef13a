"""VEEGAN (Srivastava, Valkov, Russell, Gutmann, Sutton, NeurIPS 2017, arXiv:1705.07761).

A reconstructor network F maps data back to noise; a discriminator on (z, x) pairs estimates the
log-ratio of the generator joint p0(z) q(x|z) to the reconstructor joint p(x) p(z|x); the generator
minimises that logit plus a noise autoencoder loss d(z, F(G(z))). Defaults follow the official 2-D
notebook (VEEGAN_2D_RING.ipynb, read from third-party copies; shared/reference/algorithms.md 2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from engine.config import Section, param
from engine.data import DataSpec
from engine.losses import logistic_loss
from engine.models.base import GenerativeModel
from engine import nets
from engine.nets import ACTIVATIONS, conv_width_param


@dataclass
class VEEGANConfig(Section):
    """Defaults: VEEGAN 2-D notebook (algorithms.md 2.3): batch 500, 128-unit MLPs, Adam 1e-3, beta1 0.5."""

    latent_dim: int = param(254, range=(1, 4096), search=(2, 512, "log"),
                            help="z dimension K, the noise F reconstructs and D sees (notebook: 254)")
    extra_noise_dim: int = param(1, range=(0, 1024),
                                 help="extra generator noise eps, concatenated to z but not reconstructed "
                                      "(notebook: 1-d N(0, 1)); 0 makes G deterministic given z")
    g_hidden: int = param(128, range=(1, 8192), help="generator hidden width (notebook: 128)")
    g_depth: int = param(2, range=(1, 16), help="generator hidden layers (notebook: 2)")
    f_hidden: int = param(128, range=(1, 8192), help="reconstructor hidden width (notebook: 128)")
    f_depth: int = param(2, range=(1, 16), help="reconstructor hidden layers (notebook: 2)")
    code_noise: float = param(1.0, range=(0.0, 10.0), search=(0.0, 1.0, "linear"),
                              help="std s of the reconstructor's p(z | x) = N(F(x), s^2 I), the real pair's code "
                                   "noise (paper and notebook: N(F(x), I), s = 1)")
    recon_weight: float = param(1.0, range=(0.0, 1e4), search=(0.01, 10.0, "log"),
                                help="weight of the noise autoencoder loss d(z, F(G(z))) beside D's logit in G's "
                                     "objective (paper: 1, the objective's own sum)")
    d_hidden: int = param(128, range=(1, 8192), help="discriminator hidden width (notebook: 128)")
    d_depth: int = param(1, range=(1, 16),
                         help="discriminator hidden layers (notebook: 1; its n_layer_disc=2 is unused)")
    activation: str = param("relu", choices=tuple(ACTIVATIONS), search=tuple(ACTIVATIONS),
                            help="hidden activation (notebook: relu)")
    conv_width: int = conv_width_param()
    batch_size: int = param(500, range=(1, 65_536), help="minibatch size (notebook: 500)")
    lr_g: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"),
                        help="Adam lr of generator and reconstructor, one optimiser as the notebook's "
                             "train_gen_op (notebook: 1e-3)")
    lr_d: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"),
                        help="discriminator Adam lr (notebook: 1e-3)")
    beta1: float = param(0.5, range=(0.0, 0.999), help="Adam beta1 (notebook: 0.5)")
    beta2: float = param(0.999, range=(0.0, 0.9999), help="Adam beta2 (TensorFlow default 0.999)")


class VEEGAN(GenerativeModel):
    """Generator G([z, eps]) -> x, reconstructor F(x) -> z, joint discriminator D(z, x) -> logit."""

    Config = VEEGANConfig
    # Within the 20k steps (the notebook ran 100k): faster learning rates than the notebook's, falling
    # linearly to 0 over the second half of the run. Seeds 0-2, 20k steps (session 5, docs/benchmarks.md):
    # ring8 8 / 61.2 % HQ (notebook settings 8 / 18.5 %; published 8 / 52.9); grid25 22.7 / 13.8 % (notebook
    # settings 23.0 / 5.5 %; published 24.6 / 40; lr 3e-3 there lost modes: 22 / 8.9 % on seed 0)
    PRESETS: ClassVar[dict[str, dict]] = {
        "ring8": {"lr_g": 3e-3, "lr_d": 3e-3, "train.lr_decay_start": 0.5},
        "grid25": {"lr_g": 2e-3, "lr_d": 2e-3, "train.lr_decay_start": 0.5},
        # images: VEEGAN's image networks are not published (algorithms.md 2.3): its Stacked-MNIST setting's DCGAN,
        # d(z, F(G(z))) weighted 0.01 (ours; at the paper's 1 it collapsed to 1 mode). Stacked MNIST, 3,000 steps:
        # 998 modes, KL 0.36 (seed 0), 982 / 0.57 (seed 1, unseen); published 150 / 2.95 (docs/benchmarks.md)
        **nets.image_presets(VEEGANConfig, recon_weight=0.01),
    }

    def __init__(self, config: VEEGANConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        width = c.conv_width
        self.generator = nets.generator(spec, c.latent_dim + c.extra_noise_dim, c.g_hidden, c.g_depth, c.activation,
                                        width)
        self.reconstructor = nets.encoder(spec, c.latent_dim, c.f_hidden, c.f_depth, c.activation, width)
        # the joint discriminator reads the pair (z, x) concatenated (algorithms.md section 7, item 1); an image
        # goes through a conv trunk first, its features joined with z
        self.discriminator = nets.joint_discriminator(spec, c.latent_dim, 1, c.d_hidden, c.d_depth, c.activation,
                                                      width)
        betas = (c.beta1, c.beta2)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr_d, betas=betas)
        self._gf_params = [*self.generator.parameters(), *self.reconstructor.parameters()]
        self.opt_g = torch.optim.Adam(self._gf_params, lr=c.lr_g, betas=betas)

    def _noise(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """z ~ p0(z) = N(0, I_K) and the generator's extra noise eps ~ N(0, I)."""
        return self.prior(n), torch.randn(n, self.config.extra_noise_dim, device=self.device)

    def generate(self, z: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x ~ q_gamma(x | z): the generator applied to [z, eps]."""
        return self.generator(torch.cat([z, eps], dim=1))

    def discriminate(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """D_omega(z, x), the logit of 'this pair comes from the generator joint', (n, 1)."""
        return self.discriminator(z, x)

    def losses(self, x: torch.Tensor, z: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three objectives of Algorithm 1 on one batch, as differentiable tensors.

        loss_d: O_LR, generator pairs (z, G(z)) labelled 1, reconstructor pairs (F(x) + s N(0, I), x) labelled 0.
        loss_g: mean raw logit D(z, G(z)) (step 4 uses D itself, not log sigmoid(D)).
        loss_recon: d(z, F(G(z))) = 1/2 ||z - F(G(z))||^2, the unit-variance Gaussian NLL of the notebook
        without its constant; 1/2 of the issue's ||.||^2, which only rescales this term.
        """
        x_g = self.generate(z, eps)
        with torch.no_grad():  # F gets no gradient from D (step 3); the real pair's code is sampled
            z_g = self.reconstructor(x) + self.config.code_noise * torch.randn_like(z)
        logits_gen = self.discriminate(z, x_g)   # one forward serves D's and G's loss
        logits_rec = self.discriminate(z_g, x)
        # Algorithm 1 step 2: g_omega = -grad [log sigmoid D(z, x_g) + log(1 - sigmoid D(z_g, x))]
        loss_d = logistic_loss(logits_gen, logits_rec)
        # steps 3-4: O_hat = mean D(z, x_g) + mean d(z, F(x_g))
        loss_g = logits_gen.mean()
        loss_recon = 0.5 * (z - self.reconstructor(x_g)).pow(2).sum(dim=1).mean()
        return {"loss_d": loss_d, "loss_g": loss_g, "loss_recon": loss_recon}

    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        # 1. sample z ~ p0, x_g ~ q(x|z), and (inside losses) z_g ~ p_theta(z|x) for the real x
        z, eps = self._noise(x.shape[0])
        losses = self.losses(x, z, eps)
        # 2. discriminator gradient (Algorithm 1 step 2); only D's parameters receive it
        self.opt_d.zero_grad(set_to_none=True)
        losses["loss_d"].backward(inputs=list(self.discriminator.parameters()), retain_graph=True)
        # 3-4. reconstructor and generator gradients of O_hat; F's only path is the l2 term
        self.opt_g.zero_grad(set_to_none=True)
        (losses["loss_g"] + self.config.recon_weight * losses["loss_recon"]).backward(inputs=self._gf_params)
        # 5. simultaneous update: all gradients above were taken at the same parameters
        self.opt_d.step()
        self.opt_g.step()
        return {key: value.item() for key, value in losses.items()}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """x = G([z, eps]): decode's mean-noise point replaced by a fresh draw of the extra noise."""
        return self.generate(*self._noise(n))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """G at the extra noise's mean, eps = 0: the deterministic part of x given z."""
        return self.generate(z, z.new_zeros(len(z), self.config.extra_noise_dim))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """F(x), the mean of p_theta(z | x)."""
        return self.reconstructor(x)
