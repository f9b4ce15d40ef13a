"""Frechet distance, Vendi and Inception plumbing on constructed feature sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import ConfigError, DataConfig
from engine.evaluation import feature_space, sample_metrics
from engine.metrics import features
from engine.registry import describe_data, load_dataset


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_noise():
    real = gaussian(2000, 16, 0)
    assert features.frechet_distance(real, real) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(1)
    distances = [features.frechet_distance(real, real + s * rng.standard_normal(real.shape)) for s in (0.1, 0.5, 1.0)]
    assert 0 < distances[0] < distances[1] < distances[2]
    # a shifted mean adds ||delta||^2: 16 dimensions shifted by 1 -> 16
    assert features.frechet_distance(real, real + 1.0) == pytest.approx(16.0, rel=1e-6)


def test_vendi_counts_distinct_directions():
    one = np.tile(np.eye(8)[:1], (100, 1))
    eight = np.tile(np.eye(8), (50, 1))
    assert features.vendi_score(one) == pytest.approx(1.0, abs=1e-6)
    assert features.vendi_score(eight) == pytest.approx(8.0, rel=1e-6)


def test_precision_and_recall_of_a_set_inside_half_the_data():
    real = gaussian(2000, 2, 0)
    half = real[real[:, 0] > 0]
    found = features.feature_metrics(real, half, seed=0)
    assert found["precision"] > 0.9 and found["recall"] < 0.65 and found["coverage"] < 0.6
    whole = features.feature_metrics(real, gaussian(2000, 2, 1), seed=0)
    assert whole["recall"] > 0.9 and whole["coverage"] > 0.9


def test_digit_sets_report_fd_and_vendi_in_the_classifier_space():
    train = load_dataset(DataConfig(name="mnist5k", n_train=600))
    test = load_dataset("mnist5k", "test")
    real = sample_metrics(test.x.reshape(len(test.x), -1).numpy(), train)
    sevens = test.x[test.labels == 7][:1].repeat(300, 1, 1, 1)
    one = sample_metrics(sevens.reshape(300, -1).numpy(), train)
    assert real["fd"] < one["fd"] and real["vendi"] > 3 * one["vendi"]
    assert "classifier" in feature_space(train.spec) and feature_space(describe_data("ring8")) == "data space"


class FakeInception(torch.nn.Module):
    """The TorchScript interface of inception-2015-12-05.pt: uint8 RGB images -> (n, 2048) with return_features."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 8).flatten(1)  # 3 x 64 = 192
        return pooled.repeat(1, 11)[:, :2048]


def test_other_image_sets_use_inception_only_with_user_weights(tmp_path, monkeypatch):
    folder = tmp_path / "pics"
    folder.mkdir()
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    data = load_dataset(DataConfig(name=f"images:{folder}", image_size=32, channels=3))
    x = data.x.reshape(len(data.x), -1).numpy()
    monkeypatch.delenv(features.INCEPTION_ENV, raising=False)
    assert "fd" not in sample_metrics(x, data) and "MODESCOPE_INCEPTION" in feature_space(data.spec)
    monkeypatch.setenv(features.INCEPTION_ENV, str(tmp_path / "missing.pt"))
    with pytest.raises(ConfigError, match="MODESCOPE_INCEPTION=.*missing.pt is not a file"):
        sample_metrics(x, data)
    weights = tmp_path / "inception.pt"
    torch.jit.script(FakeInception()).save(str(weights))
    monkeypatch.setenv(features.INCEPTION_ENV, str(weights))
    found = sample_metrics(x, data)
    assert found["fd"] == pytest.approx(0.0, abs=1e-3) and "Inception" in feature_space(data.spec)
