"""Precision, recall, density and coverage of samples against real data (Naeem et al. 2020, arXiv:2002.09797),
computed by the authors' own `prdc` package in data space for vector data.

Coverage needs no known modes: it is the share of real points with a generated point inside their k-th
nearest-neighbour ball, so a dropped region of the data lowers it whatever the data is.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

NEAREST_K = 5  # the PRDC paper's recommended k
MAX_POINTS = 2_500  # real and generated points compared (pairwise distances grow with the square)


def prdc_metrics(real: np.ndarray, fake: np.ndarray, seed: int = 0) -> dict[str, float]:
    """precision / recall / density / coverage of fake (N, D) against real (M, D), on at most MAX_POINTS each."""
    from prdc import compute_prdc

    rng = np.random.default_rng(seed)
    real = np.asarray(real, dtype=np.float32)
    fake = np.asarray(fake, dtype=np.float32)
    fake = fake[np.isfinite(fake).all(axis=1)]
    if len(fake) <= NEAREST_K or len(real) <= NEAREST_K:
        return {name: float("nan") for name in ("precision", "recall", "density", "coverage")}
    real = real[rng.permutation(len(real))[:MAX_POINTS]]
    fake = fake[rng.permutation(len(fake))[:MAX_POINTS]]
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the set sizes
        found = compute_prdc(real_features=real, fake_features=fake, nearest_k=NEAREST_K)
    return {name: float(value) for name, value in found.items()}
