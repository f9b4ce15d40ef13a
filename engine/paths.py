"""Where the embedded stores live: $MODESCOPE_HOME/var (default: the checkout's own var/)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    return Path(os.environ.get("MODESCOPE_HOME", REPO_ROOT)).resolve()


def var_dir() -> Path:
    return home() / "var"


def runs_dir() -> Path:
    return var_dir() / "runs"


def jobs_dir() -> Path:
    return var_dir() / "jobs"
