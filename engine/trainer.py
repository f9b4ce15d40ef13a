"""The training loop: steps, evaluation, checkpoints, stop/resume, NaN guard, callbacks.

A run directory holds config.json, status.json, metrics.jsonl, checkpoint.pt, eval.json and
samples/. Exit codes (see the CLI): 0 done, 3 diverged, 4 pruned (by a study), 130 interrupted after a
checkpoint. MLflow tracking is a callback (engine.tracking.MLflowCallback), as is a study's pruning.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from engine.callbacks import Callback, PruneRun, TrainResult
from engine.checkpoint import WEIGHTS, load_checkpoint, save_checkpoint
from engine.config import ConfigError, RunConfig, build_run_config, write_atomic, write_atomic_bytes
from engine.evaluation import evaluate_model
from engine.data import DataSpec
from engine.registry import MODELS, describe_data, load_dataset

EXIT_OK, EXIT_DIVERGED, EXIT_PRUNED, EXIT_INTERRUPTED = 0, 3, 4, 130
NAN_FAULT_ENV = "MODESCOPE_FAULT_NAN_AT_STEP"  # test hook: poison the weights at this step
LOW_DIM_SAMPLES = 16  # keep per-evaluation sample files only for data of at most this dimension
GRID_IMAGES = 64       # images in each evaluation's PNG grid (8 x 8)
KEPT_IMAGES = 256      # images of the newest evaluation kept as an array


class RunFiles:
    """The paths of one run directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.config = self.root / "config.json"
        self.spec = self.root / "spec.json"
        self.status = self.root / "status.json"
        self.metrics = self.root / "metrics.jsonl"
        self.checkpoint = self.root / "checkpoint.pt"
        self.weights = self.root / "weights"  # step-XXXXXXXX.pt per evaluation step (train.keep_weights)
        self.eval = self.root / "eval.json"
        self.samples = self.root / "samples"
        self.stop_flag = self.root / "STOP"

    def write_status(self, **status) -> None:
        write_atomic(self.status, json.dumps({**status, "updated": time.time()}))

    def read_status(self) -> dict:
        try:
            return json.loads(self.status.read_text())
        except (OSError, ValueError):
            return {}

    def read_config(self) -> RunConfig:
        from engine.config import read_config_file

        return build_run_config(MODELS, read_config_file(self.config))

    def write_spec(self, spec: DataSpec) -> None:
        """The spec, and the feature space the run's FD / PRDC / Vendi figures are computed in (the app names it)."""
        from engine.evaluation import feature_space

        write_atomic(self.spec, json.dumps({**spec.to_dict(), "feature_space": feature_space(spec)}, indent=2))

    def read_spec(self, cfg: RunConfig) -> DataSpec:
        """The data spec the run was built for: from spec.json (a run written before it existed: described
        again from its config); a mixture's modes come from its definition, never from its training set."""
        try:
            raw = json.loads(self.spec.read_text())
        except (OSError, ValueError):
            return describe_data(cfg.data)
        mixture = describe_data(cfg.data).mixture if raw.get("has_mixture") else None
        return DataSpec.from_dict(raw, mixture)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if not available[name]:
        from engine.config import ConfigError

        raise ConfigError(f"train.device={name} but no {name.upper()} device is available")
    return torch.device(name)


def set_threads(requested: int) -> int:
    threads = requested or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(threads)
    return threads


def build_model(cfg: RunConfig, spec: DataSpec, device: torch.device):
    torch.manual_seed(cfg.train.seed)
    return MODELS[cfg.model_name](cfg.model, spec).to(device)


class _StopRequest:
    """Set by SIGTERM (when the loop runs in the main thread: only it may install a handler); the loop also
    polls the STOP flag file, which works from any thread."""

    def __init__(self, files: RunFiles):
        self.files = files
        self.signalled = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.signalled = True

    def __bool__(self) -> bool:
        return self.signalled or self.files.stop_flag.exists()


