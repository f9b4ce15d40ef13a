"""The view of one training job: progress, state, Stop/Resume, current mode metrics, loss curves and samples.

Used by the Train page, inside a polling fragment while the job is active.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, run_data
from engine import jobs
from engine.config import ConfigError
from engine.metrics import registry as metric_registry


def act(action, job_id: str) -> None:
    """Run a job action from a button callback, keeping its error for the panel to show."""
    try:
        action(job_id)
    except (ConfigError, OSError) as exc:
        st.session_state["job_error"] = str(exc)


def detach() -> None:
    st.session_state.pop("job", None)
    st.query_params.pop("job", None)


def state_banner(status: dict) -> None:
    state, message = status.get("state", "?"), status.get("message") or ""
    if state == "finished":
        st.success(f"Finished: {status.get('step', 0):,} steps in {run_data.format_duration(status.get('elapsed'))}.")
    elif state in ("diverged", "failed"):
        st.error(f"{state.capitalize()}: {message or 'no message'}", icon=":material/error:")
    elif state == "stopped":
        st.warning(f"Stopped: {message or 'resume to continue'}", icon=":material/pause_circle:")
    else:
        notes = {"queued": "Queued: the training process is starting.", "stopping": "Stopping: saving a checkpoint."}
        st.info(notes.get(state, f"Running on {status.get('device', '?')}."), icon=":material/autorenew:")


def title(text: str) -> str:
    return text[:1].upper() + text[1:]


def tile_row(latest: dict, previous: dict, names: list[str], n_modes: int | None = None) -> None:
    """One st.metric per name, labelled, formatted and coloured (is higher better?) by the metric registry."""
    for column, name in zip(st.columns(len(names)), names):
        info = metric_registry.describe(name)
        value, before = latest.get(name), previous.get(name)
        shown = info.format(value)
        if info.name.removeprefix(metric_registry.NOISY) == "modes" and n_modes and value is not None:
            shown += f" / {n_modes}"
        change = None if value is None or before is None else round(value - before, info.digits)
        column.metric(title(info.label), shown, delta=f"{change:+.{info.digits}f}" if change else None,
                      delta_color="normal" if info.higher_is_better else "inverse", help=info.help)


def metric_tiles(evals: pd.DataFrame, data_name: str, n_modes: int | None, space: str | None = None) -> None:
    """The newest evaluation as tiles, with the change since the one before."""
    latest, previous = run_data.latest_eval(evals), run_data.latest_eval(evals.iloc[:-1])
    if not latest:
        st.caption("Mode metrics appear after the first evaluation (every eval_every steps).")
        return
    if "modes" in latest:
        # digit sets have modes and KL but no HQ rule: their other tiles are feature-space FD and coverage
        names = [n for n in metric_registry.MODE_METRICS if n in latest]
        extra = [] if "hq_pct" in latest else [n for n in ("fd", "coverage") if n in latest]
        tile_row(latest, previous, names + extra, n_modes)
    else:  # a user's vectors: no known modes, only how far the samples' moments are from the data's
        tile_row(latest, previous, [n for n in ("coverage", "precision", "mean_error", "std_error") if n in latest])
        st.caption(f"{data_name} has no known modes, so modes, HQ % and KL do not apply; coverage (the share of "
                   "real points with a sample nearby, in data space) falls when a region of the data is dropped.")
    where = f" FD, precision / recall / coverage and Vendi in {space}." if space and "coverage" in latest else ""
    st.caption(f"Evaluated at step {int(latest['step']):,}.{where}")


def render(job_id: str, status: dict) -> None:
    """Everything about one job; cheap enough to redraw on every poll."""
    run_dir, state = status["run_dir"], status.get("state")
    config = run_data.run_config(run_dir)
    data_name = config.get("data", {}).get("name", "?")
    train = config.get("train", {})
    st.caption(f"{config.get('model_name', '?')} on {data_name} · seed {train.get('seed', '?')} · "
               f"device {status.get('device') or train.get('device', '?')}")
    train_rows, eval_rows = run_data.read_metrics(run_dir)
    fraction, text = run_data.progress(run_data.freshest(status, train_rows))
    st.progress(fraction, text=text)
    state_banner(status)
    if "job_error" in st.session_state:
        st.error(st.session_state.pop("job_error"), icon=":material/error:")
    stop, resume = st.columns(2)
    stop.button("Stop", icon=":material/stop:", on_click=act, args=(jobs.stop, job_id), key="stop",
                disabled=state not in run_data.ACTIVE_STATES, width="stretch")
    resume.button("Resume", icon=":material/play_arrow:", on_click=act, args=(jobs.resume, job_id), key="resume",
                  disabled=not run_data.can_resume(status), width="stretch")
    step, samples = run_data.latest_samples(run_dir)
    is_2d = samples is not None and samples.shape[1] == 2
    # the true means are cheap for 2-D mixtures; building hd1200's just to count its modes is not
    means = run_data.true_means(data_name) if is_2d else None
    metric_tiles(eval_rows, data_name, run_data.n_modes(eval_rows, means), run_data.feature_space(run_dir))
    left, right = st.columns(2)
    grid_step, grid = run_data.latest_grid(run_dir)
    with left:
        if grid is not None:
            st.image(grid, caption=f"Samples at step {grid_step:,}", width="stretch")
        elif samples is None:
            st.caption("Samples appear after the first evaluation.")
        elif not is_2d:
            st.caption(f"The sample scatter is drawn for 2-D data only; {data_name} is {samples.shape[1]}-D.")
        else:
            title = f"Samples at step {step:,}" if step is not None else "Latest samples"
            st.plotly_chart(charts.samples_figure(samples, means, title))
    with right:
        loss_columns, other_columns = run_data.train_columns(train_rows)
        tabs = st.tabs(["Losses", "Mode metrics", *(["Other"] if other_columns else [])])
        with tabs[0]:
            if train_rows.empty:
                st.caption("Losses appear after the first log_every steps.")
            else:
                st.plotly_chart(charts.loss_figure(train_rows))
        with tabs[1]:
            if "modes" in eval_rows:
                st.plotly_chart(charts.eval_figure(eval_rows))
            else:
                st.caption("Mode metrics are drawn once an evaluation of data with known modes exists.")
        if other_columns:
            with tabs[2]:
                st.plotly_chart(charts.stats_figure(train_rows, other_columns))
