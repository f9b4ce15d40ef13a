"""Static figures for tracking (PNG arrays); the app draws its own interactive plotly charts."""

from __future__ import annotations

import io

import numpy as np


def scatter_png(samples: np.ndarray, means: np.ndarray | None, title: str) -> np.ndarray:
    """A 2-D scatter of samples over the true mode means, as an RGB uint8 array."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from PIL import Image

    fig = Figure(figsize=(4, 4), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", label="samples")
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], s=30, marker="x", color="tab:red", label="true modes")
        span = np.abs(means).max() * 1.5 + 1e-6
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return np.asarray(Image.open(buffer).convert("RGB"))