class Trainer:
    """One training run over one run directory; `callbacks` see its log, evaluation and end."""

    def __init__(self, cfg: RunConfig, run_dir: Path, *, resume: bool, callbacks: Iterable[Callback] = ()):
        self.cfg, self.files = cfg, RunFiles(run_dir)
        self.callbacks = list(callbacks)
        self.files.root.mkdir(parents=True, exist_ok=True)  # a STOP file already here (Stop pressed while the
        # job was starting) stops the run at its first step; a stopped run removes its own STOP file
        self.threads = set_threads(cfg.train.threads)
        self.device = pick_device(cfg.train.device)
        if cfg.train.amp and self.device.type != "cuda":
            raise ConfigError(f"train.amp=true is bfloat16 autocast on CUDA; this run's device is {self.device.type}")
        self.dataset = load_dataset(cfg.data, "train")
        self.model = build_model(cfg, self.dataset.spec, self.device)
        self.base_lrs = {k: [g["lr"] for g in o.param_groups] for k, o in self.model.optimizers().items()}
        self.batches = torch.Generator().manual_seed(cfg.train.seed + 1)
        self.step, self.elapsed, self.resumed_run_id = 0, 0.0, None
        self.last_metrics: dict = {}
        if resume:
            self.step, self.elapsed, self.resumed_run_id = _restore(load_checkpoint(self.files.checkpoint),
                                                                    self.model, self.batches)
            _truncate_metrics(self.files.metrics, self.step)
        else:
            cfg.save(self.files.config)
            self.files.write_spec(self.dataset.spec)
            self.files.metrics.unlink(missing_ok=True)
        self.status = {"state": "running", "total": cfg.train.steps, "device": str(self.device),
                       "threads": self.threads, "pid": os.getpid(), "mlflow_run_id": self.resumed_run_id,
                       "message": ""}
        self.write_status()

    def write_status(self, **changes) -> None:
        self.status.update(changes)
        self.files.write_status(**self.status, step=self.step, elapsed=self.elapsed)

    def checkpoint(self) -> None:
        rng = {"torch": torch.get_rng_state(), "batches": self.batches.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        save_checkpoint(self.files.checkpoint, {
            "step": self.step, "config": self.cfg.to_dict(), "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.model.optimizers().items()},
            "extra": self.model.extra_state(), "elapsed": self.elapsed,
            "mlflow_run_id": self.status["mlflow_run_id"], "rng": rng})

    def keep_weights(self) -> None:
        save_checkpoint(self.files.weights / f"step-{self.step:08d}.pt",
                        {"step": self.step, "model": self.model.state_dict(), "extra": self.model.extra_state()})

    def finish(self, state: str, code: int, message: str = "") -> TrainResult:
        self.files.stop_flag.unlink(missing_ok=True)  # served: a resume must not stop at once
        self.write_status(state=state, message=message)
        result = TrainResult(code=code, state=state, step=self.step, metrics=dict(self.last_metrics),
                             message=message)
        for callback in self.callbacks:
            callback.on_end(self, result)
        return result

    def run(self) -> TrainResult:
        try:
            for callback in self.callbacks:
                callback.on_start(self)
            self.write_status()
            return self._loop()
        except Exception as exc:  # a bug or a broken store: say so in status.json, then let the CLI show it
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.write_status(state="failed", message=message)
            for callback in self.callbacks:
                try:
                    callback.on_end(self, TrainResult(1, "failed", self.step, dict(self.last_metrics), message))
                except Exception:  # the original error is the one worth showing
                    pass
            raise

    def _loop(self) -> TrainResult:
        cfg, files, model = self.cfg, self.files, self.model
        data_x = self.dataset.x.to(self.device)
        stop = _StopRequest(files)
        fault_step = int(os.environ.get(NAN_FAULT_ENV, "0"))
        started, last_status = time.monotonic() - self.elapsed, 0.0
        with open(files.metrics, "a") as metrics_log:
            while self.step < cfg.train.steps:
                if stop:
                    self.checkpoint()
                    return self.finish("stopped", EXIT_INTERRUPTED, f"stopped at step {self.step}; resume to continue")
                if self.step + 1 == fault_step:
                    _poison(model)
                self._set_learning_rates()
                idx = torch.randint(len(data_x), (cfg.model.batch_size,), generator=self.batches).to(self.device)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.train.amp):
                    losses = model.train_step(data_x[idx])
                bad = next((k for k, v in losses.items() if not math.isfinite(v)), None)
                if bad:
                    kept = _checkpoint_step(files)
                    return self.finish("diverged", EXIT_DIVERGED, f"{bad} is {losses[bad]} at step {self.step + 1}; "
                                       f"the last good checkpoint ({'step ' + str(kept) if kept else 'none'}) is kept")
                self.step += 1
                self.elapsed = time.monotonic() - started
                try:
                    self._record(losses, metrics_log)
                except PruneRun as reason:
                    self.checkpoint()
                    return self.finish("pruned", EXIT_PRUNED, str(reason) or f"pruned at step {self.step}")
                if time.monotonic() - last_status > 0.5 or self.step == cfg.train.steps:
                    self.write_status()
                    last_status = time.monotonic()
        return self.finish("finished", EXIT_OK)

    def _set_learning_rates(self) -> None:
        """Scale each optimiser's configured rate by `lr_decay_factor` (resumed runs follow the same schedule)."""
        if self.cfg.train.lr_decay_start >= 1.0:  # constant rates: the optimisers already hold them
            return
        factor = lr_decay_factor(self.step, self.cfg.train.steps, self.cfg.train.lr_decay_start)
        for name, opt in self.model.optimizers().items():
            for group, base in zip(opt.param_groups, self.base_lrs[name]):
                group["lr"] = base * factor

    def _record(self, losses: dict[str, float], metrics_log) -> None:
        """Log losses, evaluate and checkpoint on their schedules (and always at the last step)."""
        step, train_cfg, last = self.step, self.cfg.train, self.step == self.cfg.train.steps
        if step % train_cfg.log_every == 0 or last:
            _write_line(metrics_log, {"kind": "train", "step": step, "elapsed": round(self.elapsed, 3), **losses})
            for callback in self.callbacks:
                callback.on_log(self, step, losses)
        evaluated = step % train_cfg.eval_every == 0 or last
        if evaluated:
            x, self.last_metrics = _evaluate(self.model, self.dataset, self.cfg, self.files, step, metrics_log)
        if step % train_cfg.checkpoint_every == 0 or last:
            self.checkpoint()
        if evaluated and train_cfg.keep_weights:
            self.keep_weights()
        if evaluated:  # after the checkpoint: a callback that prunes here leaves this step's weights behind
            for callback in self.callbacks:
                callback.on_eval(self, step, self.last_metrics, x)


