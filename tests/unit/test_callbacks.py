"""Trainer callbacks: hook order, final metrics, pruning as its own state, a loop outside the main thread."""

from __future__ import annotations

import json
import threading

import pytest

from engine.callbacks import Callback, PruneRun
from engine.checkpoint import load_checkpoint
from engine.config import build_run_config
from engine.registry import MODELS
from engine.trainer import EXIT_OK, EXIT_PRUNED, RunFiles, train


def tiny(steps: int = 30, eval_every: int = 10):
    return build_run_config(MODELS, {
        "model_name": "gan", "data": {"name": "ring8", "n_train": 500},
        "model": {"batch_size": 16, "latent_dim": 4, "g_hidden": 8, "d_hidden": 8},
        "train": {"steps": steps, "eval_every": eval_every, "checkpoint_every": 1000, "log_every": 5,
                  "threads": 1, "eval_samples": 100}})


class Recorder(Callback):
    def __init__(self, prune_at: int | None = None):
        self.events, self.prune_at = [], prune_at

    def on_start(self, trainer):
        self.events.append(("start", trainer.step))

    def on_log(self, trainer, step, losses):
        assert "loss_d" in losses
        self.events.append(("log", step))

    def on_eval(self, trainer, step, metrics, samples):
        assert samples.shape == (100, 2) and "modes" in metrics
        self.events.append(("eval", step))
        if step == self.prune_at:
            raise PruneRun(f"median rule at step {step}")

    def on_end(self, trainer, result):
        self.events.append(("end", result.state))


def test_hooks_run_in_order_and_train_returns_the_last_evaluation(home):
    recorder = Recorder()
    result = train(tiny(), home / "run", use_mlflow=False, callbacks=[recorder])
    assert (result.code, result.state, result.step) == (EXIT_OK, "finished", 30)
    assert recorder.events[0] == ("start", 0) and recorder.events[-1] == ("end", "finished")
    assert [step for kind, step in recorder.events if kind == "eval"] == [10, 20, 30]
    assert [step for kind, step in recorder.events if kind == "log"] == [5, 10, 15, 20, 25, 30]
    saved = json.loads((home / "run" / "eval.json").read_text())
    assert result.metrics["modes"] == saved["modes"] and result.metrics["hq_pct"] == pytest.approx(saved["hq_pct"])


def test_an_evaluation_callback_prunes_the_run_and_its_checkpoint_is_kept(home):
    recorder = Recorder(prune_at=20)
    result = train(tiny(steps=100), home / "run", use_mlflow=False, callbacks=[recorder])
    assert (result.code, result.state, result.step) == (EXIT_PRUNED, "pruned", 20)
    assert "median rule at step 20" in result.message
    status = RunFiles(home / "run").read_status()
    assert status["state"] == "pruned" and status["step"] == 20
    assert load_checkpoint(home / "run" / "checkpoint.pt")["step"] == 20  # checkpoint_every is 1000
    assert recorder.events[-1] == ("end", "pruned")
    assert ("eval", 30) not in recorder.events


def test_the_loop_runs_outside_the_main_thread(home):
    results = []
    worker = threading.Thread(target=lambda: results.append(train(tiny(), home / "run", use_mlflow=False)))
    worker.start()
    worker.join(timeout=120)
    assert results and results[0].state == "finished"


def test_a_failing_callback_marks_the_run_failed_and_raises(home):
    class Broken(Callback):
        def on_eval(self, trainer, step, metrics, samples):
            raise RuntimeError("store is gone")

    with pytest.raises(RuntimeError, match="store is gone"):
        train(tiny(), home / "run", use_mlflow=False, callbacks=[Broken()])
    status = RunFiles(home / "run").read_status()
    assert status["state"] == "failed" and "store is gone" in status["message"]
