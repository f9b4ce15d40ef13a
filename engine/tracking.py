"""The only module that calls MLflow: one run per training, params, metrics, images, artifacts.

Default store: sqlite:///$MODESCOPE_HOME/var/mlflow.db with artifacts in var/mlartifacts/
(MLflow 3.17 refuses the ./mlruns file store). MLFLOW_TRACKING_URI overrides it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import warnings
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from engine.callbacks import Callback, TrainResult
from engine.paths import var_dir

EXPERIMENT = os.environ.get("MODESCOPE_EXPERIMENT", "modescope")
# run states (status.json) -> MLflow run statuses
_MLFLOW_STATUS = {"finished": "FINISHED", "stopped": "KILLED", "pruned": "KILLED", "diverged": "FAILED",
                  "failed": "FAILED"}


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{var_dir() / 'mlflow.db'}"


@contextlib.contextmanager
def store_lock() -> Iterator[None]:
    """An exclusive lock across processes on this home's stores (a file lock in var/)."""
    var_dir().mkdir(parents=True, exist_ok=True)
    with open(var_dir() / ".stores.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_PREPARED: set[str] = set()


def prepare_store() -> None:
    """Create and migrate the MLflow store once per process, under the store lock: processes that open a new
    SQLite store at the same moment would each run MLflow's schema migration, and all but one fail
    ("duplicate column name"). Jobs call it before they start their processes; every client calls it too."""
    uri = tracking_uri()
    if uri in _PREPARED:
        return
    if uri.startswith("sqlite:"):
        with store_lock():
            _new_client().search_experiments(max_results=1)  # the first call creates and migrates the tables
    _PREPARED.add(uri)


def _new_client():
    warnings.filterwarnings("ignore", module="sqlalchemy")
    warnings.filterwarnings("ignore", message=".*noload.*")
    var_dir().mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)

    return MlflowClient(tracking_uri=tracking_uri())


def _client():
    prepare_store()
    return _new_client()


def _experiment_id(client) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    # a server keeps its own artifact store; a local SQLite store keeps artifacts beside it in var/
    location = (var_dir() / "mlartifacts").as_uri() if tracking_uri().startswith("sqlite:") else None
    try:
        return client.create_experiment(EXPERIMENT, artifact_location=location)
    except Exception:  # another process created it first
        return client.get_experiment_by_name(EXPERIMENT).experiment_id


class Tracker:
    """Buffers metrics and sends them in batches; one instance per training process."""

    def __init__(self, run_id: str | None = None):
        self.client = _client()
        self.run_id = run_id
        self._buffer: list = []
        self._last_flush = time.monotonic()

    def start(self, run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        from mlflow.entities import Param

        run = self.client.create_run(_experiment_id(self.client), run_name=run_name, tags=tags)
        self.run_id = run.info.run_id
        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])
        return self.run_id

    def reopen(self) -> None:
        """Continue an existing run after a resume."""
        self.client.update_run(self.run_id, status="RUNNING")
        self.client.set_tag(self.run_id, "state", "running")

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._buffer += [Metric(k, float(v), now, step) for k, v in metrics.items()]  # NaN is stored as NaN
        if len(self._buffer) >= 500 or time.monotonic() - self._last_flush > 5:
            self.flush()

    def flush(self) -> None:
        for i in range(0, len(self._buffer), 1000):
            self.client.log_batch(self.run_id, metrics=self._buffer[i:i + 1000])
        self._buffer = []
        self._last_flush = time.monotonic()

    def log_image(self, image, key: str, step: int) -> None:
        self.client.log_image(self.run_id, image, key=key, step=step)

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def finish(self, state: str, message: str = "") -> None:
        self.flush()
        self.client.set_tag(self.run_id, "state", state)
        if message:
            self.client.set_tag(self.run_id, "message", message[:5000])
        self.client.set_terminated(self.run_id, status=_MLFLOW_STATUS.get(state, "FAILED"))


