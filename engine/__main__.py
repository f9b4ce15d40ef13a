"""Command line: python -m engine {list,train,evaluate,sample,latent-map,loglik,bench} (DESIGN.md section 6).

Exit codes: 0 done, 2 bad input (the message names the field or file), 3 diverged,
130 interrupted after saving a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.checkpoint import CheckpointError
from engine.data import DataSpec
from engine.config import ConfigError, apply_overrides, build_run_config, describe_fields, read_config_file
from engine.registry import MODELS, data_names, resolve_config

EXIT_BAD_INPUT = 2
SPEED_SUITES = ("speed", "speed-presgan-official")


def cmd_list(args) -> int:
    from engine.config import DataConfig, TrainConfig

    payload = {
        "models": {name: {"doc": (cls.__doc__ or "").strip() or sys.modules[cls.__module__].__doc__.strip(),
                          "fields": describe_fields(cls.Config)} for name, cls in MODELS.items()},
        "datasets": data_names(),
        "data_fields": describe_fields(DataConfig),
        "train_fields": describe_fields(TrainConfig),
    }
    if args.json:
        print(json.dumps(payload, indent=2, default=list))
        return 0
    print("models:")
    for name, info in payload["models"].items():
        print(f"  {name}: {info['doc'].splitlines()[0]}")
        for f in info["fields"]:
            rng = f" in {list(f['range'])}" if "range" in f else (f" one of {list(f['choices'])}" if "choices" in f else "")
            print(f"    model.{f['name']} = {f['default']!r}{rng}  {f.get('help', '')}")
    print("datasets:", ", ".join(payload["datasets"]))
    for section in ("data", "train"):
        for f in payload[f"{section}_fields"]:
            print(f"  {section}.{f['name']} = {f['default']!r}  {f.get('help', '')}")
    return 0


def run_config_from_args(args):
    raw = read_config_file(Path(args.config)) if args.config else {}
    method = args.model or raw.get("model_name", "gan")
    data = args.data or (raw["data"].get("name", "ring8") if isinstance(raw.get("data"), dict) else "ring8")
    sets = list(args.set or [])
    for flag, key in (("steps", "train.steps"), ("seed", "train.seed"), ("device", "train.device")):
        if getattr(args, flag) is not None:
            sets.append(f"{key}={getattr(args, flag)}")
    # the method's benchmark settings for this data set (what `bench` uses) unless a file says it all; --set wins
    return resolve_config(method, data, sets, preset=not (args.config or args.no_preset), base=raw)


def cmd_train(args) -> int:
    from engine.trainer import RunFiles, train

    if args.resume:
        run_dir = Path(args.resume)
        files = RunFiles(run_dir)
        if not files.config.exists():
            raise ConfigError(f"--resume {run_dir}: no config.json there (not a run directory)")
        raw = apply_overrides(read_config_file(files.config), [f"train.steps={args.steps}"] if args.steps else [])
        cfg = build_run_config(MODELS, raw)
        if args.steps:
            cfg.save(files.config)
        return train(cfg, run_dir, resume=True, use_mlflow=not args.no_mlflow).code
    if not (args.model or args.config):
        raise ConfigError("train needs --model (or --config FILE naming model_name)")
    cfg = run_config_from_args(args)
    if args.out:
        run_dir = Path(args.out)
    else:
        from engine.jobs import new_job_id
        from engine.paths import runs_dir

        run_dir = runs_dir() / new_job_id(cfg)
    print(f"run directory: {run_dir}", flush=True)
    return train(cfg, run_dir, use_mlflow=not args.no_mlflow).code


def cmd_evaluate(args) -> int:
    from engine.evaluation import evaluate_model
    from engine.registry import load_dataset
    from engine.trainer import load_run

    if bool(args.run) == bool(args.samples):
        raise ConfigError("give exactly one of --run DIR or --samples FILE.npy (with --data)")
    if args.samples:
        return evaluate_samples(args)
    cfg, _, model, step = load_run(Path(args.run))
    if args.ivom:
        return print_ivom(args, cfg, model, step)
    dataset = load_dataset(cfg.data, "train")
    metrics = evaluate_model(model, dataset, args.n, seed=args.seed).metrics
    note = "" if "modes" in metrics else "\nmodes / HQ% / reverse KL: n/a (this data set has no known modes)"
    return print_metrics({"run": str(args.run), "step": step, "n": args.n}, metrics, args.json,
                         f"{cfg.model_name} on {cfg.data.name}, step {step}, {args.n} samples{note}", dataset.spec)


def print_ivom(args, cfg, model, step: int) -> int:
    """IvOM on held-out examples (DESIGN.md section 7) beside VEEGAN's published CIFAR-10 table."""
    from engine.analysis import held_out_rows
    from engine.reconstruct import PUBLISHED_IVOM, error_name, ivom
    from engine.registry import load_dataset

    test = load_dataset(cfg.data, "test")
    pick = held_out_rows(len(test.x), args.ivom_targets, seed=1337)  # VEEGAN's eval.py seed
    _, _, errors = ivom(model, test.x[pick], args.ivom_iterations, seed=args.seed)
    figure = {"ivom_mean": float(errors.mean()), "ivom_std": float(errors.std()), "targets": len(pick),
              "iterations": args.ivom_iterations, "error": error_name(model.spec)}
    if args.json:
        print(json.dumps({"run": str(args.run), "step": step, **figure, "published": PUBLISHED_IVOM}, indent=2))
        return 0
    print(f"{cfg.model_name} on {cfg.data.name}, step {step}: IvOM {figure['ivom_mean']:.5f} +- "
          f"{figure['ivom_std']:.5f} ({figure['error']}; {len(pick)} test targets, 3 L-BFGS starts, "
          f"{args.ivom_iterations} iterations)")
    print("VEEGAN Table 2, CIFAR-10 IvOM: " + "; ".join(f"{k} {v}" for k, v in PUBLISHED_IVOM.items()))
    return 0


