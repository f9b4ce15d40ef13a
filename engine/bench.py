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
