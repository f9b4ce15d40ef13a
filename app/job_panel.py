"""The view of one training job: progress, state, Stop/Resume, current mode metrics, loss curves and samples.

Used by the Train page, inside a polling fragment while the job is active.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, run_data
from engine import jobs
from engine.config import ConfigError

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


def metric_tiles(evals: pd.DataFrame, data_name: str, n_modes: int | None) -> None:
    """The newest evaluation as tiles, with the change since the one before."""
    latest, previous = run_data.latest_eval(evals), run_data.latest_eval(evals.iloc[:-1])
    if not latest:
        st.caption("Mode metrics appear after the first evaluation (every eval_every steps).")
        return

    def delta(key: str, digits: int) -> str | None:
        if latest.get(key) is None or previous.get(key) is None or round(latest[key] - previous[key], digits) == 0:
            return None
        return f"{latest[key] - previous[key]:+.{digits}f}"

    def shown(key: str, digits: int, unit: str = "") -> str:
        return "n/a" if latest.get(key) is None else f"{latest[key]:.{digits}f}{unit}"

    if "modes" in latest:
        modes, hq, kl = st.columns(3)
        modes.metric("Modes captured", shown("modes", 0) + (f" / {n_modes}" if n_modes else ""),
                     delta=delta("modes", 0))
        hq.metric("HQ samples", shown("hq_pct", 1, " %"), delta=delta("hq_pct", 1))
        kl.metric("Reverse KL", shown("reverse_kl", 3), delta=delta("reverse_kl", 3), delta_color="inverse",
                  help="KL(captured-mode histogram || true weights); undefined while no sample is high quality")
    else:  # a user's vectors: no known modes, only how far the samples' moments are from the data's
        mean, std = st.columns(2)
        mean.metric("Mean error", shown("mean_error", 3), delta=delta("mean_error", 3), delta_color="inverse")
        std.metric("Std error", shown("std_error", 3), delta=delta("std_error", 3), delta_color="inverse")
        st.caption(f"{data_name} has no known modes, so modes, HQ % and KL do not apply.")
    st.caption(f"Evaluated at step {int(latest['step']):,}.")


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
    metric_tiles(eval_rows, data_name, run_data.n_modes(eval_rows, means))
    left, right = st.columns(2)
    with left:
        if samples is None:
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
