"""Train: set a run up from the registries and config metadata, launch it as a background job, watch it live."""

from __future__ import annotations

import dataclasses
import sys

import streamlit as st

from app import forms, job_panel, run_data
from engine import jobs, nets
from engine.config import ConfigError, DataConfig, TrainConfig, build_run_config
from engine.registry import (DATA_SCHEMES, DATASETS, MODELS, data_fields, describe_data, preset_train_fields,
                             resolve_config)
from engine.trainer import pick_device

MAIN_TRAIN_FIELDS = ["steps", "seed", "device", "eval_every"]
POLL_SECONDS = 1.5


def launch(raw: dict) -> None:
    """Validate, start the job and put its id in the URL (so a refreshed tab finds it again)."""
    try:
        cfg = build_run_config(MODELS, raw)
        if cfg.data.name.endswith(":"):
            raise ConfigError(f"data.name={cfg.data.name!r} needs a file path after the colon")
        # say what is wrong now rather than from inside the job: a user's file, a missing GPU
        if cfg.data.name not in DATASETS:
            describe_data(cfg.data)
        pick_device(cfg.train.device)
        job_id = jobs.launch(cfg)
    except (ConfigError, OSError) as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.session_state["job"] = job_id
    st.query_params["job"] = job_id


@st.fragment(run_every=POLL_SECONDS)
def live_panel(job_id: str) -> None:
    status = jobs.status(job_id)
    if status.get("state") not in run_data.ACTIVE_STATES:
        st.rerun()  # the whole page again: a finished job's panel needs no polling
    job_panel.render(job_id, status)


def show_job(job_id: str) -> None:
    try:
        status = jobs.status(job_id)
    except FileNotFoundError as exc:
        st.error(f"{exc}. Launch a new run, or pick a recent job.", icon=":material/error:")
        st.button("Clear", on_click=job_panel.detach)
        return
    head, close = st.columns([4, 1], vertical_alignment="center")
    head.markdown(f"**Job** `{job_id}`")
    close.button("Close", icon=":material/close:", on_click=job_panel.detach,
                 help="Detach this tab from the job; the job keeps running.")
    if status.get("state") in run_data.ACTIVE_STATES:
        live_panel(job_id)
    else:
        job_panel.render(job_id, status)


def data_kind(data_name: str) -> str | None:
    """vector or image; None while a typed path cannot be described yet (every field is shown then)."""
    try:
        return describe_data(DataConfig(name=data_name)).kind
    except (ConfigError, OSError, ValueError):
        return None


def pick_recent_job() -> None:
    recent = {job["id"]: job.get("state", "?") for job in jobs.list_jobs(kind="train")[:30]}
    if recent:
        st.selectbox("Or reattach to a recent job", list(recent), index=None, key="recent",
                     format_func=lambda job_id: f"{job_id} ({recent[job_id]})",
                     on_change=lambda: st.session_state.update(job=st.session_state["recent"]))


st.title("Train")
setup, live = st.columns([2, 3], gap="large")
with setup:
    data_name = forms.dataset_picker(DATASETS, DATA_SCHEMES)
    method = st.selectbox("Method", list(MODELS), key="method")
    st.caption((sys.modules[MODELS[method].__module__].__doc__ or "").strip().split("\n")[0])
    preset_for = (method, data_name if data_name in DATASETS else "own file")  # not reset while a path is typed
    if st.session_state.get("preset_for") != preset_for:
        # a new method or data set: its form starts from the config the CLI would resolve (the method's preset)
        resolved = resolve_config(method, data_name)
        forms.apply_preset(MODELS[method].Config, f"model.{method}", dataclasses.asdict(resolved.model))
        forms.apply_preset(TrainConfig, "train", dataclasses.asdict(resolved.train), only=preset_train_fields())
        st.session_state["preset_for"] = preset_for
    if MODELS[method].PRESETS.get(data_name):
        st.caption(f"{method}'s preset for {data_name} is in the form: "
                   + ", ".join(f"{k} = {v}" for k, v in MODELS[method].PRESETS[data_name].items()))
    with st.form("run_form", border=False):
        train = forms.config_fields(TrainConfig, "train", only=MAIN_TRAIN_FIELDS, columns=2)
        with st.expander(f"{method} settings"):
            unused = nets.unused_fields(data_kind(data_name))  # an image set has no MLP widths, vectors no conv width
            model = forms.config_fields(MODELS[method].Config, f"model.{method}", columns=2, skip=unused)
        with st.expander("More training and data settings"):
            train |= forms.config_fields(TrainConfig, "train", skip=MAIN_TRAIN_FIELDS, columns=2)
            # only what this data set reads: a mixture has no image size, a user's file no sizes at all
            data = forms.config_fields(DataConfig, "data", only=data_fields(data_name), columns=2, label_prefix="data.")
        if st.form_submit_button("Launch", type="primary", icon=":material/rocket_launch:", width="stretch"):
            launch({"model_name": method, "data": {**data, "name": data_name}, "model": model, "train": train})
with live:
    job_id = st.query_params.get("job") or st.session_state.get("job")
    if job_id:
        st.query_params["job"] = job_id  # back from another page: the URL names the job again
        show_job(job_id)
    else:
        st.info("No job yet: set a run up on the left and press Launch.", icon=":material/info:")
        pick_recent_job()
