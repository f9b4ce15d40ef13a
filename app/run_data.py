"""Read what the pages show (run directories, job status, MLflow runs) into DataFrames and plain values.

No Streamlit here, so every function can be tested on its own.
"""

from __future__ import annotations

import functools
import json
import math
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.config import ConfigError
from engine.data import DataSpec
from engine.data.synthetic import Mixture
from engine.metrics.modes import mode_histogram
from engine.metrics.registry import EVAL_PREFIX, MODE_METRICS, NOISY, describe
from engine.paths import runs_dir, var_dir
from engine.registry import describe_data
from engine.trainer import RunFiles

ACTIVE_STATES = ("queued", "running", "stopping")
MLFLOW_UI = "http://127.0.0.1:5000"
MODE_CURVES = tuple(EVAL_PREFIX + name for name in MODE_METRICS)


def read_metrics(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train rows, eval rows) of a run's metrics.jsonl, sorted by step; empty before the first line.

    The frames are cached and shared between callers: read them, never modify them.
    """
    path = RunFiles(Path(run_dir)).metrics
    try:
        stat = path.stat()
    except OSError:
        return pd.DataFrame(columns=["step"]), pd.DataFrame(columns=["step"])
    # the panel polls every second or two; re-parse only when the file has grown
    return _parse_metrics(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _parse_metrics(path: str, mtime_ns: int, size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    records: dict[str, list[dict]] = {"train": [], "eval": []}
    with open(path) as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:  # the writer may be half-way through the last line
                continue
            records.setdefault(record.pop("kind", "train"), []).append(record)
    frames = [pd.DataFrame(records[kind], columns=None if records[kind] else ["step"]) for kind in ("train", "eval")]
    return tuple(frame.sort_values("step").reset_index(drop=True) for frame in frames)


def train_columns(train_rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(losses, other logged quantities) among the train records' columns, in logging order."""
    names = [c for c in train_rows.columns if c not in ("step", "elapsed")]
    return [c for c in names if c.startswith("loss")], [c for c in names if not c.startswith("loss")]


def curve_keys(runs: list[dict[str, Any]]) -> list[str]:
    """Every metric key the given MLflow runs logged: the mode metrics first, other evaluations, then training."""
    keys = {key for run in runs for key in run["metrics"]}
    first = [key for key in MODE_CURVES if key in keys]
    return first + sorted(keys - set(first), key=lambda key: (not key.startswith("eval/"), key))


def latest_eval(eval_rows: pd.DataFrame) -> dict[str, Any]:
    """The newest evaluation as a dict with None for missing or non-finite values ({} before the first)."""
    if eval_rows.empty:
        return {}
    row = eval_rows.iloc[-1].to_dict()
    return {k: (None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v) for k, v in row.items()}


def grid_steps(run_dir: str | Path) -> list[int]:
    """The evaluation steps an image run saved a sample grid at, in order ([] for vector runs)."""
    return sorted(int(p.stem.removeprefix("step_")) for p in RunFiles(Path(run_dir)).samples.glob("step_*.png")
                  if p.stem.removeprefix("step_").isdigit())


def grid_at(run_dir: str | Path, step: int) -> bytes | None:
    """PNG bytes of the sample grid saved at `step` (None when missing)."""
    try:
        return (RunFiles(Path(run_dir)).samples / f"step_{step:08d}.png").read_bytes()
    except OSError:
        return None


def latest_grid(run_dir: str | Path) -> tuple[int | None, bytes | None]:
    """(step, PNG bytes) of an image run's newest sample grid; (None, None) for vector runs or before one."""
    steps = grid_steps(run_dir)
    grid = grid_at(run_dir, steps[-1]) if steps else None
    return (steps[-1], grid) if grid is not None else (None, None)


def kept_images(run_dir: str | Path) -> np.ndarray | None:
    """The newest evaluation's kept images (latest_images.npy, uint8) as flat samples in [-1, 1]."""
    try:
        pixels = np.load(RunFiles(Path(run_dir)).samples / "latest_images.npy")
    except (OSError, ValueError, EOFError):
        return None
    return (pixels.reshape(len(pixels), -1).astype(np.float32) / 127.5 - 1.0)


