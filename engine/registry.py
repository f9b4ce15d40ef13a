"""The only place methods and data sets are named. Everything else looks them up here."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from engine.config import ConfigError, DataConfig, RunConfig, apply_overrides, build_run_config
from engine.data import Dataset, DataSource, DataSpec
from engine.data.images import (FolderSource, ImbalancedSource, LabelledSource, StackedSource, cifar10_arrays,
                                mnist5k_arrays, mnist_arrays)
from engine.data.synthetic import MIXTURES, MixtureSource
from engine.data.vectors import VectorFileSource
from engine.models.alpha_gan import AlphaGAN
from engine.models.bms_vae_gan import BMSVAEGAN
from engine.models.gan import GAN
from engine.models.presgan import PresGAN
from engine.models.pacgan import PacGAN
from engine.models.vae import VAE
from engine.models.veegan import VEEGAN

MODELS = {
    "gan": GAN,
    "alpha_gan": AlphaGAN,
    "bms_vae_gan": BMSVAEGAN,
    "presgan": PresGAN,
    "veegan": VEEGAN,
    "pacgan": PacGAN,
    "vae": VAE,
}

# data set name -> its source (engine.data.DataSource: describe without loading, load a split)
DATASETS: dict[str, DataSource] = {
    **{name: MixtureSource(name) for name in MIXTURES},
    "mnist": LabelledSource("mnist", mnist_arrays, 1, 28, "digits"),
    "mnist5k": LabelledSource("mnist5k", mnist5k_arrays, 1, 28, "digits"),
    "stacked_mnist": StackedSource(),
    "imbalanced_mnist": ImbalancedSource(),
    "cifar10": LabelledSource("cifar10", cifar10_arrays, 3, 32, "images"),
}

# "scheme:ARG" data names -> the source that reads ARG
DATA_SCHEMES: dict[str, DataSource] = {
    "vectors": VectorFileSource(),
    "images": FolderSource(),
}


def data_names() -> list[str]:
    """Every data name a user can give: the registered sets, then one "scheme:ARGUMENT" per scheme."""
    return [*DATASETS, *(f"{scheme}:{source.argument}" for scheme, source in DATA_SCHEMES.items())]


def data_source(name: str) -> DataSource:
    """The source of a data name ("ring8" or "vectors:PATH"); unknown names are ConfigErrors."""
    if name in DATASETS:
        return DATASETS[name]
    scheme, sep, _ = name.partition(":")
    if sep and scheme in DATA_SCHEMES:
        return DATA_SCHEMES[scheme]
    known = ", ".join(data_names())
    raise ConfigError(f"data.name={name!r} is not a known dataset ({known})")


def data_fields(name: str) -> list[str]:
    """The DataConfig fields the named data set reads (every field while the name is not yet a known one)."""
    try:
        return list(data_source(name).fields)
    except ConfigError:
        return [f.name for f in dataclasses.fields(DataConfig) if f.name != "name"]


def _data_config(data: DataConfig | str) -> DataConfig:
    return DataConfig(name=data) if isinstance(data, str) else data


def describe_data(data: DataConfig | str) -> DataSpec:
    """What a data set is (kind, shape, value range, classes, metrics, modes) without building its splits."""
    cfg = _data_config(data)
    return data_source(cfg.name).describe(cfg)


def load_dataset(data: DataConfig | str, split: str = "train") -> Dataset:
    """One split of the data set a DataConfig (or a bare name, with the default sizes) names."""
    cfg = _data_config(data)
    return data_source(cfg.name).load(cfg, split)


def preset_sections(method: str, dataset: str) -> dict[str, dict]:
    """A method's preset for a data set as config sections {"model": {...}, "train": {...}}.

    PRESETS entries name model fields plainly and loop fields as "train.NAME" (a learning-rate schedule
    belongs to the loop, which every method shares)."""
    sections: dict[str, dict] = {"model": {}, "train": {}}
    for key, value in MODELS[method].PRESETS.get(dataset, {}).items():
        section, _, name = key.rpartition(".")
        sections[section or "model"][name] = value
    return sections


def preset_train_fields() -> list[str]:
    """The loop fields some preset sets: a form resets them when the method or the data set changes."""
    return sorted({name for method, cls in MODELS.items() for dataset in cls.PRESETS
                   for name in preset_sections(method, dataset)["train"]})


def resolve_config(method: str, data: str, sets: Iterable[str] = (), *, preset: bool = True,
                   base: dict | None = None) -> RunConfig:
    """The validated run config of `method` on `data`, the one way every caller (CLI, bench, Train page,
    studies) builds it: field defaults, then the method's preset for the data set (when `preset`), then
    `base` (a config file's sections), then `sets` ("section.field=value", later ones win)."""
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or {}).items()}
    raw["model_name"] = method
    if not isinstance(raw.setdefault("data", {}), dict):
        return build_run_config(MODELS, raw)  # raises: the section must be a mapping
    raw["data"]["name"] = data
    if preset and method in MODELS:
        for section, values in preset_sections(method, data).items():
            raw[section] = {**values, **raw.get(section, {})}
    return build_run_config(MODELS, apply_overrides(raw, list(sets)))
