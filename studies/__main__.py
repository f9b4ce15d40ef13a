"""Command line: python -m studies {run,worker,list,report,stop,bench} (DESIGN.md section 6).

Exit codes as the engine's: 0 done, 1 the workers ended before N trials finished, 2 bad input (the message
names the field, the preset, the study or the storage URL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from engine.config import ConfigError

EXIT_BAD_INPUT = 2


def build_spec(args):
    from engine.metrics.registry import MODE_METRICS
    from engine.registry import MODELS, describe_data, resolve_config
    from studies.objective import StudySpec, check_objectives
    from studies.presets import preset_space
    from studies.spaces import check, read_study_file

    methods = [m.strip() for m in args.model.split(",") if m.strip()]
    for method in methods:
        if method not in MODELS:
            raise ConfigError(f"--model {method} is not a registered model ({', '.join(MODELS)})")
    if len(methods) > 1 and args.preset != "compare":
        raise ConfigError("--model lists several methods; only --preset compare trains several")
    if bool(args.preset) == bool(args.config):
        raise ConfigError("give exactly one of --preset NAME or --config FILE")
    space = preset_space(args.preset, methods) if args.preset else read_study_file(Path(args.config), methods[0])
    check(methods[0], space)
    spec = describe_data(args.data)  # a bad data name or file is an error now, not in every trial
    objectives = [o.strip() for o in args.objective.split(",") if o.strip()] if args.objective else (
        list(MODE_METRICS[:2]) if spec.mixture is not None else ["mean_error"])
    check_objectives(objectives, spec.mixture is not None, args.data)
    threads = max(1, (os.cpu_count() or 2) // max(1, args.workers))  # K workers on K cores
    sets = [f"train.threads={threads}", f"train.eval_every={max(1, args.steps // args.evals)}", *(args.set or [])]
    for method in space.methods(methods[0]):  # every trial's fixed settings must make a valid config
        resolve_config(method, args.data, [f"train.steps={args.steps}", *sets])
    return StudySpec(name=args.study, methods=methods, data=args.data, space=space, objectives=objectives,
                     steps=args.steps, n_trials=args.n_trials, train_seeds=args.train_seeds, seed=args.seed,
                     sets=sets, preset=args.preset, use_mlflow=not args.no_mlflow)


def cmd_run(args) -> int:
    from studies import runner

    if args.workers < 1 or args.n_trials < 1 or args.steps < 1:
        raise ConfigError("--workers, --n-trials and --steps must be at least 1")
    spec = build_spec(args)
    study, spec = runner.create_or_continue(spec, args.storage)
    if runner.finished(study) >= spec.n_trials:
        print(f"{spec.name}: already {runner.finished(study)} of {spec.n_trials} trials finished")
        return 0
    workers = runner.launch_workers(spec.name, args.workers, args.storage, spec.n_trials)
    print(f"study {spec.name}: {args.workers} worker(s) {', '.join(workers)}", flush=True)
    try:
        done = runner.wait_for(study, spec.n_trials, workers, echo=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        runner.stop_workers(spec.name)
        print("stopping the workers (their trials in flight checkpoint and end)", file=sys.stderr)
        return 130
    _finish_parent(study, spec, done)
    if done < spec.n_trials:
        print(f"error: the workers ended with {done} of {spec.n_trials} trials finished; see their logs under "
              f"var/studies/{spec.name}/workers/", file=sys.stderr)
        return 1
    _print_summary(study)
    return 0


def _finish_parent(study, spec, done: int) -> None:
    if spec.mlflow_parent_run_id and done >= spec.n_trials:
        from engine.tracking import end_run

        end_run(spec.mlflow_parent_run_id)


def cmd_worker(args) -> int:
    from studies.runner import run_worker

    ran = run_worker(args.study, args.storage, args.n_trials, Path(args.workdir) if args.workdir else None)
    print(f"worker ran {ran} trial(s) of {args.study}")
    return 0


def cmd_list(args) -> int:
    import optuna

    from studies.report import summary
    from studies.storage import open_storage

    storage = open_storage(args.storage)
    rows = [summary(optuna.load_study(study_name=s.study_name, storage=storage))
            for s in optuna.get_all_study_summaries(storage)]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no studies")
    for row in rows:
        methods = ",".join(row["methods"] or ["?"])
        print(f"{row['study']}: {methods} on {row['data']}, {row['finished']} of {row['target']} trials finished, "
              f"objectives {row['objectives']}")
    return 0


def cmd_report(args) -> int:
    from studies.report import importances, summary, trial_rows
    from studies.storage import load_study, open_storage

    study = load_study(args.study, open_storage(args.storage))
    payload = {**summary(study), "importances": importances(study), "trials": trial_rows(study)}
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    _print_summary(study, payload)
    return 0


def _print_summary(study, payload: dict | None = None) -> None:
    from studies.report import importances, summary

    payload = payload or {**summary(study), "importances": importances(study)}
    print(f"study {payload['study']}: {payload['finished']} of {payload['target']} trials finished "
          f"({', '.join(f'{k} {v}' for k, v in payload['counts'].items())})")
    label = "best trial" if len(payload["objectives"] or {}) == 1 else "Pareto set"
    print(f"{label}:")
    for row in payload["best"]:
        values = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("trial", "config"))
        config = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["config"].items())
        print(f"  trial {row['trial']}: {values}  [{config}]")
    for name, found in payload["importances"].items():
        shown = found if isinstance(found, str) else ", ".join(f"{k} {v:.2f}" for k, v in found.items())
        print(f"importances for {name}: {shown}")


def cmd_bench(args) -> int:
    """Trials per hour of short GAN trials with 1..K workers on one storage, and the storage's share of trial time.
    Two objectives, so no trial is pruned and every trial trains the same number of steps."""
    import time

    from engine import jobs
    from studies import runner
    from studies.report import trial_rows
    from studies.storage import shown_url, storage_url

    os.environ[runner.PROFILE_ENV] = "1"  # the workers time their storage calls
    space = Path(args.space_file or "var/studies/throughput-space.yaml")
    space.parent.mkdir(parents=True, exist_ok=True)
    space.write_text("params:\n  lr_g: {low: 0.0005, high: 0.002, log: true}\n")
    lines = ["| storage | workers | trials | wall s | trials per hour | mean trial s | storage s per trial "
             "| storage share |", "|---|---|---|---|---|---|---|---|"]
    for k in [int(w) for w in args.workers.split(",")]:
        name = f"throughput-k{k}-{time.strftime('%Y%m%d-%H%M%S')}"
        ns = argparse.Namespace(study=name, model="gan", data="ring8", preset=None, config=str(space),
                                 n_trials=args.n_trials, steps=args.steps, evals=4, objective="modes,hq_pct",
                                 train_seeds=1, set=[], storage=args.storage, workers=k, seed=0, no_mlflow=False)
        study, spec = runner.create_or_continue(build_spec(ns), args.storage)
        start = time.monotonic()
        ids = runner.launch_workers(name, k, args.storage, spec.n_trials)
        runner.wait_for(study, spec.n_trials, ids, echo=lambda line: None)
        while any(jobs.status(j).get("state") in ("queued", "running") for j in ids):
            time.sleep(0.5)
        wall = time.monotonic() - start
        rows = [r for r in trial_rows(study) if r["state"] == "COMPLETE"]
        trial_s = sum(r["duration_s"] for r in rows)
        storage_s = sum(jobs.status(j).get("storage_s", 0.0) for j in ids)
        lines.append(f"| {shown_url(storage_url(args.storage)).split(':')[0]} | {k} | {len(rows)} | {wall:.0f} | "
                     f"{3600 * len(rows) / wall:.0f} | {trial_s / len(rows):.1f} | {storage_s / len(rows):.2f} | "
                     f"{100 * storage_s / trial_s:.2f} % |")
        print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


def cmd_stop(args) -> int:
    from studies.runner import stop_workers

    stopped = stop_workers(args.study)
    print(f"asked {len(stopped)} worker(s) of {args.study} to stop")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studies", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    storage_help = "SQLAlchemy URL (default $MODESCOPE_OPTUNA_STORAGE or sqlite:///var/optuna.db)"

    s = sub.add_parser("run", help="create or continue a study and run K workers until N trials finished")
    s.add_argument("--study", required=True)
    s.add_argument("--model", required=True, help="method (comma-separated for --preset compare)")
    s.add_argument("--data", required=True)
    s.add_argument("--preset", help="a study preset (presgan-lambda, presgan-lambda-grid, bms-T, alpha-recon, "
                                    "compare)")
    s.add_argument("--config", help="a study file (YAML/JSON): params, fixed, sampler, grid")
    s.add_argument("--n-trials", type=int, default=20)
    s.add_argument("--steps", type=int, default=2_000, help="training steps per trial run")
    s.add_argument("--evals", type=int, default=10, help="evaluations per run (what the pruner sees)")
    s.add_argument("--objective", help="comma-separated metrics (default modes,hq_pct; mean_error without modes)")
    s.add_argument("--train-seeds", type=int, default=1, help="training seeds per trial; objectives average them")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="fixed for every trial, e.g. model.lr_g=1e-3")
    s.add_argument("--storage", help=storage_help)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--seed", type=int, default=0, help="the sampler's seed and the first training seed")
    s.add_argument("--no-mlflow", action="store_true")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("worker", help="run trials of an existing study until it has N finished")
    s.add_argument("--study", required=True)
    s.add_argument("--storage", help=storage_help)
    s.add_argument("--n-trials", type=int, help="finished trials to reach (default: the study's target)")
    s.add_argument("--workdir", help="where this worker writes status.json (set by `run`)")
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser("list", help="studies in the storage")
    s.add_argument("--storage", help=storage_help)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("report", help="best trials / Pareto set / importances")
    s.add_argument("--study", required=True)
    s.add_argument("--storage", help=storage_help)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("bench", help="throughput: trials per hour and the storage's share of trial time")
    s.add_argument("--storage", help=storage_help)
    s.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    s.add_argument("--n-trials", type=int, default=6)
    s.add_argument("--steps", type=int, default=2_000)
    s.add_argument("--space-file", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("stop", help="ask the study's workers on this machine to stop")
    s.add_argument("--study", required=True)
    s.set_defaults(func=cmd_stop)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
