"""AppTest of Explore's analysis tabs (Map, Reconstructions, Likelihood): buttons start background jobs that leave
the run's status alone; cached results are drawn per step and options."""

from __future__ import annotations

import json
import time

import numpy as np

from engine import jobs
from engine.trainer import RunFiles
from tests.app.test_explore import figures, open_explore, texts, train, train_images, values
from tests.conftest import run_engine


def wait_for_jobs(run_dir, timeout: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = jobs.analysis_jobs(run_dir)
        if found and all(job.get("state") not in ("queued", "running") for job in found):
            return found
        time.sleep(0.5)
    raise AssertionError(f"analysis jobs still running: {jobs.analysis_jobs(run_dir)}")


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_the_map_button_runs_a_job_and_the_map_shows_both_sets(home):
    run_dir = train(home, "gan", "gan-ring8-map")
    before = RunFiles(run_dir).read_status()
    at = open_explore("gan-ring8-map")
    assert [t.label for t in at.tabs] == ["Samples", "Modes", "Map", "Reconstructions", "Likelihood"]
    assert at.select_slider(key="analysis_step").options == ["20", "40", "60"]  # the kept weights' steps
    assert at.selectbox(key="map_space").options == ["data / classifier features"]  # a GAN does not encode
    at.selectbox(key="map_method").set_value("pca")
    at.select_slider(key="map_points").set_value(500).run()
    assert "No map for these options" in texts(at.caption)
    button(at, "Make the map").click().run()
    finished = wait_for_jobs(run_dir)
    assert [job["state"] for job in finished] == ["finished"]
    assert RunFiles(run_dir).read_status() == before  # the run's own status is untouched
    at.run()
    assert not at.exception, at.exception
    chart = next(f for f in figures(at) if [t["name"] for t in f["data"]] == ["real", "generated"])
    assert all(len(values(trace["x"])) == 500 for trace in chart["data"])
    assert "step 60" in chart["layout"]["title"]["text"]
    # an earlier step has no map yet: the button again
    at.select_slider(key="analysis_step").set_value(20).run()
    assert "No map for these options at this step yet" in texts(at.caption)


def test_reconstruction_and_likelihood_tabs_read_cached_results(home):
    run_dir = train(home, "vae", "vae-ring8-tabs")
    for args in (["reconstruct", "--points", "8", "--iterations", "10"],
                 ["loglik", "--points", "100", "--importance-samples", "1000", "--estimator", "both",
                  "--encoder-steps", "100", "--ais-temperatures", "50", "--ais-chains", "4"],
                 ["loglik", "--points", "100", "--estimator", "ais", "--ais-temperatures", "20", "--ais-chains", "2",
                  "--simulated"],
                 ["loglik", "--points", "100", "--importance-samples", "100", "--estimator", "is", "--proposal",
                  "hmc", "--proposal-chains", "2", "--proposal-samples", "10", "--proposal-burn-in", "5",
                  "--encoder-steps", "100"]):
        done = run_engine(*args[:1], "--run", str(run_dir), *args[1:])
        assert done.returncode == 0, done.stderr
    at = open_explore("vae-ring8-tabs")
    at.select_slider(key="recon_points").set_value(8)
    at.select_slider(key="recon_iterations").set_value(10)
    at.select_slider(key="ll_points").set_value(100).run()
    assert not at.exception, at.exception
    shown = texts(at.caption)
    recon = next(frame.value for frame in at.dataframe if "IvOM error" in frame.value.columns)
    assert list(recon.columns[:4]) == ["reconstruction error", "IvOM error", "x[0]", "x[1]"] and len(recon) == 8
    assert (recon["IvOM error"] >= 0).all()
    likelihood = next(frame.value for frame in at.dataframe if "estimator" in frame.value.columns)
    assert list(likelihood["estimator"]) == ["importance sampling", "annealed importance sampling",
                                             "the data's own density (exact)"]
    saved = {path.name: json.loads(path.read_text()) for path in (run_dir / "analysis").glob("loglik-*.json")}
    held_out = next(found for found in saved.values()  # the tab's default proposal, not the hmc one
                    if not found.get("simulated") and found["options"]["proposal"] == "laplace")
    assert np.isclose(likelihood["log p(x), nats"].iloc[0], held_out["estimates"]["is"]["nats"])
    assert "sigma: the model's own" in shown and "IS − AIS on the same points" in shown
    assert "an estimate of KL(p_data ‖ p_model)" in shown and "100 held-out points" in shown
    # the estimators' check on points drawn from the model: AIS's two bounds, no data density
    at.segmented_control(key="ll_source").set_value("simulated")
    at.selectbox(key="ll_est").set_value("ais").run()
    assert not at.exception, at.exception
    bounds = next(frame.value for frame in at.dataframe if "estimator" in frame.value.columns)
    assert list(bounds["estimator"]) == ["annealed importance sampling", "AIS in reverse (upper bound)"]
    simulated = next(found for found in saved.values() if found.get("simulated"))
    assert np.isclose(bounds["log p(x), nats"].iloc[1], simulated["estimates"]["ais_upper"]["nats"])
    shown = texts(at.caption)
    assert "100 points simulated from the model" in shown and "AIS upper − lower bound" in shown
    # the HMC-fitted proposal's estimate, found by its options
    at.segmented_control(key="ll_source").set_value("held-out")
    at.selectbox(key="ll_est").set_value("is")
    at.selectbox(key="ll_proposal").set_value("hmc")
    at.select_slider(key="ll_samples").set_value(100).run()
    assert not at.exception, at.exception
    fitted = next(frame.value for frame in at.dataframe if "estimator" in frame.value.columns)
    assert fitted["spent"].iloc[0].startswith("hmc proposal, S = 100")
    hmc_run = next(found for found in saved.values() if found["estimates"].get("is", {}).get("proposal") == "hmc")
    assert np.isclose(fitted["log p(x), nats"].iloc[0], hmc_run["estimates"]["is"]["nats"])


def test_the_estimate_button_reports_a_failure_in_one_line(home):
    run_dir = train(home, "gan", "gan-ring8-fail")
    at = open_explore("gan-ring8-fail")
    at.selectbox(key="ll_est").set_value("is").run()
    (run_dir / "checkpoint.pt").write_bytes(b"broken")  # the job reads it (step 60): it must fail and say so
    button(at, "Estimate").click().run()
    assert [job["state"] for job in wait_for_jobs(run_dir)] == ["failed"]
    at.run()
    errors = texts(at.error)
    assert "The last loglik job failed: error: checkpoint" in errors and "is corrupt or truncated" in errors
    assert button(at, "Estimate")  # and it can be tried again


def test_each_data_kind_starts_at_its_own_likelihood_defaults(home):
    train(home, "gan", "gan-ring8-kinds")
    train_images(home, "gan", ["--data", "mnist5k"], "gan-mnist5k-kinds", steps=4)
    at = open_explore("gan-ring8-kinds")
    assert (at.selectbox(key="ll_proposal").value, at.select_slider(key="ll_points").value) == ("laplace", 200)
    at.selectbox(key="ll_proposal").set_value("encoder").run()
    at.selectbox(key="explore_run").set_value("gan-mnist5k-kinds").run()  # an image run, in the same session
    assert not at.exception, at.exception
    assert (at.selectbox(key="ll_proposal").value, at.select_slider(key="ll_points").value) == ("hmc", 20)
    at.selectbox(key="explore_run").set_value("gan-ring8-kinds").run()
    assert at.selectbox(key="ll_proposal").value == "laplace"
