"""Latent and sample maps: generated points placed on the real points' embedding show the dropped modes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.analysis import load_result, result_key, save_result
from engine.config import ConfigError, DataConfig
from engine.latent import latent_map
from engine.models.base import GenerativeModel
from engine.registry import load_dataset


class HalfTheModes(GenerativeModel):
    """A stand-in generator whose samples are real draws from ring8's modes 0-3 only (a collapsed model)."""

    def __init__(self, data):
        super().__init__(None, data.spec)
        self.weight = torch.nn.Parameter(torch.zeros(1))  # a parameter, so .device works
        keep = data.labels < 4
        self.pool = data.x[keep]

    @property
    def latent_dim(self) -> int:
        return 1

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.pool[torch.arange(len(z)) % len(self.pool)]


@pytest.fixture(scope="module")
def ring8():
    return load_dataset(DataConfig(name="ring8", n_train=4000))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_generated_points_land_on_the_modes_they_cover(ring8, method):
    found = latent_map(HalfTheModes(ring8), ring8, method=method, space="data", n=600, seed=0)
    assert found.real.shape == (600, 2) and found.generated.shape == (600, 2)
    assert set(found.generated_labels) == {0, 1, 2, 3}  # coloured by nearest true mode
    # each generated point's nearest real point on the map belongs to a covered mode: the others stay empty
    distances = np.linalg.norm(found.generated[:, None] - found.real[None], axis=2)
    neighbour_labels = found.real_labels[distances.argmin(axis=1)]
    assert np.mean(neighbour_labels < 4) > 0.97 and set(found.real_labels) == set(range(8))
    assert found.feature_space == "data space" and set(found.seconds) == {"points", "fit", "place"}


def test_the_latent_space_needs_an_encoder(ring8):
    with pytest.raises(ConfigError, match="--space latent needs a model that encodes; HalfTheModes does not"):
        latent_map(HalfTheModes(ring8), ring8, space="latent", n=50)


def test_an_encoder_maps_real_codes_beside_prior_draws(ring8):
    from engine.registry import MODELS

    cfg = MODELS["vae"].Config(latent_dim=3, batch_size=16)
    found = latent_map(MODELS["vae"](cfg, ring8.spec), ring8, method="pca", space="latent", n=200)
    assert found.real.shape == (200, 2) and found.generated.shape == (200, 2) and "latent codes" in found.feature_space


def test_a_result_is_cached_by_analysis_step_and_options(tmp_path):
    arrays = {"real": np.arange(6.0).reshape(3, 2)}
    save_result(tmp_path, "latent-map", 100, {"method": "pca"}, {"seconds": {"fit": 1.0}}, arrays)
    summary, loaded = load_result(tmp_path, "latent-map", 100, {"method": "pca"})
    assert summary["seconds"] == {"fit": 1.0} and np.array_equal(loaded["real"], arrays["real"])
    assert load_result(tmp_path, "latent-map", 100, {"method": "tsne"}) is None  # other options, other key
    assert load_result(tmp_path, "latent-map", 200, {"method": "pca"}) is None  # other step
    assert result_key("a", 1, {"x": 1, "y": 2}) == result_key("a", 1, {"y": 2, "x": 1})


def test_latent_map_command_saves_then_reads_the_cached_map(home, tmp_path, capsys):
    from engine.__main__ import main
    from tests.conftest import run_engine

    run_dir = tmp_path / "run"
    done = run_engine("train", "--model", "gan", "--data", "ring8", "--steps", "20", "--set", "train.threads=1",
                      "--set", "train.eval_samples=200", "--no-mlflow", "--out", str(run_dir))
    assert done.returncode == 0, done.stderr
    args = ["latent-map", "--run", str(run_dir), "--method", "pca", "--points", "300", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["cached"] is False and first["step"] == 20 and first["real"] == 300
    assert main(args) == 0 and json.loads(capsys.readouterr().out)["cached"] is True
    import engine.trainer

    def no_model(*_, **__):
        raise AssertionError("a cached result was asked for: the model must not be built")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine.trainer, "load_run", no_model)
        for request in (args, [*args, "--step", "20"]):
            assert main(request) == 0 and json.loads(capsys.readouterr().out)["cached"] is True
    assert main([*args, "--step", "10"]) == 2
    err = capsys.readouterr().err
    assert "--step 10: run" in err and "no weights at that step (kept: 20)" in err


def test_real_digit_features_are_kept_on_disk_by_content(home, monkeypatch):
    import engine.latent as latent

    data = load_dataset(DataConfig(name="mnist5k", n_train=500))
    first = latent.real_features(data.x[:40], data)
    saved = list((home / "var" / "cache" / "features").glob("digits-*.npz"))
    assert len(saved) == 1 and first[0].shape == (40, 128) and "digit-classifier" in first[2]

    def no_classifier(*_):
        raise AssertionError("the saved features were not read")

    with monkeypatch.context() as patch:
        patch.setattr(latent, "_features", no_classifier)
        again = latent.real_features(data.x[:40], data)
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1]) and again[2] == first[2]
    other = latent.real_features(data.x[40:60], data)  # other examples, another key
    assert other[0].shape == (20, 128) and len(list(saved[0].parent.glob("digits-*.npz"))) == 2


def test_the_exact_neighbour_map_is_openTSNEs_own_and_skips_pynndescent():
    """Our affinities over an exact index give openTSNE's neighbors="exact" embedding bit for bit, without the
    pynndescent import (1.9 s per process) openTSNE's own path makes first."""
    import subprocess
    import sys

    script = (
        "import sys, numpy as np\n"
        "from engine.latent import embed\n"
        "x = np.random.default_rng(0).normal(size=(1200, 60))\n"
        "real, placed, _ = embed(x[:1000], x[1000:], 'tsne', seed=3)\n"
        "print('pynndescent' in sys.modules)\n"
        "from openTSNE import TSNE\n"
        "from engine.latent import TSNE_INTS_IN_INTERVAL, TSNE_ITERATIONS\n"
        "from sklearn.decomposition import PCA\n"
        "pca = PCA(n_components=50, random_state=3).fit(x[:1000])\n"
        "theirs = TSNE(n_components=2, random_state=3, neighbors='exact', negative_gradient_method='fft',\n"
        "              ints_in_interval=TSNE_INTS_IN_INTERVAL, **TSNE_ITERATIONS).fit(pca.transform(x[:1000]))\n"
        "their_placed = theirs.transform(pca.transform(x[1000:]))  # it also shifts the reference: compare after\n"
        "print(float(max(np.abs(np.asarray(theirs) - real).max(), np.abs(their_placed - placed).max())))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "0.0"]
