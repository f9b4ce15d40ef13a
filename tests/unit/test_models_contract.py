"""The shared contract every registered method keeps (style.md 4.8); each method adds its own maths tests."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.config import ConfigError, DataConfig, build_run_config
from engine.data import DataSpec
from engine.registry import MODELS, preset_sections

SPECS = {"2d": DataSpec(name="t2", kind="vector", shape=(2,), low=-1.0, high=1.0),
         "1200d": DataSpec(name="t1200", kind="vector", shape=(1200,), low=-30.0, high=30.0),
         "img28": DataSpec(name="i28", kind="image", shape=(1, 28, 28), low=-1.0, high=1.0),
         "img32": DataSpec(name="i32", kind="image", shape=(3, 32, 32), low=-1.0, high=1.0)}


def small_config(name: str):
    """The method's defaults with a small batch and narrow image nets so the contract runs fast."""
    return dataclasses.replace(MODELS[name].Config(), batch_size=16, conv_width=4)


def build(name: str, spec: DataSpec, seed: int = 0):
    torch.manual_seed(seed)
    return MODELS[name](small_config(name), spec)


def run_steps(model, spec: DataSpec, n: int = 3, seed: int = 0) -> list[dict[str, float]]:
    torch.manual_seed(seed)
    data = torch.randn(64, *spec.shape)
    return [model.train_step(data[torch.randint(64, (model.config.batch_size,))]) for _ in range(n)]


@pytest.mark.parametrize("spec", sorted(SPECS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_train_step_returns_finite_floats_under_stable_keys(name, spec):
    model = build(name, SPECS[spec])
    records = run_steps(model, SPECS[spec])
    keys = set(records[0])
    assert keys and all(set(r) == keys for r in records)
    assert all(isinstance(v, float) and torch.isfinite(torch.tensor(v)) for r in records for v in r.values())
    assert any(k.startswith("loss_") for k in keys)
    samples = model.sample(7)
    assert samples.shape == (7, *SPECS[spec].shape)
    if SPECS[spec].kind == "image":  # DCGAN's tanh output: the pixels' [-1, 1] (before any observation noise)
        assert model.mean_sample(7).abs().max() <= 1.0


ENCODERS = {"alpha_gan", "bms_vae_gan", "vae", "veegan"}
OBSERVATION_MODELS = {"presgan", "vae"}


@pytest.mark.parametrize("spec", ["2d", "img32"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_prior_decode_sample_and_the_optional_capabilities(name, spec):
    from engine.models.base import Encodes, ObservationModel

    shape = SPECS[spec].shape
    model = build(name, SPECS[spec])
    z = model.prior(5)
    assert z.shape == (5, model.latent_dim) and model.latent_dim == model.config.latent_dim
    assert model.decode(z).shape == (5, *shape)
    # decode is differentiable in z: the likelihood's encoder fit, MAP search and IvOM optimise codes through it
    z_leaf = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.decode(z_leaf).sum(), z_leaf)
    assert grad.abs().sum() > 0
    assert isinstance(model, Encodes) == (name in ENCODERS)
    assert isinstance(model, ObservationModel) == (name in OBSERVATION_MODELS)
    if isinstance(model, Encodes):
        assert model.encode(torch.randn(4, *shape)).shape == (4, model.latent_dim)
    # sample(n) is decode(prior(n)) plus the model's own noise; mean_sample(n) leaves observation noise out
    torch.manual_seed(1)
    noisy = model.sample(6)
    torch.manual_seed(1)
    mean = model.mean_sample(6)
    torch.manual_seed(1)
    decoded = model.decode(model.prior(6))
    if isinstance(model, ObservationModel):
        assert torch.equal(mean, decoded) and not torch.allclose(noisy, mean)
        sigma = model.observation_sigma()
        assert (noisy - mean).shape == (6, *shape) and torch.broadcast_shapes(sigma.shape, shape) == shape
    else:
        assert torch.equal(noisy, mean)
        assert torch.equal(mean, decoded) == (name != "veegan")  # VEEGAN's extra generator noise is its own


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_seed_gives_the_same_losses(name):
    first = run_steps(build(name, SPECS["2d"], seed=3), SPECS["2d"], seed=5)
    again = run_steps(build(name, SPECS["2d"], seed=3), SPECS["2d"], seed=5)
    other = run_steps(build(name, SPECS["2d"], seed=4), SPECS["2d"], seed=5)
    assert first == again
    assert first != other


@pytest.mark.parametrize("name", sorted(MODELS))
def test_checkpoint_round_trip_reproduces_samples(name, tmp_path):
    from engine.checkpoint import load_checkpoint, save_checkpoint

    model = build(name, SPECS["2d"])
    run_steps(model, SPECS["2d"])
    save_checkpoint(tmp_path / "c.pt", {"step": 3, "config": {}, "model": model.state_dict(), "rng": {},
                                        "optimizers": {k: o.state_dict() for k, o in model.optimizers().items()},
                                        "extra": model.extra_state()})
    restored = build(name, SPECS["2d"], seed=99)
    payload = load_checkpoint(tmp_path / "c.pt")
    restored.load_state_dict(payload["model"])
    restored.load_extra_state(payload["extra"])
    for key, opt in restored.optimizers().items():
        opt.load_state_dict(payload["optimizers"][key])
    torch.manual_seed(11)
    expected = model.sample(32)
    torch.manual_seed(11)
    assert torch.equal(restored.sample(32), expected)
    # the optimiser state came back too: one more identical step on both
    assert run_steps(model, SPECS["2d"], n=1, seed=8) == run_steps(restored, SPECS["2d"], n=1, seed=8)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bad_config_value_names_the_field(name):
    field = next(f for f in dataclasses.fields(MODELS[name].Config) if f.metadata.get("range"))
    low = field.metadata["range"][0]
    with pytest.raises(ConfigError, match=f"model.{field.name}"):
        build_run_config(MODELS, {"model_name": name, "model": {field.name: low - 1}})


PRESETS = [(name, dataset) for name in sorted(MODELS) for dataset in sorted(MODELS[name].PRESETS)]


@pytest.mark.parametrize(("name", "dataset"), PRESETS)
def test_every_preset_is_a_valid_config_that_trains_on_its_data_set(name, dataset):
    from engine.registry import describe_data, load_dataset

    sections = preset_sections(name, dataset)
    cfg = build_run_config(MODELS, {"model_name": name, "data": {"name": dataset}, **sections})
    for section, values in sections.items():
        assert all(getattr(getattr(cfg, section), key) == value for key, value in values.items())
    spec = describe_data(dataset)
    torch.manual_seed(0)
    if spec.kind == "image":  # mnist and cifar10 are not on this machine: their spec, random pixels, narrow nets
        x, model_cfg = torch.rand(32, *spec.shape) * 2 - 1, dataclasses.replace(cfg.model, conv_width=4)
    else:
        x, model_cfg = load_dataset(DataConfig(name=dataset, n_train=256)).x, cfg.model
    model = MODELS[name](dataclasses.replace(model_cfg, batch_size=min(cfg.model.batch_size, 32)), spec)
    record = model.train_step(x[:model.config.batch_size])
    assert all(torch.isfinite(torch.tensor(v)) for v in record.values())
