"""Figures of samples in a feature space: Frechet distance (torchmetrics), precision / recall / density / coverage
(the `prdc` package) and the Vendi diversity score (the `vendi-score` package), and the feature spaces they use.

Digit sets use the evaluation classifier's penultimate layer; any other image set uses Inception-v3's pool3 only
where the user supplies its weights (MODESCOPE_INCEPTION: the TorchScript `inception-2015-12-05.pt` that
StyleGAN2-ADA and clean-fid publish); vectors use data space.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.metrics.coverage import prdc_metrics

INCEPTION_ENV = "MODESCOPE_INCEPTION"
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
INCEPTION_SPACE = "Inception-v3 pool3 (2048-D, weights from $MODESCOPE_INCEPTION)"
DATA_SPACE = "data space"
NO_FEATURES = ("none: set MODESCOPE_INCEPTION to Inception-v3 TorchScript weights (inception-2015-12-05.pt) for FID "
               "and precision / recall on this image set")


class PrecomputedFeatures(nn.Identity):
    """torchmetrics' FrechetInceptionDistance with a feature module that passes features through: the features are
    computed once and shared with precision / recall, not extracted a second time."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of two (n, d) feature sets (torchmetrics' FID)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fake = fake[np.isfinite(fake).all(axis=1)]
    if len(fake) < 2 or len(real) < 2:
        return float("nan")
    fid = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]))
    fid.update(torch.from_numpy(np.asarray(real, dtype=np.float64)), real=True)
    fid.update(torch.from_numpy(np.asarray(fake, dtype=np.float64)), real=False)
    return float(fid.compute())


def vendi_score(features: np.ndarray) -> float:
    """exp(entropy of the eigenvalues of the cosine-similarity kernel / n): the effective number of distinct samples
    (Friedman & Dieng 2023), between 1 (all alike) and the feature dimension."""
    from vendi_score import vendi

    features = features[np.isfinite(features).all(axis=1)]
    if len(features) < 2:
        return float("nan")
    return float(vendi.score_dual(np.asarray(features, dtype=np.float64), normalize=True))


def feature_metrics(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> dict[str, float]:
    """FD, precision / recall / density / coverage and the Vendi score of fake features against real ones."""
    return {"fd": frechet_distance(real, fake), **prdc_metrics(real, fake, seed=seed), "vendi": vendi_score(fake)}


_REFERENCES: dict[tuple, object] = {}


def cached_reference(data, tag: str, compute):
    """compute(), the features of a data set's real images, once per process per (data set, tag): every
    evaluation of a run compares its samples with the same real images."""
    key = (tag, data.spec.name, len(data.x), float(data.x[:64].sum()))
    if key not in _REFERENCES:
        _REFERENCES[key] = compute()
    return _REFERENCES[key]


# ---- Inception-v3, only from weights the user supplies ----------------------------------------------------------

def inception_path() -> Path | None:
    """The user's Inception weights, or None when MODESCOPE_INCEPTION is unset; a set path must exist."""
    from engine.config import ConfigError

    raw = os.environ.get(INCEPTION_ENV)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"{INCEPTION_ENV}={raw} is not a file; download {INCEPTION_URL} and point it there")
    return path


@lru_cache(maxsize=2)
def _inception(path: str) -> torch.jit.ScriptModule:
    from engine.config import ConfigError

    try:
        return torch.jit.load(path, map_location="cpu").eval()
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"{INCEPTION_ENV}={path} is not a TorchScript Inception model: "
                          f"{str(exc).splitlines()[0]}") from None


def inception_features(images: torch.Tensor, path: Path, batch: int = 100) -> np.ndarray:
    """pool3 features (n, 2048) of (n, C, H, W) images in [-1, 1]: to uint8 RGB, which the TorchScript model
    resizes to 299 x 299 itself."""
    model = _inception(str(path))
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = images[start:start + batch]
            x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
            pixels = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            out.append(model(pixels, return_features=True).float())
    return torch.cat(out).numpy()
