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


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (any float dtype) as uint8 pixels 0..255, clipped."""
    return np.clip(np.rint((np.asarray(images, dtype=np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def image_grid(images: np.ndarray, columns: int = 8, pad: int = 2) -> np.ndarray:
    """(n, C, H, W) images in [-1, 1] (or uint8) tiled row by row on a white background, as an (rows x H', cols
    x W', 3) uint8 RGB array; grey images are repeated over the three channels."""
    pixels = images if images.dtype == np.uint8 else to_uint8(images)
    n, channels, height, width = pixels.shape
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 255, dtype=np.uint8)
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
