"""The data API: describe without loading, train and test splits, specs stored with a run, evaluation hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import ConfigError, DataConfig
from engine.data import DataSpec
from engine.data.synthetic import MixtureSource
from engine.evaluation import EVALUATORS, sample_metrics
from engine.registry import describe_data, load_dataset, resolve_config


def test_a_mixture_is_described_without_drawing_points(monkeypatch):
    def no_points(*args, **kwargs):
        raise AssertionError("describe drew points")

    spec = describe_data("grid25")
    monkeypatch.setattr(type(spec.mixture), "sample", no_points)
    spec = describe_data("grid25")
    assert (spec.kind, spec.shape, spec.metrics, spec.classes) == ("vector", (2,), "mixture", 25)
    assert spec.low < -4.0 and spec.high > 4.0  # the means' extent plus a margin


def test_train_and_test_splits_are_independent_draws_with_labels():
    cfg = DataConfig(name="ring8", n_train=500, n_test=300, seed=3)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert train.x.shape == (500, 2) and test.x.shape == (300, 2) and test.split == "test"
    assert torch.equal(load_dataset(cfg, "train").x, train.x)          # the data seed fixes the training set
    assert not torch.isin(test.x[:, 0], train.x[:, 0]).any()           # no test point is a training point
    assert train.labels.shape == (500,) and set(train.labels.tolist()) <= set(range(8))
    assert train.spec.to_dict() == describe_data(cfg).to_dict()


def test_a_users_file_has_only_a_training_split(tmp_path):
    path = tmp_path / "points.npy"
    np.save(path, np.random.default_rng(0).standard_normal((50, 3)))
    assert load_dataset(f"vectors:{path}").x.shape == (50, 3)
    with pytest.raises(ConfigError, match=f"data.name=vectors:{path}: .* only a training split"):
        load_dataset(f"vectors:{path}", "test")
    with pytest.raises(ConfigError, match="split='valid' must be one of train, test"):
        load_dataset("ring8", "valid")


def test_spec_round_trips_through_json():
    spec = DataSpec(name="i28", kind="image", shape=(1, 28, 28), low=-1.0, high=1.0, metrics="digits", classes=10)
    again = DataSpec.from_dict(spec.to_dict())
    assert again == spec and again.shape == (1, 28, 28)


def test_evaluation_follows_the_spec_hook_not_the_mixture():
    data = load_dataset(DataConfig(name="ring8", n_train=500))
    x = data.x[:300].numpy()
    assert "modes" in sample_metrics(x, data)
    data.spec.metrics = "vectors"   # the same points, described as plain vectors
    assert set(sample_metrics(x, data)) == set(EVALUATORS["vectors"](x, data).metrics)
    assert "modes" not in sample_metrics(x, data) and "coverage" in sample_metrics(x, data)


def test_a_run_opens_from_its_stored_spec_without_building_its_training_set(tmp_path, monkeypatch):
    from engine.trainer import RunFiles, load_run, train

    cfg = resolve_config("gan", "ring8", ["train.steps=3", "train.eval_every=3", "train.eval_samples=50",
                                          "model.batch_size=16", "data.n_train=200"])
    assert train(cfg, tmp_path / "run", use_mlflow=False).code == 0
    assert RunFiles(tmp_path / "run").spec.exists()

    def no_training_set(self, cfg, split):
        raise AssertionError("the training set was built")

    monkeypatch.setattr(MixtureSource, "load", no_training_set)
    _, spec, model, step = load_run(tmp_path / "run")
    assert step == 3 and spec.mixture is not None and spec.shape == (2,)
    assert model.sample(4).shape == (4, 2)
