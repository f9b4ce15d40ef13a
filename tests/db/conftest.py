"""Real PostgreSQL for tests: a fresh, empty database per test, and a real `mlflow server` on one.

The cluster comes from MODESCOPE_TEST_POSTGRES_URL (a SQLAlchemy URL whose role may CREATE DATABASE;
`.ci/pg-start` prints one). Without it these tests skip, or fail when MODESCOPE_REQUIRE_ALL=1.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.conftest import need

SERVER_START_S = 90  # a fresh backend store runs all of MLflow's alembic migrations first


def base_postgres_url() -> str:
    url = os.environ.get("MODESCOPE_TEST_POSTGRES_URL", "")
    need(bool(url), "MODESCOPE_TEST_POSTGRES_URL is not set (start a cluster with: export "
                    "MODESCOPE_TEST_POSTGRES_URL=$(.ci/pg-start))")
    return url


@contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """Create a uniquely named empty database next to BASE_URL's, yield its URL, drop it afterwards."""
    base = sa.make_url(base_url)
    name = f"modescope_t_{os.getpid()}_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            # render_as_string: str(URL) would mask the password as ***
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:  # FORCE: connections a test left open must not block the drop
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with fresh_database(base_postgres_url()) as url:
        yield url


@pytest.fixture
def mlflow_backend_url() -> Iterator[str]:
    """The fresh PostgreSQL database `mlflow_server` stores into (request both to look at its tables)."""
    with fresh_database(base_postgres_url()) as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log: Path, chars: int = 6000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's whole process group (mlflow runs uvicorn as a child), then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def mlflow_server(mlflow_backend_url, tmp_path, monkeypatch) -> Iterator[str]:
    """A real `mlflow server` (backend store: a fresh PostgreSQL database) on a free loopback port; yields its URL."""
    # MlflowClient talks through requests, which honours HTTP(S)_PROXY: keep loopback direct.
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"])))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "mlflow-server.log"
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", mlflow_backend_url,
           "--artifacts-destination", str(tmp_path / "mlartifacts"), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode} before /health answered:\n{_log_tail(log)}")
            try:
                with opener.open(f"{url}/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:  # URLError, refused, reset: not up yet
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server gave no /health within {SERVER_START_S} s:\n{_log_tail(log)}")
            time.sleep(0.25)
        yield url
    finally:
        _stop(proc)