def print_metrics(head: dict, metrics: dict, as_json: bool, title: str, spec: DataSpec) -> int:
    """An evaluation as JSON (non-finite figures as null) or as a title and one line per figure, with the
    feature space of its FD / PRDC / Vendi figures named."""
    from engine.evaluation import feature_space

    head = {**head, "feature_space": feature_space(spec)}
    if as_json:
        print(json.dumps({k: (None if v != v else v) for k, v in {**head, **metrics}.items()}, indent=2))
        return 0
    print(f"{title}\nfeature space of FD / precision / recall / density / coverage / Vendi: {head['feature_space']}")
    for key, value in metrics.items():
        print(f"  {key}: {value:.4g}")
    return 0


def evaluate_samples(args) -> int:
    """Our metrics on samples made elsewhere: --samples FILE.npy against --data."""
    from engine.evaluation import check_samples, sample_metrics
    from engine.registry import load_dataset

    if not args.data:
        raise ConfigError("--samples needs --data, the data set the samples imitate")
    dataset = load_dataset(args.data, "train")
    x = check_samples(Path(args.samples), dataset.spec)
    return print_metrics({"samples": str(args.samples), "n": len(x)}, sample_metrics(x, dataset), args.json,
                         f"{len(x)} samples from {args.samples} against {args.data}", dataset.spec)


def cmd_latent_map(args) -> int:
    """A 2-D map of real and generated points (engine.latent), cached in the run's analysis/ folder."""
    import torch

    from engine.analysis import ProgressFile, latent_map_of_run
    from engine.latent import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(args.threads)
    progress = ProgressFile(args.status)
    step, summary, _, cached = latent_map_of_run(Path(args.run), step=args.step, method=args.method,
                                                 space=args.space, points=args.points, seed=args.seed,
                                                 threads=args.threads, progress=progress)
    progress("done", 1.0, state="finished")
    if args.json:
        print(json.dumps({"run": str(args.run), "step": step, "cached": cached, **summary}, indent=2))
        return 0
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in summary["seconds"].items())
    print(f"step {step}: {args.method} map of {summary['real']} real and {summary['generated']} generated points "
          f"in {summary['feature_space']} ({'cached' if cached else seconds})")
    return 0


def cmd_reconstruct(args) -> int:
    """Reconstructions (encoders), IvOM fits and interpolations of a run (engine.reconstruct), cached."""
    import torch

    from engine.analysis import ProgressFile, reconstructions_of_run

    torch.set_num_threads(args.threads)
    progress = ProgressFile(args.status)
    step, summary, _, cached = reconstructions_of_run(Path(args.run), step=args.step, points=args.points,
                                                      iterations=args.iterations, seed=args.seed, progress=progress)
    progress("done", 1.0, state="finished")
    if args.json:
        print(json.dumps({"run": str(args.run), "step": step, "cached": cached, **summary}, indent=2))
        return 0
    recon = (f"reconstruction {summary['reconstruction_mean']:.5f}, " if summary["encodes"] else "")
    print(f"step {step}, {summary['points']} held-out examples ({summary['error']}): {recon}"
          f"IvOM {summary['ivom_mean']:.5f}{' (cached)' if cached else ''}")
    return 0


