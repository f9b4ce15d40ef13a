"""Read Optuna studies into what the Studies page shows (tables, progress, Optuna's own figures), and build
the spec the page launches. No Streamlit here, so every function can be tested on its own.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from app import run_data
from engine import jobs
from engine.config import ConfigError, search_ranges
from engine.metrics.registry import describe
from engine.registry import MODELS
from studies import report, runner
from studies.objective import studies_dir
from studies.presets import PRESETS

DASHBOARD = "http://127.0.0.1:8080"
CUSTOM = "custom ranges"
NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PLOTS = ["Optimization history", "Intermediate values", "Pareto front", "Param importances",
         "Parallel coordinate", "Contour", "Slice", "Timeline"]
CONTOUR_DEFAULTS = ["entropy_weight", "sigma_max/scale"]


# ---- creating and continuing -------------------------------------------------------------------------------

def presets_for(method: str) -> list[str]:
    """The presets that fit one method (the cross-method `compare` fits any), then custom ranges."""
    return [name for name, p in PRESETS.items() if p.fits is None or method in p.fits] + [CUSTOM]


def declared_ranges(method: str) -> dict:
    return search_ranges(MODELS[method].Config)


def default_name(preset: str | None, method: str, data: str) -> str:
    data_part = re.sub(r"[^A-Za-z0-9]+", "-", Path(data.split(":", 1)[-1]).stem if ":" in data else data)
    return f"{preset or 'custom'}-{method}-{data_part.strip('-')}-{time.strftime('%m%d-%H%M%S')}"


def write_space(name: str, params: dict[str, dict]) -> Path:
    """The custom ranges as a study file (the format studies.spaces.narrow reads) under var/studies/<name>/."""
    if not params:
        raise ConfigError("custom ranges: tick at least one field to search")
    path = studies_dir() / name / "space.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"params": params}, indent=2))
    return path


def parse_sets(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    for line in lines:
        if "=" not in line or "." not in line.split("=", 1)[0]:
            raise ConfigError(f"extra setting {line!r} must read section.field=value")
    return lines


def launch(name: str, method: str, data: str, preset: str | None, params: dict[str, dict] | None,
           objectives: list[str], n_trials: int, steps: int, workers: int, sets: list[str]) -> list[str]:
    """Create the study as `python -m studies run` would and start its workers; returns their job ids."""
    from studies.__main__ import build_spec

    if not NAME_OK.fullmatch(name or ""):
        raise ConfigError(f"study name {name!r}: use letters, digits, '.', '_' and '-'")
    if not objectives:
        raise ConfigError("pick at least one objective")
    if name in study_names():
        raise ConfigError(f"study {name} exists already; continue it below or pick another name")
    config = str(write_space(name, params or {})) if preset is None else None
    args = argparse.Namespace(study=name, model=method, data=data, preset=preset, config=config, n_trials=n_trials,
                              steps=steps, evals=10, objective=",".join(objectives), train_seeds=1, set=sets,
                              storage=None, workers=workers, seed=0, no_mlflow=False)
    spec = build_spec(args)
    _, spec = runner.create_or_continue(spec)
    return runner.launch_workers(spec.name, workers, None, spec.n_trials)


def continue_study(name: str, n_trials: int, workers: int) -> list[str]:
    """Raise the study's trial target (never lower it) and start workers again."""
    spec = report.spec_of(load(name))
    if spec is None:
        raise ConfigError(f"study {name} was not made by ModeScope; it cannot be continued here")
    spec.n_trials = n_trials
    _, spec = runner.create_or_continue(spec)
    return runner.launch_workers(name, workers, None, spec.n_trials)


# ---- reading ------------------------------------------------------------------------------------------------

def shown_url(url: str) -> str:
    from studies.storage import shown_url as shown

    return shown(url)


def storage_url() -> str:
    from studies.storage import storage_url as url

    return url()


@functools.lru_cache(maxsize=4)
def _storage(url: str):
    from studies.storage import open_storage

    return open_storage(url)


