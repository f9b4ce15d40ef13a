"""What a study optimises and how one trial runs.

A trial samples its config values from the study's space, then trains one run per training seed through
the same trainer as every other run (its own run directory under var/studies/<study>/), each an MLflow
child run of the study's parent run. Its value per objective is the mean over those seeds of the final
evaluation's metric; with one objective, every evaluation is reported so the pruner can stop it early.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.callbacks import Callback, PruneRun
from engine.config import ConfigError
from engine.metrics.registry import MODE_METRICS, describe, objectives
from engine.paths import var_dir
from studies.spaces import METHOD_KEY, Space

STUDY_ATTR = "modescope"  # the study's user attribute holding its StudySpec


def studies_dir() -> Path:
    return var_dir() / "studies"


@dataclass
class StudySpec:
    """Everything a worker needs to run trials of a study, stored with the study in its storage."""

    name: str
    methods: list[str]
    data: str
    space: Space
    objectives: list[str]
    steps: int
    n_trials: int
    train_seeds: int = 1          # training seeds per trial; the objective is their mean
    seed: int = 0                 # the first training seed and the sampler's seed
    sets: list[str] = field(default_factory=list)  # extra "section.field=value" for every trial
    preset: str | None = None
    mlflow_parent_run_id: str | None = None
    use_mlflow: bool = True

    @property
    def directions(self) -> list[str]:
        return [describe(name).direction for name in self.objectives]

    def to_attr(self) -> dict:
        return {**asdict(self), "space": self.space.to_json()}

    @classmethod
    def from_attr(cls, raw: dict) -> StudySpec:
        return cls(**{**raw, "space": Space.from_json(raw["space"])})


def check_objectives(names: list[str], has_modes: bool, data: str) -> None:
    for name in names:
        if name not in objectives():
            raise ConfigError(f"--objective {name} is not a study objective ({', '.join(objectives())})")
        if name in MODE_METRICS and not has_modes:
            raise ConfigError(f"--objective {name} needs a data set with known modes; {data} has none "
                              "(use mean_error or std_error)")
    if len(set(names)) != len(names):
        raise ConfigError(f"--objective {','.join(names)} names an objective twice")


def objective_value(name: str, metrics: dict[str, Any], mixture) -> float:
    """A metric as a study value. Reverse KL is undefined while no sample is high quality: scored as the worst
    a histogram can reach, log(1 / smallest weight) (every HQ sample in the lightest mode)."""
    value = metrics.get(name)
    if value is not None and math.isfinite(value):
        return float(value)
    if name == "reverse_kl" and mixture is not None:
        return float(math.log(1.0 / min(mixture.weights)))
    raise ValueError(f"{name} is {value} at the end of the run")


class Pruning(Callback):
    """Reports the first objective at every evaluation (step offset by earlier seeds) and prunes on request."""

    def __init__(self, trial, metric: str, offset: int, mixture):
        self.trial, self.metric, self.offset, self.mixture = trial, metric, offset, mixture

    def on_eval(self, trainer, step, metrics, samples) -> None:
        value = objective_value(self.metric, metrics, self.mixture)
        self.trial.report(value, self.offset + step)
        if self.trial.should_prune():
            raise PruneRun(f"pruned at step {step}: {self.metric} = {value:.4g} (worst quarter of earlier trials)")


class WorkerStop(Callback):
    """Passes a worker's Stop on to the trial it is training (the run checkpoints and ends "stopped")."""

    def __init__(self, flag: Path | None):
        self.flag = flag

    def on_log(self, trainer, step, losses) -> None:
        if self.flag is not None and self.flag.exists():
            trainer.files.stop_flag.touch()


class StudyStopped(Exception):
    """The worker was asked to stop while a trial trained."""


def run_trial(trial, spec: StudySpec, scale: float, mixture, stop_flag: Path | None = None) -> list[float]:
    """Train the trial's runs and return its objective values (raises optuna.TrialPruned when pruned)."""
    import optuna

    from engine.registry import resolve_config
    from engine.trainer import train
    from engine.tracking import MLflowCallback

    values = spec.space.sample(trial, scale)
    method = values.pop(METHOD_KEY, spec.methods[0])
    trial.set_user_attr("method", method)
    trial.set_user_attr("config", dict(values))
    seeds = [values.pop("train.seed")] if "train.seed" in values else [spec.seed + i for i in range(spec.train_seeds)]
    sets = [f"{k}={v}" for k, v in values.items()]
    loop = [f"train.steps={spec.steps}", f"train.checkpoint_every={spec.steps}"]
    per_seed, run_ids, run_dirs = [], [], []
    single = len(spec.objectives) == 1
    for index, seed in enumerate(seeds):
        cfg = resolve_config(method, spec.data, [*loop, *spec.sets, *sets, f"train.seed={seed}"])
        run_dir = studies_dir() / spec.name / f"trial-{trial.number:05d}-s{seed}"
        callbacks: list[Callback] = [WorkerStop(stop_flag)]
        if spec.use_mlflow:
            tags = {"study": spec.name, "trial": str(trial.number), "modescope.kind": "trial"}
            if spec.mlflow_parent_run_id:
                tags["mlflow.parentRunId"] = spec.mlflow_parent_run_id
            callbacks.append(MLflowCallback(tags))
        if single:
            callbacks.append(Pruning(trial, spec.objectives[0], index * cfg.train.steps, mixture))
        result = train(cfg, run_dir, use_mlflow=False, callbacks=callbacks)
        run_dirs.append(str(run_dir))
        run_ids.append(next((c.tracker.run_id for c in callbacks if isinstance(c, MLflowCallback) and c.tracker),
                            None))
        trial.set_user_attr("run_dirs", run_dirs)
        trial.set_user_attr("mlflow_run_ids", run_ids)
        if result.state == "pruned":
            raise optuna.TrialPruned(result.message)
        if result.state == "stopped":
            raise StudyStopped(f"trial {trial.number} stopped at step {result.step}")
        if result.state != "finished":
            raise RuntimeError(f"trial {trial.number} run {result.state}: {result.message}")
        per_seed.append({name: objective_value(name, result.metrics, mixture) for name in spec.objectives})
        trial.set_user_attr("per_seed", per_seed)
    return [statistics.mean(r[name] for r in per_seed) for name in spec.objectives]