def cmd_loglik(args) -> int:
    """Held-out log-likelihood of a trained run by importance sampling and AIS (engine.metrics.likelihood)."""
    import torch

    from engine.analysis import ProgressFile, loglik_of_run, paired_loglik
    from engine.metrics.likelihood import LoglikOptions

    torch.set_num_threads(args.threads)
    options = LoglikOptions(estimator=args.estimator, importance_samples=args.importance_samples,
                            dispersion=args.dispersion, prior_share=args.prior_share, proposal=args.proposal,
                            proposal_chains=args.proposal_chains, proposal_samples=args.proposal_samples,
                            proposal_burn_in=args.proposal_burn_in, map_steps=args.map_steps,
                            map_starts=args.map_starts, map_modes=args.map_modes, mode_radius=args.mode_radius,
                            encoder_steps=args.encoder_steps, sigma=args.sigma,
                            sigma_em_iterations=args.sigma_em_iterations, sigma_em_points=args.sigma_em_points,
                            sigma_shared=args.sigma_shared,
                            sigma_em_map=args.sigma_em_map,
                            ais_temperatures=args.ais_temperatures, ais_chains=args.ais_chains, seed=args.seed)
    options.check()
    progress = ProgressFile(args.status)
    scored = dict(split=args.split, data=args.data, points=args.points)
    step, summary, arrays, cached = loglik_of_run(Path(args.run), options, step=args.step, progress=progress,
                                                  simulated=args.simulated, **scored)
    against = {}
    for other in args.against:  # each at its newest step, with the same options: the same points
        other_step, other_summary, other_arrays, _ = loglik_of_run(Path(other), options, progress=progress, **scored)
        against[other] = {"step": other_step, "model": other_summary["model"],
                          **paired_loglik(Path(args.run), Path(other), summary, arrays, other_summary, other_arrays)}
    progress("done", 1.0, state="finished")
    if args.json:
        print(json.dumps({"run": str(args.run), "step": step, "cached": cached, **summary,
                          **({"against": against} if against else {})}, indent=2))
        return 0
    print(loglik_text(summary, step, cached))
    for other, paired in against.items():
        diffs = ", ".join(f"{name.upper()} {d['nats']:+.3f} +- {d['se']:.3f}" for name, d in paired.items()
                          if isinstance(d, dict))
        print(f"  minus {other} ({paired['model']}, step {paired['step']}), paired on the same points: {diffs} nats")
    return 0


def loglik_text(summary: dict, step: int, cached: bool) -> str:
    """The likelihood summary as a few lines a person reads."""
    which = "points simulated from the model" if summary.get("simulated") else "points"
    elbo = f" after EM from the ELBO fit's {summary['sigma_elbo_mean']:.4g}" if "sigma_elbo_mean" in summary else ""
    lines = [f"{summary['model']} on {summary['dataset']}, step {step}: held-out log p(x) of {summary['points']} "
             f"{which} ({summary['dims']} dims), sigma: {summary['sigma']}"
             f"{' (mean %.4g)' % summary['sigma_mean'] if 'sigma_mean' in summary else ''}"
             f"{elbo}"
             f"{', truncated to the data range' if summary['truncated'] else ''}{' (cached)' if cached else ''}",
             f"  ({summary.get('scale', 'continuous density')}; bits/dim are not those of 8-bit discrete data)"]
    names = {"is": "importance sampling", "ais": "annealed importance sampling",
             "ais_upper": "AIS in reverse from the generating codes (an upper bound)"}
    for name, est in summary["estimates"].items():
        how = (f"{est['proposal']} proposal, S = {est['samples']}, dispersion {est['dispersion']}, ESS mean {est['ess_mean']:.0f} min "
               f"{est['ess_min']:.1f}" if name == "is" else
               f"{est['samples']} chains, {est['temperatures']} temperatures, acceptance {est['accept_rate']:.2f}")
        lines.append(f"  {names[name]}: {est['nats']:.3f} +- {est['se']:.3f} nats per example "
                     f"(NLL {est['nll_bits_per_dim']:.4f} bits/dim; {how}; {est['seconds']:.1f} s)")
    if "is_minus_ais" in summary:
        lines.append(f"  IS - AIS on the same points: {summary['is_minus_ais']['nats']:.3f} "
                     f"+- {summary['is_minus_ais']['se']:.3f} nats")
    if "ais_upper_minus_ais" in summary:
        lines.append(f"  AIS upper - lower bound (the true log p(x) lies between): "
                     f"{summary['ais_upper_minus_ais']['nats']:.3f} +- {summary['ais_upper_minus_ais']['se']:.3f} nats")
    if "data" in summary:
        gaps = ", ".join(f"{name.upper()} {gap['nats']:.3f} +- {gap['se']:.3f}" for name, gap in summary["gap"].items())
        lines.append(f"  the data's own density: {summary['data']['nats']:.3f} +- {summary['data']['se']:.3f} nats; "
                     f"gap (estimates KL(p_data || p_model)): {gaps}")
    return "\n".join(lines)


