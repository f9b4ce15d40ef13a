"""AppTest of the Explore page: one run's samples over the modes, its mode histogram and its curves.

Runs are trained for real through the CLI (60 steps, a few seconds) or, for hd1200, made by hand.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from engine.config import build_run_config
from engine.registry import MODELS
from tests.conftest import run_engine

APP = str(Path(__file__).resolve().parents[2] / "app" / "streamlit_app.py")
EXPLORE = "app_pages/explore.py"


def train(home: Path, method: str, job_id: str) -> Path:
    run_dir = home / "var" / "runs" / job_id
    done = run_engine("train", "--model", method, "--data", "ring8", "--steps", "60", "--set", "train.eval_every=20",
                      "--set", "train.threads=1", "--no-mlflow", "--out", str(run_dir))
    assert done.returncode == 0, done.stderr
    return run_dir


def open_explore(run: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(EXPLORE)
    if run:
        at.query_params["run"] = run
    at.run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(data) -> np.ndarray:
    """A figure's array as numpy: plotly sends numpy arrays base64-encoded, lists as they are."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data)


def bars(figure: dict) -> tuple[np.ndarray, np.ndarray]:
    """(HQ share, true weight) per mode of the mode histogram."""
    return values(figure["data"][0]["y"]), values(figure["data"][1]["y"])


def test_explore_without_runs(home):
    at = open_explore()
    assert [t.value for t in at.title] == ["Explore"]
    assert "No runs yet" in texts(at.info)


def test_explore_a_trained_ring8_run(home):
    run_dir = train(home, "gan", "gan-ring8-a")
    at = open_explore("gan-ring8-a")
    assert at.selectbox(key="explore_run").value == "gan-ring8-a"
    assert at.query_params["run"] == "gan-ring8-a"
    assert [m.label for m in at.metric] == ["Modes captured", "HQ samples", "Reverse KL"]
    assert at.metric[0].value.endswith("/ 8")
    assert "Evaluated at step 60" in texts(at.caption)
    density, histogram, curves = figures(at)
    assert [trace["type"] for trace in density["data"]] == ["contour", "scattergl", "scattergl"]
    assert density["layout"]["title"]["text"] == "Samples at step 60"
    shares, weights = bars(histogram)
    assert len(shares) == 8 and np.allclose(weights, 1 / 8)
    modes = int(at.metric[0].value.split("/")[0])
    assert (shares > 0).sum() == modes  # the histogram agrees with the trainer's evaluation
    assert [values(trace["x"]).tolist() for trace in curves["data"]] == [[20, 40, 60]] * 3  # modes, HQ %, KL over training
    assert curves["layout"]["annotations"][2]["text"] == "reverse KL"

    # no saved samples: the page draws them again from the checkpoint, as the evaluation did
    shutil.rmtree(run_dir / "samples")
    at.run()
    assert not at.exception, at.exception
    assert "drawn from its checkpoint" in texts(at.caption)
    redrawn, _ = bars(figures(at)[1])
    assert np.allclose(redrawn, shares)


def test_noisy_figures_beside_for_a_model_with_sigma(home):
    run_dir = train(home, "vae", "vae-ring8-a")
    at = open_explore()  # the only run: chosen without a URL
    assert [m.label for m in at.metric][3:] == ["Noisy modes", "Noisy HQ %", "Noisy KL"]
    assert "G(z) + sigma·eps" in texts(at.caption)
    curves = figures(at)[2]
    assert {trace["name"] for trace in curves["data"]} == {"G(z)", "G(z) + sigma·eps"}
    # the noisy samples the evaluation saved give its noisy figures; without them (an older run) they are drawn
    # again from the checkpoint with the evaluation's seed, the same samples
    at.segmented_control(key="explore_noise").set_value("G(z) + sigma·eps").run()
    assert not at.exception, at.exception
    noisy_modes = int(at.metric[3].value.split("/")[0])
    density, histogram, _ = figures(at)
    assert density["layout"]["title"]["text"] == "G(z) + sigma·eps at step 60"
    shares, _ = bars(histogram)
    assert (shares > 0).sum() == noisy_modes
    saved = sorted(path.name for path in (run_dir / "samples").glob("noisy_*.npy"))
    assert saved == ["noisy_latest.npy"] + [f"noisy_step_{step:08d}.npy" for step in (20, 40, 60)]
    for path in (run_dir / "samples").glob("noisy_*.npy"):
        path.unlink()
    at.run()
    assert np.allclose(bars(figures(at)[1])[0], shares)
    assert "no noisy samples" not in texts(at.caption)


