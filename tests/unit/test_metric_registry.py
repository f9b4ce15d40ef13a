"""The metric registry: every figure an evaluation reports is described, with a direction and a format."""

from __future__ import annotations

import math

import pytest

from engine.metrics.registry import METRICS, describe, label, objectives
from engine.config import DataConfig
from engine.registry import load_dataset
from engine.evaluation import sample_metrics


@pytest.mark.parametrize("data", ["ring8", "hd1200"])
def test_every_figure_an_evaluation_reports_is_registered(data):
    dataset = load_dataset(DataConfig(name=data, n_train=500))
    x = dataset.x[:200].numpy().reshape(200, -1)
    for name in sample_metrics(x, dataset):
        assert describe(name).name == name


def test_noisy_and_tracked_names_resolve_to_their_base_metric():
    assert describe("eval/noisy_hq_pct").direction == METRICS["hq_pct"].direction == "maximize"
    assert describe("noisy_reverse_kl").direction == "minimize" and describe("noisy_modes").label == "noisy modes"
    assert label("loss_d") == "loss_d"  # a method's own loss is shown under its own name
    with pytest.raises(KeyError, match="registered"):
        describe("nonsense")


def test_formats_and_objectives():
    assert METRICS["hq_pct"].format(91.234) == "91.2 %" and METRICS["modes"].format(8.0) == "8"
    assert METRICS["reverse_kl"].format(math.nan) == "n/a" and METRICS["reverse_kl"].format(None) == "n/a"
    assert {"modes", "hq_pct", "reverse_kl"} <= set(objectives()) and "n_modes" not in objectives()
