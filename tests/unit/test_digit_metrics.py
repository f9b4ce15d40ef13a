"""The shipped evaluation classifier and the MNIST / Stacked MNIST mode metrics on constructed inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from engine.config import DataConfig
from engine.evaluation import sample_metrics
from engine.metrics import classifier
from engine.metrics.digits import digit_figures, stacked_figures
from engine.registry import load_dataset


def flat(x: torch.Tensor) -> np.ndarray:
    return x.reshape(len(x), -1).numpy()


def test_the_shipped_accuracy_record_matches_the_shipped_weights():
    record = json.loads(classifier.RECORD.read_text())
    assert classifier.sha256(classifier.WEIGHTS) == record["weights_sha256"]
    test = load_dataset(DataConfig(name=record["data"]), "test")
    measured = classifier.accuracy(classifier.load_classifier(), test.x, test.labels)
    assert measured == pytest.approx(record["test_accuracy"], abs=1e-9)
    assert measured >= 0.985  # the bar, held out


def test_classify_is_the_shipped_network_with_its_batch_norms_folded():
    """The fused, channels-last trunk the metrics use gives the plain module's outputs, 32-px digits included."""
    test = load_dataset("mnist5k", "test")
    model = classifier.load_classifier()
    probs, features = classifier.classify(test.x)
    with torch.no_grad():
        expected = model.features(test.x)
        expected_probs = model.head(expected).softmax(1)
    assert torch.allclose(features, expected, atol=1e-4) and torch.equal(probs.argmax(1), expected_probs.argmax(1))
    assert not any(isinstance(layer, torch.nn.BatchNorm2d) for layer in classifier.inference_trunk())
    padded = torch.nn.functional.pad(test.x[:50], (2, 2, 2, 2), value=-1.0)  # 32 px, resized to 28 inside
    with torch.no_grad():
        assert torch.allclose(classifier.classify(padded)[1], model.features(padded), atol=1e-4)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(name="mnist5k", n_train=1000)), load_dataset("mnist5k", "test")


def test_real_digits_cover_ten_modes_and_one_repeated_digit_covers_one(digits):
    train, test = digits
    real, counts = digit_figures(flat(test.x), train)
    assert real["modes"] == 10 and real["reverse_kl"] < 0.01
    assert counts.sum() == len(test.x) and counts.min() > 0.08 * len(test.x)  # 50 of each digit, a few misread
    sevens = test.x[test.labels == 7]
    one_digit, counts = digit_figures(flat(sevens[:1].repeat(200, 1, 1, 1)), train)
    assert counts.tolist() == [0] * 7 + [200] + [0, 0]
    assert one_digit["modes"] == 1 and one_digit["reverse_kl"] > 1.5  # about log 10 = 2.3
    noise, _ = digit_figures(flat(torch.rand(500, 1, 28, 28) * 2 - 1), train)
    assert real["precision"] > 0.6 and real["coverage"] > 0.6
    assert noise["precision"] < 0.05 and noise["coverage"] < 0.05


def test_stacked_real_images_cover_nearly_all_triples_and_a_repeated_one_covers_one():
    cfg = DataConfig(name="stacked_mnist", source="mnist5k", n_train=500, n_test=3000)
    train, test = load_dataset(cfg), load_dataset(cfg, "test")
    real, counts = stacked_figures(flat(test.x), train)
    assert len(counts) == 1000 and counts.sum() == len(test.x) and (counts > 0).sum() == real["modes"]
    # 3,000 uniform draws reach 1000 (1 - e^-3) = 950 triples (sd about 7); classifier errors move a few
    assert real["modes"] > 920 and real["reverse_kl"] < 0.45
    repeated, counts = stacked_figures(flat(test.x[:1].repeat(300, 1, 1, 1)), train)
    assert counts.max() == 300
    assert repeated["modes"] == 1 and repeated["reverse_kl"] == pytest.approx(math.log(1000))


def test_digit_sets_evaluate_through_their_hook(digits):
    train, test = digits
    metrics = sample_metrics(flat(test.x[::2]), train)
    assert {"modes", "reverse_kl", "coverage", "mean_error"} <= set(metrics)


def test_evaluate_scores_a_sample_file_made_elsewhere(tmp_path, capsys, digits):
    from engine.__main__ import main

    _, test = digits
    path = tmp_path / "theirs.npy"
    np.save(path, torch.nn.functional.pad(test.x, (2, 2, 2, 2), value=-1.0).numpy())  # 32 px digits, all 500
    assert main(["evaluate", "--samples", str(path), "--data", "mnist5k", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 500 and result["modes"] == 10
    np.save(path, test.x[:10].numpy() * 3)
    assert main(["evaluate", "--samples", str(path), "--data", "mnist5k"]) == 2
    assert "mnist5k samples are N x 1 x 28 x 28 in [-1, 1]" in capsys.readouterr().err
    np.save(path, np.zeros((10, 5), dtype=np.float32))
    assert main(["evaluate", "--samples", str(path), "--data", "ring8"]) == 2
    assert "has shape (10, 5); ring8 samples are N x 2" in capsys.readouterr().err