def study_names(url: str | None = None) -> list[str]:
    """Every study in the storage (the default one under MODESCOPE_HOME), by name."""
    import optuna

    return sorted(s.study_name for s in optuna.get_all_study_summaries(_storage(url or storage_url())))


def load(name: str, url: str | None = None):
    from studies.storage import load_study

    return load_study(name, _storage(url or storage_url()))


def active_workers(name: str) -> list[dict]:
    return [job for job in jobs.list_jobs(kind="study-worker")
            if job.get("study") == name and job.get("state") in run_data.ACTIVE_STATES]


def objectives_of(study) -> list[str]:
    spec = report.spec_of(study)
    return spec.objectives if spec else [f"value_{i}" for i in range(len(study.directions))]


def objective_label(name: str) -> str:
    """The registry's label with its unit, for table headers and plot axes ("HQ samples (%)")."""
    try:
        metric = describe(name)
    except KeyError:
        return name
    return f"{metric.label} ({metric.unit})" if metric.unit else metric.label


def progress(study) -> tuple[int, int, str]:
    """(finished, target, caption) of a study."""
    c, spec = runner.counts(study), report.spec_of(study)
    done, target = c["complete"] + c["pruned"], spec.n_trials if spec else len(study.trials)
    parts = [f"{c[k]} {k}" for k in ("complete", "pruned", "running", "fail", "waiting") if c[k]]
    return done, target, f"{done} of {target} trials finished" + (f" ({', '.join(parts)})" if parts else "")


def trials_frame(study) -> pd.DataFrame:
    """One row per trial: number, state, each objective under its label, each param, duration, Explore key."""
    names = objectives_of(study)
    rows = []
    for row in report.trial_rows(study):
        key = run_data.run_key(row["run_dirs"][0]) if row["run_dirs"] else None
        rows.append({"trial": row["trial"], "state": row["state"].lower(),
                     **{objective_label(n): row.get(n) for n in names},
                     **{p: v for p, v in row["params"].items()},
                     "duration": row["duration_s"], "step": row["last_step"],
                     "run": f"explore?run={key}" if key else None, "key": key})
    if not rows:
        return pd.DataFrame(columns=["trial", "state", *map(objective_label, names), "duration", "step", "run", "key"])
    frame = pd.DataFrame(rows).sort_values("trial", ascending=False).reset_index(drop=True)
    first = ["trial", "state", "run"]  # the link in sight, before the params widen the table
    frame = frame[first + [c for c in frame.columns if c not in first]]
    return frame.drop(columns=["step"]) if frame["step"].isna().all() else frame


def best_trial(study, objective: str):
    """The finished trial best at one objective (None before the first)."""
    from optuna.trial import TrialState

    i = objectives_of(study).index(objective)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    pick = max if study.directions[i].name == "MAXIMIZE" else min
    return pick(done, key=lambda t: t.values[i])


def best_table(studies: list, objective: str) -> pd.DataFrame:
    """Per study: data, methods, trials finished, the best value of `objective`, its trial and params."""
    rows = []
    for study in studies:
        spec, found = report.spec_of(study), best_trial(study, objective)
        rows.append({"study": study.study_name, "data": spec.data if spec else None,
                     "method": ",".join(spec.methods) if spec else None, "finished": runner.finished(study),
                     objective_label(objective): found.values[objectives_of(study).index(objective)] if found else None,
                     "best trial": found.number if found else None,
                     "params": ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in found.params.items()) if found else ""})
    return pd.DataFrame(rows)


def one_objective(study, objective: str):
    """An in-memory copy of the study that optimises only `objective` (same trials, same numbers), so
    Optuna's optimization history can draw its best-so-far line for one objective of a multi-objective study."""
    import optuna
    from optuna.trial import TrialState, create_trial

    i = objectives_of(study).index(objective)
    copy = optuna.create_study(study_name=study.study_name, direction=describe(objective).direction)
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.WAITING:
            continue
        value = t.values[i] if t.state == TrialState.COMPLETE and t.values else None
        copy.add_trial(create_trial(state=t.state, value=value, params=t.params, distributions=t.distributions,
                                    intermediate_values=t.intermediate_values if len(study.directions) == 1 else None,
                                    user_attrs=t.user_attrs))
    return copy


