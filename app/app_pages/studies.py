"""Studies: set an Optuna study up and launch its workers, watch its trials live, draw Optuna's figures,
compare studies."""

from __future__ import annotations

import streamlit as st

from app import study_data, study_form, study_view
from engine.config import ConfigError


@st.cache_data(ttl=2, show_spinner=False)
def load_names(url: str) -> list[str]:
    return study_data.study_names(url)


st.title("Studies")
url = study_data.storage_url()
head, link = st.columns([3, 1], vertical_alignment="bottom")
head.caption(f"Optuna storage: `{study_data.shown_url(url)}`")
with link:
    study_view.dashboard_link()

setup, live = st.columns([2, 3], gap="large")
with setup:
    new, more = st.tabs(["New study", "Continue a study"])
    with new:
        study_form.create_form()
    try:
        names = load_names(url)
    except ConfigError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    with more:
        study_form.continue_form(names)
    if st.session_state.get("study.shown") not in names:  # just launched: the cached list may not have it yet
        load_names.clear()
        names = load_names(url)
with live:
    wanted = st.query_params.get("study")
    if wanted in names and "study.shown" not in st.session_state:
        st.session_state["study.shown"] = wanted  # a refreshed tab shows the study named in its URL
    if not names:
        st.info("No studies yet: set one up on the left and press Launch.", icon=":material/info:")
        name = None
    else:
        name = st.selectbox("Study", names, key="study.shown")
        st.query_params["study"] = name
        if study_data.active_workers(name):
            study_view.live_panel(url, name)
        else:
            study_view.trials_panel(url, name)

if name:
    st.subheader("Figures")
    study_view.plots(url, name)
if len(names) > 1:
    st.subheader("Compare studies")
    study_view.compare(url, names)
