"""Create or continue a study, and the worker loop that runs its trials until N have finished.

`run` stores the study's spec in its storage and starts K workers as background jobs (engine.jobs kind
"study-worker"); `python -m studies worker` on any machine that reaches the same storage joins in. A
worker takes one trial at a time while finished + running trials are fewer than N, so K workers do not
overshoot; before each it lets the storage fail stale trials (a killed worker's), whose retry it may pick up.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from engine.config import ConfigError, write_atomic
from studies.objective import STUDY_ATTR, StudySpec, StudyStopped, run_trial, studies_dir
from studies.storage import StorageClock, load_study, open_storage, shown_url

POLL_S = 2.0
PROFILE_ENV = "MODESCOPE_STUDY_PROFILE"  # workers time their storage calls (python -m studies bench)
PRUNER_STARTUP_TRIALS = 4
PRUNER_PERCENTILE = 75.0  # Optuna keeps this top percentile: only the worst quarter is pruned


def make_sampler(spec: StudySpec, worker_seed: int):
    import optuna

    if spec.space.sampler == "grid":
        return optuna.samplers.GridSampler(spec.space.grid, seed=worker_seed)
    # a short study spends a quarter of its trials (4 to 10) on random exploration before TPE takes over
    startup = min(10, max(4, spec.n_trials // 4))
    return optuna.samplers.TPESampler(seed=worker_seed, n_startup_trials=startup)


def make_pruner(spec: StudySpec):
    """Single objective: a patient percentile rule. GAN metrics are noisy from one evaluation to the next (a mode
    count jumps by several), so a trial is pruned only when it lies in the worst quarter of the earlier trials at
    the same step (not below their median), after a warm-up of a quarter of its first run and once
    PRUNER_STARTUP_TRIALS trials have finished. Not Optuna's PatientPruner: it never prunes a trial whose value
    stays flat, and a collapsed run holding 0 modes at every evaluation is the trial most worth stopping.
    Several objectives: no pruning (Optuna's pruners take one value)."""
    import optuna

    if len(spec.objectives) > 1:
        return optuna.pruners.NopPruner()
    return optuna.pruners.PercentilePruner(PRUNER_PERCENTILE, n_startup_trials=PRUNER_STARTUP_TRIALS,
                                           n_warmup_steps=spec.steps // 4)


def create_or_continue(spec: StudySpec, storage_url: str | None = None):
    """The study named spec.name: created with spec (and an MLflow parent run), or, when it exists, continued
    with its stored spec and the new trial target. Returns (study, spec as stored)."""
    import optuna

    storage = open_storage(storage_url)
    existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if spec.name in existing:
        study = optuna.load_study(study_name=spec.name, storage=storage)
        stored = StudySpec.from_attr(study.user_attrs[STUDY_ATTR])
        if (stored.methods, stored.data) != (spec.methods, spec.data):
            raise ConfigError(f"--study {spec.name} exists for {','.join(stored.methods)} on {stored.data}, "
                              f"not {','.join(spec.methods)} on {spec.data}; pick another name")
        stored.n_trials = max(stored.n_trials, spec.n_trials)
        study.set_user_attr(STUDY_ATTR, stored.to_attr())
        if stored.mlflow_parent_run_id:
            from engine.tracking import reopen_run

            reopen_run(stored.mlflow_parent_run_id)
        return study, stored
    directions = spec.directions
    study = optuna.create_study(study_name=spec.name, storage=storage, directions=directions,
                                sampler=make_sampler(spec, spec.seed), pruner=make_pruner(spec))
    if spec.use_mlflow:
        from engine.tracking import start_parent_run

        params = {"methods": ",".join(spec.methods), "data": spec.data, "preset": spec.preset or "",
                  "objectives": ",".join(spec.objectives), "steps": spec.steps, "n_trials": spec.n_trials,
                  "train_seeds": spec.train_seeds, "space": json.dumps(spec.space.to_json())[:6000]}
        tags = {"study": spec.name, "modescope.kind": "study", "optuna.storage": shown_url(storage.url),
                "method": ",".join(spec.methods), "dataset": spec.data, "state": "running"}
        spec.mlflow_parent_run_id = start_parent_run(f"study-{spec.name}", params, tags)
    study.set_user_attr(STUDY_ATTR, spec.to_attr())
    return study, spec


def counts(study) -> dict[str, int]:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}


def finished(study) -> int:
    c = counts(study)
    return c["complete"] + c["pruned"]


class WorkerStatus:
    """status.json of a worker's job directory (engine.jobs reads it like a training run's)."""

    def __init__(self, workdir: Path | None, study: str):
        self.path = workdir / "status.json" if workdir else None
        self.state = {"state": "running", "study": study, "trials_run": 0, "message": "", "pid": os.getpid()}

    def write(self, **changes) -> None:
        self.state.update(changes, updated=time.time())
        if self.path:
            write_atomic(self.path, json.dumps(self.state))


def run_worker(name: str, storage_url: str | None = None, n_trials: int | None = None,
               workdir: Path | None = None, worker_seed: int | None = None) -> int:
    """Run trials of the named study until N have finished (COMPLETE or PRUNED); returns trials this worker ran."""
    import optuna
    from optuna.storages import fail_stale_trials

    from engine.registry import load_dataset, resolve_config
    from engine.data import data_scale

    storage = open_storage(storage_url)
    clock = StorageClock(storage) if os.environ.get(PROFILE_ENV) else None
    study = load_study(name, storage)
    if STUDY_ATTR not in study.user_attrs:
        raise ConfigError(f"--study {name} was not made by `python -m studies run` (no {STUDY_ATTR} spec)")
    spec = StudySpec.from_attr(study.user_attrs[STUDY_ATTR])
    target = n_trials or spec.n_trials
    seed = worker_seed if worker_seed is not None else spec.seed + os.getpid()
    study = optuna.load_study(study_name=name, storage=storage, sampler=make_sampler(spec, seed),
                              pruner=make_pruner(spec))
    data = resolve_config(spec.methods[0], spec.data, [f"train.steps={spec.steps}", *spec.sets]).data
    dataset = load_dataset(data)  # the trials' own data, for its scale and modes
    scale, _ = data_scale(dataset)
    mixture = dataset.spec.mixture
    stop_flag = workdir / "STOP" if workdir else None
    status = WorkerStatus(workdir, name)
    status.write(target=target)
    ran = 0
    while True:
        if stop_flag is not None and stop_flag.exists():
            status.write(state="stopped", message=f"stopped after {ran} trials")
            return ran
        fail_stale_trials(study)
        c = counts(study)
        done = c["complete"] + c["pruned"]
        status.write(finished=done, running=c["running"], failed=c["fail"])
        if done >= target:
            break
        if done + c["running"] >= target and c["waiting"] == 0:
            time.sleep(POLL_S)  # other workers are finishing the last trials (or a dead one's will go stale)
            continue
        try:
            study.optimize(lambda trial: run_trial(trial, spec, scale, mixture, stop_flag), n_trials=1,
                           catch=(RuntimeError, ValueError), gc_after_trial=True)
        except StudyStopped as exc:
            status.write(state="stopped", message=str(exc))
            return ran
        ran += 1
        status.write(trials_run=ran, **({"storage_s": clock.seconds, "storage_calls": clock.calls} if clock else {}))
        _log_best(study, spec)
    status.write(state="finished", message=f"{done} of {target} trials finished")
    return ran


def _log_best(study, spec: StudySpec) -> None:
    """The best value so far of each objective on the study's MLflow parent run, by trials finished."""
    if not spec.mlflow_parent_run_id:
        return
    from optuna.trial import TrialState

    from engine.tracking import log_values

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return
    best = {}
    for i, (name, direction) in enumerate(zip(spec.objectives, spec.directions)):
        pick = max if direction == "maximize" else min
        best[f"best/{name}"] = pick(t.values[i] for t in done)
    log_values(spec.mlflow_parent_run_id, best, len(done))


def launch_workers(name: str, k: int, storage_url: str | None = None, n_trials: int | None = None) -> list[str]:
    """Start K `python -m studies worker` jobs for the study; returns their job ids."""
    from engine import jobs

    ids = []
    for i in range(k):
        job_id = f"{name}-w{i}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"
        workdir = studies_dir() / name / "workers" / job_id
        args = ["worker", "--study", name, "--workdir", str(workdir)]
        args += ["--storage", storage_url] if storage_url else []
        args += ["--n-trials", str(n_trials)] if n_trials else []
        workdir.mkdir(parents=True, exist_ok=True)
        write_atomic(workdir / "status.json", json.dumps({"state": "queued", "study": name, "updated": time.time()}))
        jobs.start("study-worker", job_id, workdir, args)
        ids.append(job_id)
    return ids


def wait_for(study, target: int, worker_ids: list[str], echo=print) -> int:
    """Until the study has `target` finished trials or every worker has ended; returns finished trials."""
    from engine import jobs

    shown = None
    while True:
        done = finished(study)
        line = f"{study.study_name}: {done} of {target} trials finished ({counts(study)['running']} running)"
        if line != shown:
            echo(line)
            shown = line
        states = [jobs.status(j).get("state") for j in worker_ids]
        if done >= target or all(s not in ("queued", "running", "stopping") for s in states):
            return done
        time.sleep(POLL_S)


def stop_workers(name: str) -> list[str]:
    """Ask every running worker of the study to stop (its trial in flight checkpoints and ends)."""
    from engine import jobs

    stopped = []
    for job in jobs.list_jobs(kind="study-worker"):
        if job.get("study") == name and job.get("state") in ("queued", "running"):
            jobs.stop(job["id"])
            stopped.append(job["id"])
    return stopped
