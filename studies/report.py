"""What a study found: its trials as rows, the best trial (one objective) or the Pareto set (several),
and parameter importances (Optuna's default evaluator), all as plain data for the CLI and the page."""

from __future__ import annotations

from typing import Any

from studies.objective import STUDY_ATTR, StudySpec


def spec_of(study) -> StudySpec | None:
    raw = study.user_attrs.get(STUDY_ATTR)
    return StudySpec.from_attr(raw) if raw else None


def trial_rows(study) -> list[dict[str, Any]]:
    """One dict per trial: number, state, values by objective, sampled params, config values, duration, runs."""
    spec = spec_of(study)
    names = spec.objectives if spec else [f"value_{i}" for i in range(len(study.directions))]
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        values = dict(zip(names, t.values)) if t.values else {}
        rows.append({"trial": t.number, "state": t.state.name, **values, "params": dict(t.params),
                     "config": t.user_attrs.get("config", {}), "method": t.user_attrs.get("method"),
                     "duration_s": duration, "run_dirs": t.user_attrs.get("run_dirs", []),
                     "mlflow_run_ids": t.user_attrs.get("mlflow_run_ids", []),
                     "last_step": max(t.intermediate_values) if t.intermediate_values else None})
    return rows


def best(study) -> list[dict[str, Any]]:
    """The best trial with one objective, the Pareto-optimal trials with several (Optuna's best_trials)."""
    numbers = {t.number for t in study.best_trials} if _has_complete(study) else set()
    return [row for row in trial_rows(study) if row["trial"] in numbers]


def importances(study) -> dict[str, dict[str, float] | str]:
    """Objective -> {param: importance}, or a one-line reason when they cannot be computed yet."""
    import warnings

    import optuna

    spec = spec_of(study)
    names = spec.objectives if spec else [f"value_{i}" for i in range(len(study.directions))]
    out: dict[str, dict[str, float] | str] = {}
    warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")  # the sign is handled here
    for i, (name, direction) in enumerate(zip(names, study.directions)):
        # PED-ANOVA ranks params by how they reach low targets: a maximised objective is negated
        sign = -1.0 if direction.name == "MAXIMIZE" else 1.0
        try:
            target = (lambda t, i=i, sign=sign: sign * t.values[i]) if len(names) > 1 else None
            out[name] = {k: float(v) for k, v in optuna.importance.get_param_importances(study, target=target).items()}
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            out[name] = f"n/a: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return out


def _has_complete(study) -> bool:
    from optuna.trial import TrialState

    return any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))


def summary(study) -> dict[str, Any]:
    """Name, method, data, objectives with directions, trial counts, target and the best values."""
    from studies.runner import counts

    spec = spec_of(study)
    c = counts(study)
    return {"study": study.study_name, "methods": spec.methods if spec else None, "data": spec.data if spec else None,
            "preset": spec.preset if spec else None,
            "objectives": dict(zip(spec.objectives, spec.directions)) if spec else None,
            "finished": c["complete"] + c["pruned"], "target": spec.n_trials if spec else None,
            "counts": {k: v for k, v in c.items() if v}, "mlflow_parent_run_id": spec.mlflow_parent_run_id if spec else None,
            "best": [{k: row[k] for k in ("trial", *(spec.objectives if spec else []), "config") if k in row}
                     for row in best(study)]}
