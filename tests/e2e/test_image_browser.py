"""Real browser: train a few steps on mnist5k from the Train page and see the sample grid in the live panel, then
in Explore the grids by step, the mode histogram, a map whose selected points show their images, reconstructions
and a likelihood estimate run to its result. Screenshots go to test-output/e2e/."""

from __future__ import annotations

from pathlib import Path

from app.likelihood_view import PROPOSALS
from tests.e2e.conftest import MS, SHOTS, browser_page


def test_train_on_mnist5k_and_see_the_sample_grid(app_url: str, home: Path):
    from playwright.sync_api import expect

    with browser_page() as page:
        page.goto(app_url, wait_until="domcontentloaded")
        expect(page.get_by_text("No job yet")).to_be_visible(timeout=90 * MS)
        # PresGAN: its own sigma, so the likelihood job below skips the test-time sigma fit a GAN needs (65 of its
        # 110 s here; that fit has its own tests in tests/unit/test_likelihood.py)
        page.get_by_role("combobox", name="Method").click()  # Streamlit's selectbox: open it, then pick the option
        page.get_by_role("option", name="presgan", exact=True).click()
        expect(page.get_by_text("presgan settings")).to_be_visible(timeout=60 * MS)
        page.get_by_role("combobox", name="Dataset").click()
        page.get_by_role("option", name="mnist5k", exact=True).click()
        # the rerun for the new data set redraws the form (images: conv_width shown, MLP sizes hidden); until a
        # rerun ends the page can still hold the previous form's elements (the gan's conv_width beside presgan's)
        expect(page.get_by_text("preset for mnist5k", exact=False)).to_be_visible(timeout=60 * MS)
        expect(page.get_by_label("conv_width", exact=True)).to_have_count(1, timeout=60 * MS)
        page.get_by_text("presgan settings").click()
        expect(page.get_by_label("conv_width", exact=True)).to_be_visible(timeout=30 * MS)
        page.get_by_text("More training and data settings").click()
        settings = {"conv_width": "8", "steps": "20", "eval_every": "10", "threads": "1", "eval_samples": "500"}
        for _ in range(3):  # a rerun still in flight from the data-set choice can reset a field typed before it
            for label, value in settings.items():
                field = page.get_by_label(label, exact=True)
                if field.input_value() != value:
                    field.fill(value)
                    field.press("Tab")
            page.wait_for_timeout(500)
        for label, value in settings.items():
            expect(page.get_by_label(label, exact=True)).to_have_value(value)
        page.get_by_role("button", name="Launch").click()

        expect(page.get_by_text("Finished: 20 steps")).to_be_visible(timeout=180 * MS)
        grid = page.get_by_test_id("stImage").first
        expect(grid).to_be_visible(timeout=60 * MS)
        expect(page.get_by_text("Samples at step 20")).to_be_visible(timeout=30 * MS)
        # the PNG decoded to an 8 x 8 grid of 28-px digits with 2-px gaps (the panel redraws, so poll)
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stImage] img')]"
                               ".some(img => img.complete && img.naturalWidth >= 8 * 28)", timeout=30 * MS)
        expect(page.get_by_text("digit-classifier features", exact=False)).to_be_visible(timeout=30 * MS)
        page.wait_for_timeout(1000)
        page.screenshot(path=SHOTS / "10-mnist5k-job.png", full_page=True)

        page.get_by_role("link", name="Explore").click()
        expect(page.get_by_role("heading", name="Explore")).to_be_visible(timeout=90 * MS)
        try:
            expect(page.get_by_text("Evaluation step")).to_be_visible(timeout=120 * MS)
        except AssertionError:
            page.screenshot(path=SHOTS / "11-mnist5k-explore-failed.png", full_page=True)
            raise
        page.wait_for_timeout(1000)
        page.screenshot(path=SHOTS / "11-mnist5k-explore.png", full_page=True)
        page.get_by_role("tab", name="Modes").click()
        expect(page.get_by_text("Samples per mode", exact=False)).to_be_visible(timeout=90 * MS)
        analyse(page)


def visible(locator):
    return locator.locator("visible=true")


def analyse(page) -> None:
    """Map (select points, see their images), Reconstructions, Likelihood: each a background job from a button."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1440, "height": 2000})  # Streamlit scrolls inside its main block
    page.get_by_role("tab", name="Map").click()
    page.get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name="PCA (fast preview)").click()
    page.get_by_role("button", name="Make the map").click()
    expect(page.get_by_text("Draw a box or lasso", exact=False)).to_be_visible(timeout=180 * MS)
    chart = visible(page.get_by_test_id("stPlotlyChart")).first
    expect(chart).to_be_visible(timeout=30 * MS)
    page.wait_for_timeout(1500)
    box = chart.bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.85 * box["height"], steps=12)
    page.mouse.up()
    expect(page.get_by_text("Selected:", exact=False)).to_be_visible(timeout=60 * MS)
    expect(visible(page.get_by_test_id("stImage")).first).to_be_visible(timeout=60 * MS)
    page.wait_for_timeout(1000)
    page.screenshot(path=SHOTS / "12-mnist5k-map.png", full_page=True)

    page.get_by_role("tab", name="Reconstructions").click()
    page.get_by_role("button", name="Reconstruct").click()
    expect(page.get_by_text("IvOM (L-BFGS-B, 3 starts)", exact=False)).to_be_visible(timeout=180 * MS)
    expect(page.get_by_text("Spherical path between two prior draws")).to_be_visible(timeout=60 * MS)
    # every visible image decoded: examples, IvOM fits (PresGAN has no encoder, so no reconstruction row) and the
    # two interpolation strips (8 codes of 28-px digits with 2-px gaps)
    page.wait_for_function("() => { const shown = [...document.querySelectorAll('[data-testid=stImage] img')]"
                           ".filter(img => img.offsetParent !== null); return shown.length >= 4 && "
                           "shown.every(img => img.complete && img.naturalWidth >= 8 * 28); }", timeout=60 * MS)
    page.wait_for_timeout(1500)
    page.screenshot(path=SHOTS / "13-mnist5k-reconstructions.png", full_page=True)

    page.get_by_role("tab", name="Likelihood").click()
    page.get_by_role("combobox", name="Estimator").click()
    page.get_by_role("option", name="importance sampling").click()
    for label, smallest in (("Points", "20"), ("Importance samples S", "100")):  # the flow, not the figure
        thumb = page.get_by_role("slider", name=label)
        thumb.focus()
        thumb.press("Home")
        expect(thumb).to_have_attribute("aria-valuetext", smallest, timeout=30 * MS)
    proposal = page.get_by_role("combobox", name="IS proposal")
    expect(proposal).to_match_aria_snapshot(f'- combobox "IS proposal": {PROPOSALS["hmc"]}')  # images' default
    proposal.click()  # then the fast one: the flow is under test here, the HMC-fitted proposal in the AppTest
    page.get_by_role("option", name=PROPOSALS["laplace"]).click()
    page.get_by_role("button", name="Estimate").click()
    expect(page.get_by_text("sigma: the model's own", exact=False)).to_be_visible(timeout=300 * MS)
    expect(page.get_by_text("20 held-out points", exact=False)).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=SHOTS / "14-mnist5k-likelihood.png", full_page=True)
