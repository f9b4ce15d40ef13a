"""Explore's views of an image run: the sample grid at any evaluation step (Samples tab), the mode histogram of
digit sets (10 bars for MNIST, a 10 x 100 map for Stacked MNIST) against the expected shares, and the figures over
training (Modes tab). Everything here is read from what the trainer's evaluations saved: nothing is sampled in
the page's process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, run_data
from engine.data import DataSpec
from engine.metrics.digits import expected_shares, mode_histogram

DIGIT_HOOKS = ("digits", "stacked_digits")
CURVES = ("modes", "reverse_kl", "fd", "coverage")


def histogram(run_dir: Path, spec: DataSpec, step: int | None) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(where, counts, expected) of the samples per mode the evaluation saved at `step` (the newest saved when
    `step` saved none), else of the newest evaluation's kept images (runs from before the counts were saved)."""
    steps = run_data.mode_count_steps(run_dir)
    for chosen in ([step] if step in steps else []) + steps[::-1][:2]:  # the newest may still be being written
        counts = run_data.saved_array(run_dir, f"modes_step_{chosen:08d}.npy")
        if counts is not None:
            return f"step {chosen:,}", counts, expected_shares(spec)
    kept = run_data.kept_images(run_dir)
    if kept is None:
        return None
    counts, expected = mode_histogram(kept, spec)
    return "the newest evaluation's kept images", counts, expected


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
    """The histogram at the Samples tab's step."""
    if spec.metrics not in DIGIT_HOOKS:
        st.caption(f"{spec.name} has no classes the evaluation classifier knows, so there is no mode histogram.")
        return
    found = histogram(run_dir, spec, st.session_state.get("explore_step"))
    if found is None:
        st.caption("The mode histogram appears after the first evaluation.")
        return
    where, counts, expected = found
    title = f"Samples per mode, {where} ({(counts > 0).sum()} of {len(counts)} modes, {counts.sum():,} samples)"
    figure = charts.digit_histogram_figure if len(counts) == 10 else charts.triple_heatmap_figure
    st.plotly_chart(figure(counts, expected, title))


def modes(run_dir: Path, spec: DataSpec, evals: pd.DataFrame) -> None:
    """The mode histogram (or Stacked MNIST's map) and the figures over training (Modes tab)."""
    mode_map(run_dir, spec)
    curves = tuple(name for name in CURVES if name in evals)
    if curves:
        st.markdown("**Over training**")
        st.plotly_chart(charts.mode_curves_figure(evals, run_data.n_modes(evals, None), curves))
