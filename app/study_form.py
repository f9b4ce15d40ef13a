"""The Studies page's forms: set a new study up (method, data, preset or custom ranges from config metadata,
objectives, budget) and launch its workers, or raise an existing study's trial target and launch again."""

from __future__ import annotations

import os

import streamlit as st

from app import forms, study_data
from engine.config import ConfigError
from engine.metrics.registry import label as metric_label
from engine.metrics.registry import objectives
from engine.registry import DATA_SCHEMES, DATASETS, MODELS
from studies.presets import PRESETS

DEFAULT_OBJECTIVES = ["modes", "hq_pct"]


def _show(study: str) -> None:
    st.session_state["study.shown"] = study  # set before the page's study picker is drawn
    st.query_params["study"] = study


def custom_ranges(method: str) -> dict[str, dict]:
    """For each searchable field: a tick to search it and its range (declared range by default)."""
    st.caption("Tick the fields to search; ranges start at the ones the config declares.")
    params = {}
    for name, r in study_data.declared_ranges(method).items():
        prefix = f"study.range.{method}.{name}"
        tick, first, second = st.columns([5, 4, 4], vertical_alignment="bottom")
        on = tick.checkbox(name + (" (log)" if r.log else ""), key=f"{prefix}.on")
        if r.kind == "categorical":
            with first:
                chosen = st.multiselect("choices", list(r.choices), default=list(r.choices), key=f"{prefix}.choices",
                                        disabled=not on, label_visibility="collapsed")
            if on:
                params[name] = {"choices": chosen}
            continue
        cast, extra = (int, {"step": 1}) if r.kind == "int" else (float, {"format": "%g", "step": r.low or 0.01})
        low = first.number_input("low", value=cast(r.low), key=f"{prefix}.low", disabled=not on, **extra)
        high = second.number_input("high", value=cast(r.high), key=f"{prefix}.high", disabled=not on, **extra)
        if on:
            params[name] = {"low": low, "high": high, "log": r.log}
    return params


def create_form() -> None:
    data = forms.dataset_picker(DATASETS, DATA_SCHEMES)
    method = st.selectbox("Method", list(MODELS), key="study.method")
    choices = study_data.presets_for(method)
    preset = st.selectbox("Search", choices, key="study.preset",
                          help="A named preset (studies/presets.py), or your own ranges over the method's fields.")
    if preset == study_data.CUSTOM:
        params, preset = custom_ranges(method), None
    else:
        params = None
        st.caption(PRESETS[preset].help)
    chosen = st.multiselect("Objectives", objectives(), default=DEFAULT_OBJECTIVES, key="study.objectives",
                            format_func=metric_label, help="Two or more: a multi-objective study (Pareto front).")
    trials, steps, workers = st.columns(3)
    n_trials = trials.number_input("trials", min_value=1, value=20, step=1, key="study.n_trials")
    n_steps = steps.number_input("steps per trial", min_value=1, value=2_000, step=100, key="study.steps")
    k = workers.number_input("workers", min_value=1, max_value=os.cpu_count() or 1, value=1, step=1,
                             key="study.workers", help="Background processes running trials side by side.")
    sets = st.text_area("Extra settings", key="study.sets", height=80, placeholder="model.g_hidden=64\ntrain.threads=1",
                        help="section.field=value, one a line: fixed for every trial.")
    named_for = (preset, method, data)
    if st.session_state.get("study.name_for") != named_for:
        st.session_state["study.name"] = study_data.default_name(preset, method, data)
        st.session_state["study.name_for"] = named_for
    name = st.text_input("Study name", key="study.name")
    if st.button("Launch", type="primary", icon=":material/rocket_launch:", width="stretch", key="study.launch"):
        try:
            study_data.launch(name.strip(), method, data, preset, params, chosen, int(n_trials), int(n_steps), int(k),
                              study_data.parse_sets(sets))
        except (ConfigError, OSError) as exc:
            st.error(str(exc), icon=":material/error:")
            return
        _show(name.strip())
        st.session_state.pop("study.name_for", None)  # the next study gets a fresh default name


def continue_form(names: list[str]) -> None:
    if not names:
        st.caption("No study to continue yet.")
        return
    name = st.selectbox("Study", names, key="study.continue")
    done, target, text = study_data.progress(study_data.load(name))
    st.caption(text)
    target_col, workers_col = st.columns(2)
    new_target = target_col.number_input("trial target", min_value=max(1, target), value=max(target, done) + 10,
                                         step=1, key=f"study.target.{name}")
    k = workers_col.number_input("workers", min_value=1, max_value=os.cpu_count() or 1, value=1, step=1,
                                 key="study.continue_workers")
    if st.button("Continue", icon=":material/play_arrow:", width="stretch", key="study.continue_button"):
        try:
            study_data.continue_study(name, int(new_target), int(k))
        except (ConfigError, OSError) as exc:
            st.error(str(exc), icon=":material/error:")
            return
        _show(name)
