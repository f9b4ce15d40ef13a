"""Evaluate a model's samples against its data (mode metrics where the modes are known)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from engine.data import Dataset, DataSpec
from engine.metrics.coverage import prdc_metrics
from engine.metrics.modes import mode_histogram, mode_metrics
from engine.models.base import GenerativeModel, ObservationModel


def draw_samples(model: GenerativeModel, n: int, seed: int) -> np.ndarray:
    """n samples (without observation noise: mean_sample) with their own RNG stream, so evaluation never shifts the
    training randomness."""
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        was_training = model.training
        model.train(False)
        try:
            x = model.mean_sample(n)
        finally:
            model.train(was_training)
    return x.detach().float().cpu().numpy().reshape(n, -1)


def noisy_samples(model: GenerativeModel, x: np.ndarray, seed: int) -> np.ndarray | None:
    """x + sigma * eps for models with a Gaussian observation model (DESIGN.md section 7), else None."""
    if not isinstance(model, ObservationModel):
        return None
    # sigma has one value per dimension or per pixel (shared over an image's channels): broadcast it per example
    shape = (len(x), *model.spec.shape)
    sigma = np.broadcast_to(model.observation_sigma().detach().float().cpu().numpy(), shape).reshape(len(x), -1)
    return x + sigma * np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)


class Figures(NamedTuple):
    """What a data set's evaluation hook finds in a sample set: its metrics, and the samples per mode where the
    modes are known (HQ samples per mixture component, samples per digit or digit triple), else None."""

    metrics: dict[str, float]
    mode_counts: np.ndarray | None = None


class Evaluation(NamedTuple):
    """One evaluation of a model: its mean samples, their metrics (with `noisy_<metric>` figures beside for models
    with observation noise), the noisy samples themselves (or None) and the samples per mode (or None), so that
    what the app shows of an evaluation is read from the run, not drawn again."""

    samples: np.ndarray
    metrics: dict[str, float]
    noisy: np.ndarray | None
    mode_counts: np.ndarray | None


def evaluate_model(model: GenerativeModel, data: Dataset, n: int, seed: int) -> Evaluation:
    """n samples, seeded, and what the data set's hook finds in them (and in their noisy version)."""
    x = draw_samples(model, n, seed)
    metrics, counts = sample_figures(x, data)
    noisy = noisy_samples(model, x, seed)
    if noisy is not None:
        metrics.update({f"noisy_{k}": v for k, v in sample_metrics(noisy, data).items()})
    return Evaluation(x, metrics, noisy, counts)


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


def vector_figures(x: np.ndarray, data: Dataset) -> Figures:
    return Figures(vector_metrics(x, data))


def mixture_figures(x: np.ndarray, data: Dataset) -> Figures:
    """Synthetic mixtures: the vector figures plus modes, HQ % and reverse KL against the known modes."""
    mixture = data.spec.mixture
    metrics = {**vector_metrics(x, data), **mode_metrics(x, mixture), "n_modes": float(mixture.n_modes)}
    return Figures(metrics, mode_histogram(x[np.isfinite(x).all(axis=1)], mixture))


def image_metrics(x: np.ndarray, data: Dataset) -> dict[str, float]:
    """Any image set: the moment errors in pixel space, and where the user supplies Inception weights, FID,
    precision / recall / density / coverage and Vendi in Inception's pool3 (digit sets use their classifier)."""
    from engine.metrics.features import inception_path

    moments = moment_metrics(x, data.x.reshape(len(data.x), -1).numpy())
    path = inception_path()
    if path is None:
        return moments
    from engine.metrics.features import cached_reference, feature_metrics, inception_features

    fake = inception_features(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).view(len(x), *data.spec.shape),
                              path)
    real = cached_reference(data, f"inception:{path}",
                            lambda: inception_features(data.x[:INCEPTION_REFERENCE_IMAGES], path))
    return {**moments, **feature_metrics(real, fake, seed=len(x))}


INCEPTION_REFERENCE_IMAGES = 10_000  # TTUR's 10k reference images outside CIFAR's 50k (algorithms.md 1.6)


