"""Shared fixtures: every test gets its own MODESCOPE_HOME (var/ stores) and MLflow SQLite store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
REQUIRE_ALL = os.environ.get("MODESCOPE_REQUIRE_ALL") == "1"
# one torch thread per test process: `make test` runs two xdist workers on two cores, and two 2-thread torch
# processes there run several times slower than two 1-thread ones
torch.set_num_threads(1)


def need(condition: bool, reason: str) -> None:
    """Skip when an external requirement (chromium, PostgreSQL) is missing; fail instead in CI."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"MODESCOPE_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store, created and migrated once per test process: opening a new store took 6.0 s
    here (its migration included), opening a copy of a migrated one 2.9 s."""
    template = tmp_path_factory.mktemp("store-template")
    env = {**os.environ, "MODESCOPE_HOME": str(template), "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([sys.executable, "-c", "from engine import tracking; tracking.prepare_store()"], cwd=REPO,
                   env=env, check=True, timeout=120)
    return template / "var" / "mlflow.db"


@pytest.fixture
def bare_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty MODESCOPE_HOME: no stores yet, for the tests of how a store is first created."""
    monkeypatch.setenv("MODESCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "var").mkdir()
    return tmp_path


@pytest.fixture
def home(bare_home, migrated_store) -> Path:
    """A fresh MODESCOPE_HOME with its own var/mlflow.db (a copy of the empty migrated store), for this process
    and its children."""
    shutil.copyfile(migrated_store, bare_home / "var" / "mlflow.db")
    return bare_home


def run_engine(*args: str, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m engine ARGS` in a child process, one torch thread, output captured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


class Fn(nn.Module):
    """A fixed function standing in for a network, so a test knows every output exactly."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)
