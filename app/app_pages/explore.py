"""Explore: one run: its samples (over the true modes, or image grids by step), the mode histogram, its metrics over
training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, image_view, job_panel, run_data
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
    """The saved G(z) samples plus the checkpoint's observation noise, seeded as the trainer's evaluation."""
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


def sample_plots(run_dir: Path, data_name: str, evals: pd.DataFrame) -> None:
    """The samples on the plane beside their mode histogram."""
    step, samples, note = final_samples(run_dir)
    if note:
        st.caption(note)
    if samples is None:
        st.caption("Samples appear after the first evaluation.")
        return
    step = step if step is not None else run_data.latest_eval(evals).get("step")
    what = "Samples"
    if "noisy_modes" in evals and step is not None and RunFiles(run_dir).checkpoint.exists():
        if st.segmented_control("Samples", ["G(z)", NOISY], default="G(z)", key="explore_noise") == NOISY:
            noisy = with_noise(run_dir, samples, int(step))
            if noisy is None:
                st.caption("The checkpoint cannot be loaded, so these are the G(z) samples.")
            samples, what = (samples, what) if noisy is None else (noisy, NOISY)
    means = run_data.true_means(data_name)
    title = f"{what} at step {int(step):,}" if step is not None else f"{what} (latest)"
    plane, bars = st.columns(2)
    with plane:
        if samples.shape[1] == 2:
            st.plotly_chart(charts.density_figure(samples, means, title))
        elif samples.shape[1] > 2:
            st.caption(f"{data_name} is {samples.shape[1]}-D, so its samples cannot be drawn as they are: here they and "
                       "the true modes lie on the modes' first two principal components (PCA), which squeeze "
                       "distances; HQ is judged in the full space.")
            st.plotly_chart(charts.density_figure(*project_2d(samples, means), f"{title} (PCA projection)"))
        else:
            st.caption(f"{data_name} is 1-D: no plane to draw the samples on.")
    with bars:
        counts = run_data.mode_counts(samples, data_name)
        if counts is None:
            st.caption(f"{data_name} has no known modes, so there is no mode histogram.")
        else:
            hq = int(counts["hq_samples"].sum())
            st.plotly_chart(charts.mode_histogram_figure(counts, f"HQ samples per mode ({hq:,} of {len(samples):,})"))


def explore(run_dir: Path) -> None:
    config, status = run_data.run_config(run_dir), RunFiles(run_dir).read_status()
    data_name = config.get("data", {}).get("name", "?")
    state = f" · {status['state']} at step {status.get('step', 0):,} of {status.get('total', 0):,}" if status else ""
    st.caption(f"{config.get('model_name', '?')} on {data_name} · seed {config.get('train', {}).get('seed')}{state}")
    _, evals = run_data.read_metrics(run_dir)
    n_modes = run_data.n_modes(evals, run_data.true_means(data_name))
    job_panel.metric_tiles(evals, data_name, n_modes, run_data.feature_space(run_dir))
    noisy_tiles(evals, n_modes)
    spec = run_data.run_spec(run_dir)
    if spec is not None and spec.kind == "image":
        image_view.render(run_dir, spec, evals)
        return
    sample_plots(run_dir, data_name, evals)
    if "modes" in evals:
        st.markdown("**Over training**")
        st.plotly_chart(charts.mode_curves_figure(evals, n_modes))


st.title("Explore")
runs = run_data.explore_runs()
if runs.empty:
    st.info("No runs yet: launch one on the Train page.", icon=":material/info:")
    st.page_link("app_pages/train.py", label="Go to Train", icon=":material/play_circle:")
else:
    labels = {run.key: f"{run.method} on {run.dataset} · seed {run.seed} · {run.key}" for run in runs.itertuples()}
    wanted, keys = st.query_params.get("run"), list(labels)
    key = st.selectbox("Run", keys, index=keys.index(wanted) if wanted in labels else 0, format_func=labels.get,
                       key="explore_run", help="Runs under var/runs (the Train page's jobs) and var/bench")
    if wanted and wanted not in labels:
        st.warning(f"No run {wanted!r} under var/; showing the newest run instead.", icon=":material/warning:")
    st.query_params["run"] = key  # the URL names the run, so it can be shared or reloaded
    run_dir = run_data.resolve_run(key)
    if run_dir is None:  # deleted since the list was read
        st.error(f"Run {key} is gone.", icon=":material/error:")
    else:
        explore(run_dir)
