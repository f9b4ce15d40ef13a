"""Data sets: what a model is built for (DataSpec) and the training tensor."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.data.synthetic import Mixture


@dataclass
class DataSpec:
    """What a model needs to know about its data: kind, shape, value range, true modes if any."""

    name: str
    kind: str                     # "vector" or "image"
    shape: tuple[int, ...]        # per-example shape, e.g. (2,), (1200,) or (1, 28, 28) (C x H x W)
    low: float                    # smallest value in the training set (for plot limits, output scaling)
    high: float
    mixture: Mixture | None = field(default=None, repr=False)  # known modes, if synthetic

    @property
    def pixel_shape(self) -> tuple[int, ...]:
        """The shape of a per-pixel parameter: one value per pixel shared over an image's channels (PresGAN's
        official sigma), one per dimension for vectors."""
        return (1, *self.shape[1:]) if self.kind == "image" else tuple(self.shape)


@dataclass
class Dataset:
    spec: DataSpec
    x: torch.Tensor               # (N, *shape) float32, on the CPU


def vector_dataset(name: str, x: torch.Tensor, mixture: Mixture | None = None) -> Dataset:
    spec = DataSpec(name=name, kind="vector", shape=tuple(x.shape[1:]), low=float(x.min()),
                    high=float(x.max()), mixture=mixture)
    return Dataset(spec=spec, x=x)


SCALE_CLUSTERS = 100  # k-means centres of the scale estimate for data without known modes
SCALE_POINTS = 3_000
SCALE_CALIBRATION = 2.0  # measured: the raw estimate is 0.4-0.75 of the true mode std on our mixtures


def data_scale(dataset: Dataset) -> tuple[float, str]:
    """The std of the data's local structure (one mode's std) and how it was found.

    Search spaces use it for knobs whose good range depends on the data's scale (PresGAN's sigma bounds).
    Mixtures know it. For other data it is estimated: the RMS distance of SCALE_POINTS points to the nearest
    of SCALE_CLUSTERS k-means centres, times SCALE_CALIBRATION (on ring8, grid25, ring10 and hd1200 the raw
    figure is 0.37, 0.60, 0.40 and 0.75 of the modes' std: many centres split each mode)."""
    if dataset.spec.mixture is not None:
        return float(dataset.spec.mixture.std), "the mixture's component std"
    import numpy as np
    from sklearn.cluster import KMeans

    x = dataset.x.reshape(len(dataset.x), -1).numpy().astype(np.float64)
    x = x[np.random.default_rng(0).permutation(len(x))[:SCALE_POINTS]]
    clusters = min(SCALE_CLUSTERS, max(1, len(x) // 10))
    fitted = KMeans(clusters, n_init=1, random_state=0, max_iter=50).fit(x)
    residual = float(np.sqrt(((x - fitted.cluster_centers_[fitted.labels_]) ** 2).mean()))
    return SCALE_CALIBRATION * residual, f"estimated ({SCALE_CLUSTERS} k-means centres, x{SCALE_CALIBRATION:g})"