def lr_decay_factor(step: int, steps: int, decay_start: float) -> float:
    """1 until `decay_start * steps`, then linear to 0 at the last step (step counts from 0)."""
    start = decay_start * steps
    if step < start or steps <= start:
        return 1.0
    return max(0.0, (steps - step) / (steps - start))


def train(cfg: RunConfig, run_dir: Path, *, resume: bool = False, use_mlflow: bool = True,
          callbacks: Iterable[Callback] = ()) -> TrainResult:
    """Train cfg in run_dir (resuming from its checkpoint when asked), tracked in MLflow unless told not to."""
    if use_mlflow:
        from engine.tracking import MLflowCallback

        callbacks = [MLflowCallback(), *callbacks]
    return Trainer(cfg, run_dir, resume=resume, callbacks=callbacks).run()


def _evaluate(model, dataset, cfg, files, step, metrics_log) -> tuple[np.ndarray, dict]:
    found = evaluate_model(model, dataset, cfg.train.eval_samples, seed=cfg.train.seed + step)
    x, metrics = found.samples, found.metrics
    _write_line(metrics_log, {"kind": "eval", "step": step, **metrics})
    write_atomic(files.eval, json.dumps({"step": step, "n": len(x), **_jsonable(metrics)}, indent=2))
    files.samples.mkdir(exist_ok=True)
    if found.mode_counts is not None:  # the app's mode histogram at any step, without drawing samples again
        _save_array(files.samples / f"modes_step_{step:08d}.npy", found.mode_counts)
    if dataset.spec.kind == "image":
        save_image_samples(files.samples, step, x.reshape(len(x), *dataset.spec.shape))
        return x, metrics
    for prefix, samples in (("", x), ("noisy_", found.noisy)):
        if samples is None:
            continue
        if x.shape[1] <= LOW_DIM_SAMPLES:
            _save_array(files.samples / f"{prefix}step_{step:08d}.npy", samples)
        _save_array(files.samples / f"{prefix}latest.npy", samples[:2500])
    return x, metrics


