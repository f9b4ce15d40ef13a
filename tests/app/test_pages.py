"""AppTest of both pages: render, launch a real (tiny) training job from the Train page, find it in Runs.

AppTest does not tick `run_every` fragments, so the tests poll engine.jobs.status and call
at.run() again, as a browser's next poll would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from engine import jobs
from engine import nets
from engine.config import TrainConfig, build_run_config, describe_fields
from engine.registry import MODELS, preset_sections

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


@pytest.mark.parametrize("method", sorted(MODELS))
def test_method_form_comes_from_config_metadata(home, method):
    at = open_app()
    at.selectbox(key="method").set_value(method).run()
    assert not at.exception, at.exception
    for field in describe_fields(MODELS[method].Config):
        key = f"model.{method}.{field['name']}"
        if field["name"] in nets.unused_fields("vector"):  # the form opens on ring8: no convolution width
            assert not [w for w in at.number_input if w.key == key], key
            continue
        widget = next(w for kind in ("number_input", "selectbox", "text_input", "checkbox")
                      for w in getattr(at, kind) if w.key == key)
        if "range" in field:
            assert (widget.min, widget.max) == tuple(field["range"]), key
        if "choices" in field:
            assert widget.options == [str(c) for c in field["choices"]], key
        # the form opens on ring8, so it holds the method's ring8 preset where there is one
        assert widget.value == preset_sections(method, "ring8")["model"].get(field["name"], field["default"]), key


def test_the_method_form_shows_only_the_fields_its_networks_read_on_the_data(home):
    at = open_app()
    at.selectbox(key="method").set_value("veegan").run()
    shown = {w.key for w in at.number_input}
    assert "model.veegan.g_hidden" in shown and "model.veegan.conv_width" not in shown
    at.selectbox(key="data.choice").set_value("mnist5k").run()
    assert not at.exception, at.exception
    shown = {w.key for w in at.number_input}
    assert "model.veegan.conv_width" in shown and "model.veegan.d_hidden" in shown  # the joint critic's MLP head
    assert not {"model.veegan.g_hidden", "model.veegan.f_hidden", "model.veegan.g_depth"} & shown


def test_form_follows_the_preset_of_the_chosen_method_and_data_set(home):
    at = open_app()
    assert at.number_input(key="model.gan.latent_dim").value == 256  # the GAN has no ring8 preset
    at.selectbox(key="data.choice").set_value("ring10").run()
    assert at.number_input(key="model.gan.latent_dim").value == MODELS["gan"].PRESETS["ring10"]["latent_dim"]
    assert "preset for ring10" in texts(at.caption)
    at.selectbox(key="method").set_value("presgan").run()
    presgan_ring10 = MODELS["presgan"].PRESETS["ring10"]
    assert at.number_input(key="model.presgan.entropy_weight").value == presgan_ring10["entropy_weight"]
    at.selectbox(key="data.choice").set_value("ring8").run()
    assert at.number_input(key="model.presgan.entropy_weight").value == MODELS["presgan"].PRESETS["ring8"][
        "entropy_weight"]
    assert not at.exception and not at.warning, (at.exception, texts(at.warning))


def test_loop_settings_of_a_preset_fill_the_training_form_and_reset_on_leaving_it(home):
    # a mixture preset's loop setting (the image presets all name eval_samples, so the GAN would keep it)
    method, data, key, value = next((m, d, k, v) for m in sorted(MODELS) for d in MODELS[m].PRESETS
                                    for k, v in preset_sections(m, d)["train"].items() if k == "lr_decay_start")
    default = next(f["default"] for f in describe_fields(TrainConfig) if f["name"] == key)
    assert value != default
    at = open_app()
    at.session_state["train.steps"] = 1234  # as if typed (a form's widgets keep typed values only on submit)
    at.selectbox(key="data.choice").set_value(data).run()
    at.selectbox(key="method").set_value(method).run()
    assert at.number_input(key=f"train.{key}").value == value
    assert at.number_input(key="train.steps").value == 1234, "the preset leaves the loop fields it does not name"
    at.selectbox(key="method").set_value("gan").run()
    assert at.number_input(key=f"train.{key}").value == default


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

    # Close detaches the tab; the recent-jobs box brings the job back
    next(b for b in at.button if b.label == "Close").click().run()
    assert "job" not in at.query_params and "No job yet" in texts(at.info)
    at.selectbox(key="recent").select(job_id).run()
    assert at.query_params["job"] == job_id and "Finished: 100 steps" in texts(at.success)

    at.switch_page(RUNS_PAGE).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == [job_id]
    assert table.loc[0, "state"] == "finished" and table.loc[0, "steps"] == 100
    at.multiselect(key="filter_method").select("gan").run()
    assert list(at.dataframe[0].value["run"]) == [job_id]
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert "Comparing 1 run" in texts(at.subheader)
    assert at.selectbox(key="curve").options[:2] == ["modes captured", "HQ samples"]  # KL only once it is defined
    assert "train/loss_g" in at.selectbox(key="curve").options
    assert at.dataframe[1].value.loc[0, "run"] == "gan s0"  # compared runs are named by method and seed
    link = at.get("page_link")[0].proto
    assert link.label == "Explore gan s0" and link.query_string == f"run={job_id}"


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


def test_own_vectors_without_known_modes(home):
    points = home / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32))
    at = open_app()
    at.selectbox(key="data.choice").set_value("vectors:PATH (your own N x D floats, .npy or .csv)").run()
    at.text_input(key="data.path").input(str(points))
    fill_run(at, steps=50, eval_every=50)
    job_id = launch(at)
    assert wait_for(job_id, ("finished", "failed", "diverged"))["state"] == "finished"
    at.run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric] == ["Coverage", "Precision", "Mean error", "Std error"]
    assert "has no known modes" in texts(at.caption)
    assert at.get("plotly_chart")  # 2-D samples are drawn, with no modes to draw them over


def test_the_data_settings_are_those_the_chosen_data_set_reads(home):
    at = open_app()

    def data_keys() -> set[str]:
        widgets = [*at.number_input, *at.selectbox]
        return {w.key for w in widgets if w.key and w.key.startswith("data.") and w.key not in ("data.choice",)}

    assert data_keys() == {"data.n_train", "data.seed", "data.n_test"}  # ring8: no image size, no digit source
    at.selectbox(key="data.choice").set_value("stacked_mnist").run()
    assert data_keys() == {"data.source", "data.n_train", "data.n_test", "data.seed", "data.image_size"}
    at.selectbox(key="data.choice").set_value("vectors:PATH (your own N x D floats, .npy or .csv)").run()
    assert data_keys() == set()  # the file is the data: no sizes or seeds apply


def _job_panel_script(status: dict) -> None:
    from app import job_panel

    job_panel.render("a-job", status)


def test_high_dimensional_run_says_why_no_scatter(tmp_path):
    """The panel on a hand-made hd1200 run directory (training one, even tiny, builds the 1200-D mixture)."""
    run_dir = tmp_path / "run"
    build_run_config(MODELS, {"model_name": "gan", "data": {"name": "hd1200"}}).save(run_dir / "config.json")
    (run_dir / "metrics.jsonl").write_text(
        json.dumps({"kind": "train", "step": 10, "elapsed": 1.0, "loss_d": 1.2, "loss_g": 0.8}) + "\n"
        + json.dumps({"kind": "eval", "step": 10, "modes": 3.0, "hq_pct": 12.5, "reverse_kl": 0.4}) + "\n")
    (run_dir / "samples").mkdir()
    np.save(run_dir / "samples" / "latest.npy", np.zeros((100, 1200), dtype=np.float32))
    status = {"state": "finished", "step": 10, "total": 10, "elapsed": 1.0, "message": "", "run_dir": str(run_dir)}
    at = AppTest.from_function(_job_panel_script, args=(status,), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "drawn for 2-D data only; hd1200 is 1200-D" in texts(at.caption)
    assert [m.value for m in at.metric] == ["3", "12.5 %", "0.400"]
    assert "Finished: 10 steps" in texts(at.success)


def test_diverged_run_says_which_loss_and_step(home, monkeypatch):
    monkeypatch.setenv("MODESCOPE_FAULT_NAN_AT_STEP", "30")  # the trainer's test hook, inherited by the job
    at = open_app()
    fill_run(at, steps=100, eval_every=50)
    job_id = launch(at)
    assert wait_for(job_id, ("finished", "failed", "diverged"))["state"] == "diverged"
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("Diverged: loss_") and "step 30" in at.error[0].value
    assert at.button(key="resume").disabled  # it would diverge again from the same checkpoint


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
    at.selectbox(key="data.choice").set_value("vectors:PATH (your own N x D floats, .npy or .csv)").run()
    at.text_input(key="data.path").input(str(home / "missing.npy"))
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "missing.npy does not exist" in at.error[0].value
    assert jobs.list_jobs() == []


def test_missing_gpu_is_an_error_before_launch(home):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so device=cuda is valid")
    at = open_app()
    at.selectbox(key="train.device").set_value("cuda")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "no CUDA device" in at.error[0].value
    assert jobs.list_jobs() == []


def test_unknown_job_in_url_is_an_error_not_a_traceback(home):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["job"] = "no-such-job"
    at.run()
    assert not at.exception, at.exception
    assert "no-such-job not found" in texts(at.error)


def test_runs_page_shows_image_runs_sample_grids_side_by_side(home):
    from tests.conftest import run_engine

    for seed in (0, 1):
        done = run_engine("train", "--model", "gan", "--data", "mnist5k", "--steps", "4", "--set", "train.eval_every=4",
                          "--set", f"train.seed={seed}", "--set", "train.threads=1", "--set", "model.conv_width=8",
                          "--set", "train.eval_samples=100", "--out", str(home / "var" / "runs" / f"gan-mnist-{seed}"))
        assert done.returncode == 0, done.stderr
    at = open_app()
    at.switch_page(RUNS_PAGE).run()
    at.session_state["runs_table"] = {"selection": {"rows": [0, 1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    images = at.get("image")
    assert len(images) == 2  # one PNG grid per compared run, in place of a scatter
    assert sorted(image.proto.imgs[0].caption for image in images) == ["gan s0, step 4", "gan s1, step 4"]
    compared = at.dataframe[1].value
    assert (compared["FD"] > 0).all() and compared["coverage"].between(0, 1).all()
    assert "FD and coverage in digit-classifier features" in texts(at.caption)
