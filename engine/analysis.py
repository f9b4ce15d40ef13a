"""Analysis results of a trained run, cached beside it (issue 12).

A result belongs to a run and is keyed by the analysis, the checkpoint step it read and its options:
<run>/analysis/<name>-step<step>-<hash of options>.json (a summary) and .npz (its arrays). A second request
for the same key reads the saved result. Where the run is tracked in MLflow, both files are also logged to it
under analysis/. Nothing here touches the run's own status.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import write_atomic, write_atomic_bytes

FOLDER = "analysis"


def result_key(name: str, step: int, options: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{name}-step{step:08d}-{digest}"


def _paths(run_dir: Path, key: str) -> tuple[Path, Path]:
    folder = Path(run_dir) / FOLDER
    return folder / f"{key}.json", folder / f"{key}.npz"


def load_result(run_dir: Path, name: str, step: int, options: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """(summary, arrays) of a saved result with this key, or None."""
    summary_path, arrays_path = _paths(run_dir, result_key(name, step, options))
    try:
        summary = json.loads(summary_path.read_text())
        with np.load(arrays_path, allow_pickle=False) as saved:
            return summary, {k: saved[k] for k in saved.files}
    except (OSError, ValueError):
        return None


def save_result(run_dir: Path, name: str, step: int, options: dict[str, Any], summary: dict[str, Any],
                arrays: dict[str, np.ndarray]) -> Path:
    """Write the result (arrays first, so a summary never names missing arrays); log it to the run's MLflow run."""
    summary_path, arrays_path = _paths(run_dir, result_key(name, step, options))
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic_bytes(arrays_path, buffer.getvalue())
    write_atomic(summary_path, json.dumps({"analysis": name, "step": step, "options": options, **summary}, indent=2))
    run_id = _mlflow_run_id(run_dir)
    if run_id:
        from engine.tracking import log_run_artifacts

        log_run_artifacts(run_id, [summary_path, arrays_path], FOLDER)
    return summary_path


def _mlflow_run_id(run_dir: Path) -> str | None:
    try:
        return json.loads((Path(run_dir) / "status.json").read_text()).get("mlflow_run_id")
    except (OSError, ValueError):
        return None