class MLflowCallback(Callback):
    """Tracks one training run in MLflow: params at the start, losses and evaluations by step, a scatter of
    2-D samples per evaluation, the checkpoint and last evaluation as artifacts, the final state.

    `tags` are added to a new run's tags (a study passes mlflow.parentRunId, its name and the trial number)."""

    def __init__(self, tags: dict[str, str] | None = None):
        self.tags = dict(tags or {})
        self.tracker: Tracker | None = None

    def on_start(self, trainer) -> None:
        cfg, run_id = trainer.cfg, trainer.resumed_run_id
        self.tracker = Tracker(run_id)
        if run_id:
            self.tracker.reopen()
        else:
            name = f"{cfg.model_name}-{Path(cfg.data.name).name}-s{cfg.train.seed}"
            tags = {"method": cfg.model_name, "dataset": cfg.data.name, "run_dir": str(trainer.files.root),
                    "device": str(trainer.device), "threads": str(trainer.threads), "state": "running", **self.tags}
            self.tracker.start(name, cfg.flat(), tags)
        trainer.status["mlflow_run_id"] = self.tracker.run_id

    def on_log(self, trainer, step: int, losses: dict[str, float]) -> None:
        self.tracker.log_metrics({f"train/{k}": v for k, v in losses.items()}, step)

    def on_eval(self, trainer, step: int, metrics: dict[str, float], samples) -> None:
        self.tracker.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step)
        spec = trainer.dataset.spec
        if spec.kind == "image":
            from engine.plots import image_grid
            from engine.trainer import GRID_IMAGES

            grid = image_grid(samples[:GRID_IMAGES].reshape(-1, *spec.shape))
            self.tracker.log_image(grid, key="samples", step=step)
        elif samples.shape[1] == 2:
            from engine.plots import scatter_png

            means = spec.mixture.means if spec.mixture is not None else None
            self.tracker.log_image(scatter_png(samples, means, f"{trainer.cfg.model_name} on {spec.name}, step {step}"),
                                   key="samples", step=step)

    def on_end(self, trainer, result: TrainResult) -> None:
        if self.tracker is None or self.tracker.run_id is None:
            return
        if result.state == "finished":
            self.tracker.log_artifact(trainer.files.checkpoint)
            self.tracker.log_artifact(trainer.files.eval)
        self.tracker.finish(result.state, result.message)


def search_runs(max_results: int = 500) -> list[dict[str, Any]]:
    """Every run of the experiment as plain dicts: id, name, status, tags, params, latest metrics."""
    client = _client()
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], max_results=max_results, order_by=["attributes.start_time DESC"])
    return [{"run_id": r.info.run_id, "run_name": r.info.run_name, "status": r.info.status,
             "start_time": r.info.start_time, "tags": dict(r.data.tags), "params": dict(r.data.params),
             "metrics": dict(r.data.metrics)} for r in runs]


def metric_history(run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one metric of one run, in step order."""
    history = _client().get_metric_history(run_id, key)
    return sorted((m.step, m.value) for m in history)


def run_by_id(run_id: str) -> dict[str, Any] | None:
    try:
        r = _client().get_run(run_id)
    except Exception:
        return None
    return {"run_id": r.info.run_id, "status": r.info.status, "tags": dict(r.data.tags),
            "params": dict(r.data.params), "metrics": dict(r.data.metrics)}


def start_parent_run(run_name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
    """A run that holds no training of its own: the parent of a study's trial runs (their mlflow.parentRunId)."""
    tracker = Tracker()
    return tracker.start(run_name, params, tags)


def reopen_run(run_id: str) -> None:
    _client().update_run(run_id, status="RUNNING")


def end_run(run_id: str, status: str = "FINISHED") -> None:
    _client().set_terminated(run_id, status=status)


def log_values(run_id: str, values: dict[str, float], step: int) -> None:
    tracker = Tracker(run_id)
    tracker.log_metrics(values, step)
    tracker.flush()


def log_run_artifacts(run_id: str, paths: list[Path], artifact_path: str) -> None:
    """Attach files to an existing (possibly finished) run, under artifact_path."""
    client = _client()
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path=artifact_path)
