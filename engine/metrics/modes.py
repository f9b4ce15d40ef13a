"""Mode metrics on synthetic mixtures (DESIGN.md section 7; VEEGAN's definitions).

A sample is high quality (HQ) when it lies within the mixture's HQ radius of its nearest mean;
modes captured = components that are the nearest mean of at least one HQ sample; HQ% = share of
HQ samples; reverse KL = KL(histogram of HQ samples over modes || true weights), over captured
modes (empty bins add nothing).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.data.synthetic import Mixture


def nearest_modes(x: np.ndarray, mixture: Mixture) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest mean and the distance to it, for each row of x."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    dist = torch.cdist(xt, torch.as_tensor(mixture.means, dtype=torch.float64))
    best, index = dist.min(dim=1)
    return index.numpy(), best.numpy()


def mode_metrics(x: np.ndarray, mixture: Mixture) -> dict[str, float]:
    """modes, hq_pct and reverse_kl of samples x (N, D) against a mixture; KL is nan with no HQ sample."""
    x = np.asarray(x)
    finite = np.isfinite(x).all(axis=1)
    index, dist = nearest_modes(np.where(finite[:, None], x, 0.0), mixture)
    is_hq = finite & (dist <= mixture.hq_radius)
    counts = np.bincount(index[is_hq], minlength=mixture.n_modes)
    modes = int((counts > 0).sum())
    if counts.sum() == 0:
        kl = math.nan
    else:
        p = counts / counts.sum()
        seen = p > 0
        kl = float(np.sum(p[seen] * np.log(p[seen] / mixture.weights[seen])))
    return {"modes": float(modes), "hq_pct": 100.0 * float(is_hq.mean()), "reverse_kl": kl}


def mode_histogram(x: np.ndarray, mixture: Mixture) -> np.ndarray:
    """Counts of HQ samples per mode (K,)."""
    index, dist = nearest_modes(x, mixture)
    return np.bincount(index[dist <= mixture.hq_radius], minlength=mixture.n_modes)
