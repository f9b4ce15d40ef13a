"""Evaluate a model's samples against its data (mode metrics where the modes are known)."""

from __future__ import annotations

import numpy as np
import torch

from engine.data import Dataset
from engine.metrics.coverage import prdc_metrics
from engine.metrics.modes import mode_metrics
from engine.models.base import GenerativeModel


def draw_samples(model: GenerativeModel, n: int, seed: int) -> np.ndarray:
    """n samples with their own RNG stream, so evaluation never shifts the training randomness."""
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        was_training = model.training
        model.train(False)
        try:
            x = model.sample(n)
        finally:
            model.train(was_training)
    return x.detach().float().cpu().numpy().reshape(n, -1)


def noisy_samples(model: GenerativeModel, x: np.ndarray, seed: int) -> np.ndarray | None:
    """x + sigma * eps for models with a Gaussian observation model (DESIGN.md section 7), else None."""
    if not hasattr(model, "observation_sigma"):
        return None
    sigma = model.observation_sigma().detach().float().cpu().numpy().reshape(1, -1)
    return x + sigma * np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)


def evaluate_model(model: GenerativeModel, data: Dataset, n: int, seed: int) -> tuple[np.ndarray, dict[str, float]]:
    """Samples and their metrics; models with observation noise add `noisy_<metric>` figures beside."""
    x = draw_samples(model, n, seed)
    metrics = sample_metrics(x, data)
    noisy = noisy_samples(model, x, seed)
    if noisy is not None:
        metrics.update({f"noisy_{k}": v for k, v in sample_metrics(noisy, data).items()})
    return x, metrics


def moment_metrics(x: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Distances between the samples' and the data's per-dimension means and stds (finite samples only)."""
    finite = np.isfinite(x).all(axis=1)
    if not finite.any():
        return {"mean_error": np.nan, "std_error": np.nan}
    return {"mean_error": float(np.linalg.norm(x[finite].mean(0) - reference.mean(0))),
            "std_error": float(np.linalg.norm(x[finite].std(0) - reference.std(0)))}


def vector_metrics(x: np.ndarray, data: Dataset) -> dict[str, float]:
    """Any vector data: moment errors and precision / recall / density / coverage (these need no known modes)."""
    reference = data.x.reshape(len(data.x), -1).numpy()
    return {**moment_metrics(x, reference), **prdc_metrics(reference, x, seed=len(x))}


def mixture_metrics(x: np.ndarray, data: Dataset) -> dict[str, float]:
    """Synthetic mixtures: the vector figures plus modes, HQ % and reverse KL against the known modes."""
    mixture = data.spec.mixture
    reference = data.x.reshape(len(data.x), -1).numpy()
    return {**moment_metrics(x, reference), **mode_metrics(x, mixture), "n_modes": float(mixture.n_modes),
            **prdc_metrics(reference, x, seed=len(x))}


def image_metrics(x: np.ndarray, data: Dataset) -> dict[str, float]:
    """Images, until the evaluation classifier's feature space exists: the moment errors in pixel space."""
    return moment_metrics(x, data.x.reshape(len(data.x), -1).numpy())


# the hook a data set names in its spec (DataSpec.metrics) -> its metrics of flat samples against its data
EVALUATORS = {"vectors": vector_metrics, "mixture": mixture_metrics, "digits": image_metrics,
              "stacked_digits": image_metrics, "images": image_metrics}


def sample_metrics(x: np.ndarray, data: Dataset) -> dict[str, float]:
    """The metrics the data set asks for (its spec's evaluation hook), of samples x flattened to (n, -1)."""
    return EVALUATORS[data.spec.metrics](x, data)
