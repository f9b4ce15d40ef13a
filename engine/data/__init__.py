"""Data sets: what a model is built for (DataSpec), the tensors of a split (Dataset), and the source protocol
every data family implements (describe without loading, load a split)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from engine.data.synthetic import Mixture

SPLITS = ("train", "test")


@dataclass
class DataSpec:
    """What a model and its evaluation need to know about the data: kind, shape, value range, classes, which
    metrics apply, the true modes if known. Describing a data set builds this without loading it."""

    name: str
    kind: str                     # "vector" or "image"
    shape: tuple[int, ...]        # per-example shape, e.g. (2,), (1200,) or (1, 28, 28) (C x H x W)
    low: float                    # value range (images: -1, 1), for plot limits and output scaling
    high: float
    mixture: Mixture | None = field(default=None, repr=False)  # known modes, if synthetic
    metrics: str = "vectors"      # the evaluation hook (engine.evaluation.EVALUATORS) this data set asks for
    classes: int | None = None    # labelled data: the number of classes (modes) its labels index
    shares: tuple[float, ...] | None = None  # each class's share of the training split, where the definition fixes it

    @property
    def pixel_shape(self) -> tuple[int, ...]:
        """The shape of a per-pixel parameter: one value per pixel shared over an image's channels (PresGAN's
        official sigma), one per dimension for vectors."""
        return (1, *self.shape[1:]) if self.kind == "image" else tuple(self.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, without the mixture (describe the data set again to get it back: it is its definition,
        not its points)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "mixture"}
        shares = list(self.shares) if self.shares is not None else None
        return {**out, "shape": list(self.shape), "shares": shares, "has_mixture": self.mixture is not None}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], mixture: Mixture | None = None) -> DataSpec:
        names = {f.name for f in dataclasses.fields(cls)} - {"mixture"}
        values = {k: v for k, v in raw.items() if k in names}
        shares = tuple(values["shares"]) if values.get("shares") is not None else None
        return cls(**{**values, "shape": tuple(values["shape"]), "shares": shares}, mixture=mixture)


@dataclass
class Dataset:
    spec: DataSpec
    x: torch.Tensor               # (N, *shape) float32, on the CPU
    labels: torch.Tensor | None = None  # (N,) class or component of each example, where known
    split: str = "train"


class DataSource(Protocol):
    """A data family (the mixtures, a user's vectors, an image set): one registry entry."""

    fields: tuple[str, ...]  # the DataConfig fields besides the name that it reads (a form shows only these)

    def describe(self, cfg) -> DataSpec:
        """The spec of cfg's data set (an engine.config.DataConfig), loading no examples."""

    def load(self, cfg, split: str) -> Dataset:
        """The examples of one split ("train" or "test"); ConfigError where the split does not exist."""


def check_split(split: str) -> None:
    from engine.config import ConfigError

    if split not in SPLITS:
        raise ConfigError(f"split={split!r} must be one of {', '.join(SPLITS)}")


def vector_dataset(name: str, x: torch.Tensor, mixture: Mixture | None = None, labels: torch.Tensor | None = None,
                   split: str = "train") -> Dataset:
    spec = DataSpec(name=name, kind="vector", shape=tuple(x.shape[1:]), low=float(x.min()),
                    high=float(x.max()), mixture=mixture, metrics="mixture" if mixture is not None else "vectors")
    return Dataset(spec=spec, x=x, labels=labels, split=split)


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