# ---- Optuna's figures ---------------------------------------------------------------------------------------

class NoPlot(Exception):
    """A figure that cannot be drawn yet; its message says why, for an st.info."""


def plot(kind: str, study, objective: str, params: list[str] | None = None, pareto: list[str] | None = None):
    """Optuna's figure `kind` (one of PLOTS) of the study for one objective; NoPlot with the reason when the
    study cannot draw it yet (too few finished trials, too few params, one objective for a Pareto front)."""
    import optuna.visualization as vis

    names = objectives_of(study)
    multi = len(names) > 1
    i = names.index(objective)
    target = {"target": (lambda t: t.values[i]) if multi else None, "target_name": objective_label(objective)}
    done = runner.counts(study)["complete"]
    if kind == "Pareto front" and not multi:
        raise NoPlot("A Pareto front needs a study with two or more objectives.")
    if kind == "Intermediate values" and multi:
        raise NoPlot("Intermediate values are reported only by single-objective studies (the ones that prune).")
    if kind == "Contour" and len(params or []) < 2:
        raise NoPlot("A contour plot needs two or more parameters (pick them above; the study must search them).")
    needs = {"Param importances": 2, "Contour": 2, "Parallel coordinate": 1, "Slice": 1, "Pareto front": 1,
             "Optimization history": 1}
    if done < needs.get(kind, 0):
        raise NoPlot(f"{kind} needs at least {needs[kind]} complete trial(s); {done} so far.")
    try:
        if kind == "Optimization history":
            fig = vis.plot_optimization_history(one_objective(study, objective), target_name=target["target_name"])
        elif kind == "Intermediate values":
            fig = vis.plot_intermediate_values(study)
        elif kind == "Pareto front":
            chosen = pareto or names[:2]
            index = [names.index(n) for n in chosen]
            fig = vis.plot_pareto_front(study, target_names=[objective_label(n) for n in chosen],
                                        targets=(lambda t: [t.values[j] for j in index]) if len(chosen) < len(names)
                                        else None)
        elif kind == "Param importances":  # PED-ANOVA ranks by reaching low targets: negate a maximised one
            sign = -1.0 if study.directions[i].name == "MAXIMIZE" else 1.0
            warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")  # sign handled
            fig = vis.plot_param_importances(study, target=lambda t: sign * t.values[i],
                                             target_name=target["target_name"])
        elif kind == "Timeline":
            fig = vis.plot_timeline(study)
        else:
            draw = {"Parallel coordinate": vis.plot_parallel_coordinate, "Contour": vis.plot_contour,
                    "Slice": vis.plot_slice}[kind]
            fig = draw(study, params=params or None, **target)
    except (ValueError, RuntimeError, ZeroDivisionError, KeyError, IndexError) as exc:
        raise NoPlot(f"{kind} cannot be drawn yet: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if not fig.data:
        raise NoPlot(f"{kind}: nothing to draw yet ({done} complete trial(s)).")
    return fig


def contour_defaults(params: list[str]) -> list[str]:
    chosen = [p for p in CONTOUR_DEFAULTS if p in params]
    return chosen if len(chosen) == 2 else params[:2]


def params_of(study) -> list[str]:
    seen: dict[str, None] = {}
    for t in study.get_trials(deepcopy=False):
        seen.update(dict.fromkeys(t.params))
    return list(seen)


def dashboard_running(url: str = DASHBOARD, timeout: float = 0.3) -> bool:
    """Whether optuna-dashboard answers on this machine."""
    return run_data.service_running(f"{url}/", timeout)


def best_samples(study, objective: str) -> tuple[str, Any, Any] | None:
    """(caption, samples, true means) of the best trial's final run, or None when it has none."""
    found = best_trial(study, objective)
    dirs = found.user_attrs.get("run_dirs", []) if found else []
    if not dirs:
        return None
    step, samples = run_data.latest_samples(dirs[0])
    spec = report.spec_of(study)
    if samples is None:
        return None
    return f"{study.study_name} · trial {found.number}", samples, run_data.true_means(spec.data) if spec else None
