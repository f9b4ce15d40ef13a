"""Background jobs: launch, status on disk, stop, resume, a killed job, no zombies."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from engine import jobs
from engine.checkpoint import load_checkpoint
from engine.config import apply_overrides, build_run_config
from engine.registry import MODELS


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(bare_home):
    yield
    for job in jobs.list_jobs():
        if job.get("state") in ("queued", "running", "stopping"):
            jobs.terminate(job["id"])


def config(steps: int):
    return build_run_config(MODELS, apply_overrides({"model_name": "gan"}, [
        f"train.steps={steps}", "train.threads=1", "train.eval_every=100", "model.batch_size=128"]))


def wait_until(predicate, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def is_zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][:1] == "Z"
    except FileNotFoundError:
        return True


def test_launch_stop_resume_finish(home):
    job = jobs.launch(config(100_000), use_mlflow=False)
    assert (home / "var" / "jobs" / f"{job}.json").exists()
    assert jobs.run_dir_of(job).parent == home / "var" / "runs"
    wait_until(lambda: jobs.status(job).get("step", 0) >= 20)
    assert jobs.status(job)["state"] == "running"
    assert [j["id"] for j in jobs.list_jobs()] == [job]

    jobs.stop(job)
    stopped = wait_until(lambda: (s := jobs.status(job))["state"] == "stopped" and s)
    assert stopped["step"] >= 20 and (jobs.run_dir_of(job) / "checkpoint.pt").exists()
    pid = stopped["pid"]
    wait_until(lambda: jobs.reap() or pid not in jobs._CHILDREN)
    assert not os.path.exists(f"/proc/{pid}"), "a finished child is reaped, not left a zombie"

    # continue to a nearby total instead of 100,000 steps
    from engine.trainer import RunFiles

    files = RunFiles(jobs.run_dir_of(job))
    cfg = files.read_config()
    cfg.train.steps = stopped["step"] + 50
    cfg.save(files.config)
    jobs.resume(job, use_mlflow=False)
    done = wait_until(lambda: (s := jobs.status(job))["state"] == "finished" and s)
    assert done["step"] == stopped["step"] + 50


def test_a_killed_job_reads_as_failed_and_resumes_from_its_last_checkpoint(home):
    cfg = config(100_000)
    cfg.train.checkpoint_every = 100
    job = jobs.launch(cfg, use_mlflow=False)
    wait_until(lambda: jobs.status(job).get("step", 0) >= 150)
    os.kill(jobs.status(job)["pid"], signal.SIGKILL)
    state = wait_until(lambda: (s := jobs.status(job))["state"] == "failed" and s)
    assert "without saving" in state["message"]
    assert is_zombie_or_gone(state["pid"])

    from engine.trainer import RunFiles

    files = RunFiles(jobs.run_dir_of(job))
    saved = load_checkpoint(files.checkpoint)["step"]
    assert saved >= 100 and saved % 100 == 0
    cfg.train.steps = saved + 30
    cfg.save(files.config)
    jobs.resume(job, use_mlflow=False)
    assert wait_until(lambda: (s := jobs.status(job))["state"] == "finished" and s)["step"] == saved + 30
    steps = [json.loads(line)["step"] for line in files.metrics.read_text().splitlines()]
    assert steps == sorted(steps), "records logged after the checkpoint by the killed process are dropped"


def test_unknown_job_is_a_clear_error(home):
    with pytest.raises(FileNotFoundError, match="nope"):
        jobs.status("nope")


def test_several_jobs_launched_at_once_on_an_empty_home_all_finish_tracked(bare_home):
    """A new store is created and migrated once, under a lock, not by every job at once (issue 10)."""
    assert not (bare_home / "var" / "mlflow.db").exists()
    cfg = config(60)
    cfg.train.eval_every = 60
    launched = [jobs.launch(cfg, job_id=f"at-once-{i}") for i in range(4)]
    ended = [wait_until(lambda j=j: (s := jobs.status(j))["state"] in ("finished", "failed") and s, timeout=240)
             for j in launched]
    logs = {j: (jobs.run_dir_of(j) / "train.log").read_text()[-400:] for j in launched}
    assert [s["state"] for s in ended] == ["finished"] * 4, logs
    from engine.tracking import search_runs

    assert sorted(r["tags"]["run_dir"].rsplit("/", 1)[-1] for r in search_runs()) == sorted(launched)


def test_every_kind_is_listed_and_stopped_the_same_way(home, monkeypatch):
    monkeypatch.setitem(jobs.JOB_KINDS, "sleeper", jobs.JobKind(module="tests.integration.sleeper", log="sleep.log",
                                                                prepare_stores=False))
    workdir = home / "var" / "sleeper"
    jobs.start("sleeper", "sleeper-1", workdir, [str(workdir)])
    job = jobs.launch(config(100_000), use_mlflow=False)
    wait_until(lambda: jobs.status("sleeper-1").get("state") == "running")
    assert {j["id"]: j["kind"] for j in jobs.list_jobs()} == {"sleeper-1": "sleeper", job: "train"}
    assert [j["id"] for j in jobs.list_jobs(kind="sleeper")] == ["sleeper-1"]
    jobs.stop("sleeper-1")
    jobs.stop(job)
    assert wait_until(lambda: jobs.status("sleeper-1").get("state") == "stopped")
    assert wait_until(lambda: jobs.status(job)["state"] == "stopped")
