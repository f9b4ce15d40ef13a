"""Variational autoencoder (Kingma and Welling, ICLR 2014, arXiv:1312.6114), the likelihood baseline.

Gaussian encoder q(z|x) = N(mu(x), diag exp(log_var(x))), Gaussian decoder p(x|z) = N(G(z), diag sigma^2)
with a learned per-dimension sigma (softplus), trained on the ELBO with the analytic KL (paper eq. 10,
appendix B). Samples are the decoder mean G(z), z ~ N(0, I), the convention PresGAN uses for its own
samples; the evaluation adds the noisy G(z) + sigma * eps figures beside them (DESIGN.md section 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from engine.config import ConfigError, Section, param
from engine.data import DataSpec
from engine.losses import sum_over_example
from engine.models.base import GenerativeModel
from engine import nets
from engine.nets import ACTIVATIONS, conv_width_param

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl_to_standard(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(log_var)) || N(0, I)) per row (Kingma and Welling, appendix B)."""
    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=-1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, sigma: torch.Tensor, batch_dims: int = 1) -> torch.Tensor:
    """-log N(x; mean, diag sigma^2) summed over the data's dimensions (every one after the first batch_dims of
    the broadcast), with its constant. sigma broadcasts: one value per dimension or per pixel."""
    return sum_over_example(0.5 * ((x - mean) / sigma).pow(2) + sigma.log() + 0.5 * LOG_2PI, batch_dims)


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


@dataclass
class VAEConfig(Section):
    """Defaults: the GAN's MLP sizes (VEEGAN 2-D notebook, 2 x 128 ReLU) so the baselines share networks."""

    latent_dim: int = param(256, range=(1, 4096), search=(2, 512, "log"),
                            help="z dimension (as GANConfig, so the baselines share the generator shape)")
    g_hidden: int = param(128, range=(1, 8192), help="decoder hidden width (GAN's generator: 128)")
    g_depth: int = param(2, range=(0, 16), help="decoder hidden layers (GAN's: 2; 0 = linear decoder)")
    e_hidden: int = param(128, range=(1, 8192), help="encoder hidden width (mirrors the decoder)")
    e_depth: int = param(2, range=(0, 16), help="encoder hidden layers (mirrors the decoder; 0 = linear)")
    activation: str = param("relu", choices=tuple(ACTIVATIONS), search=tuple(ACTIVATIONS), help="hidden activation")
    conv_width: int = conv_width_param()
    sigma_init: float = param(0.3133, range=(1e-4, 100.0),
                              help="initial observation sigma, every dimension: softplus(-1), PresGAN's "
                                   "logsigma_init (PresGAN's VAE baseline shares its decoder); 1.0 collapses "
                                   "the posterior on ring8")
    sigma_min: float = param(1e-4, range=(0.0, 10.0),
                             help="floor added to softplus so the Gaussian NLL stays finite")
    batch_size: int = param(500, range=(1, 65_536), help="minibatch size (as the GAN: 500)")
    lr_g: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"),
                        help="Adam lr of the decoder (the generator) and sigma (as the GAN's 1e-3)")
    lr_e: float = param(1e-3, range=(1e-7, 1.0), search=(1e-5, 1e-2, "log"),
                        help="Adam lr of the encoder (as the decoder's)")
    kl_warmup_steps: int = param(0, range=(0, 10_000_000),
                                 help="KL weight raised linearly from 0 to 1 over this many steps (Bowman et al. "
                                      "2016, a common remedy for posterior collapse); 0 = the plain ELBO throughout")
    beta1: float = param(0.9, range=(0.0, 0.999), help="Adam beta1 (Adam paper default)")
    beta2: float = param(0.999, range=(0.0, 0.9999), help="Adam beta2 (Adam paper default)")

    def check(self, prefix: str) -> None:
        if self.sigma_init <= self.sigma_min:
            raise ConfigError(f"{prefix}.sigma_init={self.sigma_init} must be above "
                              f"{prefix}.sigma_min={self.sigma_min}")


