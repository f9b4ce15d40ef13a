"""Mode metrics of digit images through the evaluation classifier (DESIGN.md section 7).

MNIST: modes = digits that are the classifier's argmax for at least one sample; KL(mean softmax over the
samples || mean softmax over real images). Stacked MNIST: each channel classified, mode = the digit triple;
KL(histogram of triples || uniform over 1,000). Frechet distance, precision / recall / density / coverage and
the Vendi score are computed on the classifier's features (FEATURE_SPACES). The real images are the training
split's (at most REFERENCE_IMAGES of them): for imbalanced_mnist that is the imbalanced distribution the model was fitted to.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.data import Dataset, DataSpec
from engine.metrics.classifier import FEATURE_SPACE, classify
from engine.metrics.features import cached_reference, feature_metrics

REFERENCE_IMAGES = 10_000
STACKED_SAMPLES = 26_000  # VEEGAN / PacGAN's sample count for Stacked MNIST


# the feature space of each hook's FD / PRDC / Vendi figures, named beside them
FEATURE_SPACES = {"digits": FEATURE_SPACE,
                  "stacked_digits": "digit-classifier features of the three channels side by side (3 x 128-D)"}


def as_images(x: np.ndarray, data: Dataset | DataSpec) -> torch.Tensor:
    spec = data.spec if isinstance(data, Dataset) else data
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).view(len(x), *spec.shape)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) over the support of p (q > 0 there)."""
    seen = p > 0
    return float(np.sum(p[seen] * np.log(p[seen] / q[seen])))


def channel_outputs(images: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """Per channel of (n, C, H, W) digit images: softmax (C, n, 10), and the channels' features side by side
    (n, C x 128), the classifier's feature space of a C-channel digit image."""
    outputs = [classify(images[:, c:c + 1]) for c in range(images.shape[1])]
    return torch.stack([p for p, _ in outputs]), torch.cat([f for _, f in outputs], dim=1).numpy()


def reference_outputs(data: Dataset) -> tuple[torch.Tensor, np.ndarray]:
    """channel_outputs of (up to REFERENCE_IMAGES of) the data's real images, cached per data set."""
    return cached_reference(data, "digit-classifier", lambda: channel_outputs(data.x[:REFERENCE_IMAGES]))


def digit_figures(x: np.ndarray, data: Dataset) -> tuple[dict[str, float], np.ndarray]:
    """One-channel digits: modes (of 10), KL(mean softmax of samples || of real images), and precision / recall /
    density / coverage, Frechet distance and Vendi score in the classifier's feature space; and the samples per
    predicted digit (10,)."""
    probs, features = channel_outputs(as_images(x, data))
    real_probs, real_features = reference_outputs(data)
    kl = kl_divergence(probs[0].mean(0).double().numpy(), real_probs[0].mean(0).double().numpy())
    counts = np.bincount(probs[0].argmax(1).numpy(), minlength=10)
    return ({"modes": float((counts > 0).sum()), "reverse_kl": kl, "n_modes": 10.0,
             **feature_metrics(real_features, features, seed=len(x))}, counts)


def stacked_triples(probs: torch.Tensor) -> np.ndarray:
    """The digit triple of each image from its channels' softmax (3, n, 10), as 100 x red + 10 x green + blue."""
    digits = probs.argmax(2).numpy()
    return 100 * digits[0] + 10 * digits[1] + digits[2]


def stacked_figures(x: np.ndarray, data: Dataset) -> tuple[dict[str, float], np.ndarray]:
    """Stacked MNIST: modes (of 1,000), KL(histogram of triples || uniform), and precision / recall / density /
    coverage, Frechet distance and Vendi score in the three channels' classifier features side by side; and the
    samples per triple (1000,)."""
    probs, features = channel_outputs(as_images(x, data))
    counts = np.bincount(stacked_triples(probs), minlength=1000)
    kl = kl_divergence(counts / counts.sum(), np.full(1000, 1 / 1000))
    return ({"modes": float((counts > 0).sum()), "reverse_kl": kl, "n_modes": 1000.0,
             **feature_metrics(reference_outputs(data)[1], features, seed=len(x))}, counts)


def expected_shares(spec: DataSpec) -> np.ndarray:
    """The expected share of each mode of a digit set: 1,000 uniform triples for Stacked MNIST; the training
    split's class shares where the data set's definition fixes them (imbalanced_mnist), else 10 uniform digits."""
    if spec.metrics == "stacked_digits":
        return np.full(1000, 1 / 1000)
    return np.asarray(spec.shares, dtype=float) if spec.shares else np.full(10, 1 / 10)


def mode_histogram(x: np.ndarray, spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """(samples per mode, expected share per mode) of flat digit samples: 10 digits, or Stacked MNIST's 1,000
    triples (100 x red + 10 x green + blue)."""
    probs, _ = channel_outputs(as_images(x, spec))
    counts = stacked_triples(probs) if spec.metrics == "stacked_digits" else probs[0].argmax(1).numpy()
    expected = expected_shares(spec)
    return np.bincount(counts, minlength=len(expected)), expected
