"""Search spaces built from config metadata (engine.config.search_ranges), narrowed or fixed by a named
preset (studies/presets.py) or a study file (YAML/JSON).

A space is a list of dimensions, each one Optuna parameter setting one config key. A dimension may be
relative: `relative_to="scale"` multiplies the sampled value by the data's scale (engine.data.data_scale),
`relative_to="model.sigma_max"` by another dimension's value, so cross-field constraints (sigma_min below
sigma_max) hold by construction. The config values a trial ran with are recorded in its user attributes.
The whole space is plain JSON, stored with the study, so every worker rebuilds the same space.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import ConfigError, read_mapping_file, search_ranges
from engine.registry import MODELS

METHOD_KEY = "model_name"


@dataclass
class Dimension:
    """One Optuna parameter `name` that sets config key `key` ("model.entropy_weight", "train.seed" or
    "model_name"): numbers in [low, high] (log-spaced when `log`, whole when `kind` is "int"), or choices."""

    name: str
    key: str
    kind: str = "float"                 # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list | None = None
    relative_to: str | None = None      # "scale" or the key of an earlier dimension

    def distribution(self):
        import optuna.distributions as d

        if self.kind == "categorical":
            return d.CategoricalDistribution(self.choices)
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        return d.FloatDistribution(self.low, self.high, log=self.log)

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, self.choices)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


@dataclass
class Space:
    """Dimensions to sample, fixed `sets` every trial gets, and the sampler that suits them."""

    dimensions: list[Dimension]
    fixed: dict[str, Any] = field(default_factory=dict)   # config key -> value
    sampler: str = "tpe"                                  # "tpe" or "grid"
    grid: dict[str, list] | None = None                   # parameter name -> values, for "grid"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict) -> Space:
        return cls(dimensions=[Dimension(**d) for d in raw["dimensions"]], fixed=dict(raw.get("fixed", {})),
                   sampler=raw.get("sampler", "tpe"), grid=raw.get("grid"))

    def methods(self, default: str) -> list[str]:
        """The methods trials of this space train (several when the method is itself a dimension)."""
        for d in self.dimensions:
            if d.key == METHOD_KEY:
                return list(d.choices)
        return [self.fixed.get(METHOD_KEY, default)]

    def sample(self, trial, scale: float) -> dict[str, Any]:
        """Config key -> value for one trial, relative dimensions resolved, fixed keys added."""
        values: dict[str, Any] = {}
        for d in self.dimensions:
            value = d.suggest(trial)
            if d.relative_to == "scale":
                value = value * scale
            elif d.relative_to is not None:
                value = value * values[d.relative_to]
            values[d.key] = value
        return {**self.fixed, **values}


def default_space(method: str) -> Space:
    """Every field of the method's config that declares a search range, with that range."""
    dims = []
    for name, r in search_ranges(MODELS[method].Config).items():
        dims.append(Dimension(name=name, key=f"model.{name}", kind=r.kind, low=r.low, high=r.high, log=r.log,
                              choices=list(r.choices) if r.choices else None))
    return Space(dimensions=dims)


def narrow(method: str, spec: dict) -> Space:
    """A space from a study file's mapping: `params` (name -> {low, high, log} | {choices} | "default" for the
    field's declared range, with optional `relative_to`), `fixed` (key -> value) and `sampler`.

    Names are config keys ("entropy_weight" means "model.entropy_weight"); every name must be a field of the
    method (or a train field, "train.NAME"), and every range must lie inside the field's valid range."""
    if not isinstance(spec, dict) or not isinstance(spec.get("params", {}), dict):
        raise ConfigError("study file: expected a mapping with a `params` mapping")
    unknown = sorted(set(spec) - {"params", "fixed", "sampler", "grid"})
    if unknown:
        raise ConfigError(f"study file: {unknown[0]} is not a known section (params, fixed, sampler, grid)")
    declared = {f"model.{n}": r for n, r in search_ranges(MODELS[method].Config).items()}
    dims = [_dimension(method, name, entry, declared) for name, entry in spec.get("params", {}).items()]
    fixed = {_key(name): value for name, value in (spec.get("fixed") or {}).items()}
    space = Space(dimensions=dims, fixed=fixed, sampler=spec.get("sampler", "tpe"), grid=spec.get("grid"))
    check(method, space)
    return space


def _key(name: str) -> str:
    return name if "." in name or name == METHOD_KEY else f"model.{name}"