def save_image_samples(folder: Path, step: int, images: np.ndarray) -> None:
    """Images stay small on disk: a PNG grid of the first GRID_IMAGES per evaluation, and the newest
    evaluation's first KEPT_IMAGES as uint8 pixels (latest_images.npy, N x C x H x W), never every sample."""
    from engine.plots import image_grid, png_bytes, to_uint8

    write_atomic_bytes(folder / f"step_{step:08d}.png", png_bytes(image_grid(images[:GRID_IMAGES])))
    _save_array(folder / "latest_images.npy", to_uint8(images[:KEPT_IMAGES]))


def _save_array(path: Path, array: np.ndarray) -> None:
    """np.save through a temporary file and a rename: the app never reads half an array."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    tmp.replace(path)


def _restore(ckpt: dict, model, batches: torch.Generator) -> tuple[int, float, str | None]:
    model.load_state_dict(ckpt["model"])
    for name, opt in model.optimizers().items():
        opt.load_state_dict(ckpt["optimizers"][name])
    model.load_extra_state(ckpt.get("extra", {}))
    torch.set_rng_state(ckpt["rng"]["torch"])
    batches.set_state(ckpt["rng"]["batches"])
    if "cuda" in ckpt["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"])
    return int(ckpt["step"]), float(ckpt.get("elapsed", 0.0)), ckpt.get("mlflow_run_id")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records written after the checkpoint (a killed job may have logged past it)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    write_atomic(path, "".join(line + "\n" for line in keep))


def _checkpoint_step(files: RunFiles) -> int | None:
    try:
        return int(load_checkpoint(files.checkpoint)["step"])
    except Exception:
        return None


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of a run's checkpoint (None without a readable one), without building its model."""
    return _checkpoint_step(RunFiles(run_dir))


def _poison(model) -> None:
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))


def _jsonable(metrics: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def _write_line(handle, record: dict) -> None:
    handle.write(json.dumps(_jsonable(record)) + "\n")
    handle.flush()


def kept_steps(run_dir: Path) -> list[int]:
    """The steps whose weights a run kept (train.keep_weights), ascending, and its checkpoint's step."""
    files = RunFiles(run_dir)
    steps = {int(p.stem.removeprefix("step-")) for p in files.weights.glob("step-*.pt")}
    latest = _checkpoint_step(files)
    return sorted(steps | ({latest} if latest is not None else set()))


def load_run(run_dir: Path, device: str = "cpu", step: int | None = None
             ) -> tuple[RunConfig, DataSpec, torch.nn.Module, int]:
    """(config, data spec, model, step) of a trained run, weights from its checkpoint or, with step, from the
    weights it kept at that evaluation step; its data is not loaded (load_dataset(cfg.data, split) where the
    examples are needed)."""
    files = RunFiles(run_dir)
    cfg = files.read_config()
    ckpt = load_checkpoint(files.checkpoint)
    if step is not None and step != int(ckpt["step"]):
        kept = files.weights / f"step-{step:08d}.pt"
        if not kept.exists():
            from engine.config import ConfigError

            steps = ", ".join(map(str, kept_steps(run_dir))) or "none"
            raise ConfigError(f"--step {step}: run {run_dir} has no weights at that step (kept: {steps})")
        ckpt = load_checkpoint(kept, WEIGHTS)
    spec = files.read_spec(cfg)
    model = build_model(cfg, spec, pick_device(device))
    model.load_state_dict(ckpt["model"])
    model.load_extra_state(ckpt.get("extra", {}))
    return cfg, spec, model, int(ckpt["step"])
