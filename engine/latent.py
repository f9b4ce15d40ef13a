"""Latent and sample maps: real points and a model's points on one 2-D embedding (issue 12).

The embedding is fitted on the real points only and the generated ones are placed into it (openTSNE's
`transform`, UMAP's `transform`, PCA's projection), so a region of real data with no generated point nearby
is a missing mode. Spaces:
- `data`: real examples and mean samples in data space, or for digit sets in the evaluation classifier's
  feature space (every method, GAN included, has this map);
- `latent`: codes of real examples (methods that encode) beside prior draws.
Colours: real points by their label (class, or mixture component), generated ones by the class the classifier
predicts or the nearest true mode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.config import ConfigError
from engine.data import Dataset
from engine.models.base import Encodes, GenerativeModel

METHODS = ("tsne", "umap", "pca")
TSNE_PCA_DIMS = 50
# half openTSNE's 250 + 500 iterations: 10,000 Stacked-MNIST features fit in 15 s instead of 35 s, KL 1.72
# instead of 1.61 (docs/benchmarks.md, inspection session 2)
TSNE_ITERATIONS = {"early_exaggeration_iter": 125, "n_iter": 250}
# FFT grid intervals two units wide instead of one: the fit of 10,000 points in 5.9 s instead of 13.1 s, exact KL
# 1.83 instead of 1.72, 10-NN kept 0.704 instead of 0.712 (docs/benchmarks.md, inspection session 5)
TSNE_INTS_IN_INTERVAL = 2
# exact neighbour search up to this many real points: 0.6-1.5 s against Annoy's 2.2 s for 10,000 points in 50-D on
# two threads (docs/benchmarks.md, inspection session 5); openTSNE's own default turns to Annoy at 1,000
TSNE_EXACT_NEIGHBOURS_UP_TO = 20_000
SPACES = ("data", "latent")


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed buffers up to 256 MB in the heap (fixed thresholds instead of its adaptive
    ones). By default a map's inference returns each large temporary to the system and faults it in again, zeroed,
    on the next batch; with a 737 MB training set in memory that made the points of a 10,000-point map 13-16 s
    instead of 8.6-10.2 s (docs/benchmarks.md, inspection session 5). A no-op off glibc or where the user set
    MALLOC_MMAP_THRESHOLD_ themselves."""
    import ctypes
    import os

    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # mallopt's parameter numbers (malloc.h)
    libc.mallopt(m_mmap_threshold, 256 << 20)
    libc.mallopt(m_trim_threshold, 1 << 30)


@dataclass
class LatentMap:
    """2-D coordinates and labels of the real and the generated points, and what was measured making them."""

    real: np.ndarray                  # (n, 2)
    real_labels: np.ndarray           # (n,) int, -1 where unknown
    generated: np.ndarray             # (m, 2)
    generated_labels: np.ndarray      # (m,) int, -1 where unknown
    method: str
    space: str
    feature_space: str
    seconds: dict[str, float] = field(default_factory=dict)  # points (sampling, encoding, features), fit, place
    real_index: np.ndarray | None = None   # (n,) rows of the training split the real points are
    generated_x: np.ndarray | None = None  # (m, *shape) the generated points in data space (images as uint8)

    def arrays(self) -> dict[str, np.ndarray]:
        extra = {name: value for name, value in (("real_index", self.real_index), ("generated_x", self.generated_x))
                 if value is not None}
        return {"real": self.real, "real_labels": self.real_labels, "generated": self.generated,
                "generated_labels": self.generated_labels, **extra}


