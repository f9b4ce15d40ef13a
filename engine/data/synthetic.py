"""Synthetic Gaussian mixtures with known modes and a high-quality (HQ) rule.

- ring8: 8 equal modes on a circle of radius 1, std 0.01 (VEEGAN's ring as PacGAN builds it;
  radius/std = 100, the same ratio as Unrolled GAN's r=2, std 0.02).
- grid25: means {-4,-2,0,2,4}^2, std 0.05 (VEEGAN's grid).
- ring10: 10 modes on a circle of radius 3, std 0.05 (PresGAN's toy ring, official code defaults).
- hd1200: 10 modes, each a 700-D Gaussian embedded in R^1200 (VEEGAN's high-dimensional set).
  Construction (ours; VEEGAN does not publish one): for component k a fixed random orthonormal
  basis B_k (1200 x 700) and a mean mu_k = 30 * u_k with u_k a fixed random unit vector; a sample is
  mu_k + B_k e with e ~ N(0, I_700), so the std inside the component's subspace is 1 and zero
  outside it. Everything is drawn from numpy's generator with seed 1200, so it is the same on
  every machine.

HQ rule (one rule for every mixture): a sample is HQ when its squared distance to the nearest mean
is at most std^2 * q, with q the chi-square quantile (df = the component's intrinsic dimension) at
1 - e^-4.5 = 98.89 %. In 2-D q = 9 exactly, i.e. VEEGAN's "within three standard deviations".
In hd1200 (df = 700) q = 788.4, a radius of 28.08 std. VEEGAN's "10 standard deviations" cannot be
applied literally to a 700-D component (a true sample lies about sqrt(700) = 26.5 std from its
mean); our radius accepts the same 98.89 % of true samples as the 2-D rule, and rejects samples of
a Gaussian moment-matched to the whole mixture (in our check, 2,500 of them all lay 28.3 std or
more from every mean, 37.9 on average; the means are at least 41 apart).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import logsumexp

HQ_ACCEPT_RATE = 1.0 - math.exp(-4.5)  # share of true samples the 2-D 3-std rule accepts


@dataclass(frozen=True)
class Mixture:
    """A mixture of isotropic (within its subspace) Gaussians with known means and weights."""

    means: np.ndarray            # (K, D)
    std: float
    weights: np.ndarray          # (K,), sums to 1
    intrinsic_dim: int           # dimension of each component's support
    bases: np.ndarray | None = None  # (K, D, intrinsic_dim) orthonormal, or None for full-rank

    @property
    def n_modes(self) -> int:
        return len(self.means)

    @property
    def hq_radius(self) -> float:
        """Distance to the nearest mean below which a sample is high quality."""
        from scipy.stats import chi2  # scipy.stats costs 0.6 s to import: only where a radius is needed

        return self.std * math.sqrt(chi2.ppf(HQ_ACCEPT_RATE, df=self.intrinsic_dim))

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """The exact log-density at each row of x (nats), for full-rank mixtures (a density on R^D):
        log sum_k w_k N(x; mu_k, std^2 I)."""
        if self.bases is not None:
            raise ValueError("components confined to subspaces have no density on the whole space")
        squared = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)                      # (n, K)
        d = x.shape[1]
        log_components = np.log(self.weights)[None] - 0.5 * squared / self.std**2 - d * (math.log(self.std)
                                                                                           + 0.5 * math.log(2 * math.pi))
        return logsumexp(log_components, axis=1)

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """n points and their component labels, float32."""
        rng = np.random.default_rng(seed)
        labels = rng.choice(self.n_modes, size=n, p=self.weights)
        noise = rng.standard_normal((n, self.intrinsic_dim)) * self.std
        if self.bases is None:
            return (self.means[labels] + noise).astype(np.float32), labels
        x = self.means[labels].astype(np.float32)
        for k in range(self.n_modes):  # each component embeds its noise through its own basis
            rows = labels == k
            x[rows] += noise[rows].astype(np.float32) @ self.bases[k].T
        return x, labels


def ring(n_modes: int, radius: float, std: float) -> Mixture:
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return Mixture(means=means, std=std, weights=np.full(n_modes, 1 / n_modes), intrinsic_dim=2)


def grid(side: int, spacing: float, std: float) -> Mixture:
    coords = spacing * (np.arange(side) - (side - 1) / 2)
    means = np.array(list(itertools.product(coords, coords)), dtype=float)
    return Mixture(means=means, std=std, weights=np.full(len(means), 1 / len(means)), intrinsic_dim=2)


@functools.lru_cache(maxsize=1)
def embedded(n_modes: int = 10, dim: int = 1200, intrinsic: int = 700, mean_norm: float = 30.0,
             seed: int = 1200) -> Mixture:
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((n_modes, dim))
    means = mean_norm * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    bases = np.stack([np.linalg.qr(rng.standard_normal((dim, intrinsic)))[0] for _ in range(n_modes)])
    return Mixture(means=means, std=1.0, weights=np.full(n_modes, 1 / n_modes), intrinsic_dim=intrinsic,
                   bases=bases.astype(np.float32))


MIXTURES = {
    "ring8": lambda: ring(8, radius=1.0, std=0.01),
    "grid25": lambda: grid(5, spacing=2.0, std=0.05),
    "ring10": lambda: ring(10, radius=3.0, std=0.05),
    "hd1200": embedded,
}


TEST_SEED_OFFSET = 1_000_003  # the test split is drawn with data.seed + this: never a training set's seed
RANGE_STDS = 5.0              # the spec's value range: the means' extent plus this many stds


class MixtureSource:
    """A DATASETS entry: the named mixture; its splits are independent draws (n_train, n_test points)."""

    fields = ("n_train", "seed", "n_test")

    def __init__(self, name: str):
        self.name = name

    def describe(self, cfg):
        from engine.data import DataSpec

        mixture = MIXTURES[self.name]()
        margin = RANGE_STDS * mixture.std
        return DataSpec(name=self.name, kind="vector", shape=(mixture.means.shape[1],),
                        low=float(mixture.means.min() - margin), high=float(mixture.means.max() + margin),
                        mixture=mixture, metrics="mixture", classes=mixture.n_modes)

    def load(self, cfg, split: str):
        from engine.data import Dataset, check_split

        check_split(split)
        spec = self.describe(cfg)
        n, seed = (cfg.n_train, cfg.seed) if split == "train" else (cfg.n_test, cfg.seed + TEST_SEED_OFFSET)
        x, labels = spec.mixture.sample(n, seed)
        return Dataset(spec=spec, x=torch.from_numpy(x), labels=torch.from_numpy(labels), split=split)
