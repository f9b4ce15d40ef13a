"""Studies end to end on SQLite: the CLI, a two-objective Pareto set, MLflow parent/child runs, pruning."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import optuna
import pytest

from tests.conftest import REPO

TINY = ["model.g_hidden=8", "model.d_hidden=8", "model.latent_dim=4", "model.batch_size=32", "train.eval_samples=300"]


def studies(*args: str, timeout: float = 400, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "studies", *args], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def tiny_run_args(name: str, space, n_trials: int = 3, steps: int = 40, extra=()) -> list[str]:
    return ["run", "--study", name, "--model", "gan", "--data", "ring8", "--config", str(space), "--n-trials",
            str(n_trials), "--steps", str(steps), "--evals", "2", *[a for s in TINY for a in ("--set", s)], *extra]


@pytest.fixture
def gan_space(home):
    path = home / "space.yaml"
    path.write_text("params:\n  lr_g: {low: 0.0001, high: 0.01, log: true}\n  lr_d: {low: 0.0001, high: 0.01, "
                    "log: true}\n")
    return path


def pareto_by_hand(rows: list[dict], objectives: dict[str, str]) -> set[int]:
    """Complete trials that no other complete trial dominates."""
    done = [r for r in rows if r["state"] == "COMPLETE"]

    def at_least(a, b, name):
        return a[name] >= b[name] if objectives[name] == "maximize" else a[name] <= b[name]

    def dominates(a, b):
        return all(at_least(a, b, n) for n in objectives) and any(a[n] != b[n] for n in objectives)

    return {r["trial"] for r in done if not any(dominates(o, r) for o in done if o is not r)}


def test_a_two_objective_study_runs_reports_its_pareto_set_and_nests_its_mlflow_runs(home, gan_space):
    done = studies(*tiny_run_args("two", gan_space, n_trials=3, extra=["--objective", "modes,reverse_kl"]))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 of 3 trials finished" in done.stdout and (home / "var" / "optuna.db").exists()

    report = json.loads(studies("report", "--study", "two", "--json").stdout)
    assert report["objectives"] == {"modes": "maximize", "reverse_kl": "minimize"}
    rows = report["trials"]
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert {b["trial"] for b in report["best"]} == pareto_by_hand(rows, report["objectives"])

    from mlflow import MlflowClient

    from engine.tracking import tracking_uri

    client = MlflowClient(tracking_uri=tracking_uri())
    parent = client.get_run(report["mlflow_parent_run_id"])
    assert parent.data.tags["study"] == "two" and parent.data.tags["modescope.kind"] == "study"
    assert parent.info.status == "FINISHED"
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 3
    by_id = {c.info.run_id: c for c in children}
    for row in rows:  # trial -> run id (user attribute) and run -> study and trial (tags), values the same
        (run_id,) = row["mlflow_run_ids"]
        child = by_id[run_id]
        assert child.data.tags["study"] == "two" and int(child.data.tags["trial"]) == row["trial"]
        assert child.data.metrics["eval/modes"] == row["modes"]
        eval_json = json.loads((home / "var" / "studies" / "two" / f"trial-{row['trial']:05d}-s0" / "eval.json")
                               .read_text())
        assert eval_json["modes"] == row["modes"]
    assert "best/modes" in parent.data.metrics

    listed = json.loads(studies("list", "--json").stdout)
    assert [(s["study"], s["finished"]) for s in listed] == [("two", 3)]


def test_run_continues_an_existing_study_to_a_higher_target(home, gan_space):
    assert studies(*tiny_run_args("more", gan_space, n_trials=1)).returncode == 0
    again = studies(*tiny_run_args("more", gan_space, n_trials=2))
    assert again.returncode == 0, again.stderr[-2000:]
    from studies.storage import load_study, open_storage

    study = load_study("more", open_storage())
    assert len(study.trials) == 2 and {t.state.name for t in study.trials} == {"COMPLETE"}


@pytest.mark.parametrize("args, needle", [
    (["report", "--study", "nope"], "--study nope does not exist"),
    (["run", "--study", "x", "--model", "bms_vae_gan", "--data", "ring8", "--preset", "presgan-lambda"],
     "--preset presgan-lambda is for presgan, not bms_vae_gan"),
    (["list", "--storage", "postgresql+psycopg2://u:secret@127.0.0.1:1/db"], "--storage postgresql+psycopg2://u:***"),
    (["run", "--study", "x", "--model", "presgan", "--data", "ring8", "--preset", "presgan-lambda",
      "--objective", "modes,fid"], "--objective fid is not a study objective"),
    (["run", "--study", "x", "--model", "presgan", "--data", "ring8", "--preset", "presgan-lambda", "--set",
      "model.batch_size=0"], "model.batch_size=0"),
    (["run", "--study", "x", "--model", "gan", "--data", "ring8"], "exactly one of --preset NAME or --config FILE"),
])
def test_bad_input_exits_2_with_one_line_naming_it(home, args, needle, capsys):
    from studies.__main__ import main

    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "secret" not in err


def test_an_objective_that_needs_modes_is_refused_on_a_users_vectors(home, tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "own.npy", np.random.default_rng(0).standard_normal((500, 2)).astype("float32"))
    from studies.__main__ import main

    assert main(["run", "--study", "own", "--model", "presgan", "--data", f"vectors:{tmp_path / 'own.npy'}",
                 "--preset", "presgan-lambda", "--objective", "modes"]) == 2
    assert "needs a data set with known modes" in capsys.readouterr().err


def test_a_trial_far_below_the_median_is_pruned_on_a_single_objective(home):
    """Four finished trials held 8 modes at every evaluation; a 4-unit GAN after a few dozen steps holds far
    fewer, so the percentile rule prunes it at its first evaluation after the warm-up."""
    from studies import runner
    from studies.objective import StudySpec, run_trial
    from studies.spaces import Dimension, Space

    space = Space([Dimension("lr_g", "model.lr_g", low=1e-4, high=1e-3, log=True)])
    spec = StudySpec(name="prune", methods=["gan"], data="ring8", space=space, objectives=["modes"], steps=80,
                     n_trials=6, sets=[*TINY, "train.eval_every=10", "train.threads=1"], use_mlflow=False)
    study = optuna.create_study(direction="maximize", pruner=runner.make_pruner(spec))
    distribution = {"lr_g": space.dimensions[0].distribution()}
    for _ in range(4):
        study.add_trial(optuna.create_trial(value=8.0, params={"lr_g": 5e-4}, distributions=distribution,
                                            intermediate_values={s: 8.0 for s in range(10, 81, 10)}))
    from engine.data.synthetic import MIXTURES

    study.optimize(lambda t: run_trial(t, spec, 0.01, MIXTURES["ring8"]()), n_trials=1)
    last = study.trials[-1]
    assert last.state == optuna.trial.TrialState.PRUNED
    # warm-up: a quarter of the 80 steps, so step 10 is never pruned and step 20 is the first that may be
    assert sorted(last.intermediate_values) == [10, 20]
    from engine.trainer import RunFiles

    status = RunFiles(home / "var" / "studies" / "prune" / "trial-00004-s0").read_status()
    assert status["state"] == "pruned" and status["step"] == max(last.intermediate_values)


def test_the_pruner_stops_only_the_worst_quarter_after_the_warm_up():
    from studies import runner
    from studies.objective import StudySpec
    from studies.spaces import Space

    spec = StudySpec(name="p", methods=["gan"], data="ring8", space=Space([]), objectives=["modes"], steps=80,
                     n_trials=8)
    study = optuna.create_study(direction="maximize", pruner=runner.make_pruner(spec))
    for value in (2.0, 4.0, 6.0, 8.0):  # the 25th percentile at every step is 3.5, the median 5
        study.add_trial(optuna.create_trial(value=value, intermediate_values={s: value for s in (10, 40)}))
    below_median, worst = study.ask(), study.ask()
    below_median.report(4.5, 40)
    worst.report(3.0, 40)
    assert not below_median.should_prune() and worst.should_prune()
    early = study.ask()
    early.report(0.0, 10)  # inside the warm-up (a quarter of 80 steps)
    assert not early.should_prune()
    assert isinstance(runner.make_pruner(StudySpec(**{**spec.__dict__, "objectives": ["modes", "hq_pct"]})),
                      optuna.pruners.NopPruner)


def test_stopping_a_study_stops_its_worker_and_checkpoints_the_trial_in_flight(home, gan_space):
    import time

    from engine import jobs
    from engine.trainer import RunFiles
    from studies import runner
    from studies.__main__ import build_spec, parser

    args = parser().parse_args(tiny_run_args("halt", gan_space, n_trials=3, steps=100_000))
    study, spec = runner.create_or_continue(build_spec(args))
    (worker,) = runner.launch_workers("halt", 1, None, spec.n_trials)
    run_dir = home / "var" / "studies" / "halt" / "trial-00000-s0"
    deadline = time.monotonic() + 120
    while RunFiles(run_dir).read_status().get("step", 0) < 50:
        assert time.monotonic() < deadline, jobs.status(worker)
        time.sleep(0.2)
    assert runner.stop_workers("halt") == [worker]
    while jobs.status(worker).get("state") not in ("stopped", "failed", "finished"):
        assert time.monotonic() < deadline + 60, jobs.status(worker)
        time.sleep(0.2)
    assert jobs.status(worker)["state"] == "stopped"
    run = RunFiles(run_dir).read_status()
    assert run["state"] == "stopped" and (run_dir / "checkpoint.pt").exists() and not (run_dir / "STOP").exists()
    (trial,) = study.get_trials(deepcopy=False)
    assert trial.state == optuna.trial.TrialState.FAIL  # it did not finish, so it does not count toward N
