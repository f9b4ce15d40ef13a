"""Explore's Map tab: real and generated points on one t-SNE / UMAP / PCA map (engine.latent, made by a
background job), and the images or coordinates of the points a box or lasso selects (Plotly cannot show images
in hover labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import analysis_view, inspect_charts
from engine.data import DataSpec
from engine.plots import image_grid, to_uint8
from engine.registry import load_dataset

METHODS = {"tsne": "t-SNE (openTSNE)", "umap": "UMAP", "pca": "PCA (fast preview)"}
POINTS = (500, 1_000, 2_000, 5_000, 10_000)
SHOWN = 32  # selected images shown per set
FRAME = (60, 110, 190)  # the grid's lines between images


@st.cache_resource(max_entries=2, show_spinner=False)
def training_split(data: dict) -> np.ndarray:
    """The run's training examples, loaded once per data config (every selection indexes into them)."""
    from engine.config import DataConfig

    return load_dataset(DataConfig(**data), "train").x.numpy()


def training_examples(data: dict, rows: tuple[int, ...]) -> np.ndarray:
    """The real points a selection picked."""
    return training_split(data)[list(rows)]


def options(encodes: bool) -> tuple[str, str, int]:
    method_col, space_col, points_col = st.columns(3)
    method = method_col.selectbox("Method", list(METHODS), format_func=METHODS.get, key="map_method")
    spaces = ["data", "latent"] if encodes else ["data"]
    space = space_col.selectbox("Space", spaces, key="map_space",
                                format_func={"data": "data / classifier features", "latent": "latent codes"}.get,
                                help="latent: codes of real data (this method encodes) beside prior draws")
    points = points_col.select_slider("Points of each set", POINTS, value=2_000, key="map_points")
    return method, space, points


def selection(event) -> tuple[list[int], list[int]]:
    """(real rows, generated rows) a box or lasso selection picked."""
    picked = getattr(getattr(event, "selection", None), "points", None) or []
    real = [p["point_index"] for p in picked if p.get("curve_number") == inspect_charts.REAL]
    generated = [p["point_index"] for p in picked if p.get("curve_number") == inspect_charts.GENERATED]
    return real, generated


def framed(images: np.ndarray) -> np.ndarray:
    """The images as one grid on a blue no pixel takes, so a white, grey or black image still shows as a cell."""
    return image_grid(images, columns=8, pad=2, background=FRAME)


def show_selected(arrays: dict[str, np.ndarray], data: dict, spec: DataSpec, real: list[int],
                  generated: list[int]) -> None:
    st.markdown(f"**Selected: {len(real):,} real, {len(generated):,} generated points**")
    real_rows = tuple(int(arrays["real_index"][i]) for i in real[:SHOWN]) if "real_index" in arrays else ()
    left, right = st.columns(2)
    if spec.kind == "image":
        if real_rows:
            left.image(framed(to_uint8(training_examples(data, real_rows))), width="stretch",
                       caption=f"real, the first {len(real_rows)}")
        if generated and "generated_x" in arrays:
            shown = arrays["generated_x"][generated[:SHOWN]]
            right.image(framed(shown), width="stretch", caption=f"generated, the first {len(shown)}")
        return
    if real_rows:
        left.dataframe(pd.DataFrame(training_examples(data, real_rows)).add_prefix("x"), height=240)
    if generated and "generated_x" in arrays:
        right.dataframe(pd.DataFrame(arrays["generated_x"][generated[:SHOWN]]).add_prefix("x"), height=240)


def render(run_dir: Path, spec: DataSpec, data: dict, encodes: bool, step: int) -> None:
    method, space, points = options(encodes)
    found = analysis_view.result_for(run_dir, "latent-map", step, {"method": method, "space": space,
                                                                      "points": points})
    if found is None:
        st.caption("No map for these options at this step yet. It is fitted on the real points; the generated ones "
                   "are then placed into it, so real regions without generated points are missing modes.")
        analysis_view.launcher(run_dir, "latent-map", ["--method", method, "--space", space, "--points",
                                                        str(points)], step, "Make the map")
        return
    summary, arrays = found
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in summary.get("seconds", {}).items())
    label = "class" if spec.classes else "label"
    title = f"{METHODS[method]} of {summary['real']:,} real and {summary['generated']:,} generated points, step {step:,}"
    event = st.plotly_chart(inspect_charts.map_figure(arrays, title, label), on_select="rerun",
                            selection_mode=("box", "lasso"), key="map_chart")
    st.caption(f"In {summary['feature_space']}. Dots: real, by {label}; crosses: generated, by predicted {label}. "
               f"Made in {seconds}. Draw a box or lasso to see the points.")
    real, generated = selection(event)
    if real or generated:
        show_selected(arrays, data, spec, real, generated)
