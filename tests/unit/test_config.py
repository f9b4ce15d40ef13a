"""Config validation, overrides and exact round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.config import ConfigError, apply_overrides, build_run_config, read_config_file
from engine.registry import MODELS


def base(**sections) -> dict:
    return {"model_name": "gan", **sections}


@pytest.mark.parametrize("raw, field", [
    (base(model={"lr_g": -1}), "model.lr_g"),
    (base(model={"lr_d": 5.0}), "model.lr_d"),
    (base(model={"latent_dim": 0}), "model.latent_dim"),
    (base(model={"latent_dim": 2.5}), "model.latent_dim"),
    (base(model={"batch_size": "many"}), "model.batch_size"),
    (base(model={"activation": "swish"}), "model.activation"),
    (base(model={"beta1": 1.0}), "model.beta1"),
    (base(model={"no_such": 1}), "model.no_such"),
    (base(train={"steps": 0}), "train.steps"),
    (base(train={"device": "tpu"}), "train.device"),
    (base(train={"eval_every": -5}), "train.eval_every"),
    (base(train={"threads": 1000}), "train.threads"),
    (base(data={"n_train": 5}), "data.n_train"),
    (base(data={"colour": 1}), "data.colour"),
    ({"model_name": "gann"}, "model_name"),
    ({"model_name": "gan", "extra": {}}, "extra"),
])
def test_each_invalid_value_names_its_field(raw, field):
    with pytest.raises(ConfigError) as info:
        build_run_config(MODELS, raw)
    message = str(info.value)
    assert field in message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(MODELS))
def test_json_and_yaml_round_trip_exactly(tmp_path, name):
    cfg = build_run_config(MODELS, apply_overrides({"model_name": name},
                                                   ["train.steps=123", "data.name=grid25", "model.lr_g=0.00025"]))
    for suffix in (".json", ".yaml"):
        path = tmp_path / f"config{suffix}"
        cfg.save(path)
        again = build_run_config(MODELS, read_config_file(path))
        assert again == cfg
        assert again.to_dict() == cfg.to_dict()
    assert cfg.train.steps == 123 and cfg.model.lr_g == 0.00025 and cfg.data.name == "grid25"


def test_overrides_are_typed_and_bad_ones_are_errors():
    cfg = build_run_config(MODELS, apply_overrides({"model_name": "gan"}, ["model.latent_dim=8", "train.seed=4"]))
    assert cfg.model.latent_dim == 8 and isinstance(cfg.model.latent_dim, int)
    with pytest.raises(ConfigError, match="latent_dim"):
        apply_overrides({}, ["latent_dim=8"])
    with pytest.raises(ConfigError, match="model.latent_dim"):
        build_run_config(MODELS, apply_overrides({"model_name": "gan"}, ["model.latent_dim=eight"]))
    with pytest.raises(ConfigError, match="optim"):
        apply_overrides({}, ["optim.lr=1"])


def test_broken_config_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"model_name": "gan", "model": {')
    with pytest.raises(ConfigError, match="broken.json"):
        read_config_file(path)
    with pytest.raises(ConfigError, match="missing.yaml"):
        read_config_file(tmp_path / "missing.yaml")


def test_flat_params_cover_every_field():
    cfg = build_run_config(MODELS, {"model_name": "gan"})
    flat = cfg.flat()
    for section in ("data", "model", "train"):
        for f in dataclasses.fields(getattr(cfg, section)):
            assert f"{section}.{f.name}" in flat
    json.dumps(flat)


def test_resolve_config_layers_defaults_preset_file_and_sets_in_that_order():
    from engine.registry import MODELS, preset_sections, resolve_config

    with_preset = resolve_config("presgan", "ring8")
    ring8 = preset_sections("presgan", "ring8")
    assert with_preset.model.batch_size == ring8["model"]["batch_size"] != MODELS["presgan"].Config().batch_size
    assert with_preset.train.lr_decay_start == ring8["train"]["lr_decay_start"]
    plain = resolve_config("presgan", "ring8", preset=False)
    assert plain.model.batch_size == MODELS["presgan"].Config().batch_size and plain.train.lr_decay_start == 1.0
    from_file = resolve_config("presgan", "ring8", base={"model": {"batch_size": 32}})
    assert from_file.model.batch_size == 32 and from_file.model.sigma_max == ring8["model"]["sigma_max"]
    both = resolve_config("presgan", "ring8", ["model.batch_size=16", "model.batch_size=8"],
                          base={"model": {"batch_size": 32}})
    assert both.model.batch_size == 8 and both.data.name == "ring8"


def test_resolve_config_errors_name_the_field():
    from engine.registry import resolve_config

    with pytest.raises(ConfigError, match="model.sigma_min"):
        resolve_config("presgan", "ring8", ["model.sigma_min=0.5"])
    with pytest.raises(ConfigError, match="model_name"):
        resolve_config("nope", "ring8")
    with pytest.raises(ConfigError, match="data must be a mapping"):
        resolve_config("gan", "ring8", base={"data": [1]})


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_search_range_of_every_registered_config_keeps_the_contract(name):
    from engine.config import search_ranges

    ranges = search_ranges(MODELS[name].Config)  # raises ConfigError on a broken declaration
    assert ranges, f"{name} declares nothing to search"
    for f in dataclasses.fields(MODELS[name].Config):
        r = ranges.get(f.name)
        if r is None:
            continue
        valid, choices = f.metadata.get("range"), f.metadata.get("choices")
        if r.kind == "categorical":
            assert set(r.choices) <= set(choices) and len(r.choices) >= 2
        else:
            assert r.low < r.high and (valid is None or valid[0] <= r.low and r.high <= valid[1]), f.name
            assert not r.log or r.low > 0
    assert any(r.kind == "categorical" for r in ranges.values()), "activations are searchable"


def test_presgan_hmc_gradient_and_bms_recon_loss_are_searchable():
    from engine.config import search_ranges

    assert search_ranges(MODELS["presgan"].Config)["hmc_gradient"].choices == ("full", "prior")
    assert search_ranges(MODELS["bms_vae_gan"].Config)["recon_loss"].choices == ("l1", "l2")
    assert search_ranges(MODELS["bms_vae_gan"].Config)["num_samples"].kind == "int"


@pytest.mark.parametrize("kind, default, meta, needle", [
    ("float", 0.1, dict(range=(0.0, 1.0), search=(0.0, 2.0, "linear")), "valid range"),
    ("float", 0.1, dict(range=(0.0, 1.0), search=(0.0, 0.5, "log")), "low > 0"),
    ("float", 0.1, dict(range=(0.0, 1.0), search=(0.5, 0.1, "linear")), "low < high"),
    ("float", 0.1, dict(search=(0.1, 0.5, "exp")), "one of log, linear, int"),
    ("float", 0.1, dict(search=(0.1, 0.5)), "one of log, linear, int"),
    ("float", 0.1, dict(search=(1, 5, "int")), "does not fit a float field"),
    ("int", 2, dict(search=(1.5, 5, "linear")), "whole bounds"),
    ("str", "a", dict(choices=("a", "b"), search=("a", "c")), "two or more of"),
])
def test_a_broken_search_declaration_is_an_error_naming_the_field(kind, default, meta, needle):
    from engine.config import Section, param, search_ranges

    cls = dataclasses.make_dataclass("Bad", [("knob", kind, param(default, **meta))], bases=(Section,))
    with pytest.raises(ConfigError, match=f"search range of knob.*{needle}"):
        search_ranges(cls)