def cmd_sample(args) -> int:
    import numpy as np

    from engine.evaluation import draw_samples
    from engine.trainer import load_run

    _, spec, model, _ = load_run(Path(args.run))
    x = draw_samples(model, args.n, seed=args.seed).reshape(args.n, *spec.shape)
    out = Path(args.out)
    if out.suffix != ".npy":
        raise ConfigError(f"--out {out} must end in .npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, x)
    print(f"wrote {args.n} samples of shape {tuple(x.shape[1:])} to {out}")
    return 0


def cmd_bench(args) -> int:
    from engine.bench import SUITES, official_presgan_table, report_table, run_suite, speed_table, write_report

    if args.report:
        missing = [root for root in args.report if not Path(root).is_dir()]
        if missing:
            raise ConfigError(f"--report {missing[0]} is not a directory")
        run_dirs = sorted(d for root in args.report for d in Path(root).iterdir() if (d / "config.json").exists())
        if not run_dirs:
            raise ConfigError(f"--report {args.report[0]} holds no bench run directories")
        table = report_table(run_dirs)
        if args.loglik:
            import torch

            from engine.bench import loglik_table
            from engine.metrics.likelihood import LoglikOptions

            torch.set_num_threads(args.threads or 1)
            table += "\n" + loglik_table(run_dirs, LoglikOptions(estimator=args.loglik), points=args.loglik_points)
        print(table)
        write_report(table, args.out)
        return 0
    if not args.suite:
        raise ConfigError(f"--suite is required ({', '.join(SPEED_SUITES + tuple(SUITES))}) unless --report is given")
    if args.suite not in (*SUITES, *SPEED_SUITES):
        raise ConfigError(f"--suite {args.suite} must be one of {', '.join(SUITES)}, {', '.join(SPEED_SUITES)}")
    if args.suite == "speed-presgan-official":
        table = official_presgan_table(threads=args.threads or 2, iterations=args.iterations or 10)
        print(table)
        write_report(table, args.out)
        return 0
    models = args.models.split(",") if args.models else list(MODELS)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"--models {unknown[0]} is not a registered model ({', '.join(MODELS)})")
    if args.suite == "speed":
        table = speed_table(models, threads=args.threads or 1, dataset=(args.datasets or "ring8").split(",")[0],
                            iterations=args.iterations or 200)
        print(table)
        write_report(table, args.out)
        return 0
    table = run_suite(args.suite, models, args.seeds, args.steps, args.set or [], use_mlflow=not args.no_mlflow,
                      datasets=args.datasets.split(",") if args.datasets else None, first_seed=args.first_seed)
    print(table)
    write_report(table, args.out)
    return 0


def cmd_train_classifier(args) -> int:
    import torch

    from engine.metrics.classifier import WEIGHTS, train_classifier

    if args.data not in (None, "mnist", "mnist5k"):
        raise ConfigError(f"--data {args.data} must be mnist or mnist5k")
    torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else WEIGHTS
    record = train_classifier(args.data, epochs=args.epochs, seed=args.seed, out=out)
    print(f"wrote {out} and {out.with_suffix('.json')}: {record.data}, held-out accuracy "
          f"{record.test_accuracy:.4f} on {record.test_images} images, {record.seconds:.0f} s")
    return 0


