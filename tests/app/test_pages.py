"""AppTest of both pages: render, launch a real (tiny) training job from the Train page, find it in Runs.

AppTest does not tick `run_every` fragments, so the tests poll engine.jobs.status and call
at.run() again, as a browser's next poll would.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine import jobs

APP = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")
RUNS_PAGE = "app_pages/runs.py"


def open_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def fill_run(at: AppTest, steps: int, eval_every: int) -> None:
    at.number_input(key="train.steps").set_value(steps)
    at.number_input(key="train.eval_every").set_value(eval_every)
    at.number_input(key="train.threads").set_value(1)  # two 2-thread jobs on 2 cores thrash
    at.number_input(key="train.checkpoint_every").set_value(eval_every)


def launch(at: AppTest) -> str:
    at.button[0].click().run()  # the form's Launch button is the page's first button
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    return at.query_params["job"]


def wait_for(job_id: str, states: tuple[str, ...], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.status(job_id)
        if status["state"] in states:
            return status
        time.sleep(0.5)
    pytest.fail(f"job {job_id} did not reach {states} in {timeout} s: {jobs.status(job_id)}")


def test_both_pages_render_without_runs(home, monkeypatch):
    from app import run_data

    monkeypatch.setattr(run_data, "MLFLOW_UI", "http://127.0.0.1:9")  # nothing listens there, whatever runs on 5000
    at = open_app()
    assert [t.value for t in at.title] == ["Train"]
    assert at.number_input(key="train.steps").min == 1  # the range comes from the config metadata
    assert at.selectbox(key="train.device").options == ["auto", "cpu", "cuda", "mps"]
    assert "No job yet" in texts(at.info)
    at.switch_page(RUNS_PAGE).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Runs"]
    assert "No runs yet" in texts(at.info)
    assert "make mlflow-ui" in texts(at.caption)


def test_launch_watch_and_find_run(home):
    at = open_app()
    fill_run(at, steps=100, eval_every=50)
    job_id = launch(at)
    assert (home / "var" / "runs" / job_id / "config.json").exists()

    status = wait_for(job_id, ("finished", "failed", "diverged"))
    assert status["state"] == "finished", status
    at.run()  # the browser's next poll
    assert not at.exception, at.exception
    assert "Finished: 100 steps" in texts(at.success)
    assert at.get("progress")[0].proto.value == 100
    labels = [m.label for m in at.metric]
    assert labels == ["Modes captured", "HQ samples", "Reverse KL"]
    assert at.metric[0].value.endswith("/ 8")
    assert "Evaluated at step 100" in texts(at.caption)
    assert at.button(key="resume").disabled and at.button(key="stop").disabled

    at.switch_page(RUNS_PAGE).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == [job_id]
    assert table.loc[0, "state"] == "finished" and table.loc[0, "steps"] == 100
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert "Comparing 1 run" in texts(at.subheader)


def test_stop_then_resume(home):
    at = open_app()
    fill_run(at, steps=200_000, eval_every=1_000)
    job_id = launch(at)
    try:
        wait_for(job_id, ("running",), timeout=120)
        at.run()
        at.button(key="stop").click().run()  # Stop writes the flag file; the job checkpoints and exits
        status = wait_for(job_id, ("stopped", "failed"), timeout=120)
        assert status["state"] == "stopped", status
        at.run()
        assert "Stopped" in texts(at.warning)
        assert not at.button(key="resume").disabled
        at.button(key="resume").click().run()
        assert not at.exception, at.exception
        assert jobs.status(job_id)["state"] in ("queued", "running")
        wait_for(job_id, ("running",), timeout=120)
    finally:
        jobs.stop(job_id)
        wait_for(job_id, ("stopped", "failed", "finished"), timeout=120)


def test_runs_page_links_to_a_running_mlflow_ui(home, health_server, monkeypatch):
    from app import run_data

    monkeypatch.setattr(run_data, "MLFLOW_UI", health_server)
    at = open_app()
    at.switch_page(RUNS_PAGE).run()
    assert not at.exception, at.exception
    link = at.get("link_button")[0]
    assert link.proto.label == "Open MLflow UI" and link.proto.url == health_server
    assert "make mlflow-ui" not in texts(at.caption)


def test_bad_input_shows_one_error(home):
    at = open_app()
    at.selectbox(key="data.choice").set_value("vectors:PATH (your own file)").run()
    at.text_input(key="data.path").input(str(home / "missing.npy"))
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "missing.npy does not exist" in at.error[0].value
    assert jobs.list_jobs() == []


def test_unknown_job_in_url_is_an_error_not_a_traceback(home):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["job"] = "no-such-job"
    at.run()
    assert not at.exception, at.exception
    assert "no-such-job not found" in texts(at.error)
