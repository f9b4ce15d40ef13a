"""The app's helper modules on their own: reading run files, progress text, the runs table, figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app import charts, run_data
from engine.plots import project_2d


def write_metrics(run_dir, lines: list[str]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))


def test_read_metrics_splits_kinds_and_skips_a_half_written_line(tmp_path):
    write_metrics(tmp_path, [
        json.dumps({"kind": "train", "step": 10, "elapsed": 0.1, "loss_d": 1.4, "loss_g": 0.7}),
        json.dumps({"kind": "eval", "step": 10, "modes": 3.0, "hq_pct": 40.0, "reverse_kl": None}),
        json.dumps({"kind": "train", "step": 20, "elapsed": 0.2, "loss_d": 1.3, "loss_g": 0.8}),
        '{"kind": "train", "step": 30, "elap',  # the trainer is half-way through this line
    ])
    train, evals = run_data.read_metrics(tmp_path)
    assert list(train["step"]) == [10, 20] and list(train["loss_g"]) == [0.7, 0.8]
    latest = run_data.latest_eval(evals)
    assert latest["modes"] == 3.0 and latest["reverse_kl"] is None  # NaN/null becomes None for the tiles


def test_train_columns_and_curve_keys():
    rows = pd.DataFrame({"step": [1], "elapsed": [0.1], "loss_d": [1.0], "sigma_mean": [0.5], "loss_g": [2.0]})
    assert run_data.train_columns(rows) == (["loss_d", "loss_g"], ["sigma_mean"])
    runs = [{"metrics": {"train/loss_g": 1.0, "eval/hq_pct": 9.0, "eval/modes": 8.0}},
            {"metrics": {"train/entropy": 0.1, "eval/mean_error": 0.2}}]
    assert run_data.curve_keys(runs) == ["eval/modes", "eval/hq_pct", "eval/mean_error", "train/entropy",
                                         "train/loss_g"]


def test_read_metrics_before_the_first_line(tmp_path):
    train, evals = run_data.read_metrics(tmp_path / "not-started")
    assert train.empty and evals.empty and run_data.latest_eval(evals) == {}


def test_latest_samples_falls_back_when_the_newest_file_is_partial(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    np.save(samples / "step_00000100.npy", np.ones((5, 2), dtype=np.float32))
    (samples / "step_00000200.npy").write_bytes(b"\x93NUMPY")  # being written
    step, x = run_data.latest_samples(tmp_path)
    assert step == 100 and x.shape == (5, 2)
    assert run_data.latest_samples(tmp_path / "nothing") == (None, None)


def test_progress_text_and_eta():
    fraction, text = run_data.progress({"state": "running", "step": 250, "total": 1000, "elapsed": 30.0})
    assert fraction == 0.25
    assert text == "step 250 / 1,000 · elapsed 0:30 · about 1:30 left"
    fraction, text = run_data.progress({"state": "finished", "step": 1000, "total": 1000, "elapsed": 3725})
    assert fraction == 1.0 and text == "step 1,000 / 1,000 · elapsed 1:02:05"
    assert run_data.progress({"state": "queued", "step": 0, "total": 300}) == (0.0, "step 0 / 300")


def test_freshest_follows_the_loss_log_while_running():
    rows = pd.DataFrame({"step": [10, 20], "elapsed": [1.0, 2.0]})
    assert run_data.freshest({"state": "running", "step": 1, "elapsed": 0.1}, rows)["step"] == 20
    assert run_data.freshest({"state": "finished", "step": 1}, rows)["step"] == 1


def search_run(run_dir: str, **metrics) -> dict:
    return {"run_id": "abc", "run_name": "gan-ring8-s0", "status": "FINISHED", "start_time": 1_700_000_000_000,
            "tags": {"method": "gan", "dataset": "ring8", "state": "finished", "run_dir": run_dir},
            "params": {"train.steps": "300"}, "metrics": metrics}


def test_runs_frame_and_filter(tmp_path):
    runs = [search_run(str(tmp_path / "job-a"), **{"eval/modes": 2.0, "eval/hq_pct": 50.0, "eval/reverse_kl": 0.7}),
            search_run("", **{"eval/modes": 0.0, "eval/hq_pct": 0.0, "eval/reverse_kl": 2.0})]
    runs[1]["tags"]["dataset"] = "grid25"
    frame = run_data.runs_frame(runs)
    assert list(frame["run"]) == ["job-a", "gan-ring8-s0"]
    assert frame.loc[0, "KL"] == 0.7
    assert pd.isna(frame.loc[1, "KL"])  # no HQ sample: MLflow's latest KL is stale, so it is not shown
    assert frame.loc[0, "steps"] == 300 and frame.loc[0, "state"] == "finished"
    assert list(run_data.filter_runs(frame, [], ["grid25"])["dataset"]) == ["grid25"]
    assert len(run_data.filter_runs(frame, ["gan"], [])) == 2
    assert run_data.filter_runs(frame, ["vae"], []).empty


def test_mlflow_ui_check(health_server):
    assert run_data.mlflow_ui_running(health_server) is True
    assert run_data.mlflow_ui_running("http://127.0.0.1:9", timeout=0.2) is False


@pytest.mark.parametrize("means", [np.array([[1.0, 0.0], [-1.0, 0.0]]), None])
def test_figures_build(means):
    x = np.random.default_rng(0).normal(size=(50, 2))
    fig = charts.samples_figure(x, means, "samples")
    assert len(fig.data) == (2 if means is not None else 1)
    train = pd.DataFrame({"step": range(5000), "loss_d": 1.0, "loss_g": 0.5})
    thinned = charts.loss_figure(train).data[0].x
    assert len(thinned) <= charts.MAX_POINTS + 1 and thinned[-1] == 4999
    evals = pd.DataFrame({"step": [100, 200], "modes": [1.0, 3.0], "hq_pct": [10.0, 60.0]})
    assert len(charts.eval_figure(evals).data) == 2
    # the HQ axis carries the true samples' rate (1 - e^-4.5) as a reference line
    assert [round(shape.y0, 2) for shape in charts.eval_figure(evals).layout.shapes] == [98.89]
    assert not charts.eval_figure(evals.drop(columns="hq_pct")).layout.shapes
    assert len(charts.stats_figure(train.assign(sigma_mean=0.1, entropy=2.0), ["sigma_mean", "entropy"]).data) == 2
    assert len(charts.overlay_figure({"a": [(1, 0.5), (2, 0.6)], "b": [(1, 0.1)]}, "modes").data) == 2
    runs = pd.DataFrame({"run": ["a", "b"], "modes": [8.0, 1.0], "HQ %": [90.0, 5.0], "KL": [0.01, None]})
    bars = charts.final_metrics_figure(runs)
    assert [bar.text[0] for bar in bars.data] == ["8", "90", "0.01", "1", "5", "n/a"]


def test_compare_labels_name_runs_by_method_and_seed():
    runs = pd.DataFrame({"run": ["r1", "r2", "r3"], "method": ["gan", "presgan", "gan"], "dataset": ["ring8"] * 3,
                         "seed": pd.array([0, 0, 0], dtype="Int64")})
    assert run_data.compare_labels(runs) == ["gan s0 (r1)", "presgan s0", "gan s0 (r3)"]
    runs["dataset"] = ["ring8", "ring8", "grid25"]
    assert run_data.compare_labels(runs) == ["gan s0 · ring8", "presgan s0 · ring8", "gan s0 · grid25"]


def test_run_keys_stay_inside_var(home):
    job = home / "var" / "runs" / "job-a"
    bench = home / "var" / "bench" / "synthetic-1" / "gan-ring8-s0"
    for run_dir in (job, bench):
        run_dir.mkdir(parents=True)
        (run_dir / "config.json").write_text(json.dumps({"model_name": "gan", "data": {"name": "ring8"}}))
    assert run_data.run_key(job) == "job-a" and run_data.run_key(bench) == "bench/synthetic-1/gan-ring8-s0"
    assert run_data.resolve_run("job-a") == job.resolve()
    assert run_data.resolve_run("bench/synthetic-1/gan-ring8-s0") == bench.resolve()
    assert run_data.run_key(home / "elsewhere") is None
    assert run_data.resolve_run("../../etc") is None and run_data.resolve_run("missing") is None
    assert set(run_data.explore_runs()["key"]) == {"job-a", "bench/synthetic-1/gan-ring8-s0"}


def test_mode_counts_against_true_weights():
    means = run_data.true_means("ring8")
    x = np.concatenate([np.repeat(means[:1], 30, axis=0), np.repeat(means[3:4], 10, axis=0), [[0.0, 0.0]]])
    counts = run_data.mode_counts(x, "ring8")
    assert list(counts["hq_samples"]) == [30, 0, 0, 10, 0, 0, 0, 0]  # the point at the centre is not HQ
    assert list(counts["share"]) == [0.75, 0, 0, 0.25, 0, 0, 0, 0] and np.allclose(counts["weight"], 1 / 8)
    assert run_data.mode_counts(x, "vectors:/nowhere.npy") is None


def test_explore_figures_build():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(10, 50)) * 10
    samples = means[rng.integers(0, 3, size=300)] + rng.normal(size=(300, 50))
    flat, flat_means = project_2d(samples, means)
    assert flat.shape == (300, 2) and flat_means.shape == (10, 2)
    fig = charts.density_figure(flat, flat_means, "projection")
    assert [trace.type for trace in fig.data] == ["contour", "scattergl", "scattergl"]
    evals = pd.DataFrame({"step": [10, 20], "modes": [1.0, 2.0], "hq_pct": [5.0, 9.0], "reverse_kl": [0.3, 0.2]})
    assert len(charts.mode_curves_figure(evals, 8).data) == 3
    (line,) = charts.mode_curves_figure(evals, 8).layout.shapes
    assert round(line.y0, 2) == 98.89 and line.yref == "y2"  # on the HQ panel only
    noisy = evals.assign(noisy_modes=1.0, noisy_hq_pct=2.0, noisy_reverse_kl=0.5)
    assert len(charts.mode_curves_figure(noisy).data) == 6


def test_an_image_grid_separates_images_of_any_colour_by_its_frame():
    from app.map_view import FRAME, framed

    white, black = np.full((1, 1, 4, 4), 255, np.uint8), np.zeros((1, 1, 4, 4), np.uint8)
    grid = framed(np.concatenate([white, black, white]))
    assert grid.shape == (2 + 4 + 2, 2 + 3 * (4 + 2), 3)  # one row of three, 2-px lines around each
    assert (grid[2:6, 2:6] == 255).all() and (grid[2:6, 8:12] == 0).all()
    assert (grid[:, 6:8] == FRAME).all() and (grid[0] == FRAME).all()  # the lines between and around them
