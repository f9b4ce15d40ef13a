"""The Studies page's views of one study (live progress, trials table, Stop, Optuna's figures) and the
comparison of several. Everything loaded is cached by storage URL (and, for figures, by the trial counts)."""

from __future__ import annotations

import streamlit as st

from app import charts, study_data
from engine.plots import project_2d
from studies import runner

POLL_SECONDS = 2


@st.cache_data(ttl=1, show_spinner=False)
def load_trials(url: str, name: str):
    study = study_data.load(name, url)
    return study_data.trials_frame(study), study_data.progress(study), study_data.objectives_of(study)


@st.cache_data(max_entries=64, show_spinner=False)
def load_plot(url: str, name: str, version: str, kind: str, objective: str, params: tuple, pareto: tuple):
    """Optuna's figure, or the reason it cannot be drawn yet (a str); recomputed when the trial counts change."""
    try:
        return study_data.plot(kind, study_data.load(name, url), objective, list(params), list(pareto))
    except study_data.NoPlot as exc:
        return str(exc)


@st.cache_data(ttl=2, show_spinner=False)
def load_params(url: str, name: str, version: str) -> list[str]:
    return study_data.params_of(study_data.load(name, url))


def stop(name: str) -> None:
    stopped = runner.stop_workers(name)
    st.session_state["study.note"] = f"Asked {len(stopped)} worker(s) of {name} to stop; trials in flight end."


def trials_panel(url: str, name: str) -> None:
    """Progress against the target, workers, Stop, the trials table and a link to a trial's run in Explore."""
    frame, (done, target, text), _ = load_trials(url, name)
    workers = study_data.active_workers(name)
    st.progress(min(done / target, 1.0) if target else 0.0, text=text)
    state, button = st.columns([3, 1], vertical_alignment="center")
    state.caption(f"{len(workers)} worker(s) running" if workers else "No worker running.")
    button.button("Stop", icon=":material/stop:", key="study.stop", on_click=stop, args=(name,), disabled=not workers,
                  width="stretch")
    if "study.note" in st.session_state:
        st.info(st.session_state.pop("study.note"), icon=":material/pause_circle:")
    if frame.empty:
        st.caption("No trial yet: the workers are starting.")
        return
    st.dataframe(frame.drop(columns=["key"]), hide_index=True, key="study.trials", placeholder="",
                 column_config={"trial": st.column_config.NumberColumn(width="small"),
                                "duration": st.column_config.NumberColumn("duration (s)", format="%.0f"),
                                "step": st.column_config.NumberColumn(help="last step reported to the pruner"),
                                "run": st.column_config.LinkColumn("run", display_text="Explore")})
    keys = frame.dropna(subset=["key"])
    if not keys.empty:
        pick, link = st.columns([2, 1], vertical_alignment="bottom")
        trial = pick.selectbox("Trial", keys["trial"].tolist(), key="study.trial_pick",
                               format_func=lambda n: f"trial {n}")
        key = keys.loc[keys["trial"] == trial, "key"]
        if len(key):
            link.page_link("app_pages/explore.py", label=f"Explore trial {trial}", icon=":material/insights:",
                           query_params={"run": key.iloc[0]})


@st.fragment(run_every=POLL_SECONDS)
def live_panel(url: str, name: str) -> None:
    if not study_data.active_workers(name):
        st.rerun()  # the whole page again: the figures catch up and polling ends
    trials_panel(url, name)


def plots(url: str, name: str) -> None:
    """Optuna's own figures of the study, one at a time; a figure that cannot be drawn yet says why."""
    _, (done, target, version), names = load_trials(url, name)
    objective_col, kind_col = st.columns([1, 3], vertical_alignment="bottom")
    objective = objective_col.selectbox("Objective", names, key="study.target", format_func=study_data.objective_label,
                                        help="Multi-objective studies draw most figures for one objective.")
    kinds = [k for k in study_data.PLOTS if len(names) > 1 or k != "Pareto front"]
    kind = kind_col.radio("Figure", kinds, horizontal=True, key="study.plot", label_visibility="collapsed")
    params, pareto = [], []
    available = load_params(url, name, version)
    if kind in ("Contour", "Slice", "Parallel coordinate"):
        default = study_data.contour_defaults(available) if kind == "Contour" else available
        params = st.multiselect("Parameters", available, default=default, key=f"study.params.{kind}")
    if kind == "Pareto front" and len(names) > 2:
        pareto = st.multiselect("Objectives on the axes (two or three)", names, default=names[:2], max_selections=3,
                                key="study.pareto", format_func=study_data.objective_label)
    found = load_plot(url, name, version, kind, objective, tuple(params), tuple(pareto))
    if isinstance(found, str):
        st.info(found, icon=":material/info:")
    else:
        st.plotly_chart(found, key=f"study.figure.{kind}")


@st.cache_data(max_entries=16, show_spinner=False)
def load_compare(url: str, names: tuple, objective: str, version: str):
    studies = [study_data.load(n, url) for n in names]
    try:
        import optuna.visualization as vis

        fig = vis.plot_optimization_history([study_data.one_objective(s, objective) for s in studies],
                                            target_name=study_data.objective_label(objective))
    except (ValueError, RuntimeError) as exc:
        fig = str(exc).splitlines()[0]
    samples = [study_data.best_samples(s, objective) for s in studies]
    return fig, study_data.best_table(studies, objective), samples


def compare(url: str, names: list[str]) -> None:
    """Best-so-far curves of one objective across studies, their best values, and their best trial's samples."""
    chosen = st.multiselect("Studies to compare", names, key="study.compare", placeholder="two or more studies")
    if len(chosen) < 2:
        st.caption("Pick two or more studies to overlay their best-so-far curves and samples.")
        return
    loaded = [load_trials(url, n) for n in chosen]
    common = [o for o in loaded[0][2] if all(o in item[2] for item in loaded)]
    if not common:
        st.info("These studies share no objective to compare.", icon=":material/info:")
        return
    objective = st.selectbox("Compare by", common, key="study.compare_by", format_func=study_data.objective_label)
    fig, table, samples = load_compare(url, tuple(chosen), objective, "|".join(item[1][2] for item in loaded))
    if isinstance(fig, str) or not fig.data:
        st.info(f"No complete trial to draw yet{': ' + fig if isinstance(fig, str) else ''}.", icon=":material/info:")
    else:
        st.plotly_chart(fig, key="study.compare_figure")
    st.dataframe(table, hide_index=True, placeholder="n/a")
    st.markdown("**Best trial's final samples**")
    for column, found, name in zip(st.columns(min(len(chosen), 4)), samples, chosen):
        with column:
            if found is None:
                st.caption(f"{name}: no samples yet.")
                continue
            title, points, means = found
            if points.shape[1] > 2:  # the plane of the true modes, as on Explore
                points, means = project_2d(points, means)
            st.plotly_chart(charts.samples_figure(points, means, title, height=320), key=f"study.samples.{name}")


@st.cache_data(ttl=10, show_spinner=False)
def dashboard_running(url: str) -> bool:
    return study_data.dashboard_running(url)


def dashboard_link() -> None:
    if dashboard_running(study_data.DASHBOARD):
        st.link_button("Open optuna-dashboard", study_data.DASHBOARD, icon=":material/open_in_new:")
    else:
        st.caption("optuna-dashboard is not running; start it with `make optuna-dashboard`.")

