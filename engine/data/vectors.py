"""A user's own vectors: `vectors:PATH` with PATH a .npy or .csv file of shape N x D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.config import ConfigError
from engine.data import Dataset, vector_dataset


def load_vectors(path: str, n_train: int, seed: int) -> Dataset:
    """Load every row of the file (n_train and seed do not apply: the data is the file)."""
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
    return vector_dataset(f"vectors:{file}", torch.from_numpy(array.astype(np.float32)))
