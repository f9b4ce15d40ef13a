"""Held-out log-likelihood of a trained generator, by two estimators that check each other (issue 12).

The model scored is z ~ N(0, I), x | z ~ N(decode(z), diag sigma^2): the model's own sigma where it has an
observation model (PresGAN, VAE), else a sigma fitted on training data with the generator frozen ("sigma
fitted at test time"). For images the pixel likelihood is a Gaussian truncated to the data range at test time
only (PresGAN section 5.4: each pixel's density divided by its probability of lying in the range).

- Importance sampling (PresGAN section 3.3, DESIGN.md section 7): a Gaussian encoder q(z|x) is fitted to the
  frozen generator by maximising the ELBO on training data; for each test point the proposal's mean is the MAP
  code (L-BFGS from the encoder mean, or from the model's own code where that is better), its covariance the
  Gauss-Newton inverse Hessian there (ours), the encoder's diagonal (the paper's), or the mean and covariance of HMC
  samples of the posterior (the paper's appendix 7.1), times `dispersion`, mixed with the prior;
  log p(x) ~ log mean_s p(x, z_s) / r(z_s), z_s ~ r, S samples.
- Annealed importance sampling (Wu, Burda, Salakhutdinov, Grosse 2017, arXiv:1611.04273): chains start at the
  prior and move through p_t(z) ~ p(z) p(x|z)^beta_t, beta 0 -> 1 on a sigmoid schedule, one HMC transition
  (engine.hmc, full gradient) per temperature; the weights accumulate (beta_t - beta_t-1) log p(x | z).
Both are batched over points and samples, with the log-sum-exp in float64.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.config import ConfigError
from engine.data import DataSpec

LOG_2PI = math.log(2 * math.pi)
ESTIMATORS = ("is", "ais", "both")
SIGMAS = ("own", "fitted")
SIGMA_FIT_FIELDS = ("sigma_lr", "sigma_em_iterations", "sigma_em_samples", "sigma_em_points", "sigma_em_map",
                    "sigma_shared")  # in a cache key where sigma is fitted


@dataclass
class LoglikOptions:
    """The estimators' knobs. The paper's S and over-dispersion factor are lost from our copy (algorithms.md
    3.7); these defaults are ours, and `bench`/the docs show how the estimate moves with each."""

    estimator: str = "both"          # is | ais | both
    importance_samples: int = 1000   # S, proposal draws per point
    dispersion: float = 1.0          # proposal variance x this (PresGAN 3.3 over-disperses; in 100-D 2.0 cost ~100 nats)
    prior_share: float = 0.5         # share of the S draws taken from the prior (a defensive mixture, below)
    proposal: str = "laplace"        # laplace (ours: Gauss-Newton covariance at the MAP) | encoder (PresGAN 3.3)
                                     # | hmc (PresGAN appendix 7.1: the mean and covariance of HMC samples)
    proposal_chains: int = 8         # hmc: chains per point, started at the MAP code
    proposal_burn_in: int = 50       # hmc: transitions discarded
    proposal_samples: int = 100      # hmc: transitions kept per chain (8 x 100 samples fit a 100-D covariance)
    proposal_shrinkage: float = 0.1  # hmc: the covariance shrunk this far toward its mean variance (Ledoit-Wolf's
                                     # form; fewer samples than a full covariance needs, and correlated)
    encoder_steps: int = 1000        # Adam steps fitting q(z|x) (and a test-time sigma) on training data
    encoder_batch: int = 128
    encoder_lr: float = 1e-3
    map_steps: int = 1000            # L-BFGS iterations moving each proposal mean to the MAP code: on a 28-px
                                     # PresGAN 200 stopped 28-147 nats below 1,000 (docs/benchmarks.md)
    map_starts: int = 8              # L-BFGS runs per point, from the encoder mean and prior draws; the best kept
                                     # (a PresGAN's posterior has several modes: on 4 of 10 digits a prior start
                                     # found one 28-71 nats higher than the encoder mean's)
    map_modes: int = 1               # proposal components per point: its best distinct optima of those runs
    mode_radius: float = 10.0        # optima closer than this to a kept one (in its posterior standard deviations
    #                                  under the Laplace approximation) count as that one's mode
    ais_temperatures: int = 500      # intermediate distributions (Wu et al.: hundreds to thousands)
    ais_chains: int = 16             # chains per point
    ais_leapfrog_steps: int = 10     # one HMC transition of this many leapfrog steps per temperature (Wu et al.)
    sigma: str = "own"               # own | fitted: "fitted" scores a model that has its own sigma under one fitted
                                     # at test time instead (as for models without one), to compare generators
                                     # apart from their noise levels
    sigma_floor: float = 0.01        # a fitted sigma never falls below this (PresGAN's sigma_min): on MNIST's
                                     # constant background a smaller one inflates the density without bound
    sigma_lr: float = 1e-2           # a fitted sigma's Adam rate in the ELBO fit: at the encoder's 1e-3 it moved
                                     # 0.31 -> 0.28 in 500 steps on a PresGAN whose own sigma is 0.09
    sigma_em_iterations: int = 30    # a fitted sigma: EM steps on the importance-sampled log p(x) of training
                                     # points after the ELBO fit, whose sigma a poor q(z|x) inflates (ring8: 0.9)
    sigma_em_samples: int = 256      # draws per training point in those EM steps (fewer in high dimensions)
    sigma_em_points: int = 1024      # training points of those EM steps
    sigma_em_map: bool = True        # half of those draws from the Laplace approximation at each point's MAP code:
                                     # q(z|x) alone is far from a GAN-trained generator's posterior on images, and
                                     # its draws' residuals held a shared sigma at 0.27 where the model's own is 0.1
    sigma_shared: bool = False       # a fitted sigma: one value for every dimension instead of one per pixel
                                     # (per channel for vectors), which no constant pixel can pull to the floor:
                                     # a figure of the generator's fit, not of MNIST's blank border (ours)
    max_codes: int = 8192            # codes decoded at once (memory / speed)
    seed: int = 0

    def key(self, fits_sigma: bool = True) -> dict:
        """The options that decide a result (an analysis cache key): the hmc proposal's knobs only where used,
        the sigma fit's only where a sigma is fitted (fits_sigma: the model has none, or sigma is "fitted")."""
        fields = dataclasses.asdict(self)
        if self.sigma == "own":  # the default, left out so that results saved before the option still match
            del fields["sigma"]
        for flag in ("sigma_shared", "sigma_em_map"):  # likewise (False: what results before the options did)
            if not fields[flag]:
                del fields[flag]
        if self.map_starts == 1:  # likewise: one start is what results before the option did
            del fields["map_starts"]
        if self.map_modes == 1:  # likewise: one mode, the radius unused
            del fields["map_modes"], fields["mode_radius"]
        return {k: v for k, v in fields.items() if (self.proposal == "hmc" or not k.startswith("proposal_"))
                and (fits_sigma or k not in SIGMA_FIT_FIELDS)}

    def for_kind(self, kind: str) -> LoglikOptions:
        """These options with proposal "auto" resolved for data of this kind (before a cache key is made)."""
        return dataclasses.replace(self, proposal=proposal_for(kind)) if self.proposal == "auto" else self

    def check(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"--estimator {self.estimator} must be one of {', '.join(ESTIMATORS)}")
        for name in ("importance_samples", "map_steps", "map_starts", "map_modes", "proposal_chains",
                     "proposal_samples", "encoder_steps", "ais_temperatures", "ais_chains", "ais_leapfrog_steps",
                     "max_codes", "encoder_batch", "sigma_em_samples", "sigma_em_points"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.sigma not in SIGMAS:
            raise ConfigError(f"--sigma {self.sigma} must be one of {', '.join(SIGMAS)}")
        if self.proposal not in (*PROPOSALS, "auto"):
            raise ConfigError(f"--proposal {self.proposal} must be auto or one of {', '.join(PROPOSALS)}")
        if not 0.0 <= self.prior_share < 1.0:
            raise ConfigError(f"--prior-share must be in [0, 1), got {self.prior_share}")
        if not 0.0 <= self.proposal_shrinkage <= 1.0:
            raise ConfigError(f"--proposal-shrinkage must be in [0, 1], got {self.proposal_shrinkage}")
        if self.sigma_em_iterations < 0:
            raise ConfigError(f"--sigma-em-iterations must be at least 0, got {self.sigma_em_iterations}")
        if self.proposal_burn_in < 0:
            raise ConfigError(f"--proposal-burn-in must be at least 0, got {self.proposal_burn_in}")
        if self.dispersion <= 0:
            raise ConfigError(f"--dispersion must be positive, got {self.dispersion}")
        if self.map_modes > self.map_starts:
            raise ConfigError(f"--map-modes {self.map_modes} cannot exceed --map-starts {self.map_starts}")
        if self.mode_radius < 0:
            raise ConfigError(f"--mode-radius must be at least 0, got {self.mode_radius}")


@dataclass
class GaussianDecoder:
    """x | z ~ N(decode(z), diag sigma^2), optionally truncated to [low, high] per dimension; z ~ N(0, I)."""

    decode: Callable[[Tensor], Tensor]   # (m, latent_dim) -> (m, *shape), differentiable in z
    sigma: Tensor                        # broadcasts against one example's shape
    latent_dim: int
    bounds: tuple[float, float] | None = None

    def log_likelihood(self, x: Tensor, mean: Tensor, sigma: Tensor | None = None,
                       truncate: bool = True) -> Tensor:
        """log p(x | z) per row of mean (..., *shape) against x broadcast to it, summed over dimensions."""
        sigma = self.sigma if sigma is None else sigma
        scaled = (x - mean) / sigma
        log_density = -0.5 * scaled.square() - sigma.log() - 0.5 * LOG_2PI
        if truncate and self.bounds is not None:
            low, high = self.bounds
            log_density = log_density - _log_normal_mass((low - mean) / sigma, (high - mean) / sigma)
        return log_density.flatten(-(x.dim() - 1)).sum(-1)  # x is (n, *shape): sum over one example's dims

    def log_joint(self, x: Tensor, z: Tensor, truncate: bool = True) -> Tensor:
        """log p(x | z) + log p(z) for codes z (n, d) of the n points x: one decode, differentiable in z."""
        return self.log_likelihood(x, self.decode(z), truncate=truncate) + log_standard_normal(z)


def standard_error(values: np.ndarray) -> float:
    """Of the mean over points (NaN for one point)."""
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def log_standard_normal(z: Tensor) -> Tensor:
    return -0.5 * (z.square().sum(-1) + z.shape[-1] * LOG_2PI)


def _log_normal_mass(a: Tensor, b: Tensor) -> Tensor:
    """log(Phi(b) - Phi(a)) for a < b, stable in both tails (float64 inside): by symmetry the upper tail is
    computed as the lower one, and log(1 - exp(u)) picks expm1 or log1p by the size of u."""
    a, b = a.double(), b.double()
    upper = a > 0
    a, b = torch.where(upper, -b, a), torch.where(upper, -a, b)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    u = (log_a - log_b).clamp(max=-1e-300)
    log1mexp = torch.where(u > -math.log(2), torch.log(-torch.expm1(u)), torch.log1p(-torch.exp(u)))
    return (log_b + log1mexp).to(torch.get_default_dtype())


# ---------------------------------------------------------------------------------------------------------------
# Gaussian encoder fitted by the ELBO (and a test-time sigma where the model has none)


def fit_encoder(decoder: GaussianDecoder, train_x: Tensor, spec: DataSpec, options: LoglikOptions,
                fit_sigma: bool = False, progress: Callable[[str, float], None] | None = None, width: int = 64
                ) -> tuple[torch.nn.Module, Tensor]:
    """q(z|x) = N(mu(x), diag exp(log_var(x))) maximising the ELBO of the frozen generator on train_x; with
    fit_sigma, a per-dimension (per-pixel) sigma, or one shared by every dimension (options.sigma_shared), is
    fitted in the same objective. Returns (encoder, sigma).
    The encoder: a 2 x 128 ReLU MLP for vectors; for images the DCGAN discriminator of `width` without its output
    layer plus a linear map (PresGAN's VAE encoder, algorithms.md 3.7)."""
    from engine import nets
    from engine.models.vae import gaussian_kl_to_standard

    device = train_x.device
    encoder = nets.encoder(spec, 2 * decoder.latent_dim, 128, 2, "relu", width).to(device)
    params = list(encoder.parameters())
    sigma_raw = None
    if fit_sigma:
        shape = fitted_sigma_shape(spec, options)
        sigma_raw = torch.nn.Parameter(torch.full(shape, math.log(math.expm1(0.3)), device=device))
    groups = [{"params": params}] + ([{"params": [sigma_raw], "lr": options.sigma_lr}] if fit_sigma else [])
    optimiser = torch.optim.Adam(groups, lr=options.encoder_lr)
    generator = torch.Generator().manual_seed(options.seed)
    for step in range(options.encoder_steps):
        x = train_x[torch.randint(len(train_x), (min(options.encoder_batch, len(train_x)),), generator=generator)]
        mu, log_var = encoder(x).chunk(2, dim=1)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
        sigma = _sigma(decoder, sigma_raw, options)
        nll = -decoder.log_likelihood(x, decoder.decode(z), sigma, truncate=False)
        kl = gaussian_kl_to_standard(mu, log_var)
        loss = (nll + kl).mean()  # -ELBO (Kingma and Welling eq. 10); the generator's weights are frozen
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress is not None and step % 50 == 0:
            progress(f"fitting the encoder: step {step} of {options.encoder_steps}, ELBO {-loss.item():.2f}",
                     step / options.encoder_steps)
    encoder.train(False)
    return encoder, _sigma(decoder, sigma_raw, options).detach()


def fitted_sigma_shape(spec: DataSpec, options: LoglikOptions) -> tuple[int, ...]:
    """A fitted sigma's shape: one per pixel, shared over channels (the data's pixel_shape), or one value."""
    return (1,) * len(spec.pixel_shape) if options.sigma_shared else spec.pixel_shape


def _sigma(decoder: GaussianDecoder, sigma_raw: Tensor | None, options: LoglikOptions) -> Tensor:
    return decoder.sigma if sigma_raw is None else options.sigma_floor + F.softplus(sigma_raw)


def refine_sigma(decoder: GaussianDecoder, encoder: torch.nn.Module, train_x: Tensor, spec: DataSpec,
                 options: LoglikOptions) -> tuple[Tensor, list[list[float]]]:
    """The test-time sigma by EM on the importance-sampled log p(x) of training points, from decoder.sigma (the
    ELBO's). The ELBO's sigma is the residual scale under q(z|x), which a q far from the posterior inflates (a 2-D
    point's posterior over a 32-D code is a curved shell: on ring8 the ELBO picks 0.9 where the modes' own spread
    is 0.02); log p(x) itself prefers the residual scale under the posterior. Fixed draws z_is from the defensive
    mixture of q, the Laplace approximation at each point's MAP code (options.sigma_em_map) and the prior; each step
    sets sigma^2 to the residuals' mean under the self-normalised weights at the current sigma, which never lowers
    the objective (EM on the draws' mixture). With the Laplace draws, a second round draws again at the first
    round's sigma (the Laplace at the ELBO's wider sigma is too wide: on a linear model with sigma 0.1 the first
    round ends at 0.12-0.13). Returns (sigma, per round the objective in nats per point before each step and after
    the last)."""
    device = train_x.device
    # n points, S draws each, their residuals held (n x S x dims floats, at most 2^25): a per-pixel sigma needs the
    # points (on 167 digits a third of MNIST's pixels fell to the floor); the draws' weights on images go to one
    n = min(len(train_x), options.sigma_em_points)
    S = int(min(options.sigma_em_samples, max(8, 2 ** 25 // (n * int(np.prod(spec.shape))))))
    generator = torch.Generator(device=device).manual_seed(options.seed + 3)
    x = train_x[torch.randperm(len(train_x), generator=generator, device=device)[:n]]
    rounds = []
    for _ in range(2 if options.sigma_em_map else 1):
        sigma, objective = _em_on_draws(decoder, encoder, x, spec, options, S, generator)
        decoder = dataclasses.replace(decoder, sigma=sigma)
        rounds.append(objective)
    return sigma, rounds


def _em_on_draws(decoder: GaussianDecoder, encoder: torch.nn.Module, x: Tensor, spec: DataSpec,
                 options: LoglikOptions, S: int, generator: torch.Generator) -> tuple[Tensor, list[float]]:
    """One round of refine_sigma: S fixed draws per point of x from the mixture, then the EM steps."""
    device, dims, n = x.device, int(np.prod(spec.shape)), len(x)
    from_prior = round(options.prior_share * S)
    from_map = (S - from_prior) // 2 if options.sigma_em_map else 0
    with torch.no_grad():
        mu, log_var = encoder(x).chunk(2, dim=1)
    components = [(S - from_prior - from_map, GaussianProposal(mu, options.dispersion, std=(0.5 * log_var).exp()))]
    if from_map:
        components.append((from_map, laplace_proposals(decoder, encoder, x, options)))
    with torch.no_grad():
        eps = torch.randn(S, *mu.shape, generator=generator, device=device)
        z, start = eps.clone(), from_prior            # rows 0 .. from_prior - 1 stay prior draws
        for count, component in components:
            z[start:start + count] = component.draw(eps[start:start + count])
            start += count
        log_prior = log_standard_normal(z.double())
        log_r = mixture_log_density([(count / S, component.log_prob(z)) for count, component in components]
                                    + [(from_prior / S, log_prior)])
        base = log_prior - log_r                                                             # (S, n)
        squared = torch.cat([(x - decoder.decode(codes.flatten(0, 1)).unflatten(0, codes.shape[:2])).square()
                             for codes in z.split(max(1, options.max_codes // n))])  # (S, n, *shape)
        shape = fitted_sigma_shape(spec, options)
        pooled = [i for i, size in enumerate(shape) if size == 1 and spec.shape[i] > 1]  # channels, or every dim
        sigma, objective = decoder.sigma.expand(shape), []
        for step in range(options.sigma_em_iterations + 1):
            full = sigma.expand(spec.shape)
            log_w = base - (0.5 * squared / full.square() + full.log()).flatten(2).sum(-1).double()
            log_w = log_w - 0.5 * dims * LOG_2PI
            objective.append(float((torch.logsumexp(log_w, 0) - math.log(S)).mean()))
            if step == options.sigma_em_iterations:
                break
            weights = torch.softmax(log_w, 0).to(squared.dtype)                    # (S, n), normalised per point
            variance = torch.einsum("sn,sn...->...", weights, squared) / n          # (*shape)
            if pooled:
                variance = variance.mean(dim=pooled, keepdim=True)
            sigma = variance.sqrt().clamp(min=options.sigma_floor)
    return sigma.detach(), objective


def laplace_proposals(decoder: GaussianDecoder, encoder: torch.nn.Module, x: Tensor,
                      options: LoglikOptions) -> GaussianProposal:
    """The Laplace proposal at the MAP code of every point of x, 64 at a time, from the encoder mean only."""
    single = dataclasses.replace(options, proposal="laplace", map_starts=1)
    parts = [proposal(decoder, encoder, x[rows], single) for rows in _batches(len(x), 64)]
    return GaussianProposal(torch.cat([part.centre for part in parts]), options.dispersion,
                            cholesky=torch.cat([part.cholesky for part in parts]))


# ---------------------------------------------------------------------------------------------------------------
# the estimators


@dataclass
class Estimate:
    """One estimator's per-point log p(x) (nats) and what it spent."""

    name: str
    per_point: np.ndarray            # (n,) float64
    samples: int                     # S (IS) or chains (AIS) per point
    ess: np.ndarray | None = None    # (n,) effective sample size of the importance weights
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def summary(self, dims: int) -> dict:
        mean = float(self.per_point.mean())
        out = {"nats": mean, "se": standard_error(self.per_point), "nll_bits_per_dim": -mean / (dims * math.log(2)),
               "samples": self.samples, "points": len(self.per_point), "seconds": self.seconds, **self.extra}
        if self.ess is not None:
            out["ess_mean"], out["ess_min"] = float(self.ess.mean()), float(self.ess.min())
        return out


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@dataclass
class GaussianProposal:
    """N(centre, dispersion x C) per point: C = the encoder's diagonal variance ("encoder", PresGAN 3.3), or the
    inverse Gauss-Newton Hessian of -log p(x, z) at the MAP code ("laplace", ours), held as its Cholesky factor
    L (C^-1 = L L^T)."""

    centre: Tensor                   # (n, d)
    dispersion: float
    std: Tensor | None = None        # (n, d), encoder
    cholesky: Tensor | None = None   # (n, d, d), laplace
    fallbacks: int = 0               # hmc: points whose chains never moved, given the Laplace proposal instead

    def draw(self, eps: Tensor) -> Tensor:
        """Codes from standard normal draws eps (s, n, d)."""
        scale = math.sqrt(self.dispersion)
        if self.cholesky is None:
            return self.centre + scale * self.std * eps
        # z - centre = scale L^-T eps: solve L^T y = eps per point, all of its draws as columns (in L's dtype)
        chol = self.cholesky
        solved = torch.linalg.solve_triangular(chol.transpose(1, 2), eps.to(chol.dtype).permute(1, 2, 0), upper=True)
        return self.centre + scale * solved.permute(2, 0, 1).to(self.centre.dtype)

    def log_prob(self, z: Tensor) -> Tensor:
        """log r(z) per code (s, n), float64."""
        z, centre, scale = z.double(), self.centre.double(), math.sqrt(self.dispersion)
        d = z.shape[-1]
        if self.cholesky is None:
            std = scale * self.std.double()
            return (-0.5 * ((z - centre) / std).square() - std.log() - 0.5 * LOG_2PI).sum(-1)
        chol = self.cholesky.double()
        white = torch.einsum("nab,snb->sna", chol.transpose(1, 2), z - centre) / scale  # L^T (z - centre) / scale
        log_det = torch.diagonal(chol, dim1=1, dim2=2).log().sum(-1) - d * math.log(scale)
        return -0.5 * (white.square().sum(-1) + d * LOG_2PI) + log_det


PROPOSALS = ("laplace", "encoder", "hmc")
# "auto" (the CLI's default) picks by the data's kind. Images: on a 28-px PresGAN the Laplace proposal read 340 nats
# below the HMC-fitted one on 20 of 20 digits (docs/benchmarks.md, session 13); vectors keep the fast one.
PROPOSAL_BY_KIND = {"image": "hmc", "vector": "laplace"}


def proposal_for(kind: str) -> str:
    """The proposal "auto" stands for on data of this kind."""
    return PROPOSAL_BY_KIND.get(kind, PROPOSAL_BY_KIND["vector"])


def map_optima(decoder: GaussianDecoder, encoder: torch.nn.Module, x: Tensor, options: LoglikOptions,
               start: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(codes (K, n, d), their log joints (K, n), the encoder's variance (n, d)): the optima of L-BFGS runs from
    the encoder mean (or from `start` where its log joint is higher) and from K - 1 = options.map_starts - 1
    prior draws."""
    with torch.no_grad():
        mu, log_var = encoder(x).chunk(2, dim=1)
        if start is not None:
            better = decoder.log_joint(x, start) > decoder.log_joint(x, mu)
            mu = torch.where(better[:, None], start, mu)
    found = [_lbfgs_map(decoder, x, mu, options)]
    generator = torch.Generator(device=x.device).manual_seed(options.seed + 4)
    for _ in range(options.map_starts - 1):
        found.append(_lbfgs_map(decoder, x, torch.randn(mu.shape, generator=generator, device=x.device), options))
    codes, joints = zip(*found)
    return torch.stack(codes), torch.stack(joints), log_var.exp()


def map_codes(decoder: GaussianDecoder, encoder: torch.nn.Module, x: Tensor, options: LoglikOptions,
              start: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(MAP code, the encoder's variance) per point: the highest log joint of map_optima's runs (the first run
    where several tie)."""
    codes, joints, variance = map_optima(decoder, encoder, x, options, start)
    return _take(codes, joints.argmax(0)), variance


def _take(codes: Tensor, index: Tensor) -> Tensor:
    """codes[index[i], i] per point i: codes (K, n, d), index (n,) -> (n, d)."""
    return codes[index, torch.arange(codes.shape[1], device=codes.device)]


def distinct_modes(decoder: GaussianDecoder, codes: Tensor, joints: Tensor, count: int,
                   radius: float) -> tuple[list[GaussianProposal], Tensor]:
    """The Laplace approximations (dispersion 1) at up to `count` distinct optima per point, best first: after the
    highest, each next one is the highest optimum lying farther than `radius` from every one kept, measured in
    that kept one's whitened coordinates (|L^T (z - z_k)|: posterior standard deviations under its Laplace
    approximation), and each point's count of distinct ones. A point with fewer distinct optima repeats its best
    (a repeated component leaves the mixture unchanged)."""
    n = codes.shape[1]
    order = joints.argsort(0, descending=True)                                 # (K, n)
    ranked = codes.gather(0, order[:, :, None].expand_as(codes))               # best first per point
    kept: list[GaussianProposal] = []
    distinct = torch.zeros(n, dtype=torch.long, device=codes.device)
    with torch.no_grad():
        for _ in range(count):
            if not kept:
                pick = torch.zeros(n, dtype=torch.long, device=codes.device)
            else:
                far = torch.ones(ranked.shape[:2], dtype=torch.bool, device=codes.device)
                for mode in kept:
                    offset = (ranked - mode.centre).double()                  # (K, n, d)
                    white = torch.einsum("nab,knb->kna", mode.cholesky.double().transpose(1, 2), offset)
                    far &= white.norm(dim=-1) > radius
                # the first far optimum in rank order, or the best (index 0) where none is far
                pick = torch.where(far.any(0), far.double().argmax(0), torch.zeros_like(far[0], dtype=torch.long))
            centre = _take(ranked, pick)
            chol = torch.linalg.cholesky(gauss_newton_precision(decoder, centre))
            distinct += (pick > 0) if kept else 1
            kept.append(GaussianProposal(centre, 1.0, cholesky=chol))
    return kept, distinct


def _lbfgs_map(decoder: GaussianDecoder, x: Tensor, mu: Tensor, options: LoglikOptions) -> tuple[Tensor, Tensor]:
    """(codes, their log joint): L-BFGS from mu on the summed -log p(x, z) of the batch (the points' terms are
    independent, so the sum's optimum is every point's MAP). On a 28-px VAE this raised the log joint by ~70 nats
    over 200 Adam steps."""
    z = mu.clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS([z], max_iter=options.map_steps, line_search_fn="strong_wolfe", history_size=50,
                                  tolerance_grad=1e-7, tolerance_change=1e-12)

    def closure() -> Tensor:
        optimiser.zero_grad(set_to_none=True)
        loss = -decoder.log_joint(x, z).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    found = z.detach()
    with torch.no_grad():  # a failed line search can leave a worse point: keep the start there
        found_joint, start_joint = decoder.log_joint(x, found), decoder.log_joint(x, mu)
    kept = found_joint >= start_joint
    return torch.where(kept[:, None], found, mu), torch.where(kept, found_joint, start_joint)


def gauss_newton_precision(decoder: GaussianDecoder, z: Tensor) -> Tensor:
    """I + J^T diag(sigma^-2) J per point (n, d, d), J = d decode / dz at z: the Hessian of -log p(x, z) without
    the residuals' second-order term (positive definite). J by forward mode, one pass per latent dimension."""
    from torch.func import jvp, vmap

    d = z.shape[1]
    basis = torch.eye(d, device=z.device)[:, None, :].expand(d, *z.shape)
    columns = vmap(lambda v: jvp(decoder.decode, (z,), (v,))[1])(basis)      # (d, n, *shape)
    jac = columns.flatten(2).double()                                         # (d, n, D)
    # float64: with sigma 0.01 over 784 pixels the entries reach 1e6-1e7, where float32 would swamp the + I
    inv_var = decoder.sigma.double().pow(-2).expand(z.shape[0], *columns.shape[2:]).flatten(1)  # (n, D)
    precision = torch.einsum("anD,bnD->nab", jac * inv_var, jac)
    return precision + torch.eye(d, device=z.device, dtype=torch.float64)


def proposal(decoder: GaussianDecoder, encoder: torch.nn.Module, x: Tensor, options: LoglikOptions,
             start: Tensor | None = None) -> GaussianProposal:
    """The proposal of each point at its MAP code alone (one mode)."""
    components, _ = proposal_components(decoder, encoder, x, dataclasses.replace(options, map_modes=1), start)
    return components[0]


def proposal_components(decoder: GaussianDecoder, encoder: torch.nn.Module, x: Tensor, options: LoglikOptions,
                        start: Tensor | None = None) -> tuple[list[GaussianProposal], Tensor]:
    """The proposals of each point, one per distinct MAP mode (up to options.map_modes, best first), each centred
    on its mode (PresGAN 3.3) with options.proposal's covariance; and each point's count of distinct modes."""
    codes, joints, variance = map_optima(decoder, encoder, x, options, start)
    if options.proposal == "encoder" and options.map_modes == 1:  # no Laplace approximation needed
        best = _take(codes, joints.argmax(0))
        return [GaussianProposal(best, options.dispersion, std=variance.sqrt())], torch.ones_like(joints[0]).long()
    modes, distinct = distinct_modes(decoder, codes, joints, options.map_modes, options.mode_radius)
    components = []
    for mode in modes:
        if options.proposal == "encoder":
            components.append(GaussianProposal(mode.centre, options.dispersion, std=variance.sqrt()))
            continue
        laplace = dataclasses.replace(mode, dispersion=options.dispersion)
        components.append(hmc_fitted(decoder, x, laplace, options) if options.proposal == "hmc" else laplace)
    return components, distinct


class WhitenedPosterior:
    """U(u) = -log p(x, z) at z = centre + L^-T u, the posterior in the Laplace approximation's whitened
    coordinates (where it is N(0, I) if the approximation holds): HMC with one step size then suits every
    direction, though the posterior's scales span ~100x in z (Gauss-Newton eigenvalues 1 to ~8,000 on MNIST)."""

    def __init__(self, decoder: GaussianDecoder, x: Tensor, laplace: GaussianProposal, chains: int):
        self.decoder, self.chains = decoder, chains
        self.x = x.repeat_interleave(chains, 0)
        self.centre, self.cholesky = laplace.centre, laplace.cholesky

    def codes(self, u: Tensor) -> Tensor:
        """z (n C, d) of whitened u (n C, d), chains of a point adjacent."""
        n, d = self.centre.shape
        return unwhiten(self.centre, self.cholesky, u.view(n, self.chains, d)).reshape(-1, d)

    def energy(self, u: Tensor) -> tuple[Tensor, None]:
        with torch.no_grad():
            return -self.decoder.log_joint(self.x, self.codes(u)), None

    def energy_and_grad(self, u: Tensor, with_energy: bool = True) -> tuple[Tensor, Tensor, None]:
        u = u.detach().requires_grad_(True)
        with torch.enable_grad():
            energy = -self.decoder.log_joint(self.x, self.codes(u))
            (grad,) = torch.autograd.grad(energy.sum(), u)
        return energy.detach(), grad, None


def unwhiten(centre: Tensor, cholesky: Tensor, u: Tensor) -> Tensor:
    """z = centre + L^-T u per point: centre (n, d), L (n, d, d), u (n, k, d) -> (n, k, d) in centre's dtype."""
    shift = torch.linalg.solve_triangular(cholesky.transpose(1, 2), u.transpose(1, 2).to(cholesky.dtype), upper=True)
    return centre[:, None, :] + shift.transpose(1, 2).to(centre.dtype)


def hmc_fitted(decoder: GaussianDecoder, x: Tensor, laplace: GaussianProposal,
               options: LoglikOptions) -> GaussianProposal:
    """N(mean, covariance) of HMC samples of p(z | x) (PresGAN appendix 7.1's first proposal), the chains run in
    the Laplace approximation's whitened coordinates from its centre. Where a small sigma makes the posterior far
    from Gaussian the Laplace covariance is the wrong shape: on a 28-px PresGAN the log joint at its typical draws
    falls ~320-610 nats below the MAP, where a Gaussian posterior would fall ~50 (docs/benchmarks.md)."""
    from engine.hmc import hmc

    n, d = laplace.centre.shape
    chains = options.proposal_chains
    target = WhitenedPosterior(decoder, x, laplace, chains)
    u = torch.zeros(n * chains, d, device=x.device)
    total = torch.zeros(n, d, dtype=torch.float64, device=x.device)
    outer = torch.zeros(n, d, d, dtype=torch.float64, device=x.device)
    step = 0.1
    for t in range(options.proposal_burn_in + options.proposal_samples):
        result = hmc(target, u, step, num_samples=1, burn_in=0, leapfrog_steps=options.ais_leapfrog_steps,
                     adapt_rate=0.0)
        u = result.samples[-1]
        step *= 1.02 if result.accept_rate.item() > 0.65 else 0.98   # toward 65 % acceptance, as AIS's chains
        if t >= options.proposal_burn_in:
            kept = u.view(n, chains, d).double()
            total += kept.sum(1)
            outer += kept.transpose(1, 2) @ kept
    count = chains * options.proposal_samples
    mean = total / count
    covariance = (outer - count * mean[:, :, None] * mean[:, None, :]) / max(count - 1, 1)
    level = torch.diagonal(covariance, dim1=1, dim2=2).mean(1)[:, None, None]
    eye = torch.eye(d, dtype=torch.float64, device=x.device)
    covariance = (1 - options.proposal_shrinkage) * covariance + options.proposal_shrinkage * level * eye
    # chains that never moved (a posterior too sharp for the step, e.g. pixels at a fitted sigma's floor) leave
    # no covariance: those points keep the Laplace proposal, N(0, I) in these whitened coordinates
    stuck = torch.linalg.cholesky_ex(covariance).info != 0
    covariance[stuck], mean[stuck] = eye, 0.0
    # back to z = centre + L^-T u: the precision there is L covariance^-1 L^T
    chol = laplace.cholesky.double()
    precision = chol @ torch.cholesky_inverse(torch.linalg.cholesky(covariance)) @ chol.transpose(1, 2)
    precision = 0.5 * (precision + precision.transpose(1, 2))
    centre = unwhiten(laplace.centre, laplace.cholesky, mean[:, None, :])[:, 0]
    return GaussianProposal(centre, options.dispersion, cholesky=torch.linalg.cholesky(precision),
                            fallbacks=int(stuck.sum()))


def mixture_log_density(parts: list[tuple[float, Tensor]]) -> Tensor:
    """log r(z) of the mixture sum_k share_k r_k(z), from (share_k, log r_k(z)) pairs (shares summing to 1; those of
    0 left out): the density defensive importance sampling draws from, each component at its share of the draws
    (deterministic-mixture weights)."""
    return torch.logsumexp(torch.stack([log_density + math.log(share) for share, log_density in parts if share]), 0)


def importance_sampling(decoder: GaussianDecoder, encoder: torch.nn.Module, x: Tensor, options: LoglikOptions,
                        starts: Tensor | None = None,
                        progress: Callable[[str, float], None] | None = None) -> Estimate:
    """log p(x) per point by importance sampling from the over-dispersed Gaussian at the MAP code (one per distinct
    mode with map_modes > 1, the draws split evenly among them), mixed with the prior: a share `prior_share` of
    the S draws (stratified) comes from p(z), and every draw is weighted by the mixture's density (defensive
    importance sampling, Hesterberg 1995; deterministic-mixture weights, Owen and Zhou 2000), so a weight never
    exceeds p(x | z) / prior_share. The Gaussian alone is under-dispersed where the posterior is a curved thin
    shell (a 32-D code for a 2-D point: ESS 3 of 1,000 on ring8, 12 nats below AIS); the prior share then
    carries the estimate, while on images the Gaussian does."""
    started = time.perf_counter()
    S, n = options.importance_samples, len(x)
    from_prior = round(options.prior_share * S) if S > 1 else 0
    # draw s comes from the prior below from_prior, then from component (s - from_prior) * M // (S - from_prior)
    component = torch.div((torch.arange(S) - from_prior).clamp(min=0) * options.map_modes,
                          max(S - from_prior, 1), rounding_mode="floor")
    component[:from_prior] = -1
    shares = [(component == k).sum().item() / S for k in range(-1, options.map_modes)]  # prior first
    generator = torch.Generator(device=x.device).manual_seed(options.seed)
    points = max(1, min(n, 64))
    chunk = max(1, options.max_codes // points)
    estimates, ess, fallbacks, modes = np.empty(n), np.empty(n), 0, np.empty(n)
    for rows in _batches(n, points):
        xb = x[rows]
        gaussians, distinct = proposal_components(decoder, encoder, xb, options,
                                                  None if starts is None else starts[rows])
        fallbacks += sum(gaussian.fallbacks for gaussian in gaussians)
        modes[rows] = distinct.cpu().numpy()
        log_w = []
        with torch.no_grad():
            for s in _batches(S, chunk):
                eps = torch.randn(s.stop - s.start, *gaussians[0].centre.shape, generator=generator, device=x.device)
                source = component[s].to(x.device)[:, None, None]
                z = eps                                                          # (s, nb, d), prior rows as drawn
                for k, gaussian in enumerate(gaussians):
                    z = torch.where(source == k, gaussian.draw(eps), z)
                mean = decoder.decode(z.flatten(0, 1)).unflatten(0, z.shape[:2])
                log_prior = log_standard_normal(z.double())
                log_r = mixture_log_density([(shares[0], log_prior)] +
                                            [(share, g.log_prob(z)) for share, g in zip(shares[1:], gaussians)])
                log_w.append(decoder.log_likelihood(xb, mean).double() + log_prior - log_r)
        log_w = torch.cat(log_w)                                                # (S, nb) float64
        estimates[rows] = (torch.logsumexp(log_w, 0) - math.log(S)).cpu().numpy()
        ess[rows] = torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)).cpu().numpy()
        if progress is not None:
            progress(f"importance sampling: {rows.stop} of {n} points", rows.stop / n)
    return Estimate("is", estimates, S, ess, time.perf_counter() - started,
                    {"proposal": options.proposal, "dispersion": options.dispersion, "prior_share": shares[0],
                     "map_steps": options.map_steps, "map_starts": options.map_starts,
                     **({"map_modes": options.map_modes, "mode_radius": options.mode_radius,
                         "distinct_modes_mean": float(modes.mean())} if options.map_modes > 1 else {}),
                     **({"laplace_fallbacks": fallbacks} if fallbacks else {}),
                     **{k: v for k, v in options.key().items() if k.startswith("proposal_")}})


class TemperedPosterior:
    """U_beta(z) = -log p(z) - beta log p(x | z) (constants kept), the HMC potential of one AIS temperature;
    aux = log p(x | z) per chain, which the next weight update reads without another decode."""

    def __init__(self, decoder: GaussianDecoder, x: Tensor, beta: float):
        self.decoder, self.x, self.beta = decoder, x, beta

    def _terms(self, z: Tensor) -> tuple[Tensor, Tensor]:
        log_lik = self.decoder.log_likelihood(self.x, self.decoder.decode(z))
        return -log_standard_normal(z) - self.beta * log_lik, log_lik

    def energy(self, z: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            return self._terms(z)

    def energy_and_grad(self, z: Tensor, with_energy: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        z = z.detach().requires_grad_(True)
        with torch.enable_grad():
            energy, log_lik = self._terms(z)
            (grad,) = torch.autograd.grad(energy.sum(), z)
        return energy.detach(), grad, log_lik.detach()


def sigmoid_schedule(steps: int, sharpness: float = 4.0) -> np.ndarray:
    """beta_0 = 0 < ... < beta_T = 1, dense near both ends (Grosse, Maddison, Salakhutdinov 2013; Wu et al.)."""
    s = 1.0 / (1.0 + np.exp(-sharpness * np.linspace(-1.0, 1.0, steps + 1)))
    return (s - s[0]) / (s[-1] - s[0])


def annealed_importance_sampling(decoder: GaussianDecoder, x: Tensor, options: LoglikOptions,
                                 progress: Callable[[str, float], None] | None = None,
                                 exact: Tensor | None = None) -> Estimate:
    """log p(x) per point by AIS from the prior, options.ais_chains chains per point, all moving together: a
    stochastic lower bound. With `exact` (an exact posterior draw of each point's code: the code that generated
    it, for data simulated from the model) the chains start there and anneal in reverse, beta 1 -> 0, and the
    estimate is a stochastic upper bound (bidirectional Monte Carlo, Grosse, Ghahramani, Adams 2015; Wu et al.
    2017 section 4): the two sandwich the true log p(x)."""
    from engine.hmc import hmc

    started = time.perf_counter()
    n, C = len(x), options.ais_chains
    betas = sigmoid_schedule(options.ais_temperatures)
    if exact is not None:
        betas = betas[::-1].copy()
    estimates, accept_rates = np.empty(n), []
    points = max(1, min(n, options.max_codes // C))
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(options.seed + 1)  # not IS's stream: the two estimates must not share draws
        for rows in _batches(n, points):
            xb = x[rows].repeat_interleave(C, 0)                    # chains of a point are adjacent rows
            z = (torch.randn(len(xb), decoder.latent_dim, device=x.device) if exact is None
                 else exact[rows].repeat_interleave(C, 0).clone())
            with torch.no_grad():
                log_lik = decoder.log_likelihood(xb, decoder.decode(z))
            log_w = torch.zeros(len(xb), dtype=torch.float64, device=x.device)
            # then adapted toward 65 % acceptance from the chains' own acceptance, as Wu et al. do (strictly this
            # makes the transitions depend on the chains' past: a small bias the IS check would show)
            step = 0.1 / math.sqrt(decoder.latent_dim)
            for t in range(1, len(betas)):
                log_w += (betas[t] - betas[t - 1]) * log_lik.double()
                result = hmc(TemperedPosterior(decoder, xb, float(betas[t])), z, step, num_samples=1, burn_in=0,
                             leapfrog_steps=options.ais_leapfrog_steps, adapt_rate=0.0)
                z, log_lik = result.samples[-1], result.aux[-1]
                rate = result.accept_rate.item()
                step *= 1.02 if rate > 0.65 else 0.98
                accept_rates.append(rate)
                if progress is not None and t % 25 == 0:
                    done = (rows.start + (rows.stop - rows.start) * t / (len(betas) - 1)) / n
                    progress(f"AIS{' in reverse' if exact is not None else ''}: temperature {t} of {len(betas) - 1}, "
                             f"points {rows.start}-{rows.stop} of {n}", done)
            per_chain = log_w.view(-1, C)
            found = torch.logsumexp(per_chain, 1) - math.log(C)    # reverse: log of an unbiased 1 / p(x)
            estimates[rows] = (found if exact is None else -found).cpu().numpy()
    return Estimate("ais" if exact is None else "ais_upper", estimates, C, None, time.perf_counter() - started,
                    {"temperatures": options.ais_temperatures, "leapfrog_steps": options.ais_leapfrog_steps,
                     "accept_rate": float(np.mean(accept_rates))})


def simulate(decoder: GaussianDecoder, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """(x, z): n points drawn from the model itself, z ~ N(0, I) and x ~ p(x | z) (the truncated Gaussian where
    the decoder has bounds, by its inverse CDF); each z is an exact draw from its point's posterior."""
    generator = torch.Generator(device=decoder.sigma.device).manual_seed(seed)
    z = torch.randn(n, decoder.latent_dim, generator=generator, device=decoder.sigma.device)
    with torch.no_grad():
        mean = decoder.decode(z)
        sigma = decoder.sigma.expand_as(mean)
        u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=torch.float64)
        low, high = decoder.bounds if decoder.bounds is not None else (-math.inf, math.inf)
        a = torch.special.ndtr(((low - mean) / sigma).double())
        b = torch.special.ndtr(((high - mean) / sigma).double())
        # a uniform draw between the bounds' CDF values, through the inverse CDF (never exactly 0 or 1)
        x = mean.double() + sigma.double() * torch.special.ndtri((a + u * (b - a)).clamp(1e-300, 1 - 1e-16))
    return x.clamp(low, high).to(mean.dtype), z


# ---------------------------------------------------------------------------------------------------------------
# a trained model


def model_decoder(model, spec: DataSpec) -> tuple[GaussianDecoder, bool]:
    """The model as a GaussianDecoder, and whether its sigma still has to be fitted (no observation model)."""
    from engine.models.base import ObservationModel

    bounds = (spec.low, spec.high) if spec.kind == "image" else None
    own = isinstance(model, ObservationModel)
    sigma = model.observation_sigma().detach() if own else torch.ones(spec.pixel_shape, device=model.device)
    return GaussianDecoder(model.decode, sigma, model.latent_dim, bounds), not own


def model_loglik(model, train_x: Tensor, test_x: Tensor, options: LoglikOptions,
                 progress: Callable[[str, float], None] | None = None, simulated: bool = False) -> dict:
    """Both (or one) estimates of the model's mean held-out log p(x) on test_x, as a JSON-able summary with the
    per-point arrays under "arrays". simulated: score len(test_x) points drawn from the model instead (its sigma
    fitted first where it has none), and add AIS in reverse from the codes that made them, an upper bound
    (estimate "ais_upper"): where the estimators disagree on real data, this shows which one is right."""
    from engine.models.base import Encodes, frozen_weights

    options.check()
    spec = model.spec
    started = time.perf_counter()
    with frozen_weights(model):
        decoder, needs_sigma = model_decoder(model, spec)
        needs_sigma = needs_sigma or options.sigma == "fitted"
        device = model.device
        train_x, test_x = train_x.to(device), test_x.to(device)
        dims = int(np.prod(spec.shape))
        fitted = "fitted at test time" + (", one value for every dimension" if options.sigma_shared else "")
        out = {"sigma": fitted if needs_sigma else "the model's own",
               # a continuous density on the data's own scale, not dequantised: not comparable with 8-bit figures
               "scale": f"continuous density of data on [{spec.low:.4g}, {spec.high:.4g}]",
               "truncated": decoder.bounds is not None, "points": len(test_x), "dims": dims,
               "estimates": {}, "arrays": {}}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(options.seed)
            if options.estimator in ("is", "both") or needs_sigma:
                encoder, sigma = fit_encoder(decoder, train_x, spec, options, needs_sigma,
                                             _stage(progress, 0.0, 0.3), width=model.config.conv_width)
                decoder.sigma = sigma
                if needs_sigma and options.sigma_em_iterations:
                    out["sigma_elbo_mean"] = float(sigma.mean())
                    decoder.sigma, objective = refine_sigma(decoder, encoder, train_x, spec, options)
                    out["sigma_em_objective"] = [objective[0][0], objective[-1][-1]]
                out["sigma_mean"] = float(decoder.sigma.mean())
            exact = None
            if simulated:
                test_x, exact = simulate(decoder, len(test_x), options.seed + 2)
                out["simulated"] = True
            planned = [name for name in ("is", "ais") if options.estimator in (name, "both")]
            planned += ["ais_upper"] if exact is not None else []
            share = 0.7 / len(planned)  # of the job's progress after the encoder fit (0 to 0.3)
            stages = {name: _stage(progress, 0.3 + share * i, 0.3 + share * (i + 1)) for i, name in enumerate(planned)}
            runs = []
            if "is" in planned:
                starts = model.encode(test_x) if isinstance(model, Encodes) else None
                runs.append(importance_sampling(decoder, encoder, test_x, options, starts, stages["is"]))
            if "ais" in planned:
                runs.append(annealed_importance_sampling(decoder, test_x, options, stages["ais"]))
            if exact is not None:
                runs.append(annealed_importance_sampling(decoder, test_x, options, stages["ais_upper"], exact=exact))
    for run in runs:
        out["estimates"][run.name] = run.summary(dims)
        out["arrays"][run.name] = run.per_point
    found = out["arrays"]
    for first, second in (("is", "ais"), ("ais_upper", "ais")):
        if first in found and second in found:
            difference = found[first] - found[second]
            out[f"{first}_minus_{second}"] = {"nats": float(difference.mean()), "se": standard_error(difference)}
    out["seconds"] = time.perf_counter() - started
    return out


def _stage(progress: Callable[[str, float], None] | None, low: float, high: float):
    """A progress callback that maps a stage's 0..1 onto low..high of the whole job."""
    if progress is None:
        return None
    return lambda message, done: progress(message, low + (high - low) * done)


def data_loglik(spec: DataSpec, x: Tensor) -> np.ndarray | None:
    """The data's own exact log-density at x (per point, nats) where it is known and is a density on the data
    space: full-rank synthetic mixtures. None otherwise (hd1200's components are 700-D inside R^1200)."""
    if spec.mixture is None or spec.mixture.bases is not None:
        return None
    return spec.mixture.log_prob(x.reshape(len(x), -1).double().cpu().numpy())
