"""Explore's views of an image run: the sample grid at any evaluation step (Samples tab), the mode histogram of
digit sets (10 bars for MNIST, a 10 x 100 map for Stacked MNIST) against the expected shares, and the figures over
training (Modes tab)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, run_data
from engine.data import DataSpec
from engine.evaluation import draw_samples
from engine.metrics.digits import mode_histogram
from engine.trainer import RunFiles, load_run

DIGIT_HOOKS = ("digits", "stacked_digits")
CURVES = ("modes", "reverse_kl", "fd", "coverage")
PAGE_SAMPLES = 5_000  # drawn in the page's process: Stacked MNIST's 26,000 would take a minute on a CPU


@st.cache_data(max_entries=4, show_spinner="Drawing samples from the checkpoint...")
def checkpoint_histogram(run_dir: str, stamp: int) -> tuple[int, np.ndarray, np.ndarray, int]:
    """(step, counts, expected, n): the mode histogram of the run's evaluation samples (at most PAGE_SAMPLES of
    them: the first ones the evaluation drew, same seed)."""
    cfg, spec, model, step = load_run(Path(run_dir))
    x = draw_samples(model, min(cfg.train.eval_samples, PAGE_SAMPLES), cfg.train.seed + step)
    counts, expected = mode_histogram(x, spec)
    return step, counts, expected, len(x)


def histogram(run_dir: Path, spec: DataSpec) -> tuple[str, np.ndarray, np.ndarray, int] | None:
    """The histogram from the checkpoint, else from the kept images of the newest evaluation."""
    checkpoint = RunFiles(run_dir).checkpoint
    if checkpoint.exists():
        try:
            step, counts, expected, n = checkpoint_histogram(str(run_dir), checkpoint.stat().st_mtime_ns)
            return f"step {step:,}", counts, expected, n
        except (OSError, RuntimeError, KeyError, ValueError):
            pass  # a checkpoint from an older engine: the kept images still say something
    kept = run_data.kept_images(run_dir)
    if kept is None:
        return None
    counts, expected = mode_histogram(kept, spec)
    return "the newest evaluation's kept images", counts, expected, len(kept)


def grid_slider(run_dir: Path) -> None:
    steps = run_data.grid_steps(run_dir)
    if not steps:
        st.caption("Sample grids appear after the first evaluation.")
        return
    step = steps[0] if len(steps) == 1 else st.select_slider("Evaluation step", steps, value=steps[-1],
                                                             format_func="{:,}".format, key="explore_step")
    grid = run_data.grid_at(run_dir, step)
    if grid is not None:
        st.image(grid, caption=f"Samples at step {step:,}", width="stretch")


def mode_map(run_dir: Path, spec: DataSpec) -> None:
    if spec.metrics not in DIGIT_HOOKS:
        st.caption(f"{spec.name} has no classes the evaluation classifier knows, so there is no mode histogram.")
        return
    found = histogram(run_dir, spec)
    if found is None:
        st.caption("The mode histogram appears after the first evaluation.")
        return
    where, counts, expected, n = found
    title = f"Samples per mode, {where} ({(counts > 0).sum()} of {len(counts)} modes, {n:,} samples)"
    figure = charts.digit_histogram_figure if len(counts) == 10 else charts.triple_heatmap_figure
    st.plotly_chart(figure(counts, expected, title))


def modes(run_dir: Path, spec: DataSpec, evals: pd.DataFrame) -> None:
    """The mode histogram (or Stacked MNIST's map) and the figures over training (Modes tab)."""
    mode_map(run_dir, spec)
    curves = tuple(name for name in CURVES if name in evals)
    if curves:
        st.markdown("**Over training**")
        st.plotly_chart(charts.mode_curves_figure(evals, run_data.n_modes(evals, None), curves))
