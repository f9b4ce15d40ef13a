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
from engine.metrics.registry import describe
from engine.registry import MODELS, load_dataset, preset_sections, resolve_config  # the registry imports torch

SUITES = {"synthetic": ("ring8", "grid25", "hd1200"), "images": ("stacked_mnist",)}
# settings a suite adds before the user's --set: the image suite builds Stacked MNIST from the 5,000 shipped digits
SUITE_SETS = {"images": ["data.source=mnist5k"]}
LOOP_SETS = ["train.keep_weights=false"]  # bench runs are compared at their end: no weights per evaluation
PUBLISHED = REPO_ROOT / "assets" / "published.json"
TRUE_SAMPLE_SEED = 10_000  # draws of the reference row, apart from the training set's seed


def run_suite(suite: str, models: list[str], seeds: int, steps: int, overrides: list[str],
              use_mlflow: bool = True, datasets: list[str] | None = None, first_seed: int = 0,
              echo=lambda line: print(line, flush=True)) -> str:
    """Train every combination in this process, one after another; return a Markdown table.

    Each run keeps its directory under var/bench/<suite>-<time>/, so `report_table` can rebuild the table
    from them if the suite is stopped part way."""
    from engine.trainer import EXIT_INTERRUPTED, train

    # the process id keeps two benches started in the same second apart
    root = var_dir() / "bench" / f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dirs = []
    for model in models:
        for dataset in datasets or SUITES[suite]:
            for seed in range(first_seed, first_seed + seeds):
                loop = [f"train.{k}={v}" for k, v in (("steps", steps), ("seed", seed), ("eval_every", steps),
                                                      ("checkpoint_every", steps), ("threads", 2))]
                cfg = resolve_config(model, dataset,
                                     [*loop, *LOOP_SETS, *SUITE_SETS.get(suite, []), *overrides])
                run_dir = root / f"{model}-{dataset}-s{seed}"
                code = train(cfg, run_dir, use_mlflow=use_mlflow).code
                result, wall = _read_run(run_dir)
                echo(f"{model} {dataset} seed {seed}: exit {code}, {wall:.0f} s, {_short(result)}")
                run_dirs.append(run_dir)
                if code == EXIT_INTERRUPTED:  # SIGTERM or Ctrl-C stops the suite, not only the run in flight
                    return report_table(run_dirs) + f"\nstopped during {run_dir.name}; runs in {root}\n"
    return report_table(run_dirs) + f"\n{seeds} seeds each; runs in {root}\n"


# the figures a table reports per evaluation hook, and the noisy ones beside them (the first two)
TABLE_FIGURES = {"mixture": ("modes", "hq_pct", "reverse_kl"), "digits": ("modes", "reverse_kl", "fd", "coverage"),
                 "stacked_digits": ("modes", "reverse_kl", "fd", "coverage")}


def report_table(run_dirs: list[Path]) -> str:
    """The Markdown table of finished bench runs (directories holding config.json, status.json and, once
    evaluated, eval.json), one row per (method, data set, steps) in order of first appearance; the columns are
    the figures of the first run's data (mixtures: modes / HQ % / KL; digit sets: modes / KL / FD / coverage)."""
    published = json.loads(PUBLISHED.read_text())
    groups: dict[tuple, list[tuple[dict, float]]] = {}
    data_configs: dict[str, tuple[dict, int]] = {}
    for run_dir in run_dirs:
        config = json.loads((Path(run_dir) / "config.json").read_text())
        key = (config["model_name"], config["data"]["name"], config["train"]["steps"])
        groups.setdefault(key, []).append(_read_run(Path(run_dir)))
        data_configs.setdefault(config["data"]["name"], (config["data"], config["train"]["eval_samples"]))
    spec = _spec_json(Path(run_dirs[0])) if run_dirs else {}
    hook = spec.get("metrics") or (_described_hook(next(iter(data_configs.values()))[0]) if run_dirs else "mixture")
    figures = TABLE_FIGURES.get(hook, TABLE_FIGURES["mixture"])
    columns = [describe(name).column for name in figures]
    header = (f"| method | dataset | steps | {' | '.join(columns)} | noisy {' / '.join(columns[:2])} "
              f"| published {' / '.join(columns[:2])} | wall s per run | runs evaluated |\n"
              + "|---" * (len(figures) + 7) + "|")
    rows = [_row(model, dataset, steps, [r for r, _ in runs], [w for _, w in runs],
                 published.get(model, {}).get(dataset), figures) for (model, dataset, steps), runs in groups.items()]
    rows += [_data_row(data, n, figures) for data, n in data_configs.values()
             if data["name"] in MIXTURES or hook in TRUE_IMAGE_HOOKS]
    space = f"\nFD and coverage in {spec.get('feature_space', '?')}\n" if "fd" in figures else ""
    return header + "\n" + "\n".join(rows) + "\n" + space


TRUE_IMAGE_HOOKS = ("digits", "stacked_digits")


