"""The CLI contract through real subprocesses: training, MLflow, stop/resume, bad input, divergence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from tests.conftest import REPO, run_engine

FAST = ["--set", "train.threads=1", "--set", "model.batch_size=128"]


def losses(run_dir: Path) -> dict[int, tuple[float, float]]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: (r["loss_d"], r["loss_g"]) for r in records if r["kind"] == "train"}


def start_training(run_dir: Path, steps: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "engine", "train", "--model", "gan", "--data", "ring8",
                             "--steps", str(steps), "--out", str(run_dir), *FAST, *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((run_dir / "status.json").read_text()).get("step", 0) >= step:
                return
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"run never reached step {step}")


def test_train_writes_eval_and_an_mlflow_run(home):
    out = home / "run"
    result = run_engine("train", "--model", "gan", "--data", "ring8", "--steps", "200", "--out", str(out),
                        "--set", "train.eval_every=100", *FAST)
    assert result.returncode == 0, result.stderr
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation["step"] == 200 and evaluation["n"] == 2500
    assert 0 <= evaluation["modes"] <= evaluation["n_modes"] == 8 and 0 <= evaluation["hq_pct"] <= 100
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "finished" and status["step"] == 200 and status["device"] == "cpu"

    from engine import tracking

    runs = tracking.search_runs()
    assert [r["run_id"] for r in runs] == [status["mlflow_run_id"]]
    run = runs[0]
    assert run["status"] == "FINISHED" and run["tags"]["method"] == "gan" and run["tags"]["dataset"] == "ring8"
    assert run["params"]["train.steps"] == "200" and run["params"]["model.lr_g"] == "0.001"
    assert [s for s, _ in tracking.metric_history(run["run_id"], "eval/modes")] == [100, 200]
    assert len(tracking.metric_history(run["run_id"], "train/loss_d")) == 20
    images = list((home / "var" / "mlartifacts").rglob("*.png"))
    assert len(images) >= 2, "the sample scatter is logged as an image at each evaluation"


def test_stop_flag_checkpoints_then_resume_matches_an_uninterrupted_run(home):
    stopped, straight = home / "stopped", home / "straight"
    proc = start_training(stopped, 100_000, "--set", "train.log_every=5", "--set", "train.checkpoint_every=100000")
    wait_for_step(stopped, 30, proc)
    (stopped / "STOP").touch()
    assert proc.wait(timeout=120) == 130
    first = load_checkpoint(stopped / "checkpoint.pt")
    k = first["step"]
    state = json.loads((stopped / "status.json").read_text())
    assert state["state"] == "stopped" and state["step"] == k and k >= 30
    run_id = state["mlflow_run_id"]

    target = k + 60
    resumed = run_engine("train", "--resume", str(stopped), "--steps", str(target))
    assert resumed.returncode == 0, resumed.stderr
    state = json.loads((stopped / "status.json").read_text())
    assert state["state"] == "finished" and state["step"] == target
    assert state["mlflow_run_id"] == run_id, "a resumed run continues the same MLflow run"

    plain = run_engine("train", "--model", "gan", "--data", "ring8", "--steps", str(target), "--out", str(straight),
                       "--no-mlflow", "--set", "train.log_every=5", *FAST)
    assert plain.returncode == 0, plain.stderr
    a, b = losses(stopped), losses(straight)
    assert sorted(a) == sorted(b) and max(a) == target
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-6, abs=1e-7), step

    from engine import tracking

    steps = [s for s, _ in tracking.metric_history(run_id, "train/loss_d")]
    assert steps[-1] == target and len(set(steps)) == len(a)  # every logged step, before and after the stop


def test_sigterm_checkpoints_and_exits_130(home):
    out = home / "run"
    proc = start_training(out, 100_000, "--no-mlflow")
    wait_for_step(out, 20, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert load_checkpoint(out / "checkpoint.pt")["step"] >= 20
    assert json.loads((out / "status.json").read_text())["state"] == "stopped"


def test_truncated_checkpoint_is_a_one_line_error_naming_it(home):
    out = home / "run"
    assert run_engine("train", "--model", "gan", "--data", "ring8", "--steps", "20", "--out", str(out),
                      "--no-mlflow", *FAST).returncode == 0
    ckpt = out / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    for args in (["evaluate", "--run", str(out)], ["train", "--resume", str(out), "--no-mlflow"]):
        result = run_engine(*args)
        assert result.returncode == 2
        assert str(ckpt) in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_forced_nan_diverges_with_exit_3_and_keeps_the_last_good_checkpoint(home):
    out = home / "run"
    result = run_engine("train", "--model", "gan", "--data", "ring8", "--steps", "200", "--out", str(out),
                        "--no-mlflow", "--set", "train.checkpoint_every=20", *FAST,
                        env_extra={"MODESCOPE_FAULT_NAN_AT_STEP": "55"})
    assert result.returncode == 3
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "diverged"
    assert "at step 55" in status["message"] and "loss_" in status["message"]
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 40
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_diverged_run_is_failed_in_mlflow(home):
    out = home / "run"
    result = run_engine("train", "--model", "gan", "--data", "ring8", "--steps", "50", "--out", str(out), *FAST,
                        env_extra={"MODESCOPE_FAULT_NAN_AT_STEP": "10"})
    assert result.returncode == 3
    from engine import tracking

    (run,) = tracking.search_runs()
    assert run["status"] == "FAILED" and run["tags"]["state"] == "diverged" and "step 10" in run["tags"]["message"]


@pytest.mark.parametrize("args, needle", [
    (["--model", "gan", "--data", "ring8", "--set", "model.lr_g=-1"], "model.lr_g"),
    (["--model", "gan", "--data", "ring8", "--set", "model.bogus=1"], "model.bogus"),
    (["--model", "nope", "--data", "ring8"], "model_name"),
    (["--model", "gan", "--data", "moons"], "data.name"),
    (["--model", "gan", "--data", "vectors:/no/such/file.npy"], "/no/such/file.npy"),
    (["--config", "/no/such/config.yaml"], "/no/such/config.yaml"),
])
def test_bad_input_exits_2_with_a_message_naming_it(home, args, needle):
    result = run_engine("train", *args, "--no-mlflow", "--steps", "5")
    assert result.returncode == 2
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_user_vectors_train_evaluate_and_sample(home):
    rng = np.random.default_rng(0)
    path = home / "points.csv"
    np.savetxt(path, rng.normal(size=(400, 3)), delimiter=",")
    out = home / "run"
    result = run_engine("train", "--model", "gan", "--data", f"vectors:{path}", "--steps", "30", "--out", str(out),
                        "--no-mlflow", "--set", "train.eval_every=10", *FAST)
    assert result.returncode == 0, result.stderr
    assert "modes" not in json.loads((out / "eval.json").read_text())
    shown = run_engine("evaluate", "--run", str(out), "--n", "300")
    assert shown.returncode == 0 and "n/a" in shown.stdout
    as_json = json.loads(run_engine("evaluate", "--run", str(out), "--n", "300", "--json").stdout)
    assert as_json["n"] == 300 and "mean_error" in as_json
    sampled = run_engine("sample", "--run", str(out), "-n", "64", "--out", str(home / "s.npy"))
    assert sampled.returncode == 0, sampled.stderr
    assert np.load(home / "s.npy").shape == (64, 3)


def test_list_json_describes_models_datasets_and_fields():
    result = run_engine("list", "--json")
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    fields = {f["name"]: f for f in payload["models"]["gan"]["fields"]}
    assert fields["lr_g"]["default"] == 1e-3 and fields["lr_g"]["range"] == [1e-7, 1.0]
    assert {"ring8", "grid25", "ring10", "hd1200", "vectors:PATH"} <= set(payload["datasets"])


def test_train_applies_the_method_preset_for_its_data_unless_told_not_to(home):
    from engine.registry import MODELS

    from engine.registry import preset_sections

    name, data, key, value = next((n, d, k, v) for n, cls in sorted(MODELS.items()) for d in cls.PRESETS
                                  for k, v in preset_sections(n, d)["model"].items() if v != getattr(cls.Config(), k))
    configs = {}
    for flag in ([], ["--no-preset"]):
        out = home / f"run{len(configs)}"
        result = run_engine("train", "--model", name, "--data", data, "--steps", "2", "--out", str(out),
                            "--no-mlflow", "--set", "train.threads=1", "--set", "train.eval_samples=10", *flag)
        assert result.returncode == 0, result.stderr
        configs[bool(flag)] = json.loads((out / "config.json").read_text())["model"]
    assert configs[False][key] == value
    assert configs[True][key] == getattr(MODELS[name].Config(), key)


def test_a_presets_loop_settings_reach_the_run_config_and_set_still_wins(home):
    from engine.config import TrainConfig
    from engine.registry import MODELS, preset_sections

    name, data, key, value = next((n, d, k, v) for n in sorted(MODELS) for d in MODELS[n].PRESETS
                                  for k, v in preset_sections(n, d)["train"].items() if k == "lr_decay_start")
    assert value != getattr(TrainConfig(), key)
    base = ["train", "--model", name, "--data", data, "--steps", "2", "--no-mlflow", "--set", "train.threads=1",
            "--set", "train.eval_samples=10"]
    for extra, expected in (([], value), (["--set", f"train.{key}=1"], 1), (["--no-preset"], getattr(TrainConfig(), key))):
        out = home / f"run{len(extra)}{expected}"
        result = run_engine(*base, "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr
        assert json.loads((out / "config.json").read_text())["train"][key] == expected, extra
