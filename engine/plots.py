"""Static figures for tracking (PNG arrays) and the geometry the pages draw with (a PCA plane, a KDE grid); the
app draws its own interactive plotly charts."""

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


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (any float dtype) as uint8 pixels 0..255, clipped."""
    return np.clip(np.rint((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, columns: int = 8, pad: int = 2,
               background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """(n, C, H, W) images in [-1, 1] (or uint8) tiled row by row on a background of this RGB colour (white by
    default), as an (rows x H', cols x W', 3) uint8 RGB array; grey images are repeated over the three channels."""
    pixels = images if images.dtype == np.uint8 else to_uint8(images)
    n, channels, height, width = pixels.shape
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.empty((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), dtype=np.uint8)
    grid[...] = background
    for i, image in enumerate(pixels):
        top, left = pad + (i // columns) * (height + pad), pad + (i % columns) * (width + pad)
        grid[top:top + height, left:left + width] = image.transpose(1, 2, 0)
    return grid


def png_bytes(array: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG file bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def project_2d(samples: np.ndarray, means: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """High-dimensional samples and means on a plane, for drawing only: their first two principal components.

    The plane is fitted to the true means when known, so it is the same for every run and step of a
    data set and a collapsed run shows as modes left empty; otherwise to the samples.
    """
    from sklearn.decomposition import PCA

    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples).all(axis=1)]
    pca = PCA(n_components=2).fit(means if means is not None and len(means) > 2 else samples)
    return pca.transform(samples), None if means is None else pca.transform(means)


def log_density_grid(samples: np.ndarray, limit: float, size: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, log10 density) of a Gaussian KDE of the samples on a grid over their own extent (for drawing only).

    The grid spans the samples, not the frame, so a collapsed run's small blob still gets a fine grid;
    it stops at +-limit so a few far outliers cannot stretch it.
    """
    from scipy.stats import gaussian_kde

    points = samples[:2_000]  # enough for a contour, and quick
    # a narrow kernel (0.15 of the data's spread): Scott's rule would smear ring8's modes into one ring
    kde = gaussian_kde(points.T, bw_method=0.15)
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 4 * np.sqrt(np.diag(kde.covariance))  # the kernel's reach at three decades below its peak
    x, y = (np.linspace(max(low[i] - pad[i], -limit), min(high[i] + pad[i], limit), size) for i in (0, 1))
    grid_x, grid_y = np.meshgrid(x, y)
    density = kde(np.vstack([grid_x.ravel(), grid_y.ravel()])).reshape(size, size)
    return x, y, np.log10(density + 1e-300)