def _spec_json(run_dir: Path) -> dict:
    """A run's spec.json ({} for runs written before it existed)."""
    try:
        return json.loads((run_dir / "spec.json").read_text())
    except (OSError, ValueError):
        return {}


def _described_hook(data: dict) -> str:
    from engine.config import DataConfig
    from engine.registry import describe_data

    return describe_data(DataConfig(**data)).metrics


def _data_row(data: dict, n: int, figures: tuple[str, ...], draws: int = 3) -> str:
    """The metrics of `draws` sets of n true samples: the most a model that matches the data can score (a
    generator narrower than the data can score more HQ). Image sets: n test-split images (Stacked MNIST's
    triples drawn afresh per draw) scored against the training split as a model's samples are."""
    from engine.config import DataConfig
    from engine.evaluation import sample_metrics
    from engine.metrics.modes import mode_metrics

    if data["name"] in MIXTURES:
        mixture = MIXTURES[data["name"]]()
        results = [mode_metrics(mixture.sample(n, seed=TRUE_SAMPLE_SEED + i)[0], mixture) for i in range(draws)]
    else:
        train = load_dataset(DataConfig(**data))
        results = []
        for i in range(draws):
            real = load_dataset(DataConfig(**{**data, "n_test": n, "seed": TRUE_SAMPLE_SEED + i}), "test").x[:n]
            results.append(sample_metrics(real.reshape(len(real), -1).numpy(), train))
        n = len(real)
    cols = [_mean_std([r.get(k) for r in results]) for k in figures]
    return f"| true samples | {data['name']} | - | {' | '.join(cols)} | - | - | - | {draws} draws of {n} |"


def _read_run(run_dir: Path) -> tuple[dict, float]:
    """(final evaluation or {} if the run did not finish, training seconds from its status file)."""
    eval_file, status_file = run_dir / "eval.json", run_dir / "status.json"
    status = json.loads(status_file.read_text()) if status_file.exists() else {}
    result = json.loads(eval_file.read_text()) if eval_file.exists() and status.get("state") == "finished" else {}
    return result, float(status.get("elapsed", math.nan))


def _short(result: dict) -> str:
    shown = ("modes", "hq_pct", "reverse_kl", "fd")
    return ", ".join(f"{k} {result[k]:.4g}" for k in shown if result.get(k) is not None) or "no evaluation"


def _mean_std(values: list) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def _noisy(results: list[dict], figures: tuple[str, ...]) -> str:
    """Mean of the first two figures on the noisy samples G(z) + sigma * eps, for models with an observation
    model."""
    keys = [f"noisy_{name}" for name in figures[:2]]
    noisy = [r for r in results if all(k in r for k in keys)]
    if not noisy:
        return "-"
    return " / ".join(f"{statistics.mean(r[k] for r in noisy):.1f}" for k in keys)


def _row(model, dataset, steps, results, walls, published, figures) -> str:
    cols = [_mean_std([r.get(k) for r in results]) for k in figures] + [_noisy(results, figures)]
    shown = [str(published[k]) for k in figures[:2] if k in (published or {})]
    ref = f"{' / '.join(shown)} ({published['source']})" if shown else "-"
    finite = [w for w in walls if math.isfinite(w)]
    wall = f"{statistics.mean(finite):.0f}" if finite else "n/a"
    done = sum(1 for r in results if r)
    return f"| {model} | {dataset} | {steps} | {' | '.join(cols)} | {ref} | {wall} | {done} of {len(results)} |"


