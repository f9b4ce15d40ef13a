"""Explore's Reconstructions tab: held-out examples beside decode(encode(x)) (encoders) and the IvOM fit (every
method), with per-example errors, and interpolations between two codes (engine.reconstruct, a background job)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import analysis_view
from engine.data import DataSpec
from engine.plots import image_grid, to_uint8

PATHS = ("spherical", "linear")
SHOWN_DIMS = 4  # vector examples: their coordinates beside the errors up to this dimension


def image_row(images: np.ndarray, caption: str) -> None:
    st.image(image_grid(to_uint8(images), columns=len(images)), caption=caption, width="stretch")


def examples(summary: dict, arrays: dict[str, np.ndarray], spec: DataSpec) -> None:
    rows = [("x", "held-out examples")]
    if "reconstruction" in arrays:
        rows.append(("reconstruction", f"decode(encode(x)): mean {summary['error']} "
                                       f"{summary['reconstruction_mean']:.5f}"))
    rows.append(("ivom", f"IvOM (L-BFGS-B, 3 starts): mean {summary['error']} {summary['ivom_mean']:.5f}"))
    if spec.kind == "image":
        for name, caption in rows:
            image_row(arrays[name], caption)
    table = pd.DataFrame({"IvOM error": arrays["ivom_error"]})
    if "reconstruction_error" in arrays:
        table.insert(0, "reconstruction error", arrays["reconstruction_error"])
    if spec.kind != "image" and arrays["x"].shape[1] <= SHOWN_DIMS:
        for name, _ in rows:
            for d in range(arrays[name].shape[1]):
                table[f"{name}[{d}]"] = arrays[name][:, d]
    st.dataframe(table.style.format("{:.4g}"), height=220)


def interpolations(summary: dict, arrays: dict[str, np.ndarray], spec: DataSpec) -> None:
    path = st.segmented_control("Path", PATHS, default="spherical", key="recon_path") or "spherical"
    pairs = (("between_examples", f"between the first two examples' codes ({summary['example_codes']})"),
             ("between_prior_draws", "between two prior draws"))
    for name, caption in pairs:
        values = arrays[f"{name}_{path}"]
        if spec.kind == "image":
            image_row(values, f"{path.capitalize()} path {caption}")
        else:
            st.caption(f"{path.capitalize()} path {caption}")
            st.dataframe(pd.DataFrame(values).add_prefix("x").style.format("{:.3f}"), height=180)


def render(run_dir: Path, spec: DataSpec, step: int) -> None:
    points_col, iterations_col = st.columns(2)
    points = points_col.select_slider("Examples", (8, 16, 32), value=16, key="recon_points")
    iterations = iterations_col.select_slider("L-BFGS iterations per start", (10, 25, 50, 100), value=50,
                                              key="recon_iterations")
    found = analysis_view.result_for(run_dir, "reconstructions", step, {"points": points, "iterations": iterations})
    if found is None:
        st.caption("No reconstructions for these options at this step yet.")
        analysis_view.launcher(run_dir, "reconstruct", ["--points", str(points), "--iterations", str(iterations)],
                               step, "Reconstruct")
        return
    summary, arrays = found
    examples(summary, arrays, spec)
    st.markdown("**Interpolations**")
    interpolations(summary, arrays, spec)