def _dimension(method: str, name: str, entry: Any, declared: dict) -> Dimension:
    key = _key(name)
    if entry == "default":
        if key not in declared:
            raise ConfigError(f"study file: params.{name} declares no default search range for {method}")
        r = declared[key]
        return Dimension(name=name, key=key, kind=r.kind, low=r.low, high=r.high, log=r.log,
                         choices=list(r.choices) if r.choices else None)
    if not isinstance(entry, dict):
        raise ConfigError(f"study file: params.{name} must be a mapping ({{low, high, log}} or {{choices}})")
    if "choices" in entry:
        return Dimension(name=name, key=key, kind="categorical", choices=list(entry["choices"]))
    try:
        low, high = float(entry["low"]), float(entry["high"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"study file: params.{name} needs numeric low and high") from None
    kind = entry.get("kind") or ("int" if _field_type(method, key) == "int" else "float")
    return Dimension(name=name, key=key, kind=kind, low=low, high=high, log=bool(entry.get("log", False)),
                     relative_to=entry.get("relative_to"))


def _field_type(method: str, key: str) -> str | None:
    from engine.config import TrainConfig

    section, _, name = key.partition(".")
    cls = {"model": MODELS[method].Config, "train": TrainConfig}.get(section)
    for f in dataclasses.fields(cls) if cls else ():
        if f.name == name:
            return f.type if isinstance(f.type, str) else f.type.__name__
    return None


def check(method: str, space: Space) -> None:
    """Every key names a field of the method (or a loop field), every range is well formed and, for absolute
    dimensions, inside the field's valid range; relative dimensions refer to "scale" or an earlier one."""
    from engine.config import TrainConfig

    seen: set[str] = set()
    for d in space.dimensions:
        where = f"search space: {d.name}"
        if d.key != METHOD_KEY:
            section, _, name = d.key.partition(".")
            classes = [MODELS[m].Config for m in space.methods(method)] if section == "model" else [TrainConfig]
            for cls in classes:
                fields = {f.name: f for f in dataclasses.fields(cls)}
                if section not in ("model", "train") or name not in fields:
                    raise ConfigError(f"{where}: {d.key} is not a field of {cls.__name__}")
                valid, allowed = fields[name].metadata.get("range"), fields[name].metadata.get("choices")
                if d.kind == "categorical" and allowed is not None and not set(d.choices) <= set(allowed):
                    raise ConfigError(f"{where}: choices {d.choices} must be among {list(allowed)}")
                if d.kind == "categorical" and valid is not None and allowed is None \
                        and not all(valid[0] <= c <= valid[1] for c in d.choices):
                    raise ConfigError(f"{where}: choices {d.choices} leave {d.key}'s valid range "
                                      f"[{valid[0]}, {valid[1]}]")
                if d.kind != "categorical" and d.relative_to is None and valid is not None \
                        and not (valid[0] <= d.low and d.high <= valid[1]):
                    raise ConfigError(f"{where}: [{d.low}, {d.high}] leaves {d.key}'s valid range "
                                      f"[{valid[0]}, {valid[1]}]")
        elif not set(d.choices) <= set(MODELS):
            raise ConfigError(f"{where}: {d.choices} must be registered methods ({', '.join(MODELS)})")
        if d.kind == "categorical":
            if not d.choices:
                raise ConfigError(f"{where}: needs at least one choice")
        elif not (d.low < d.high) or (d.log and d.low <= 0):
            raise ConfigError(f"{where}: [{d.low}, {d.high}] needs low < high (and low > 0 when log)")
        if d.relative_to not in (None, "scale") and d.relative_to not in seen:
            raise ConfigError(f"{where}: relative_to={d.relative_to} must be 'scale' or an earlier dimension's key")
        seen.add(d.key)
    if space.sampler not in ("tpe", "grid"):
        raise ConfigError(f"search space: sampler={space.sampler!r} must be tpe or grid")
    if space.sampler == "grid":
        names = {d.name for d in space.dimensions}
        if not space.grid or set(space.grid) != names:
            raise ConfigError(f"search space: a grid sampler needs values for exactly {sorted(names)}")


def read_study_file(path: Path, method: str) -> Space:
    """A space from a YAML or JSON study file; errors name the file."""
    spec = read_mapping_file(path, "study file", "params, fixed, sampler and grid sections")
    try:
        return narrow(method, spec)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("study file", f"study file {path}", 1)) from None
