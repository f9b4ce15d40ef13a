"""One real-browser test: Debian's chromium drives `streamlit run` through the whole walking-skeleton flow.

Launch a short ring8 GAN from the Train page, watch the progress reach the end, find the run in
Runs, compare it and open it in Explore. Screenshots of each stage go to test-output/e2e/ at the repository root.
"""

from __future__ import annotations

from pathlib import Path


from tests.e2e.conftest import MS, SHOTS, browser_page


def test_launch_watch_and_find_run_in_browser(app_url: str, home: Path):
    from playwright.sync_api import expect

    with browser_page() as page:
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
        expect(page.get_by_role("tab", name="Samples")).to_be_visible(timeout=60 * MS)
        page.get_by_role("tab", name="Modes").click()
        expect(page.get_by_text("HQ samples per mode")).to_be_visible(timeout=60 * MS)
        expect(page.get_by_text("Over training")).to_be_visible(timeout=60 * MS)
        page.wait_for_timeout(1500)
        page.screenshot(path=SHOTS / "06-explore.png", full_page=True)


def select_first_row(page) -> None:
    """Tick the first row's checkbox; the table is drawn on a canvas, so click where the box is.

    Streamlit draws the header and each row 35 px high and the row-selection column first.
    """
    box = page.get_by_test_id("stDataFrame").bounding_box()
    page.mouse.click(box["x"] + 17, box["y"] + 35 + 17)
