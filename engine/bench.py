"""Benchmark suites: train each (method, dataset, seed), print measured figures beside published ones."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
from pathlib import Path

import torch

from engine.paths import REPO_ROOT, var_dir
from engine.data.synthetic import MIXTURES
from engine.registry import MODELS, load_dataset, preset_sections, resolve_config  # the registry imports torch

SUITES = {"synthetic": ("ring8", "grid25", "hd1200")}
PUBLISHED = REPO_ROOT / "assets" / "published.json"
TRUE_SAMPLE_SEED = 10_000  # draws of the reference row, apart from the training set's seed


def run_suite(suite: str, models: list[str], seeds: int, steps: int, overrides: list[str],
              use_mlflow: bool = True, datasets: list[str] | None = None, first_seed: int = 0,
              echo=lambda line: print(line, flush=True)) -> str:
    """Train every combination in this process, one after another; return a Markdown table.

    Each run keeps its directory under var/bench/<suite>-<time>/, so `report_table` can rebuild the table
    from them if the suite is stopped part way."""
    from engine.trainer import train

    # the process id keeps two benches started in the same second apart
    root = var_dir() / "bench" / f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dirs = []
    for model in models:
        for dataset in datasets or SUITES[suite]:
            for seed in range(first_seed, first_seed + seeds):
                loop = [f"train.{k}={v}" for k, v in (("steps", steps), ("seed", seed), ("eval_every", steps),
                                                      ("checkpoint_every", steps), ("threads", 2))]
                cfg = resolve_config(model, dataset, [*loop, *overrides])
                run_dir = root / f"{model}-{dataset}-s{seed}"
                code = train(cfg, run_dir, use_mlflow=use_mlflow).code
                result, wall = _read_run(run_dir)
                echo(f"{model} {dataset} seed {seed}: exit {code}, {wall:.0f} s, {_short(result)}")
                run_dirs.append(run_dir)
    return report_table(run_dirs) + f"\n{seeds} seeds each; runs in {root}\n"


def report_table(run_dirs: list[Path]) -> str:
    """The Markdown table of finished bench runs (directories holding config.json, status.json and, once
    evaluated, eval.json), one row per (method, data set, steps) in order of first appearance."""
    published = json.loads(PUBLISHED.read_text())
    groups: dict[tuple, list[tuple[dict, float]]] = {}
    eval_sizes: dict[str, int] = {}
    for run_dir in run_dirs:
        config = json.loads((Path(run_dir) / "config.json").read_text())
        key = (config["model_name"], config["data"]["name"], config["train"]["steps"])
        groups.setdefault(key, []).append(_read_run(Path(run_dir)))
        eval_sizes.setdefault(config["data"]["name"], config["train"]["eval_samples"])
    header = ("| method | dataset | steps | modes | HQ % | reverse KL | noisy modes / HQ % | published modes / HQ % "
              "| wall s per run | runs evaluated |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = [_row(model, dataset, steps, [r for r, _ in runs], [w for _, w in runs],
                 published.get(model, {}).get(dataset)) for (model, dataset, steps), runs in groups.items()]
    rows += [_data_row(name, n) for name, n in eval_sizes.items() if name in MIXTURES]
    return header + "\n" + "\n".join(rows) + "\n"


def _data_row(dataset: str, n: int, draws: int = 3) -> str:
    """The metrics of `draws` sets of n true samples: the most a model that matches the data can score (a
    generator narrower than the data can score more HQ)."""
    from engine.metrics.modes import mode_metrics

    mixture = MIXTURES[dataset]()
    results = [mode_metrics(mixture.sample(n, seed=TRUE_SAMPLE_SEED + i)[0], mixture) for i in range(draws)]
    cols = [_mean_std([r[k] for r in results]) for k in ("modes", "hq_pct", "reverse_kl")]
    return f"| true samples | {dataset} | - | {' | '.join(cols)} | - | - | - | {draws} draws of {n} |"


def _read_run(run_dir: Path) -> tuple[dict, float]:
    """(final evaluation or {} if the run did not finish, training seconds from its status file)."""
    eval_file, status_file = run_dir / "eval.json", run_dir / "status.json"
    status = json.loads(status_file.read_text()) if status_file.exists() else {}
    result = json.loads(eval_file.read_text()) if eval_file.exists() and status.get("state") == "finished" else {}
    return result, float(status.get("elapsed", math.nan))


def _short(result: dict) -> str:
    return ", ".join(f"{k} {result[k]}" for k in ("modes", "hq_pct", "reverse_kl") if k in result) or "no evaluation"


def _mean_std(values: list) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def _noisy(results: list[dict]) -> str:
    """Mean modes / HQ % of the noisy samples G(z) + sigma * eps, for models with an observation model."""
    noisy = [r for r in results if "noisy_modes" in r]
    if not noisy:
        return "-"
    return " / ".join(f"{statistics.mean(r[k] for r in noisy):.1f}" for k in ("noisy_modes", "noisy_hq_pct"))


def _row(model, dataset, steps, results, walls, published) -> str:
    cols = [_mean_std([r.get(k) for r in results]) for k in ("modes", "hq_pct", "reverse_kl")] + [_noisy(results)]
    ref = f"{published['modes']} / {published['hq_pct']} ({published['source']})" if published else "-"
    finite = [w for w in walls if math.isfinite(w)]
    wall = f"{statistics.mean(finite):.0f}" if finite else "n/a"
    done = sum(1 for r in results if r)
    return f"| {model} | {dataset} | {steps} | {' | '.join(cols)} | {ref} | {wall} | {done} of {len(results)} |"


def write_report(table: str, out: Path | None) -> None:
    if out:
        Path(out).write_text(table)


# extra rows of the speed suite: (label, method, config overrides) beside each method at its preset
SPEED_VARIANTS = [("presgan, hmc_gradient=prior", "presgan", {"hmc_gradient": "prior"}),
                  # the official code's batch: per-call overheads hide part of HMC's 20 generator passes there
                  ("presgan, batch_size=64", "presgan", {"batch_size": 64}),
                  ("presgan, hmc_gradient=prior, batch_size=64", "presgan", {"hmc_gradient": "prior", "batch_size": 64}),
                  # where BMS's time goes: its 750-unit code discriminator, and the T samples
                  ("bms_vae_gan, c_hidden=128", "bms_vae_gan", {"c_hidden": 128}),
                  ("bms_vae_gan, num_samples=1", "bms_vae_gan", {"num_samples": 1})]


def speed_table(models: list[str], iterations: int = 200, repeats: int = 3, threads: int = 1,
                dataset: str = "ring8", echo=lambda line: print(line, flush=True)) -> str:
    """ms per train_step of each method on `dataset` (with its preset), relative to the GAN on the same networks.

    "Same networks": for each method a GAN is built whose every config field shared with the method (latent
    size, widths, depths, activation, batch size, learning rates) takes the method's value, so the ratio is
    the method's own cost over a GAN step on its generator and discriminator, as the issue's anchor (the
    official PresGAN code against its own DCGAN) measures it. Networks only one method has (encoders, code
    discriminators) count as the method's cost. The median of `repeats` timings of `iterations` steps each
    after 20 warm-up steps, the method and its GAN timed alternately in one process.
    """
    torch.set_num_threads(threads)
    data = load_dataset(dataset)  # the default 60,000 training points, data seed 0
    rows = [(name, name, {}) for name in models]
    rows += [variant for variant in SPEED_VARIANTS if variant[1] in models]
    lines = []
    for label, name, extra in rows:
        cls = MODELS[name]
        config = dataclasses.replace(cls.Config(), **{**preset_sections(name, dataset)["model"], **extra})
        gan_config, shared = same_network_gan(config)
        method_ms, gan_ms = _time_alternately([(cls, config), (MODELS["gan"], gan_config)], data, iterations,
                                              repeats)
        nets = ", ".join(f"{k} {v}" for k, v in shared.items() if not k.startswith(("lr", "beta")))
        lines.append(f"| {label} | {method_ms:.2f} | {gan_ms:.2f} | {method_ms / gan_ms:.2f}x | {nets} |")
        echo(lines[-1])
    return ("| method | ms per iteration | GAN on the same networks, ms | ratio | shared settings |\n"
            "|---|---|---|---|---|\n" + "\n".join(lines)
            + f"\n\n{dataset} with each method's preset, {threads} torch thread(s), median of {repeats} x "
              f"{iterations} steps\n")


def same_network_gan(config) -> tuple:
    """The GAN config taking every field it shares with a method's config from it, and those shared fields."""
    gan_fields = {f.name for f in dataclasses.fields(MODELS["gan"].Config)}
    shared = {k: v for k, v in dataclasses.asdict(config).items() if k in gan_fields}
    return dataclasses.replace(MODELS["gan"].Config(), **shared), shared


def _time_alternately(builds, data, iterations: int, repeats: int) -> list[float]:
    """Median ms per train_step of each (model class, config), timing them in turn so that a change in the
    machine's load hits all of them alike."""
    timed = []
    for cls, config in builds:
        torch.manual_seed(0)
        model = cls(config, data.spec)
        batches = torch.Generator().manual_seed(1)

        def steps(n: int, model=model, batches=batches) -> float:
            start = time.perf_counter()
            for _ in range(n):
                model.train_step(data.x[torch.randint(len(data.x), (model.config.batch_size,), generator=batches)])
            return (time.perf_counter() - start) / n * 1000

        steps(20)
        timed.append((steps, []))
    for _ in range(repeats):
        for steps, results in timed:
            results.append(steps(iterations))
    return [statistics.median(results) for _, results in timed]