def _features(x: torch.Tensor, data: Dataset) -> tuple[np.ndarray, np.ndarray, str]:
    """(points, predicted labels, feature space name) of flat-or-shaped examples x of the data set."""
    from engine.evaluation import feature_space

    spec = data.spec
    if spec.metrics in ("digits", "stacked_digits"):
        from engine.metrics.digits import channel_outputs, stacked_triples

        probs, features = channel_outputs(x.reshape(len(x), *spec.shape).float())
        labels = probs[0].argmax(1).numpy() if spec.metrics == "digits" else stacked_triples(probs)
        return features, labels, feature_space(spec)
    flat = x.reshape(len(x), -1).double().numpy()
    if spec.mixture is not None:
        from engine.metrics.modes import nearest_modes

        return flat, nearest_modes(np.nan_to_num(flat), spec.mixture)[0], "data space"
    return flat, np.full(len(x), -1), "data space" if spec.kind == "vector" else "pixel space"


def real_features(x: torch.Tensor, data: Dataset) -> tuple[np.ndarray, np.ndarray, str]:
    """_features of real examples, kept on disk for digit sets (var/cache/features/<content hash>.npz): maps of
    other runs and steps on the same data pick the same real examples, and the classifier is most of a map's time.
    The key hashes the examples' pixels and the classifier's weights, so a changed set or classifier misses."""
    if data.spec.metrics not in ("digits", "stacked_digits"):
        return _features(x, data)
    import hashlib
    import io

    from engine.config import write_atomic_bytes
    from engine.metrics.classifier import WEIGHTS
    from engine.paths import var_dir

    digest = hashlib.sha256(np.ascontiguousarray(x.numpy(), dtype=np.float32).tobytes())
    digest.update(WEIGHTS.read_bytes() if WEIGHTS.is_file() else b"")
    path = var_dir() / "cache" / "features" / f"{data.spec.metrics}-{digest.hexdigest()[:24]}.npz"
    try:
        with np.load(path, allow_pickle=False) as saved:
            return saved["features"], saved["labels"], str(saved["space"])
    except (OSError, ValueError, KeyError):
        pass
    features, labels, where = _features(x, data)
    buffer = io.BytesIO()
    np.savez(buffer, features=features, labels=labels, space=np.asarray(where))
    write_atomic_bytes(path, buffer.getvalue())
    return features, labels, where


KEPT_DIMS = 16  # vector samples kept beside the map up to this dimension (images are always kept, as uint8)


def kept_samples(x: torch.Tensor, data: Dataset) -> np.ndarray | None:
    """Generated samples worth keeping with the map, for showing the selected points: images as uint8."""
    if data.spec.kind == "image":
        from engine.plots import to_uint8

        return to_uint8(x.reshape(len(x), *data.spec.shape).numpy())
    return x.numpy().astype(np.float32) if x[0].numel() <= KEPT_DIMS else None


def map_points(model: GenerativeModel, data: Dataset, space: str, n: int, seed: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, np.ndarray, np.ndarray | None]:
    """(real points, real labels, generated points, generated labels, feature space, the real points' rows in
    the data set, the generated samples worth keeping) in the chosen space."""
    if space not in SPACES:
        raise ConfigError(f"--space {space} must be one of {', '.join(SPACES)}")
    rng = np.random.default_rng(seed)
    pick = torch.from_numpy(rng.permutation(len(data.x))[:n])
    real_x = data.x[pick]
    real_labels = data.labels[pick].numpy() if data.labels is not None else np.full(len(pick), -1)
    model.train(False)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        if space == "latent":
            if not isinstance(model, Encodes):
                raise ConfigError(f"--space latent needs a model that encodes; {type(model).__name__} does not "
                                  "(use --space data)")
            real = model.encode(real_x.to(model.device)).double().cpu().numpy()
            codes = model.prior(len(pick))
            generated = codes.double().cpu().numpy()
            decoded = model.decode(codes).cpu()
            _, generated_labels, _ = _features(decoded, data)
            return (real, real_labels, generated, generated_labels, "latent codes (real: encode(x); generated: prior)",
                    pick.numpy(), kept_samples(decoded, data))
        real, _, where = real_features(real_x, data)
        samples = model.mean_sample(len(pick)).cpu()
        generated, generated_labels, _ = _features(samples, data)
    return real, real_labels, generated, generated_labels, where, pick.numpy(), kept_samples(samples, data)


