"""Explore's views of a vector run: its samples on the plane (over the true modes, G(z) or with the observation
noise) and the HQ samples per mode beside the modes over training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, job_panel, run_data
from engine.config import ConfigError
from engine.evaluation import draw_samples, noisy_samples
from engine.metrics.registry import MODE_METRICS
from engine.plots import project_2d
from engine.trainer import RunFiles, load_run

NOISY = "G(z) + sigma·eps"
LOAD_ERRORS = (ConfigError, OSError, RuntimeError, KeyError, ValueError)  # a checkpoint from an older engine


# keyed by the checkpoint's mtime, so a resumed run is loaded again
@st.cache_resource(max_entries=2, show_spinner="Loading the model from its checkpoint...")
def load_model(run_dir: str, stamp: int) -> tuple:
    return load_run(Path(run_dir))


@st.cache_data(max_entries=4, show_spinner=False)
def checkpoint_samples(run_dir: str, stamp: int) -> tuple[int, np.ndarray]:
    """What the trainer's evaluation would have saved, drawn again from the checkpoint."""
    cfg, _, model, step = load_model(run_dir, stamp)
    return step, draw_samples(model, cfg.train.eval_samples, cfg.train.seed + step)


def final_samples(run_dir: Path) -> tuple[int | None, np.ndarray | None, str]:
    """(step, samples, note): the saved samples of the newest evaluation, else samples drawn from the checkpoint."""
    step, samples = run_data.latest_samples(run_dir)
    if samples is not None:
        return step, np.asarray(samples), ""
    checkpoint = RunFiles(run_dir).checkpoint
    if not checkpoint.exists():
        return None, None, ""
    try:
        step, samples = checkpoint_samples(str(run_dir), checkpoint.stat().st_mtime_ns)
    except LOAD_ERRORS as exc:
        return None, None, f"The run saved no samples and its checkpoint cannot be loaded: {exc}"
    return step, samples, "The run saved no samples: these are drawn from its checkpoint."


def with_noise(run_dir: Path, samples: np.ndarray, step: int) -> np.ndarray | None:
    """The evaluation's saved G(z) + sigma eps samples; for runs from before they were saved, the saved G(z) samples
    plus the checkpoint's observation noise, seeded as the trainer's evaluation."""
    saved = run_data.saved_noisy(run_dir, step)
    if saved is not None and saved.shape == samples.shape:
        return saved
    checkpoint = RunFiles(run_dir).checkpoint
    try:
        cfg, _, model, _ = load_model(str(run_dir), checkpoint.stat().st_mtime_ns)
    except LOAD_ERRORS:
        return None
    return noisy_samples(model, samples, cfg.train.seed + step)


def noisy_tiles(evals: pd.DataFrame, n_modes: int | None) -> None:
    """PresGAN, VAE: the newest G(z) + sigma·eps figures beside the G(z) ones (the papers' convention)."""
    latest = run_data.latest_eval(evals)
    if "noisy_modes" not in latest:
        return

    job_panel.tile_row(latest, {}, [f"noisy_{name}" for name in MODE_METRICS if f"noisy_{name}" in latest], n_modes)
    st.caption(f"First row: the generator mean G(z), the papers' convention; second row: {NOISY}.")


def sample_plots(run_dir: Path, data_name: str, evals: pd.DataFrame) -> tuple[np.ndarray | None, str]:
    """The samples on the plane (Samples tab); returns (the samples shown, what they are) for the Modes tab."""
    step, samples, note = final_samples(run_dir)
    if note:
        st.caption(note)
    if samples is None:
        st.caption("Samples appear after the first evaluation.")
        return None, ""
    step = step if step is not None else run_data.latest_eval(evals).get("step")
    what = "Samples"
    if "noisy_modes" in evals and step is not None:
        if st.segmented_control("Samples", ["G(z)", NOISY], default="G(z)", key="explore_noise") == NOISY:
            noisy = with_noise(run_dir, samples, int(step))
            if noisy is None:
                st.caption("The run saved no noisy samples and its checkpoint cannot be loaded: these are G(z).")
            samples, what = (samples, what) if noisy is None else (noisy, NOISY)
    means = run_data.true_means(data_name)
    title = f"{what} at step {int(step):,}" if step is not None else f"{what} (latest)"
    if samples.shape[1] == 2:
        st.plotly_chart(charts.density_figure(samples, means, title))
    elif samples.shape[1] > 2:
        st.caption(f"{data_name} is {samples.shape[1]}-D, so its samples cannot be drawn as they are: here they and "
                   "the true modes lie on the modes' first two principal components (PCA), which squeeze "
                   "distances; HQ is judged in the full space.")
        st.plotly_chart(charts.density_figure(*project_2d(samples, means), f"{title} (PCA projection)"))
    else:
        st.caption(f"{data_name} is 1-D: no plane to draw the samples on.")
    return samples, what


def modes(samples: np.ndarray | None, what: str, data_name: str, evals: pd.DataFrame, n_modes: int | None) -> None:
    """HQ samples per mode of the samples the Samples tab shows, and the mode figures over training (Modes tab)."""
    counts = run_data.mode_counts(samples, data_name) if samples is not None else None
    if counts is None:
        st.caption(f"{data_name} has no known modes, so there is no mode histogram."
                   if samples is not None else "The mode histogram appears after the first evaluation.")
    else:
        hq = int(counts["hq_samples"].sum())
        st.plotly_chart(charts.mode_histogram_figure(counts, f"HQ {what.lower() if what == 'Samples' else what} "
                                                             f"per mode ({hq:,} of {len(samples):,})"))
    if "modes" in evals:
        st.markdown("**Over training**")
        st.plotly_chart(charts.mode_curves_figure(evals, n_modes))
