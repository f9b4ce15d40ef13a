"""Background training jobs on disk: launch, list, status, stop, resume.

A job is a `python -m engine train` process in its own session, never a thread, with its run
directory under var/runs/<id>/ and a small record in var/jobs/<id>.json, so a refreshed browser
tab or a second tab sees the same jobs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.config import RunConfig, write_atomic
from engine.paths import REPO_ROOT, jobs_dir, runs_dir
from engine.trainer import RunFiles

_CHILDREN: dict[int, subprocess.Popen] = {}  # handles of processes this process started, for reaping


def new_job_id(cfg: RunConfig) -> str:
    data = Path(cfg.data.name.partition(":")[2] or cfg.data.name).stem
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.model_name}-{data}-{secrets.token_hex(2)}"


def launch(cfg: RunConfig, *, use_mlflow: bool = True, job_id: str | None = None) -> str:
    """Write the config into a new run directory and start training it in the background."""
    job_id = job_id or new_job_id(cfg)
    run_dir = runs_dir() / job_id
    RunFiles(run_dir).write_status(state="queued", step=0, total=cfg.train.steps, message="")
    cfg.save(run_dir / "config.json")
    args = ["train", "--config", str(run_dir / "config.json"), "--out", str(run_dir)]
    _start(job_id, run_dir, args + ([] if use_mlflow else ["--no-mlflow"]))
    return job_id


def resume(job_id: str, *, use_mlflow: bool = True) -> None:
    """Continue a stopped (or killed) job from its last checkpoint."""
    run_dir = run_dir_of(job_id)
    RunFiles(run_dir).write_status(**{**status(job_id), "state": "queued", "message": "resuming"})
    _start(job_id, run_dir, ["train", "--resume", str(run_dir)] + ([] if use_mlflow else ["--no-mlflow"]))


def _start(job_id: str, run_dir: Path, args: list[str]) -> None:
    jobs_dir().mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(run_dir / "train.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "engine", *args], cwd=REPO_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _CHILDREN[proc.pid] = proc
    record = {"id": job_id, "pid": proc.pid, "run_dir": str(run_dir), "started": time.time(), "args": args}
    write_atomic(jobs_dir() / f"{job_id}.json", json.dumps(record, indent=2))


def reap() -> None:
    """Collect finished children so none stays a zombie."""
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def _record(job_id: str) -> dict:
    path = jobs_dir() / f"{job_id}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise FileNotFoundError(f"job {job_id} not found in {jobs_dir()}") from None


def run_dir_of(job_id: str) -> Path:
    return Path(_record(job_id)["run_dir"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); treat it as ended
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def status(job_id: str) -> dict:
    """status.json of the job's run, with state corrected to "failed" when the process died unsaved."""
    reap()
    record = _record(job_id)
    state = RunFiles(Path(record["run_dir"])).read_status()
    if state.get("state") in ("queued", "running", "stopping") and not _alive(record["pid"]):
        state = {**state, "state": "failed",
                 "message": state.get("message") or "the training process ended without saving its state "
                                                    "(killed?); resume continues from the last checkpoint"}
        log = Path(record["run_dir"]) / "train.log"
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        if tail and tail[0].startswith("error:"):
            state["message"] = tail[0]
    return {**state, "id": job_id, "run_dir": record["run_dir"], "pid": record["pid"]}


def list_jobs() -> list[dict]:
    """Every job on disk, newest first."""
    if not jobs_dir().exists():
        return []
    records = sorted(jobs_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [status(p.stem) for p in records]


def stop(job_id: str) -> None:
    """Ask the job to checkpoint and exit (flag file; SIGTERM does the same)."""
    record = _record(job_id)
    files = RunFiles(Path(record["run_dir"]))
    files.stop_flag.touch()
    current = files.read_status()
    if current.get("state") == "running":
        files.write_status(**{**current, "state": "stopping"})


def terminate(job_id: str) -> None:
    """SIGTERM the job's process (it checkpoints then exits 130)."""
    try:
        os.kill(_record(job_id)["pid"], signal.SIGTERM)
    except ProcessLookupError:
        pass