class VAE(GenerativeModel):
    Config = VAEConfig
    PRESETS: ClassVar[dict[str, dict]] = {
        # the plain ELBO collapsed the posterior on ring8 in 2 of 3 seeds at 20k steps (KL -> 0, sigma -> 0.707,
        # 0 modes); with a 5k-step warm-up those two seeds reached 8 modes at 49 % and 62 % HQ (issue 3 note)
        "ring8": {"kl_warmup_steps": 5000},
        # images: PresGAN's VAE baseline: the same DCGAN decoder and optimiser (official lrE = 2e-4, beta1 0.5)
        **nets.image_presets(VAEConfig),
    }

    def __init__(self, config: VAEConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        self.encoder = nets.encoder(spec, 2 * c.latent_dim, c.e_hidden, c.e_depth, c.activation,
                                    c.conv_width)  # -> [mu, log_var]
        self.decoder = nets.generator(spec, c.latent_dim, c.g_hidden, c.g_depth, c.activation, c.conv_width)
        # sigma = sigma_min + softplus(raw), one per vector dimension or per pixel (as PresGAN's)
        raw = _inverse_softplus(c.sigma_init - c.sigma_min)
        self.sigma_raw = torch.nn.Parameter(torch.full(spec.pixel_shape, raw))
        # one optimiser, one step on the joint ELBO; encoder and decoder in their own lr groups
        groups = [{"params": [*self.decoder.parameters(), self.sigma_raw], "lr": c.lr_g},
                  {"params": self.encoder.parameters(), "lr": c.lr_e}]
        self.opt_vae = torch.optim.Adam(groups, betas=(c.beta1, c.beta2))
        self.register_buffer("steps_done", torch.tensor(0))  # for the KL warm-up; saved with the weights

    def kl_weight(self) -> float:
        """The KL term's weight at this step: min(1, steps done / kl_warmup_steps), 1 without a warm-up."""
        warmup = self.config.kl_warmup_steps
        return min(1.0, int(self.steps_done) / warmup) if warmup else 1.0

    def observation_sigma(self) -> torch.Tensor:
        """The decoder's per-dimension standard deviation, (D,)."""
        return self.config.sigma_min + F.softplus(self.sigma_raw)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu and log_var of q(z | x), each (n, latent_dim)."""
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        return mu, log_var

    def elbo_terms(self, x: torch.Tensor, samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example reconstruction NLL (averaged over `samples` reparameterised codes) and KL, each (n,).

        ELBO = -(nll + kl) (Kingma and Welling eq. 10: analytic KL, Monte Carlo reconstruction term).
        """
        mu, log_var = self.posterior(x)
        std = (0.5 * log_var).exp()
        eps = torch.randn(samples, *mu.shape, device=x.device)
        z = mu + std * eps                                       # (S, n, latent_dim)
        nll = gaussian_nll(x, self.decoder(z), self.observation_sigma(), batch_dims=2).mean(dim=0)
        return nll, gaussian_kl_to_standard(mu, log_var)

    def elbo(self, x: torch.Tensor, samples: int = 1) -> torch.Tensor:
        """The evidence lower bound per example, (n,), in nats."""
        nll, kl = self.elbo_terms(x, samples)
        return -(nll + kl)

    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        # 1. one reparameterised code per example, loss = -ELBO (Kingma and Welling, Algorithm 1, L = 1), the KL
        #    weighted by the warm-up factor while one is configured
        nll, kl = self.elbo_terms(x)
        loss_recon, loss_kl = nll.mean(), kl.mean()
        # 2. one Adam step on encoder, decoder and sigma together
        self.opt_vae.zero_grad(set_to_none=True)
        (loss_recon + self.kl_weight() * loss_kl).backward()
        self.opt_vae.step()
        self.steps_done += 1
        return {"loss_recon": loss_recon.item(), "loss_kl": loss_kl.item(),
                "sigma_mean": self.observation_sigma().mean().item()}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """x = G(z) + sigma * eps; the figures use the decoder mean G(z) (mean_sample), as PresGAN's."""
        mean = self.decode(self.prior(n))
        return mean + self.observation_sigma() * torch.randn_like(mean)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder mean G(z), differentiable in z (the likelihood's encoder fit and MAP search need that)."""
        return self.decoder(z)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean mu(x)."""
        return self.posterior(x)[0]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(mu(x))."""
        return self.decoder(self.posterior(x)[0])
