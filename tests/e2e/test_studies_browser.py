"""A real browser on the Studies page: launch a 3-trial ring8 GAN study (tiny networks, 60 steps), watch its trials table
fill, open Optuna's figures, follow a trial's link to its run in Explore. Screenshots: test-output/e2e/studies-*.png.
"""

from __future__ import annotations

from tests.e2e.conftest import MS, SHOTS, browser_page

TINY = "model.g_hidden=8\nmodel.d_hidden=8\nmodel.latent_dim=4\nmodel.batch_size=32\ntrain.threads=1"


def pick(page, label: str, option: str) -> None:
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_launch_watch_plot_and_explore_a_study(app_url: str):
    from playwright.sync_api import expect

    with browser_page(1400) as page:
        page.goto(f"{app_url}/studies", wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="Studies")).to_be_visible(timeout=90 * MS)
        expect(page.get_by_text("No studies yet")).to_be_visible(timeout=30 * MS)

        # 1. a custom search over lr_g, 3 trials of 60 steps, one worker, tiny networks
        pick(page, "Search", "custom ranges")
        page.get_by_text("lr_g (log)").click()
        page.get_by_label("trials", exact=True).fill("3")
        page.get_by_label("steps per trial", exact=True).fill("60")
        page.get_by_label("Extra settings", exact=True).fill(TINY)
        page.get_by_label("Study name", exact=True).fill("browser-study")
        page.get_by_label("Study name", exact=True).press("Enter")
        page.wait_for_timeout(1000)
        page.screenshot(path=SHOTS / "studies-01-form.png", full_page=True)
        page.get_by_role("button", name="Launch").click()

        # 2. live: the progress and the trials table fill while the worker runs
        expect(page.get_by_text("worker(s) running")).to_be_visible(timeout=60 * MS)
        expect(page.locator("td[role=gridcell]", has_text="complete").first).to_be_attached(timeout=180 * MS)
        page.wait_for_timeout(1000)
        page.screenshot(path=SHOTS / "studies-02-live.png", full_page=True)
        expect(page.get_by_test_id("stProgress").get_by_text("3 of 3 trials finished")).to_be_visible(timeout=240 * MS)
        expect(page.get_by_text("No worker running.")).to_be_visible(timeout=60 * MS)
        expect(page.locator("td[role=gridcell]", has_text="complete")).to_have_count(3, timeout=30 * MS)
        page.wait_for_timeout(1500)
        page.screenshot(path=SHOTS / "studies-03-finished.png", full_page=True)

        # 3. Optuna's figures: the Pareto front of modes x HQ %, then lr_g's slice
        page.set_viewport_size({"width": 1440, "height": 2400})  # Streamlit scrolls inside its main block
        page.get_by_text("Pareto front", exact=True).click()
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=60 * MS)
        expect(page.get_by_text("modes captured").last).to_be_visible(timeout=30 * MS)
        page.wait_for_timeout(1500)
        page.screenshot(path=SHOTS / "studies-04-pareto.png", full_page=True)
        page.get_by_text("Contour", exact=True).click()
        expect(page.get_by_text("needs two or more parameters")).to_be_visible(timeout=60 * MS)
        page.get_by_text("Slice", exact=True).click()
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=60 * MS)
        page.wait_for_timeout(1500)
        page.screenshot(path=SHOTS / "studies-05-slice.png", full_page=True)

        # 4. a trial's run in Explore
        pick(page, "Trial", "trial 2")
        page.get_by_role("link", name="Explore trial 2").click()
        expect(page.get_by_role("heading", name="Explore")).to_be_visible(timeout=60 * MS)
        page.get_by_role("tab", name="Modes").click()
        expect(page.get_by_text("HQ samples per mode")).to_be_visible(timeout=60 * MS)
        assert "run=studies%2Fbrowser-study%2Ftrial-00002" in page.url or \
            "run=studies/browser-study/trial-00002" in page.url, page.url
        page.wait_for_timeout(1500)
        page.screenshot(path=SHOTS / "studies-06-explore.png", full_page=True)
