"""Search spaces: built from config metadata, presets that fit their methods, constraints by construction."""

from __future__ import annotations

import json

import optuna
import pytest

from engine.config import ConfigError
from engine.registry import MODELS, resolve_config
from studies.presets import PRESETS, preset_space
from studies.spaces import Space, check, default_space, narrow, read_study_file


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_a_valid_space_for_its_methods(name):
    fits = PRESETS[name].fits or ["presgan", "gan"]
    space = preset_space(name, list(fits) if PRESETS[name].fits is None else [fits[0]])
    check(fits[0], space)
    assert Space.from_json(json.loads(json.dumps(space.to_json()))) == space  # stored with the study as JSON


def test_a_preset_for_another_method_is_refused_by_name():
    with pytest.raises(ConfigError, match="--preset bms-T is for bms_vae_gan, not presgan"):
        preset_space("bms-T", ["presgan"])
    with pytest.raises(ConfigError, match="--preset nope is not a study preset"):
        preset_space("nope", ["presgan"])


@pytest.mark.parametrize("scale", [0.01, 1.0])  # ring8's and hd1200's component std
def test_sigma_bounds_hold_by_construction_over_many_trials_and_follow_the_data_scale(scale):
    space = preset_space("presgan-lambda", ["presgan"])
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(300):
        trial = study.ask()
        values = space.sample(trial, scale)
        assert values["model.sigma_min"] < values["model.sigma_max"]
        assert 0.5 * scale <= values["model.sigma_max"] <= 8 * scale
        resolve_config("presgan", "ring8", [f"{k}={v}" for k, v in values.items()])  # a valid config
        study.tell(trial, 0.0)


def test_the_default_space_is_every_searchable_field():
    space = default_space("bms_vae_gan")
    keys = {d.key for d in space.dimensions}
    assert {"model.num_samples", "model.recon_weight", "model.recon_loss"} <= keys
    check("bms_vae_gan", space)


def test_a_study_file_narrows_the_space_and_bad_ranges_name_the_field(tmp_path):
    good = tmp_path / "s.yaml"
    good.write_text("params:\n  entropy_weight: {low: 0.001, high: 0.1, log: true}\n  hmc_gradient: default\n"
                    "fixed:\n  batch_size: 64\n")
    space = read_study_file(good, "presgan")
    assert [d.key for d in space.dimensions] == ["model.entropy_weight", "model.hmc_gradient"]
    assert space.fixed == {"model.batch_size": 64}
    with pytest.raises(ConfigError, match="entropy_weight.*valid range"):
        narrow("presgan", {"params": {"entropy_weight": {"low": 0.1, "high": 500}}})
    with pytest.raises(ConfigError, match="model.nope is not a field"):
        narrow("presgan", {"params": {"nope": {"low": 0.1, "high": 1}}})
    with pytest.raises(ConfigError, match="relative_to"):
        narrow("presgan", {"params": {"sigma_min": {"low": 0.1, "high": 0.5, "relative_to": "model.sigma_max"}}})
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=f"study file {bad} cannot be read"):
        read_study_file(bad, "presgan")


def test_compare_is_a_grid_over_methods_and_seeds():
    space = preset_space("compare", ["gan", "presgan"])
    assert space.sampler == "grid" and space.grid["method"] == ["gan", "presgan"]
    assert space.methods("gan") == ["gan", "presgan"]
    assert set(MODELS) >= set(space.methods("gan"))


def test_the_data_scale_is_the_mixture_std_or_an_estimate_within_a_factor_two_of_it(tmp_path):
    import numpy as np

    from engine.data import data_scale
    from engine.data.synthetic import MIXTURES
    from engine.registry import load_dataset

    assert data_scale(load_dataset("ring8")) == (0.01, "the mixture's component std")
    for name in ("ring8", "grid25", "ring10"):
        x, _ = MIXTURES[name]().sample(20_000, seed=0)
        np.save(tmp_path / f"{name}.npy", x)
        estimate, how = data_scale(load_dataset(f"vectors:{tmp_path / f'{name}.npy'}"))
        std = MIXTURES[name]().std
        assert std / 2 < estimate < 2 * std and "estimated" in how, (name, estimate)
