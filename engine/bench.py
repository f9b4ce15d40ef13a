"""Benchmark suites: train each (method, dataset, seed), print measured figures beside published ones."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

from engine.config import apply_overrides, build_run_config
from engine.paths import REPO_ROOT, var_dir
from engine.registry import MODELS

SUITES = {"synthetic": ("ring8", "grid25", "hd1200")}
PUBLISHED = REPO_ROOT / "assets" / "published.json"


def run_suite(suite: str, models: list[str], seeds: int, steps: int, overrides: list[str],
              use_mlflow: bool = True, datasets: list[str] | None = None,
              echo=lambda line: print(line, flush=True)) -> str:
    """Train every combination in this process, one after another; return a Markdown table."""
    from engine.trainer import train

    published = json.loads(PUBLISHED.read_text())
    root = var_dir() / "bench" / f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = []
    for model in models:
        for dataset in datasets or SUITES[suite]:
            results, walls = [], []
            for seed in range(seeds):
                preset = MODELS[model].PRESETS.get(dataset, {})
                raw = apply_overrides({"model_name": model, "data": {"name": dataset}, "model": dict(preset),
                                       "train": {"steps": steps, "seed": seed, "eval_every": steps,
                                                 "checkpoint_every": steps, "threads": 2}}, overrides)
                cfg = build_run_config(MODELS, raw)
                run_dir = root / f"{model}-{dataset}-s{seed}"
                start = time.perf_counter()
                code = train(cfg, run_dir, use_mlflow=use_mlflow)
                walls.append(time.perf_counter() - start)
                result = json.loads((run_dir / "eval.json").read_text()) if code == 0 else {}
                results.append(result)
                echo(f"{model} {dataset} seed {seed}: exit {code}, {walls[-1]:.0f} s, {_short(result)}")
            rows.append(_row(model, dataset, steps, results, walls, published.get(model, {}).get(dataset)))
    header = ("| method | dataset | steps | modes | HQ % | reverse KL | published modes / HQ % | wall s per run |\n"
              "|---|---|---|---|---|---|---|---|")
    return header + "\n" + "\n".join(rows) + f"\n\n{seeds} seeds each; runs in {root}\n"


def _short(result: dict) -> str:
    return ", ".join(f"{k} {result[k]}" for k in ("modes", "hq_pct", "reverse_kl") if k in result)


def _mean_std(values: list) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def _row(model, dataset, steps, results, walls, published) -> str:
    cols = [_mean_std([r.get(k) for r in results]) for k in ("modes", "hq_pct", "reverse_kl")]
    ref = f"{published['modes']} / {published['hq_pct']} ({published['source']})" if published else "-"
    return f"| {model} | {dataset} | {steps} | {' | '.join(cols)} | {ref} | {statistics.mean(walls):.0f} |"


def write_report(table: str, out: Path | None) -> None:
    if out:
        Path(out).write_text(table)


def speed_table(models: list[str], iterations: int = 200, repeats: int = 3, threads: int = 1,
                echo=lambda line: print(line, flush=True)) -> str:
    """ms per train_step on ring8 for each method, relative to the GAN on the same networks.

    "Same networks": every field the method's config shares with the GAN's (widths, depths, latent
    size, batch size, learning rates) is set to the GAN's default; the rest keep the method's defaults.
    The median of `repeats` timings of `iterations` steps each, after 20 warm-up steps, in one process.
    """
    import dataclasses

    import torch

    from engine.registry import load_dataset

    torch.set_num_threads(threads)
    data = load_dataset("ring8", 60_000, 0)
    gan_defaults = dataclasses.asdict(MODELS["gan"].Config())
    timings = {}
    for name in ["gan", *[m for m in models if m != "gan"]]:
        cls = MODELS[name]
        shared = {f.name: gan_defaults[f.name] for f in dataclasses.fields(cls.Config) if f.name in gan_defaults}
        torch.manual_seed(0)
        model = cls(dataclasses.replace(cls.Config(), **shared), data.spec)
        batches = torch.Generator().manual_seed(1)

        def steps(n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                model.train_step(data.x[torch.randint(len(data.x), (model.config.batch_size,), generator=batches)])
            return (time.perf_counter() - start) / n * 1000

        steps(20)
        timings[name] = statistics.median(steps(iterations) for _ in range(repeats))
        echo(f"{name}: {timings[name]:.2f} ms per iteration")
    rows = [f"| {name} | {ms:.2f} | {ms / timings['gan']:.2f}x |" for name, ms in timings.items()]
    return ("| method | ms per iteration | relative to gan |\n|---|---|---|\n" + "\n".join(rows)
            + f"\n\nring8, batch {gan_defaults['batch_size']}, {threads} torch thread(s), median of {repeats} x "
              f"{iterations} steps\n")