def _exact_affinities(real: np.ndarray, perplexity: float, n_jobs: int):
    """openTSNE's own affinities over exact neighbours, built from the index directly: its `neighbors="exact"`
    imports pynndescent first to choose an approximate method (1.9 s of numba loading per process here, 19 s on
    a fresh environment's first map) and then does not use it. The same embedding to the last bit."""
    from openTSNE.affinity import MultiscaleMixture
    from openTSNE.nearest_neighbors import Sklearn

    k = min(len(real) - 1, int(3 * perplexity))  # openTSNE's neighbour count for a perplexity
    return MultiscaleMixture(perplexities=perplexity, n_jobs=n_jobs,
                             knn_index=Sklearn(real, k=k, metric="euclidean", n_jobs=n_jobs))


def embed(real: np.ndarray, generated: np.ndarray, method: str, seed: int = 0,
          n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Fit a 2-D embedding on the real points and place the generated ones into it."""
    if method not in METHODS:
        raise ConfigError(f"--method {method} must be one of {', '.join(METHODS)}")
    finite = np.isfinite(generated).all(axis=1)
    generated = np.where(finite[:, None], generated, 0.0)
    started = time.perf_counter()
    if method == "pca":
        from sklearn.decomposition import PCA

        fitted = PCA(n_components=2, random_state=seed).fit(real)
        fit_s = time.perf_counter() - started
        return fitted.transform(real), fitted.transform(generated), {"fit": fit_s,
                                                                      "place": time.perf_counter() - started - fit_s}
    if method == "umap":
        import umap  # lazily: its first fit per process compiles for ~35 s

        reducer = umap.UMAP(n_components=2, random_state=seed, n_jobs=n_jobs)
        real_2d = reducer.fit_transform(real)
        fit_s = time.perf_counter() - started
        return real_2d, reducer.transform(generated), {"fit": fit_s, "place": time.perf_counter() - started - fit_s}
    from openTSNE import TSNE

    if real.shape[1] > TSNE_PCA_DIMS:  # the usual first step (van der Maaten and Hinton 2008): neighbours in 50-D
        from sklearn.decomposition import PCA

        reduce = PCA(n_components=TSNE_PCA_DIMS, random_state=seed).fit(real)
        real, generated = reduce.transform(real), reduce.transform(generated)
    tsne = TSNE(n_components=2, random_state=seed, n_jobs=n_jobs,
                negative_gradient_method="fft",  # openTSNE's "auto" takes Barnes-Hut below 10,000: slower here
                ints_in_interval=TSNE_INTS_IN_INTERVAL, **TSNE_ITERATIONS)
    exact = len(real) <= TSNE_EXACT_NEIGHBOURS_UP_TO
    embedding = tsne.fit(real, affinities=_exact_affinities(real, tsne.perplexity, n_jobs) if exact else None)
    fit_s = time.perf_counter() - started
    placed = embedding.transform(generated)
    return np.asarray(embedding), np.asarray(placed), {"fit": fit_s, "place": time.perf_counter() - started - fit_s}


def latent_map(model: GenerativeModel, data: Dataset, method: str = "tsne", space: str = "data", n: int = 2_000,
               seed: int = 0, n_jobs: int = 1) -> LatentMap:
    """The map of n real and n generated points (see the module docstring)."""
    started = time.perf_counter()
    real, real_labels, generated, generated_labels, where, index, kept = map_points(model, data, space, n, seed)
    points_s = time.perf_counter() - started
    real_2d, generated_2d, seconds = embed(real, generated, method, seed, n_jobs)
    return LatentMap(real_2d, np.asarray(real_labels, dtype=np.int64), generated_2d,
                     np.asarray(generated_labels, dtype=np.int64), method, space, where,
                     {"points": points_s, **seconds}, index, kept)
