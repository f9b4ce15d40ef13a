"""The trainer's learning-rate decay: constant by default, linear to 0 after `train.lr_decay_start`."""

from __future__ import annotations

import pytest

from engine.checkpoint import load_checkpoint
from engine.config import ConfigError, build_run_config
from engine.registry import MODELS, describe_data
from engine.trainer import lr_decay_factor, train


def test_factor_is_one_before_the_start_then_falls_linearly_to_zero():
    assert [lr_decay_factor(s, 100, 1.0) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert lr_decay_factor(49, 100, 0.5) == 1.0
    assert lr_decay_factor(50, 100, 0.5) == pytest.approx(1.0)
    assert lr_decay_factor(75, 100, 0.5) == pytest.approx(0.5)
    assert lr_decay_factor(99, 100, 0.5) == pytest.approx(0.02)
    assert lr_decay_factor(100, 100, 0.5) == 0.0
    assert lr_decay_factor(0, 100, 0.0) == 1.0 and lr_decay_factor(50, 100, 0.0) == pytest.approx(0.5)


def test_out_of_range_start_names_the_field():
    with pytest.raises(ConfigError, match="train.lr_decay_start"):
        build_run_config(MODELS, {"model_name": "gan", "train": {"lr_decay_start": 1.5}})


@pytest.mark.parametrize("method", ["gan", "presgan"])
def test_every_optimiser_ends_at_the_decayed_rate_and_a_resume_keeps_the_schedule(home, method):
    raw = {"model_name": method, "data": {"name": "ring8", "n_train": 500},
           "model": {"batch_size": 16},
           "train": {"steps": 20, "lr_decay_start": 0.5, "threads": 1, "eval_every": 20, "eval_samples": 50}}
    cfg = build_run_config(MODELS, raw)
    base = {k: [g["lr"] for g in o.param_groups] for k, o in MODELS[method](cfg.model, describe_data("ring8")).optimizers().items()}
    assert train(cfg, home / "run", use_mlflow=False).code == 0
    saved = load_checkpoint(home / "run" / "checkpoint.pt")["optimizers"]
    for name, rates in base.items():  # the last step (index 19) ran at 1/10 of the rate
        assert [g["lr"] for g in saved[name]["param_groups"]] == pytest.approx([r * 0.1 for r in rates]), name
    cfg.train.steps = 30  # resumed runs follow the schedule of their (new) length, from the configured rates
    assert train(cfg, home / "run", resume=True, use_mlflow=False).code == 0
    saved = load_checkpoint(home / "run" / "checkpoint.pt")["optimizers"]
    for name, rates in base.items():
        assert [g["lr"] for g in saved[name]["param_groups"]] == pytest.approx([r / 15 for r in rates]), name
