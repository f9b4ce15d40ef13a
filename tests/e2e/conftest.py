"""The served app for browser tests: `streamlit run` on a free loopback port with the test's MODESCOPE_HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO, chromium_path, need

SHOTS = REPO / "test-output" / "e2e"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MS = 1000  # Playwright timeouts are in milliseconds; generous, the machine is shared and has 2 cores


@contextmanager
def browser_page(height: int = 1000) -> Iterator:
    """A page of Debian's chromium (skipped without it; failing instead in CI), 1440 px wide; always closed."""
    need(chromium_path() is not None, "chromium is not installed")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1440, "height": height})
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with opener.open(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit was not healthy after {timeout} s:\n{log.read_text()}")


@pytest.fixture
def app_url(home: Path) -> Iterator[str]:
    """`streamlit run` on a free loopback port with its own MODESCOPE_HOME; always terminated."""
    port = free_port()
    log = home / "streamlit.log"
    command = [sys.executable, "-m", "streamlit", "run", "app/streamlit_app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        from engine import jobs  # a failed test may leave its jobs (training runs, study workers) running

        for job in jobs.list_jobs():
            if job["state"] in ("queued", "running", "stopping"):
                jobs.terminate(job["id"])
