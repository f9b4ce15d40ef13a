"""Background jobs on disk: launch, list, status, stop, resume.

A job is a `python -m MODULE ...` process in its own session, never a thread, with a work directory
(a training run's directory under var/runs/<id>/, a study worker's under var/studies/...) and a small
record in var/jobs/<id>.json, so a refreshed browser tab or a second tab sees the same jobs. What a job
runs, where it logs and which file holds its state is its kind's (JOB_KINDS); every kind is listed,
stopped (a STOP file in its work directory, or SIGTERM) and reaped the same way.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.config import RunConfig, write_atomic
from engine.paths import REPO_ROOT, jobs_dir, runs_dir
from engine.trainer import RunFiles

_CHILDREN: dict[int, subprocess.Popen] = {}  # handles of processes this process started, for reaping


@dataclass(frozen=True)
class JobKind:
    """How a kind of job runs: `python -m module`, its log and its status file, both in its work directory."""

    module: str
    log: str
    status_file: str = "status.json"  # {"state": ..., "message": ..., ...}, written atomically by the job
    prepare_stores: bool = True  # create and migrate the stores once, in the launcher, before it starts


JOB_KINDS = {
    "train": JobKind(module="engine", log="train.log"),
    "study-worker": JobKind(module="studies", log="worker.log"),
    # one analysis of one run (loglik, latent-map, reconstruct): work directory <run>/analysis/jobs/<id>, its
    # progress in its own status.json (the run's status is left alone), its result in <run>/analysis/
    "analysis": JobKind(module="engine", log="analysis.log", prepare_stores=False),
}
ANALYSES = ("loglik", "latent-map", "reconstruct")


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
    start("train", job_id, run_dir, args + ([] if use_mlflow else ["--no-mlflow"]), use_mlflow=use_mlflow)
    return job_id


def resume(job_id: str, *, use_mlflow: bool = True) -> None:
    """Continue a stopped (or killed) training job from its last checkpoint."""
    run_dir = run_dir_of(job_id)
    RunFiles(run_dir).stop_flag.unlink(missing_ok=True)  # left by a process killed while it was stopping
    RunFiles(run_dir).write_status(**{**status(job_id), "state": "queued", "message": "resuming"})
    start("train", job_id, run_dir, ["train", "--resume", str(run_dir)] + ([] if use_mlflow else ["--no-mlflow"]),
          use_mlflow=use_mlflow)


def launch_analysis(run_dir: Path, command: str, args: list[str], threads: int = 1) -> str:
    """Start `python -m engine COMMAND --run RUN_DIR ARGS` in the background, its progress in its own folder."""
    from engine.analysis import ProgressFile

    if command not in ANALYSES:
        raise ValueError(f"analysis {command!r} must be one of {', '.join(ANALYSES)}")
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{command}-{secrets.token_hex(2)}"
    workdir = Path(run_dir) / "analysis" / "jobs" / job_id
    status_file = workdir / JOB_KINDS["analysis"].status_file
    ProgressFile(status_file)("starting", 0.0, state="queued")
    start("analysis", job_id, workdir, [command, "--run", str(run_dir), *args, "--threads", str(threads),
                                        "--status", str(status_file)], use_mlflow=False)
    return job_id


def analysis_jobs(run_dir: Path, command: str | None = None) -> list[dict]:
    """The analysis jobs of one run (of one command), newest first, with their progress."""
    root = (Path(run_dir) / "analysis" / "jobs").resolve()
    return [job for job in list_jobs("analysis") if Path(job["run_dir"]).resolve().parent == root
            and (command is None or job["args"][:1] == [command])]


def start(kind: str, job_id: str, workdir: Path, args: list[str], *, use_mlflow: bool = True) -> None:
    """Start `python -m <kind's module> ARGS` in its own session, logging into workdir, and record it."""
    spec = JOB_KINDS[kind]
    if spec.prepare_stores and use_mlflow:
        from engine.tracking import prepare_store

        prepare_store()  # K processes started at once must not each migrate a new store
    jobs_dir().mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with open(workdir / spec.log, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", spec.module, *args], cwd=REPO_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    _CHILDREN[proc.pid] = proc
    record = {"id": job_id, "kind": kind, "pid": proc.pid, "run_dir": str(workdir), "started": time.time(),
              "args": args}
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


def _kind(record: dict) -> JobKind:
    return JOB_KINDS[record.get("kind", "train")]


def read_job_status(record: dict) -> dict:
    try:
        return json.loads((Path(record["run_dir"]) / _kind(record).status_file).read_text())
    except (OSError, ValueError):
        return {}


def status(job_id: str) -> dict:
    """The job's status file, with state corrected to "failed" when the process died without saying so."""
    reap()
    record = _record(job_id)
    state = read_job_status(record)
    if state.get("state") in ("queued", "running", "stopping") and not _alive(record["pid"]):
        state = {**state, "state": "failed",
                 "message": state.get("message") or "the process ended without saving its state "
                                                    "(killed?); resume continues from the last checkpoint"}
        log = Path(record["run_dir"]) / _kind(record).log
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        if tail and tail[0].startswith("error:"):
            state["message"] = tail[0]
    return {**state, "id": job_id, "kind": record.get("kind", "train"), "run_dir": record["run_dir"],
            "pid": record["pid"], "args": record.get("args", [])}


def list_jobs(kind: str | None = None) -> list[dict]:
    """Every job on disk (or every job of one kind), newest first."""
    if not jobs_dir().exists():
        return []
    records = sorted(jobs_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    found = []
    for path in records:
        try:
            job = status(path.stem)
        except FileNotFoundError:  # removed while listing
            continue
        if kind is None or job["kind"] == kind:
            found.append(job)
    return found


def stop(job_id: str) -> None:
    """Ask the job to save its state and exit (a STOP file in its work directory; SIGTERM does the same)."""
    record = _record(job_id)
    workdir = Path(record["run_dir"])
    (workdir / "STOP").touch()
    current = read_job_status(record)
    if current.get("state") == "running":
        write_atomic(workdir / _kind(record).status_file,
                     json.dumps({**current, "state": "stopping", "updated": time.time()}))


def terminate(job_id: str) -> None:
    """SIGTERM the job's process (it checkpoints then exits 130)."""
    try:
        os.kill(_record(job_id)["pid"], signal.SIGTERM)
    except ProcessLookupError:
        pass
