"""Reconstructions, IvOM and interpolations (engine.reconstruct, issue 12)."""

from __future__ import annotations

import dataclasses
import json

import torch

from engine.data import DataSpec
from engine.reconstruct import interpolate, ivom, reconstruct, squared_error
from engine.registry import MODELS

IMAGES = DataSpec(name="i", kind="image", shape=(1, 8, 8), low=-1.0, high=1.0)
VECTORS = DataSpec(name="v", kind="vector", shape=(5,), low=-3.0, high=3.0)


def build(name: str, spec: DataSpec, **fields):
    torch.manual_seed(0)
    return MODELS[name](dataclasses.replace(MODELS[name].Config(), latent_dim=4, **fields), spec)


def test_ivom_recovers_targets_the_generator_can_make():
    model = build("gan", VECTORS).train(False)
    with torch.no_grad():
        targets = model.decode(model.prior(12))
        unrelated = model.decode(model.prior(12))
    _, fitted, errors = ivom(model, targets, iterations=100)
    before = squared_error(unrelated, targets, VECTORS)
    assert errors.shape == (12,) and torch.allclose(squared_error(fitted, targets, VECTORS), errors)
    assert errors.mean() < 0.01 * before.mean()
    assert all(p.requires_grad for p in model.parameters())  # the weights are frozen only while fitting


def test_more_restarts_never_do_worse():
    model = build("gan", VECTORS).train(False)
    targets = torch.randn(20, 5)
    one = ivom(model, targets, iterations=5, restarts=1)[2]
    three = ivom(model, targets, iterations=5, restarts=3)[2]  # the first start is the same draw
    assert (three <= one + 1e-6).all()


def test_image_errors_are_on_the_unit_range():
    x, y = torch.full((2, 1, 8, 8), -1.0), torch.full((2, 1, 8, 8), 1.0)
    assert torch.allclose(squared_error(x, y, IMAGES), torch.ones(2))  # [-1, 1] -> [0, 1]: a full-range gap is 1
    assert torch.allclose(squared_error(x[:, 0, 0, :5], y[:, 0, 0, :5], VECTORS), torch.full((2,), 4.0))


def test_reconstruction_and_interpolation_paths():
    vae = build("vae", VECTORS).train(False)
    x = torch.randn(6, 5)
    assert reconstruct(vae, x).shape == x.shape
    start, end = torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, 1.0, 0, 0])
    for path in ("linear", "spherical"):
        decoded = interpolate(vae, start, end, steps=5, path=path)
        assert decoded.shape == (5, 5)
        assert torch.allclose(decoded[0], vae.decode(start[None])[0], atol=1e-5)
        assert torch.allclose(decoded[-1], vae.decode(end[None])[0], atol=1e-5)
    # the spherical path keeps the norm of equal-norm ends; the linear one dips to 1 / sqrt(2) halfway
    gan = build("gan", VECTORS)
    captured = []
    gan.decode = lambda z: captured.append(z) or z
    interpolate(gan, start, end, 3, "spherical")
    interpolate(gan, start, end, 3, "linear")
    assert abs(captured[0][1].norm().item() - 1.0) < 1e-5 and abs(captured[1][1].norm().item() - 0.5**0.5) < 1e-5


def test_reconstruct_and_ivom_commands(tmp_path, capsys):
    from engine.__main__ import main

    run = tmp_path / "run"
    assert main(["train", "--model", "alpha_gan", "--data", "grid25", "--steps", "20", "--set", "train.threads=1",
                 "--no-mlflow", "--out", str(run)]) == 0
    capsys.readouterr()
    args = ["reconstruct", "--run", str(run), "--points", "8", "--iterations", "5", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["encodes"] and out["example_codes"] == "encode(x)" and not out["cached"]
    assert out["ivom_mean"] >= 0 and out["reconstruction_mean"] >= 0
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["cached"]
    from engine.analysis import arrays_of, saved_results

    saved = saved_results(run, "reconstructions")
    arrays = arrays_of(run, saved[0]["key"])
    assert arrays["x"].shape == arrays["ivom"].shape == arrays["reconstruction"].shape == (8, 2)
    assert arrays["between_prior_draws_spherical"].shape == (8, 2)
    assert main(["evaluate", "--run", str(run), "--ivom", "--ivom-targets", "10", "--ivom-iterations", "5",
                 "--json"]) == 0
    figure = json.loads(capsys.readouterr().out)
    assert figure["targets"] == 10 and figure["ivom_mean"] >= 0 and "VEEGAN" in figure["published"]