def run_spec(run_dir: str | Path) -> DataSpec | None:
    """The data spec a run recorded (spec.json), without its mixture; None when it has none."""
    try:
        return DataSpec.from_dict(json.loads(RunFiles(Path(run_dir)).spec.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def latest_samples(run_dir: str | Path) -> tuple[int | None, np.ndarray | None]:
    """(step, samples (n, D)) of the newest evaluation; (None, None) before the first.

    Low-dimensional runs keep one file per evaluation; the newest may still be being written,
    so fall back to the one before it. High-dimensional runs only have latest.npy, opened
    memory-mapped because the page only needs its shape.
    """
    samples = RunFiles(Path(run_dir)).samples
    for path in sorted(samples.glob("step_*.npy"), reverse=True)[:2]:
        try:
            return int(path.stem.removeprefix("step_")), np.load(path)
        except (OSError, ValueError, EOFError):
            continue
    try:
        return None, np.load(samples / "latest.npy", mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return None, None


def saved_array(run_dir: str | Path, name: str) -> np.ndarray | None:
    """An array the trainer's evaluation saved under samples/ (None when missing or being written)."""
    try:
        return np.load(RunFiles(Path(run_dir)).samples / name)
    except (OSError, ValueError, EOFError):
        return None


def saved_noisy(run_dir: str | Path, step: int | None) -> np.ndarray | None:
    """The evaluation's G(z) + sigma eps samples beside its G(z) ones (models with observation noise): per step
    for low-dimensional runs, else the newest evaluation's."""
    found = saved_array(run_dir, f"noisy_step_{step:08d}.npy") if step is not None else None
    return found if found is not None else saved_array(run_dir, "noisy_latest.npy")


def mode_count_steps(run_dir: str | Path) -> list[int]:
    """The evaluation steps that saved their samples per mode (modes_step_<step>.npy), in order."""
    stems = (p.stem.removeprefix("modes_step_") for p in RunFiles(Path(run_dir)).samples.glob("modes_step_*.npy"))
    return sorted(int(stem) for stem in stems if stem.isdigit())


def can_resume(status: dict[str, Any]) -> bool:
    """Stopped or failed with a checkpoint to continue from (a diverged run would diverge again)."""
    return status.get("state") in ("stopped", "failed") and RunFiles(Path(status["run_dir"])).checkpoint.exists()


def run_config(run_dir: str | Path) -> dict[str, Any]:
    """config.json of a run as a plain dict ({} if it cannot be read)."""
    try:
        return json.loads(RunFiles(Path(run_dir)).config.read_text())
    except (OSError, ValueError):
        return {}


def feature_space(run_dir: str | Path) -> str | None:
    """Where the run's FD / precision / recall / coverage / Vendi are computed, as its spec.json records it."""
    try:
        return json.loads(RunFiles(Path(run_dir)).spec.read_text()).get("feature_space")
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=32)
def mixture(data_name: str) -> Mixture | None:
    """The data set's true mixture, or None when its modes are unknown (a user's vectors, a missing file)."""
    try:
        spec = describe_data(data_name)  # a definition: no points are drawn
    except (ConfigError, OSError):
        return None
    return spec.mixture


def true_means(data_name: str) -> np.ndarray | None:
    """The data set's true mode means (K, D), or None when its modes are unknown."""
    found = mixture(data_name)
    return None if found is None else np.asarray(found.means)


def mode_counts(samples: np.ndarray, data_name: str) -> pd.DataFrame | None:
    """HQ samples per true mode beside the mode's weight, both as shares; None when the modes are unknown.

    The share is over HQ samples, the histogram reverse KL compares with the weights.
    """
    found = mixture(data_name)
    if found is None or samples.shape[1] != found.means.shape[1]:
        return None
    samples = np.asarray(samples)
    counts = mode_histogram(samples[np.isfinite(samples).all(axis=1)], found)
    total = counts.sum()
    return pd.DataFrame({"mode": np.arange(len(counts)), "hq_samples": counts,
                         "share": counts / total if total else np.zeros(len(counts)),
                         "weight": np.asarray(found.weights, dtype=float)})


def n_modes(eval_rows: pd.DataFrame, means: np.ndarray | None) -> int | None:
    """How many modes the data has: from the evaluation records when they say, else from the true means."""
    if "n_modes" in eval_rows and len(eval_rows) and pd.notna(eval_rows["n_modes"].iloc[-1]):
        return int(eval_rows["n_modes"].iloc[-1])
    return None if means is None else len(means)


def explore_runs() -> pd.DataFrame:
    """Every run directory the Explore page can open, newest first: var/runs/<id>, var/bench/<suite>/<run>
    and study trials' runs, var/studies/<study>/trial-<n>-s<seed>.

    `key` names the run relative to var/ (a job id alone for var/runs), short enough for the URL.
    """
    dirs = [*runs_dir().glob("*/config.json"), *(var_dir() / "bench").glob("*/*/config.json"),
            *(var_dir() / "studies").glob("*/trial-*/config.json")]
    rows = []
    for config_path in dirs:
        run_dir = config_path.parent
        config = run_config(run_dir)
        try:
            mtime = config_path.stat().st_mtime
        except OSError:  # deleted while listing
            continue
        rows.append({"key": run_key(run_dir), "method": config.get("model_name", "?"),
                     "dataset": config.get("data", {}).get("name", "?"),
                     "seed": config.get("train", {}).get("seed"), "run_dir": str(run_dir), "mtime": mtime})
    frame = pd.DataFrame(rows, columns=["key", "method", "dataset", "seed", "run_dir", "mtime"])
    return frame.sort_values("mtime", ascending=False, kind="stable").reset_index(drop=True)


def run_key(run_dir: str | Path) -> str | None:
    """The Explore page's name of a run directory: its job id under var/runs, else its path under var/.

    None for a directory outside var/ (the page opens nothing outside the store).
    """
    path, var = Path(run_dir).resolve(), var_dir().resolve()
    if path.parent == runs_dir().resolve():
        return path.name
    relative = path.relative_to(var).as_posix() if path.is_relative_to(var) else ""
    return relative if "/" in relative else None


def resolve_run(key: str) -> Path | None:
    """The run directory a key from run_key names, if it exists and lies inside var/ (keys come from URLs)."""
    base = runs_dir() if "/" not in key else var_dir()
    path = (base / key).resolve()
    if not path.is_relative_to(var_dir().resolve()) or not RunFiles(path).config.exists():
        return None
    return path


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress(status: dict[str, Any]) -> tuple[float, str]:
    """Fraction done and a one-line caption: step / total, elapsed and, while running, the time left."""
    step, total = int(status.get("step") or 0), int(status.get("total") or 0)
    elapsed = status.get("elapsed")
    text = f"step {step:,} / {total:,}"
    if elapsed is not None:
        text += f" · elapsed {format_duration(elapsed)}"
    if status.get("state") == "running" and step > 0 and elapsed:
        left = elapsed / step * (total - step)
        text += f" · about {format_duration(left)} left" if left >= 1 else " · almost done"
    return (min(step / total, 1.0) if total else 0.0), text


def freshest(status: dict[str, Any], train_rows: pd.DataFrame) -> dict[str, Any]:
    """The status with step and elapsed from the newest loss record when that is newer.

    The trainer rewrites status.json at most twice a second but logs losses every log_every
    steps, so on a fast run the loss log is ahead and the progress bar should follow it.
    """
    if train_rows.empty or status.get("state") not in ACTIVE_STATES:
        return status
    last = train_rows.iloc[-1]
    if int(last["step"]) <= int(status.get("step") or 0):
        return status
    return {**status, "step": int(last["step"]), "elapsed": float(last.get("elapsed", status.get("elapsed") or 0))}


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per MLflow run (engine.tracking.search_runs), newest first, in the columns the Runs page shows."""
    rows = []
    for run in runs:
        tags, params, metrics = run["tags"], run["params"], run["metrics"]
        run_dir = tags.get("run_dir", "")
        # status.json knows the step reached and a state MLflow cannot (a killed job never told MLflow)
        status = RunFiles(Path(run_dir)).read_status() if run_dir else {}
        rows.append({
            "run": Path(run_dir).name if run_dir else run["run_name"],
            "method": tags.get("method", params.get("model_name", "?")),
            "dataset": tags.get("dataset", params.get("data.name", "?")),
            "state": status.get("state") or tags.get("state") or run["status"].lower(),
            "step": status.get("step"),
            "steps": _to_int(params.get("train.steps")),
            "seed": _to_int(params.get("train.seed")),
            **_figures(metrics),
            "study": tags.get("study"),
            "trial": _to_int(tags.get("trial")),
            "kind": tags.get("modescope.kind"),
            "started": pd.to_datetime(run["start_time"], unit="ms") if run.get("start_time") else None,
            "run_id": run["run_id"],
            "run_dir": run_dir,
        })
    figures = [describe(prefix + name).column for prefix in ("", NOISY) for name in MODE_METRICS]
    figures += [describe(name).column for name in FEATURE_FIGURES]
    columns = ["run", "method", "dataset", "state", "step", "steps", "seed", *figures, "study", "trial", "kind", "started",
               "run_id", "run_dir"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in figures:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("step", "steps", "seed", "trial"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    return frame


def _figures(metrics: dict[str, float]) -> dict[str, float | None]:
    """The mode metrics of a run's last evaluation under their table columns, G(z) and (where logged) noisy.

    Reverse KL is undefined with no HQ sample; MLflow then still holds an older value, so it is dropped."""
    out = {}
    for prefix in ("", NOISY):
        modes = metrics.get(f"{EVAL_PREFIX}{prefix}modes")
        for name in MODE_METRICS:
            value = metrics.get(f"{EVAL_PREFIX}{prefix}{name}")
            out[describe(prefix + name).column] = None if name == "reverse_kl" and modes == 0 else value
    out.update({describe(name).column: metrics.get(f"{EVAL_PREFIX}{name}") for name in FEATURE_FIGURES})
    return out


FEATURE_FIGURES = ("fd", "coverage")  # in the run's feature space (spec.json names it): images and vectors alike


def filter_runs(frame: pd.DataFrame, methods: list[str], datasets: list[str]) -> pd.DataFrame:
    """Rows whose method and dataset are among those chosen (an empty choice keeps everything)."""
    keep = pd.Series(True, index=frame.index)
    if methods:
        keep &= frame["method"].isin(methods)
    if datasets:
        keep &= frame["dataset"].isin(datasets)
    return frame[keep].reset_index(drop=True)


TRIALS_HIDE, TRIALS_ALL = "hide", "show all"


def trial_choices(frame: pd.DataFrame) -> list[str]:
    """The Runs page's "Study trials" options: hide them, show all, or one study's trials only."""
    return [TRIALS_HIDE, TRIALS_ALL, *sorted(frame["study"].dropna().unique())]


def filter_trials(frame: pd.DataFrame, choice: str) -> pd.DataFrame:
    """Never a study's parent run (it trains nothing); study trials hidden, all shown, or one study's only."""
    frame = frame[frame["kind"].ne("study").fillna(True)]
    if choice == TRIALS_HIDE:
        frame = frame[frame["study"].isna()]
    elif choice != TRIALS_ALL:
        frame = frame[frame["study"] == choice]
    return frame.reset_index(drop=True)


def compare_labels(runs: pd.DataFrame) -> list[str]:
    """Short, distinct names for compared runs: the method and seed, the dataset when several are compared,
    and the run's own name where that still leaves two alike."""
    several_datasets = runs["dataset"].nunique() > 1
    labels = []
    for run in runs.itertuples():
        label = run.method + ("" if pd.isna(run.seed) else f" s{run.seed}")
        labels.append(f"{label} · {run.dataset}" if several_datasets else label)
    counts = pd.Series(labels).value_counts()
    return [label if counts[label] == 1 else f"{label} ({run})" for label, run in zip(labels, runs["run"])]


def service_running(url: str, timeout: float = 0.3) -> bool:
    """Whether a local web service answers 200 at url (no proxy: it is on this machine)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def mlflow_ui_running(url: str = MLFLOW_UI, timeout: float = 0.3) -> bool:
    """Whether MLflow's own UI answers its health check."""
    return service_running(f"{url}/health", timeout)


def _to_int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
