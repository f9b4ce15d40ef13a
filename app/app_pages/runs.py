"""Runs: every MLflow run in a table; filter it, select runs to compare curves, final metrics and samples."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, run_data
from engine import tracking
from engine.metrics.registry import MODE_METRICS, describe
from engine.metrics.registry import label as metric_label
from engine.plots import project_2d

FIGURES = [describe(prefix + name) for prefix in ("", "noisy_") for name in MODE_METRICS]
MODE_COLUMNS = [m.column for m in FIGURES[:len(MODE_METRICS)]]
NOISY_COLUMNS = [m.column for m in FIGURES[len(MODE_METRICS):]]
FEATURES = [describe(name) for name in run_data.FEATURE_FIGURES]  # FD and coverage, in each run's feature space
FIGURES += FEATURES
COLUMNS = {
    "step": st.column_config.NumberColumn(help="last step reached"),
    "steps": st.column_config.NumberColumn(help="steps the run was set up for"),
    **{m.column: st.column_config.NumberColumn(format=m.printf, help=m.help) for m in FIGURES},
    "id": st.column_config.TextColumn("run id"),
    "started": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
}
MAX_SAMPLE_PLOTS = 8
SAMPLES_PER_ROW = 4


# Cached by store so a test (or a user) switching MODESCOPE_HOME never sees another store's runs.
@st.cache_data(ttl=5, show_spinner=False)
def load_runs(uri: str) -> list[dict]:
    return tracking.search_runs()


@st.cache_data(ttl=5, show_spinner=False)
def load_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return tracking.metric_history(run_id, key)


@st.cache_data(ttl=10, show_spinner=False)
def mlflow_ui_running(url: str) -> bool:
    return run_data.mlflow_ui_running(url)


def mlflow_link() -> None:
    if mlflow_ui_running(run_data.MLFLOW_UI):
        st.link_button("Open MLflow UI", run_data.MLFLOW_UI, icon=":material/open_in_new:")
    else:
        st.caption("MLflow's own UI is not running; start it with `make mlflow-ui`.")


def sample_grid(chosen: pd.DataFrame, labels: list[str]) -> None:
    """The newest samples of each run, SAMPLES_PER_ROW to a row, titled like the curves, each linking to Explore."""
    shown = list(zip(labels, chosen.itertuples()))[:MAX_SAMPLE_PLOTS]
    for start in range(0, len(shown), SAMPLES_PER_ROW):
        for column, (label, row) in zip(st.columns(SAMPLES_PER_ROW), shown[start:start + SAMPLES_PER_ROW]):
            with column:
                grid_step, grid = run_data.latest_grid(row.run_dir) if row.run_dir else (None, None)
                step, samples = run_data.latest_samples(row.run_dir) if row.run_dir else (None, None)
                title = f"{label}<br>step {step:,}" if step is not None else label
                if grid is not None:  # image runs: their newest sample grid, side by side
                    st.image(grid, caption=f"{label}, step {grid_step:,}", width="stretch")
                elif samples is None:
                    st.caption(f"{label}: no samples yet.")
                elif samples.shape[1] == 2:
                    st.plotly_chart(charts.samples_figure(samples, run_data.true_means(row.dataset), title,
                                                          height=320))
                elif samples.shape[1] > 2:  # the plane of the true modes, as on Explore
                    projected = project_2d(samples, run_data.true_means(row.dataset))
                    st.plotly_chart(charts.samples_figure(*projected, f"{title} (PCA)", height=320))
                key = run_data.run_key(row.run_dir) if row.run_dir else None
                if key:
                    st.page_link("app_pages/explore.py", label=f"Explore {label}", icon=":material/insights:",
                                 query_params={"run": key})
    if len(chosen) > MAX_SAMPLE_PLOTS:
        st.caption(f"Samples of the first {MAX_SAMPLE_PLOTS} selected runs.")


def compare(chosen: pd.DataFrame, raw: list[dict], uri: str) -> None:
    """Overlaid curves, final metrics and the latest samples of the selected runs, all named by method."""
    st.subheader(f"Comparing {len(chosen)} run{'s' if len(chosen) > 1 else ''}")
    labels = run_data.compare_labels(chosen)
    keys = run_data.curve_keys([run for run in raw if run["run_id"] in set(chosen["run_id"])])
    if not keys:
        st.caption("The selected runs have not logged any metric yet.")
    else:
        metric = st.selectbox("Curve", keys, format_func=metric_label, key="curve")
        curves = {label: load_history(uri, row.run_id, metric) for label, row in zip(labels, chosen.itertuples())}
        st.plotly_chart(charts.overlay_figure(curves, metric_label(metric)))
    st.markdown("**Final metrics**")
    table = chosen.assign(run=labels, id=chosen["run"])
    noisy = [column for column in NOISY_COLUMNS if table[column].notna().any()]  # PresGAN, VAE: G(z) + sigma·eps
    features = [m.column for m in FEATURES if table[m.column].notna().any()]
    st.dataframe(table[["run", "dataset", "state", "step", *MODE_COLUMNS, *noisy, *features, "id"]], hide_index=True,
                 column_config=COLUMNS, placeholder="n/a")
    spaces = {space for space in map(run_data.feature_space, chosen["run_dir"]) if space} if features else set()
    if spaces:
        st.caption(f"{' and '.join(features)} in " + "; ".join(sorted(spaces)) + ".")
    st.plotly_chart(charts.final_metrics_figure(table))
    st.markdown("**Latest samples**")
    sample_grid(chosen, labels)


st.title("Runs")
head, link = st.columns([3, 1], vertical_alignment="bottom")
uri = tracking.tracking_uri()
head.caption(f"Tracking store: `{uri}`")
with link:
    mlflow_link()

raw_runs = load_runs(uri)
runs = run_data.runs_frame(raw_runs)
if runs.empty:
    st.info("No runs yet: launch one on the Train page.", icon=":material/info:")
    st.page_link("app_pages/train.py", label="Go to Train", icon=":material/play_circle:")
else:
    methods_col, datasets_col, trials_col, refresh_col = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    methods = methods_col.multiselect("Method", sorted(runs["method"].unique()), key="filter_method")
    datasets = datasets_col.multiselect("Dataset", sorted(runs["dataset"].unique()), key="filter_dataset")
    trials = trials_col.selectbox("Study trials", run_data.trial_choices(runs), key="filter_trials",
                                  help="Runs trained by studies: hidden, all shown, or one study's only.")
    refresh_col.button("Refresh", icon=":material/refresh:", width="stretch", on_click=load_runs.clear)
    runs = run_data.filter_trials(runs, run_data.TRIALS_ALL)  # a study's parent run trains nothing
    shown = run_data.filter_runs(run_data.filter_trials(runs, trials), methods, datasets)
    event = st.dataframe(
        shown, key="runs_table", on_select="rerun", selection_mode="multi-row", hide_index=True,
        column_order=["run", "method", "dataset", *(["study", "trial"] if trials != run_data.TRIALS_HIDE else []),
                      "state", "step", "steps", *MODE_COLUMNS, "started"],
        column_config=COLUMNS, placeholder="n/a")
    rows = [i for i in event.selection.rows if i < len(shown)]
    if rows:
        compare(shown.iloc[rows], raw_runs, uri)
    else:
        st.caption(f"{len(shown)} of {len(runs)} runs shown. Tick runs in the table's left column to overlay their "
                   "curves and compare their final metrics.")
