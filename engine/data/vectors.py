"""A user's own vectors: `vectors:PATH` with PATH a .npy or .csv file of shape N x D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.config import ConfigError
from engine.data import Dataset, DataSpec, check_split, vector_dataset


def read_vectors(path: str) -> np.ndarray:
    """Every row of the file as float32, checked: an N x D array of finite numbers."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"data file {file} does not exist")
    try:
        if file.suffix == ".npy":
            array = np.load(file, allow_pickle=False)
        elif file.suffix == ".csv":
            array = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
        else:
            raise ConfigError(f"data file {file} must end in .npy or .csv")
    except ConfigError:
        raise
    except (OSError, ValueError) as exc:
        raise ConfigError(f"data file {file} cannot be read: {str(exc).splitlines()[0]}") from None
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ConfigError(f"data file {file} must hold an N x D array of floats, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ConfigError(f"data file {file} must hold finite numbers only")
    return array.astype(np.float32)


class VectorFileSource:
    """A DATA_SCHEMES entry: `vectors:PATH`. The file is the training set (n_train and the data seed do not
    apply); it has no test split."""

    argument = "PATH"
    fields = ()
    label = "your own N x D floats, .npy or .csv"
    placeholder = "/data/points.npy"

    def load(self, cfg, split: str) -> Dataset:
        check_split(split)
        if split != "train":
            raise ConfigError(f"data.name={cfg.name}: a user's vectors file has only a training split")
        return vector_dataset(_name(cfg), torch.from_numpy(read_vectors(_path(cfg))))

    def describe(self, cfg) -> DataSpec:
        return self.load(cfg, "train").spec  # the value range is the file's own: it must be read


def _path(cfg) -> str:
    return cfg.name.partition(":")[2]


def _name(cfg) -> str:
    return f"vectors:{Path(_path(cfg)).expanduser()}"
