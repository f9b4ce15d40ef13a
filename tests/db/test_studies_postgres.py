"""Studies on a real PostgreSQL: two workers share one study, a worker killed mid-trial leaves no RUNNING
trial behind, and a multi-host deployment (MLflow server + PostgreSQL, nothing on a shared file)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tests.conftest import REPO
from tests.studies.test_studies_run import TINY

# short enough for a test, long enough that a loaded machine does not starve a live worker's heartbeat
FAST_HEARTBEAT = {"MODESCOPE_STUDY_HEARTBEAT_S": "2", "MODESCOPE_STUDY_GRACE_S": "12"}


def space_file(home: Path) -> Path:
    path = home / "space.yaml"
    path.write_text("params:\n  lr_g: {low: 0.0001, high: 0.01, log: true}\n")
    return path


def studies_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "studies", *args]


def run_args(name: str, url: str, home: Path, n_trials: int, steps: int, workers: int) -> list[str]:
    return ["run", "--study", name, "--model", "gan", "--data", "ring8", "--config", str(space_file(home)),
            "--n-trials", str(n_trials), "--steps", str(steps), "--evals", "2", "--storage", url,
            "--workers", str(workers), *[a for s in TINY for a in ("--set", s)]]


def env_for(home: Path, **extra: str) -> dict:
    return {**os.environ, "MODESCOPE_HOME": str(home), "OMP_NUM_THREADS": "1", **FAST_HEARTBEAT, **extra}


def trials(name: str, url: str) -> list:
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def test_two_workers_share_a_study_and_every_trial_completes_once(home, postgres_url):
    done = subprocess.run(studies_command(*run_args("shared", postgres_url, home, 4, 40, 2)), cwd=REPO,
                          env=env_for(home), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = trials("shared", postgres_url)
    assert sorted(t.number for t in found) == [0, 1, 2, 3] and {t.state for t in found} == {TrialState.COMPLETE}
    logs = sorted((home / "var" / "studies" / "shared" / "workers").glob("*/worker.log"))
    assert len(logs) == 2 and all("worker ran" in log.read_text() for log in logs)
    ran = sorted(int(log.read_text().split("worker ran ")[1].split()[0]) for log in logs)
    assert sum(ran) == 4, ran
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'var' / 'mlflow.db'}")
    by_trial = {}
    for t in found:
        (run_id,) = t.user_attrs["mlflow_run_ids"]
        run = client.get_run(run_id)
        by_trial[t.number] = run
        assert run.data.metrics["eval/modes"] == t.values[0] and run.data.metrics["eval/hq_pct"] == t.values[1]
    assert sorted(int(r.data.tags["trial"]) for r in by_trial.values()) == [0, 1, 2, 3]


def test_a_worker_killed_mid_trial_leaves_a_failed_retried_trial_and_the_study_still_finishes(home, postgres_url):
    runner = subprocess.Popen(studies_command(*run_args("killed", postgres_url, home, 3, 400, 2)), cwd=REPO,
                              env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # both workers busy with a trial
            try:
                if sum(t.state == TrialState.RUNNING for t in trials("killed", postgres_url)) == 2:
                    break
            except KeyError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("two trials never ran at once")
        record = sorted((home / "var" / "jobs").glob("killed-w0-*.json"))[0]
        os.kill(json.loads(record.read_text())["pid"], signal.SIGKILL)
        output, _ = runner.communicate(timeout=600)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, output[-3000:]
    found = trials("killed", postgres_url)
    states = [t.state for t in found]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1
    failed = next(t for t in found if t.state == TrialState.FAIL)
    retried = [t for t in found if t.system_attrs.get("failed_trial") == failed.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == failed.params  # the retry runs the killed trial's parameters again


def test_workers_on_two_hosts_share_postgresql_and_an_mlflow_server(tmp_path, postgres_url, mlflow_server):
    """Each "host" has its own MODESCOPE_HOME (no shared file); Optuna on PostgreSQL, MLflow through its server."""
    host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
    for host in (host_a, host_b):
        (host / "var").mkdir(parents=True)
    remote = {"MLFLOW_TRACKING_URI": mlflow_server, "NO_PROXY": "127.0.0.1,localhost"}
    runner = subprocess.Popen(studies_command(*run_args("hosts", postgres_url, host_a, 4, 40, 1)), cwd=REPO,
                              env=env_for(host_a, **remote), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the study exists once host A created it
            try:
                trials("hosts", postgres_url)
                break
            except KeyError:
                time.sleep(0.5)
        worker_b = subprocess.run(studies_command("worker", "--study", "hosts", "--storage", postgres_url),
                                  cwd=REPO, env=env_for(host_b, **remote), capture_output=True, text=True,
                                  timeout=600)
        output, _ = runner.communicate(timeout=600)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, output[-3000:]
    assert worker_b.returncode == 0, worker_b.stderr[-3000:]
    found = trials("hosts", postgres_url)
    assert [t.state for t in found] == [TrialState.COMPLETE] * 4
    assert not (host_a / "var" / "mlflow.db").exists() and not (host_b / "var" / "mlflow.db").exists()
    assert not (host_a / "var" / "optuna.db").exists() and not (host_b / "var" / "optuna.db").exists()
    ran_b = int(worker_b.stdout.split("worker ran ")[1].split()[0])
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    parent_id = optuna.load_study(study_name="hosts", storage=postgres_url).user_attrs["modescope"][
        "mlflow_parent_run_id"]
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'")
    assert len(children) == 4
    hosts = {Path(c.data.tags["run_dir"]).parents[3].name for c in children}  # .../host-x/var/studies/hosts/trial
    assert ran_b >= 1 and hosts == ({"host-a", "host-b"} if ran_b < 4 else {"host-b"})
