"""Explore: one run, in tabs: Samples (the plane or image grids by step), Modes (histogram against the true shares,
figures over training), Map (t-SNE / UMAP / PCA of real and generated points), Reconstructions (and IvOM,
interpolations) and Likelihood (IS and AIS). The analysis tabs read results that background jobs cache per step."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import analysis_view, image_view, job_panel, likelihood_view, map_view, recon_view, run_data, vector_view
from engine.models.base import Encodes
from engine.registry import MODELS
from engine.trainer import RunFiles

TABS = ("Samples", "Modes", "Map", "Reconstructions", "Likelihood")


def header(run_dir: Path, config: dict, data_name: str) -> None:
    status = RunFiles(run_dir).read_status()
    state = f" · {status['state']} at step {status.get('step', 0):,} of {status.get('total', 0):,}" if status else ""
    st.caption(f"{config.get('model_name', '?')} on {data_name} · seed {config.get('train', {}).get('seed')}{state}")


def analysis_tabs(run_dir: Path, config: dict, spec, tabs) -> None:
    """Map, Reconstructions, Likelihood: each reads the model at the chosen kept step."""
    model = MODELS.get(config.get("model_name", ""))
    encodes = model is not None and issubclass(model, Encodes)
    with tabs[2]:
        step = analysis_view.step_choice(run_dir)
    if step is None or spec is None or "data" not in config:
        for tab in tabs[2:]:
            tab.caption("The analyses read the run's weights: they appear after its first evaluation.")
        return
    with tabs[2]:
        map_view.render(run_dir, spec, config["data"], encodes, step)
    with tabs[3]:
        st.caption(f"Model at step {step:,} (the step slider is on the Map tab).")
        recon_view.render(run_dir, spec, step)
    with tabs[4]:
        st.caption(f"Model at step {step:,} (the step slider is on the Map tab).")
        likelihood_view.render(run_dir, step, spec.kind)


def explore(run_dir: Path) -> None:
    config = run_data.run_config(run_dir)
    data_name = config.get("data", {}).get("name", "?")
    header(run_dir, config, data_name)
    _, evals = run_data.read_metrics(run_dir)
    n_modes = run_data.n_modes(evals, run_data.true_means(data_name))
    job_panel.metric_tiles(evals, data_name, n_modes, run_data.feature_space(run_dir))
    vector_view.noisy_tiles(evals, n_modes)
    spec = run_data.run_spec(run_dir)
    tabs = st.tabs(list(TABS))
    images = spec is not None and spec.kind == "image"
    with tabs[0]:
        if images:
            image_view.grid_slider(run_dir)
        else:
            samples, what = vector_view.sample_plots(run_dir, data_name, evals)
    with tabs[1]:
        if images:
            image_view.modes(run_dir, spec, evals)
        else:
            vector_view.modes(samples, what, data_name, evals, n_modes)
    analysis_tabs(run_dir, config, spec, tabs)


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
