"""AppTest of the Studies page: it renders empty, launches a tiny real study (two ring8 GAN trials) from its
form, shows the finished trials and every Optuna figure without an exception; the Runs page hides the trials
until asked. AppTest does not tick `run_every` fragments, so the test polls the storage and re-runs the page.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import run_data, study_data
from engine import jobs

APP = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")
STUDIES_PAGE, RUNS_PAGE = "app_pages/studies.py", "app_pages/runs.py"
TINY = "model.g_hidden=8\nmodel.d_hidden=8\nmodel.latent_dim=4\nmodel.batch_size=32\ntrain.threads=1"


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def studies_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(STUDIES_PAGE).run()
    assert not at.exception, at.exception
    return at


def stop_all_workers() -> None:
    for job in jobs.list_jobs(kind="study-worker"):
        if job.get("state") in run_data.ACTIVE_STATES:
            jobs.terminate(job["id"])


@pytest.fixture
def no_workers_left(home):
    yield home
    stop_all_workers()


def wait_finished(name: str, n: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _, text = study_data.progress(study_data.load(name))
        if done >= n:
            return
        workers = [j for j in jobs.list_jobs(kind="study-worker") if j.get("study") == name]
        if workers and all(j.get("state") not in run_data.ACTIVE_STATES for j in workers) and done < n:
            pytest.fail(f"the workers ended with {text}: {workers}")
        time.sleep(1)
    pytest.fail(f"study {name}: {study_data.progress(study_data.load(name))[2]} after {timeout} s")


def fill_tiny(at: AppTest, name: str, n_trials: int) -> None:
    """A custom search over lr_g of a tiny ring8 GAN, 30 steps a trial, one worker."""
    at.selectbox(key="study.preset").set_value("custom ranges").run()
    at.checkbox(key="study.range.gan.lr_g.on").check()
    at.number_input(key="study.n_trials").set_value(n_trials)
    at.number_input(key="study.steps").set_value(30)
    at.number_input(key="study.workers").set_value(1)
    at.text_area(key="study.sets").input(TINY)
    at.text_input(key="study.name").input(name)


def test_page_renders_without_studies(home):
    at = studies_page()
    assert [t.value for t in at.title] == ["Studies"]
    assert "No studies yet" in texts(at.info)
    assert "make optuna-dashboard" in texts(at.caption)
    # presets follow the method: gan has none, presgan has its own
    assert at.selectbox(key="study.preset").options == ["compare", "custom ranges"]
    at.selectbox(key="study.method").set_value("presgan").run()
    assert "presgan-lambda" in at.selectbox(key="study.preset").options
    assert at.multiselect(key="study.objectives").value == ["modes", "hq_pct"]


def test_bad_input_is_one_error_line(home):
    at = studies_page()
    at.selectbox(key="study.preset").set_value("custom ranges").run()
    at.button(key="study.launch").click().run()  # nothing ticked
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "tick at least one field" in at.error[0].value
    at.checkbox(key="study.range.gan.lr_g.on").check()
    at.text_area(key="study.sets").input("model.nope=3")
    at.button(key="study.launch").click().run()
    assert len(at.error) == 1 and "nope" in at.error[0].value, texts(at.error)
    assert not jobs.list_jobs(kind="study-worker")


def test_launch_watch_plot_and_hide_trials_in_runs(no_workers_left):
    at = studies_page()
    fill_tiny(at, "tiny", 2)
    at.button(key="study.launch").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    workers = [j for j in jobs.list_jobs(kind="study-worker") if j.get("study") == "tiny"]
    assert len(workers) == 1
    assert at.selectbox(key="study.shown").value == "tiny"

    wait_finished("tiny", 2)
    at.run()
    assert not at.exception, at.exception
    assert "2 of 2 trials finished" in at.get("progress")[0].proto.text
    table = at.dataframe[0].value
    assert len(table) == 2 and set(table["state"]) == {"complete"}
    assert {"modes captured", "HQ samples (%)", "lr_g", "run"} <= set(table.columns)
    assert all(value.startswith("explore?run=studies/tiny/trial-") for value in table["run"])
    # every figure the page offers for this (two-objective) study, for both objectives
    kinds = at.radio(key="study.plot").options
    assert "Pareto front" in kinds and len(kinds) == 8
    for objective in ("modes", "hq_pct"):
        at.selectbox(key="study.target").set_value(objective).run()
        for kind in kinds:
            at.radio(key="study.plot").set_value(kind).run()
            assert not at.exception, (kind, at.exception)
            charts = at.get("plotly_chart")
            reasons = texts(at.info)
            assert charts or reasons, kind
            if kind in ("Optimization history", "Pareto front", "Slice", "Parallel coordinate", "Timeline"):
                assert charts, (kind, reasons)  # two complete trials are enough for these
            if kind == "Intermediate values":
                assert "single-objective" in reasons
            if kind == "Contour":
                assert "two or more parameters" in reasons  # only lr_g is searched
    # the trial's run opens in Explore
    assert any(key.startswith("studies/tiny/") for key in run_data.explore_runs()["key"])

    # Runs: the trials (and the study's parent run) are hidden until asked for
    at.switch_page(RUNS_PAGE).run()
    assert not at.exception, at.exception
    assert "No runs yet" not in texts(at.info)
    assert at.dataframe[0].value.empty
    assert at.selectbox(key="filter_trials").options == ["hide", "show all", "tiny"]
    at.selectbox(key="filter_trials").set_value("show all").run()
    shown = at.dataframe[0].value
    assert len(shown) == 2 and set(shown["study"]) == {"tiny"}
    at.selectbox(key="filter_trials").set_value("tiny").run()
    assert len(at.dataframe[0].value) == 2

    # a second study, continued to a higher target, then compared with the first
    at.switch_page(STUDIES_PAGE).run()  # Streamlit forgets the widgets of a page left: fill the form again
    fill_tiny(at, "tiny2", 1)
    at.button(key="study.launch").click().run()
    assert not at.error, texts(at.error)
    wait_finished("tiny2", 1)
    at.run()
    at.selectbox(key="study.continue").set_value("tiny2").run()
    at.number_input(key="study.target.tiny2").set_value(2)
    at.button(key="study.continue_button").click().run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    assert study_data.progress(study_data.load("tiny2"))[1] == 2
    wait_finished("tiny2", 2)
    at.run()
    before = len(at.get("plotly_chart"))
    at.multiselect(key="study.compare").set_value(["tiny", "tiny2"]).run()
    assert not at.exception, at.exception
    best = at.dataframe[-1].value
    assert list(best["study"]) == ["tiny", "tiny2"] and list(best["finished"]) == [2, 2]
    assert len(at.get("plotly_chart")) == before + 3  # best-so-far curves, and each best trial's samples
