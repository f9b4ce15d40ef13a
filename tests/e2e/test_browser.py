"""One real-browser test: Debian's chromium drives `streamlit run` through the whole walking-skeleton flow.

Launch a short ring8 GAN from the Train page, watch the progress reach the end, find the run in
Runs, compare it and open it in Explore. Screenshots of each stage go to test-output/e2e/ at the repository root.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, chromium_path, need

SHOTS = REPO / "test-output" / "e2e"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MS = 1000  # Playwright timeouts are in milliseconds; generous, the machine is shared and has 2 cores


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
        from engine import jobs  # a failed test may leave its training job running

        for job in jobs.list_jobs():
            if job["state"] in ("queued", "running", "stopping"):
                jobs.terminate(job["id"])


def test_launch_watch_and_find_run_in_browser(app_url: str, home: Path):
    need(chromium_path() is not None, "chromium is not installed")
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(app_url, wait_until="domcontentloaded")
            expect(page.get_by_role("heading", name="Train")).to_be_visible(timeout=90 * MS)
            expect(page.get_by_text("No job yet")).to_be_visible(timeout=30 * MS)

            # 1. a short ring8 GAN, one torch thread (tests share two cores)
            page.get_by_label("steps", exact=True).fill("300")
            page.get_by_label("eval_every", exact=True).fill("100")
            page.get_by_text("More training and data settings").click()
            page.get_by_label("threads", exact=True).fill("1")
            page.screenshot(path=SHOTS / "01-train-form.png", full_page=True)
            page.get_by_role("button", name="Launch").click()

            # 2. the live panel: the job id lands in the URL, progress runs to the end
            expect(page.get_by_text("Job", exact=True)).to_be_visible(timeout=60 * MS)
            page.wait_for_url("**/?job=*", timeout=30 * MS)
            job_id = page.url.split("job=")[1]
            expect(page.get_by_text("elapsed", exact=False).first).to_be_visible(timeout=120 * MS)
            expect(page.get_by_text("Evaluated at step")).to_be_visible(timeout=120 * MS)
            expect(page.get_by_text("Modes captured")).to_be_visible(timeout=30 * MS)
            page.wait_for_timeout(500)  # the panel redraws top-down; let the charts catch up with the header
            page.screenshot(path=SHOTS / "02-running.png", full_page=True)
            expect(page.get_by_text("Finished: 300 steps")).to_be_visible(timeout=180 * MS)
            expect(page.get_by_text("step 300 / 300")).to_be_visible(timeout=30 * MS)
            expect(page.get_by_text("Modes captured")).to_be_visible(timeout=30 * MS)
            page.wait_for_timeout(1500)  # let the progress bar finish its animation before the picture
            page.screenshot(path=SHOTS / "03-finished.png", full_page=True)

            # 3. a refreshed tab reattaches to the job named in the URL
            page.reload(wait_until="domcontentloaded")
            expect(page.get_by_text("Finished: 300 steps")).to_be_visible(timeout=90 * MS)

            # 4. Runs lists the run (MLflow store); tick it to compare
            page.get_by_role("link", name="Runs").click()
            expect(page.get_by_role("heading", name="Runs")).to_be_visible(timeout=60 * MS)
            # the grid is a canvas; its cells are mirrored in an off-screen table for screen readers
            expect(page.locator("td[role=gridcell]", has_text=job_id)).to_be_attached(timeout=60 * MS)
            page.screenshot(path=SHOTS / "04-runs.png", full_page=True)
            select_first_row(page)
            expect(page.get_by_text("Comparing 1 run")).to_be_visible(timeout=60 * MS)
            expect(page.get_by_text("Latest samples")).to_be_visible(timeout=60 * MS)
            # Streamlit scrolls inside its main block, so a full-page picture needs a tall window
            page.set_viewport_size({"width": 1440, "height": 2000})
            page.wait_for_timeout(1500)
            page.screenshot(path=SHOTS / "05-compare.png", full_page=True)

            # 5. Explore the run from its link under the compared samples
            page.get_by_role("link", name="Explore gan s0").click()
            expect(page.get_by_role("heading", name="Explore")).to_be_visible(timeout=60 * MS)
            expect(page.get_by_text("HQ samples per mode")).to_be_visible(timeout=60 * MS)
            expect(page.get_by_text("Over training")).to_be_visible(timeout=60 * MS)
            page.wait_for_timeout(1500)
            page.screenshot(path=SHOTS / "06-explore.png", full_page=True)
        finally:
            browser.close()


def select_first_row(page) -> None:
    """Tick the first row's checkbox; the table is drawn on a canvas, so click where the box is.

    Streamlit draws the header and each row 35 px high and the row-selection column first.
    """
    box = page.get_by_test_id("stDataFrame").bounding_box()
    page.mouse.click(box["x"] + 17, box["y"] + 35 + 17)