def analysis_parser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A command analysing one run at a kept step; its result is cached in the run's analysis/ folder."""
    s = sub.add_parser(name, help=help_text)
    s.add_argument("--run", required=True)
    s.add_argument("--step", type=int, help="an evaluation step whose weights the run kept (default: its newest)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--status", help="JSON file the progress is written to (analysis jobs)")
    s.add_argument("--json", action="store_true")
    return s


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list", help="models, datasets and their config fields")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("train", help="train a model")
    s.add_argument("--model")
    s.add_argument("--data")
    s.add_argument("--config", help="JSON or YAML run config")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. model.lr_g=2e-4")
    s.add_argument("--steps", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    s.add_argument("--out", help="run directory (default var/runs/<id>)")
    s.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its checkpoint")
    s.add_argument("--no-preset", action="store_true",
                   help="use the method's plain defaults, not its preset for this data set")
    s.add_argument("--no-mlflow", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="metrics of a trained run, or of a sample file made elsewhere")
    s.add_argument("--run")
    s.add_argument("--samples", help="N x D vectors or N x C x H x W images in [-1, 1], .npy")
    s.add_argument("--data", help="with --samples: the data set they are scored against")
    s.add_argument("--n", type=int, default=2500)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--ivom", action="store_true", help="inference via optimisation on held-out targets instead")
    s.add_argument("--ivom-targets", type=int, default=64, help="held-out targets (VEEGAN's runner: 64)")
    s.add_argument("--ivom-iterations", type=int, default=50, help="L-BFGS iterations per start")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("sample", help="samples of a trained run as .npy")
    s.add_argument("--run", required=True)
    s.add_argument("-n", type=int, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_sample)

    s = analysis_parser(sub, "latent-map", "real and generated points on one 2-D map (t-SNE, UMAP or PCA)")
    s.add_argument("--method", default="tsne", choices=("tsne", "umap", "pca"))
    s.add_argument("--space", default="data", choices=("data", "latent"),
                   help="data: data space, or digit-classifier features for digit sets; latent: codes (encoders)")
    s.add_argument("--points", type=int, default=2_000, help="real points, and as many generated")
    s.set_defaults(func=cmd_latent_map)

    s = analysis_parser(sub, "reconstruct", "reconstructions, IvOM fits and interpolations of held-out examples")
    s.add_argument("--points", type=int, default=16)
    s.add_argument("--iterations", type=int, default=50, help="L-BFGS iterations of each IvOM start")
    s.set_defaults(func=cmd_reconstruct)

    s = analysis_parser(sub, "loglik", "held-out log-likelihood: importance sampling and AIS, with standard errors")
    s.add_argument("--split", default="test", choices=("train", "test"))
    s.add_argument("--data", help="score the examples of another data set of the same shape, e.g. vectors:FILE.npy")
    s.add_argument("--points", type=int, default=1_000)
    s.add_argument("--importance-samples", type=int, default=1_000, help="S, proposal draws per point")
    s.add_argument("--estimator", default="both", choices=("is", "ais", "both"))
    s.add_argument("--dispersion", type=float, default=1.0, help="the proposal covariance x this (over-dispersion)")
    s.add_argument("--proposal", default="auto", choices=("auto", "laplace", "encoder", "hmc"),
                   help="the Gaussian: auto = hmc for images, laplace for vectors; laplace = Gauss-Newton covariance at the MAP code (ours); encoder = the "
                        "fitted encoder's diagonal (PresGAN 3.3); hmc = mean and covariance of HMC samples of the "
                        "posterior (PresGAN appendix 7.1; slower, right where the posterior is far from Gaussian)")
    s.add_argument("--proposal-chains", type=int, default=8, help="hmc proposal: chains per point")
    s.add_argument("--proposal-samples", type=int, default=100, help="hmc proposal: kept transitions per chain")
    s.add_argument("--proposal-burn-in", type=int, default=50, help="hmc proposal: transitions discarded first")
    s.add_argument("--map-steps", type=int, default=1000, help="L-BFGS iterations of each run toward the MAP code")
    s.add_argument("--map-starts", type=int, default=8,
                   help="L-BFGS runs per point toward the proposal's MAP code, from the encoder mean and prior "
                        "draws; the highest log joint is kept (posteriors of GAN-trained generators have several "
                        "modes)")
    s.add_argument("--map-modes", type=int, default=1,
                   help="proposal components per point: one Gaussian at each of its best distinct optima of those "
                        "runs, the draws split evenly")
    s.add_argument("--mode-radius", type=float, default=10.0,
                   help="optima closer than this to a kept one, in its posterior standard deviations under the "
                        "Laplace approximation, count as the same mode")
    s.add_argument("--prior-share", type=float, default=0.5,
                   help="share of the S draws taken from the prior (defensive mixture; 0 = the Gaussian only)")
    s.add_argument("--encoder-steps", type=int, default=1_000, help="Adam steps fitting the encoder (ELBO)")
    s.add_argument("--sigma", default="own", choices=("own", "fitted"),
                   help="fitted: score a model that has its own sigma (PresGAN, the VAE) under a sigma fitted at "
                        "test time with the generator frozen, as the models without one are, so that generators "
                        "are compared apart from their noise levels")
    s.add_argument("--sigma-em-iterations", type=int, default=30,
                   help="a fitted sigma: EM steps on the importance-sampled log p(x) of training points after "
                        "the ELBO fit (0 = the ELBO's sigma)")
    s.add_argument("--sigma-em-points", type=int, default=1024,
                   help="a fitted sigma: training points of those EM steps")
    s.add_argument("--sigma-em-map", action=argparse.BooleanOptionalAction, default=True,
                   help="a fitted sigma: half of the EM's draws from the Laplace approximation at each training "
                        "point's MAP code (--no-sigma-em-map: from the fitted encoder and the prior only)")
    s.add_argument("--sigma-shared", action="store_true",
                   help="a fitted sigma: one value for every dimension instead of one per pixel, so that no "
                        "constant pixel (MNIST's blank border) is scored at the floor: a generator-only figure")
    s.add_argument("--ais-temperatures", type=int, default=500)
    s.add_argument("--ais-chains", type=int, default=16)
    s.add_argument("--simulated", action="store_true",
                   help="score --points draws from the model itself, whose generating codes are exact posterior "
                        "draws: AIS run forward (a lower bound) and in reverse from those codes (an upper bound) "
                        "sandwich the true log p(x), which shows how far IS and AIS are off (bidirectional Monte "
                        "Carlo)")
    s.add_argument("--against", action="append", default=[], metavar="DIR",
                   help="another run scored on the same points with the same options (repeatable): prints this "
                        "run's log p(x) minus that run's, with the paired standard error")
    s.set_defaults(func=cmd_loglik)

    s = sub.add_parser("train-classifier", help="the evaluation classifier shipped in assets/")
    s.add_argument("--data", help="mnist or mnist5k (default: mnist when its files are present, else mnist5k)")
    s.add_argument("--epochs", type=int, default=15)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--out", help="weights file (default assets/digit_classifier.pt; the record beside it, .json)")
    s.set_defaults(func=cmd_train_classifier)

    s = sub.add_parser("bench", help="benchmark suite, printed as a Markdown table")
    s.add_argument("--suite", help="synthetic or images (train and evaluate), speed (ms per iteration; --datasets "
                                   "mnist5k for 28-px DCGAN networks) or speed-presgan-official (PresGAN at the "
                                   "official code's settings, 32 and 64 px, beside its measured times)")
    s.add_argument("--report", action="append", metavar="DIR",
                   help="print the table of the finished runs under DIR (var/bench/...) instead of training")
    s.add_argument("--models", help="comma-separated (default: every registered model)")
    s.add_argument("--datasets", help="comma-separated subset of the suite's datasets (speed: the first one, default ring8)")
    s.add_argument("--seeds", type=int, default=3)
    s.add_argument("--first-seed", type=int, default=0,
                   help="seeds FIRST .. FIRST+SEEDS-1, to split a suite over workers or machines (see --report)")
    s.add_argument("--steps", type=int, default=20_000)
    s.add_argument("--set", action="append", metavar="KEY=VALUE")
    s.add_argument("--iterations", type=int, help="steps per timing of a speed suite (speed: 200, official: 10)")
    s.add_argument("--threads", type=int, help="torch threads of a speed suite (speed: 1, speed-presgan-official: 2)")
    s.add_argument("--loglik", choices=("is", "ais", "both"),
                   help="with --report: add the held-out log-likelihood table (this estimator; cached per run)")
    s.add_argument("--loglik-points", type=int, default=500, help="held-out points per run of --loglik")
    s.add_argument("--out")
    s.add_argument("--no-mlflow", action="store_true")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