def loglik_table(run_dirs: list[Path], options, points: int = 500,
                 echo=lambda line: print(line, flush=True)) -> str:
    """Held-out log-likelihood of finished bench runs (engine.metrics.likelihood, cached in each run), one row per
    (method, data set, steps): the estimators' nats per example (mean ± std over seeds), for data of known
    density the data's own figure and the gap to it (an estimate of KL(p_data || p_model))."""
    from engine.analysis import loglik_of_run

    groups: dict[tuple, list[dict]] = {}
    for run_dir in run_dirs:
        config = json.loads((Path(run_dir) / "config.json").read_text())
        if json.loads((Path(run_dir) / "status.json").read_text()).get("state") != "finished":
            continue
        _, summary, _, cached = loglik_of_run(Path(run_dir), options, points=points)
        echo(f"{Path(run_dir).name}: " + ", ".join(f"{k} {v['nats']:.3f}" for k, v in summary["estimates"].items())
             + (" (cached)" if cached else ""))
        groups.setdefault((config["model_name"], config["data"]["name"], config["train"]["steps"]), []).append(summary)
    names = [n for n in ("is", "ais") if options.estimator in (n, "both")]
    header = (f"| method | dataset | steps | {' | '.join(f'log p(x) {n.upper()}, nats' for n in names)} "
              f"| gap to the data ({names[0].upper()}) | data's own | sigma | runs |\n" + "|---" * (len(names) + 7) + "|")
    rows = []
    for (model, dataset, steps), found in groups.items():
        cols = [_mean_std([r["estimates"][n]["nats"] for r in found]) for n in names]
        gap = _mean_std([r["gap"][names[0]]["nats"] for r in found if "gap" in r]) if "gap" in found[0] else "-"
        own = _mean_std([r["data"]["nats"] for r in found if "data" in r]) if "data" in found[0] else "-"
        rows.append(f"| {model} | {dataset} | {steps} | {' | '.join(cols)} | {gap} | {own} | {found[0]['sigma']} "
                    f"| {len(found)} |")
    return (header + "\n" + "\n".join(rows) + f"\n\n{points} held-out points per run, S = {options.importance_samples} "
            f"(prior share {options.prior_share}, dispersion {options.dispersion})\n")


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
    after warm-up steps, the method and its GAN timed alternately in one process. On an image set (mnist5k:
    28-px DCGAN networks) the preset is the image preset.
    """
    torch.set_num_threads(threads)
    data = load_dataset(dataset)  # the default training set, data seed 0
    rows = [(name, name, {}) for name in models]
    rows += [variant for variant in SPEED_VARIANTS if variant[1] in models and data.spec.kind == "vector"]
    lines = []
    for label, name, extra in rows:
        config = dataclasses.replace(MODELS[name].Config(), **{**preset_sections(name, dataset)["model"], **extra})
        lines.append(_speed_row(label, name, config, data, iterations, repeats))
        echo(lines[-1])
    return (SPEED_HEADER + "\n".join(lines)
            + f"\n\n{dataset} with each method's preset, {threads} torch thread(s), median of {repeats} x "
              f"{iterations} steps\n")


SPEED_HEADER = ("| method | ms per iteration | GAN on the same networks, ms | ratio | shared settings |\n"
                "|---|---|---|---|---|\n")
# the official adjidieng/PresGANs code on this kind of machine, 2 threads (issue 11): (DCGAN, PresGAN) ms per iteration
OFFICIAL_PRESGAN_MS = {32: ("169-184", "732-756"), 64: ("960-982", "3,656-3,829")}
# the released code's settings: batch 64, nz 100, ngf = ndf = 64, one channel, HMC 2 burn-in + 2 samples x 5
# leapfrog steps with the prior-only leapfrog gradient (hmc_gradient=prior); PresGAN's defaults are these
OFFICIAL_PRESGAN = {"batch_size": 64, "latent_dim": 100, "conv_width": 64, "hmc_burn_in": 2, "hmc_num_samples": 2,
                    "hmc_leapfrog_steps": 5, "hmc_gradient": "prior"}


def official_presgan_table(sizes: tuple[int, ...] = (32, 64), iterations: int = 10, repeats: int = 3,
                           threads: int = 2, echo=lambda line: print(line, flush=True)) -> str:
    """PresGAN and its DCGAN at the official code's settings on one-channel MNIST digits (mnist5k) at 32 and 64
    px, beside the official code's measured ms per iteration."""
    from engine.config import DataConfig

    torch.set_num_threads(threads)
    lines = []
    for size in sizes:
        data = load_dataset(DataConfig(name="mnist5k", image_size=size))
        config = dataclasses.replace(MODELS["presgan"].Config(), **OFFICIAL_PRESGAN)
        dcgan, presgan = OFFICIAL_PRESGAN_MS[size]
        row = _speed_row(f"presgan, official settings, {size} px", "presgan", config, data, iterations, repeats)
        lines.append(f"{row} {presgan} | {dcgan} |")
        echo(lines[-1])
    return ("| variant | ms per iteration | DCGAN on the same networks, ms | ratio | shared settings "
            "| official PresGAN ms | official DCGAN ms |\n|---|---|---|---|---|---|---|\n" + "\n".join(lines)
            + f"\n\n{threads} torch threads, median of {repeats} x {iterations} steps\n")


MLP_FIELDS = ("g_hidden", "g_depth", "d_hidden", "d_depth", "activation")


def _speed_row(label: str, name: str, config, data, iterations: int, repeats: int) -> str:
    gan_config, shared = same_network_gan(config)
    method_ms, gan_ms = _time_alternately([(MODELS[name], config), (MODELS["gan"], gan_config)], data, iterations,
                                          repeats)
    mlp_only = MLP_FIELDS if data.spec.kind == "image" else ()  # image networks are DCGANs of conv_width
    nets = ", ".join(f"{k} {v}" for k, v in shared.items() if not k.startswith(("lr", "beta")) and k not in mlp_only)
    return f"| {label} | {method_ms:.2f} | {gan_ms:.2f} | {method_ms / gan_ms:.2f}x | {nets} |"


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

        steps(min(20, iterations))
        timed.append((steps, []))
    for _ in range(repeats):
        for steps, results in timed:
            results.append(steps(iterations))
    return [statistics.median(results) for _, results in timed]
