"""Data sets: what a model is built for (DataSpec) and the training tensor."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from engine.data.synthetic import Mixture


@dataclass
class DataSpec:
    """What a model needs to know about its data: kind, shape, value range, true modes if any."""

    name: str
    kind: str                     # "vector" (images come later)
    shape: tuple[int, ...]        # per-example shape, e.g. (2,) or (1200,)
    low: float                    # smallest value in the training set (for plot limits, output scaling)
    high: float
    mixture: Mixture | None = field(default=None, repr=False)  # known modes, if synthetic


@dataclass
class Dataset:
    spec: DataSpec
    x: torch.Tensor               # (N, *shape) float32, on the CPU


def vector_dataset(name: str, x: torch.Tensor, mixture: Mixture | None = None) -> Dataset:
    spec = DataSpec(name=name, kind="vector", shape=tuple(x.shape[1:]), low=float(x.min()),
                    high=float(x.max()), mixture=mixture)
    return Dataset(spec=spec, x=x)