def test_hd1200_run_is_projected_and_counted(home):
    """A hand-made hd1200 run directory: no scatter of 1200-D points, a PCA projection, the full histogram."""
    from engine.data.synthetic import MIXTURES

    run_dir = home / "var" / "runs" / "gan-hd1200-a"
    build_run_config(MODELS, {"model_name": "gan", "data": {"name": "hd1200"}}).save(run_dir / "config.json")
    records = [{"kind": "eval", "step": step, "modes": modes, "hq_pct": 50.0, "reverse_kl": 0.4, "n_modes": 10.0}
               for step, modes in ((10, 3.0), (20, 4.0))]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    x, labels = MIXTURES["hd1200"]().sample(600, seed=0)
    (run_dir / "samples").mkdir()
    np.save(run_dir / "samples" / "latest.npy", x[labels < 4][:200])  # four of the ten modes
    at = open_explore()
    assert not at.exception, at.exception
    assert "hd1200 is 1200-D, so its samples cannot be drawn as they are" in texts(at.caption)
    density, histogram, curves = figures(at)
    assert density["layout"]["title"]["text"].endswith("(PCA projection)")
    assert len(values(density["data"][-1]["x"])) == 10  # the ten true modes, on the plane
    shares, weights = bars(histogram)
    assert len(shares) == 10 and (shares > 0).sum() == 4 and np.allclose(weights, 0.1)
    assert at.metric[0].value == "4 / 10"
    assert [values(trace["x"]).tolist() for trace in curves["data"]] == [[10, 20]] * 3


def test_unknown_run_in_the_url_falls_back_to_the_newest(home):
    train(home, "gan", "gan-ring8-b")
    at = open_explore("no-such-run")
    assert "No run 'no-such-run'" in texts(at.warning)
    assert at.selectbox(key="explore_run").value == "gan-ring8-b"
    at = open_explore("../../etc")  # keys come from URLs: nothing outside var/ is opened
    assert at.selectbox(key="explore_run").value == "gan-ring8-b"


def train_images(home: Path, method: str, data: list[str], job_id: str, steps: int = 20) -> Path:
    run_dir = home / "var" / "runs" / job_id
    done = run_engine("train", "--model", method, *data, "--steps", str(steps), "--set", f"train.eval_every={steps // 2}",
                      "--set", "train.threads=1", "--set", "model.conv_width=8", "--set", "train.eval_samples=300",
                      "--no-mlflow", "--out", str(run_dir))
    assert done.returncode == 0, done.stderr
    return run_dir


def test_an_image_run_shows_its_grids_by_step_and_ten_digit_bars(home):
    run_dir = train_images(home, "gan", ["--data", "mnist5k"], "gan-mnist5k-a")
    at = open_explore()
    slider = at.select_slider(key="explore_step")
    assert list(slider.options) == ["10", "20"] and slider.value == 20
    assert "digit-classifier features" in texts(at.caption)  # the feature space is named beside FD / coverage
    assert [m.label for m in at.metric] == ["Modes captured", "Reverse KL", "Frechet distance", "Coverage"]
    histogram, curves = figures(at)
    shares, expected = bars(histogram)
    assert len(shares) == 10 and np.allclose(expected, 0.1) and np.isclose(shares.sum(), 1.0)
    assert at.metric[0].value == f"{(shares > 0).sum()} / 10"  # the evaluation's own samples per digit
    assert "step 20" in histogram["layout"]["title"]["text"] and "300 samples" in histogram["layout"]["title"]["text"]
    assert [t["xaxis"] for t in curves["data"]] == ["x", "x2", "x3", "x4"]  # modes, KL, FD, coverage over steps
    for name in ("checkpoint.pt", "weights"):  # the histogram is read from the run's files, never sampled again
        shutil.rmtree(run_dir / name) if (run_dir / name).is_dir() else (run_dir / name).unlink()
    at.select_slider(key="explore_step").set_value(10).run()
    histogram = figures(at)[0]
    assert "step 10" in histogram["layout"]["title"]["text"]
    saved = np.load(run_dir / "samples" / "modes_step_00000010.npy")
    assert np.allclose(bars(histogram)[0], saved / saved.sum())
    for path in (run_dir / "samples").glob("modes_step_*.npy"):  # a run from before the counts were saved
        path.unlink()
    at = open_explore()
    assert "kept images" in figures(at)[0]["layout"]["title"]["text"]


def test_a_stacked_run_maps_its_thousand_modes_ten_by_hundred(home):
    train_images(home, "gan", ["--data", "stacked_mnist", "--set", "data.source=mnist5k", "--set",
                               "data.n_train=500"], "gan-stacked-a", steps=10)
    heatmap = figures(open_explore())[0]
    assert heatmap["data"][0]["type"] == "heatmap"
    ratio = np.asarray(heatmap["data"][0]["z"], dtype=float) if not isinstance(heatmap["data"][0]["z"], dict) \
        else values(heatmap["data"][0]["z"]).reshape(10, 100)
    assert ratio.shape == (10, 100) and np.isclose(ratio.mean(), 1.0)  # shares over the uniform 1/1000
    counts = heatmap["data"][0]["customdata"]
    counts = values(counts) if isinstance(counts, dict) else np.asarray(counts)
    assert counts.sum() == 300  # every sample the run's evaluation drew, as it saved them