def image_figures(x: np.ndarray, data: Dataset) -> Figures:
    return Figures(image_metrics(x, data))


def digit_set_figures(x: np.ndarray, data: Dataset) -> Figures:
    """MNIST-like sets: pixel moment errors, then the classifier's modes, KL and feature-space PRDC; samples per
    digit."""
    from engine.metrics.digits import digit_figures

    metrics, counts = digit_figures(x, data)
    return Figures({**image_metrics(x, data), **metrics}, counts)


def stacked_set_figures(x: np.ndarray, data: Dataset) -> Figures:
    """Stacked MNIST: pixel moment errors, then modes of digit triples, KL and feature-space PRDC; samples per
    triple."""
    from engine.metrics.digits import stacked_figures

    metrics, counts = stacked_figures(x, data)
    return Figures({**image_metrics(x, data), **metrics}, counts)


# the hook a data set names in its spec (DataSpec.metrics) -> what it finds in flat samples against its data
EVALUATORS = {"vectors": vector_figures, "mixture": mixture_figures, "digits": digit_set_figures,
              "stacked_digits": stacked_set_figures, "images": image_figures}


def feature_space(spec: DataSpec) -> str:
    """Where the data set's FD / precision / recall / density / coverage / Vendi figures are computed."""
    from engine.metrics.digits import FEATURE_SPACES
    from engine.metrics.features import DATA_SPACE, INCEPTION_SPACE, NO_FEATURES, inception_path

    if spec.kind == "vector":
        return DATA_SPACE
    return FEATURE_SPACES.get(spec.metrics) or (INCEPTION_SPACE if inception_path() else NO_FEATURES)


def sample_figures(x: np.ndarray, data: Dataset) -> Figures:
    """What the data set's evaluation hook (its spec's `metrics`) finds in samples x flattened to (n, -1)."""
    return EVALUATORS[data.spec.metrics](x, data)


def sample_metrics(x: np.ndarray, data: Dataset) -> dict[str, float]:
    """The metrics the data set asks for (its spec's evaluation hook), of samples x flattened to (n, -1)."""
    return sample_figures(x, data).metrics


SAMPLE_RANGE_SLACK = 1e-3  # images in [-1, 1], up to rounding


def check_samples(path: Path, spec: DataSpec) -> np.ndarray:
    """A sample file made elsewhere, checked against the data spec and flattened to (N, -1) for sample_metrics.

    Vectors: N x D. Images: N x C x H x W in [-1, 1]; digit sets also at 28 or 32 px, brought to the spec's size.
    A wrong file gets a one-line ConfigError naming the expected shape."""
    from engine.config import ConfigError

    expected = f"N x {' x '.join(map(str, spec.shape))}" + (" in [-1, 1]" if spec.kind == "image" else "")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--samples {path} cannot be read as .npy: {str(exc).splitlines()[0]}") from None
    if not np.issubdtype(x.dtype, np.number) or x.ndim != 1 + len(spec.shape) or len(x) < 2:
        raise ConfigError(f"--samples {path} has shape {x.shape}; {spec.name} samples are {expected}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ConfigError(f"--samples {path} holds non-finite values")
    if spec.kind == "image":
        if np.abs(x).max() > 1 + SAMPLE_RANGE_SLACK:
            raise ConfigError(f"--samples {path} has values in [{x.min():.3g}, {x.max():.3g}]; {spec.name} samples "
                              f"are {expected}")
        digits = spec.metrics in ("digits", "stacked_digits")
        if x.shape[1] == spec.shape[0] and digits and x.shape[2] == x.shape[3] and x.shape[2] in (28, 32):
            from engine.data.images import resize

            x = resize(torch.from_numpy(x), spec.shape[-1]).numpy()
    if tuple(x.shape[1:]) != tuple(spec.shape):
        raise ConfigError(f"--samples {path} has shape {x.shape}; {spec.name} samples are {expected}")
    return x.reshape(len(x), -1)
