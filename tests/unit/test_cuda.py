"""GPU training: every method on 32-px Stacked MNIST on CUDA, with and without bfloat16 autocast. Skipped without a
GPU (CI has none); `amp` on a CPU run is refused with a one-line error everywhere."""

from __future__ import annotations

import json
import time

import pytest
import torch

from engine.config import ConfigError
from engine.registry import MODELS, resolve_config
from engine.trainer import train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def stacked_run(method: str, *sets: str):
    return resolve_config(method, "stacked_mnist", ["data.source=mnist5k", "data.n_train=500", "train.steps=6",
                                                     "train.eval_every=6", "train.eval_samples=200",
                                                     "model.conv_width=16", *sets])


def test_amp_on_a_cpu_run_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="train.amp=true is bfloat16 autocast on CUDA; this run's device is cpu"):
        train(stacked_run("gan", "train.device=cpu", "train.amp=true"), tmp_path / "run", use_mlflow=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@cuda
@pytest.mark.parametrize("amp", [False, True])
@pytest.mark.parametrize("method", list(MODELS))
def test_every_method_trains_on_images_on_cuda(tmp_path, method, amp):
    started = time.perf_counter()
    result = train(stacked_run(method, "train.device=cuda", f"train.amp={str(amp).lower()}"), tmp_path / "run",
                   use_mlflow=False)
    assert result.code == 0, result.message
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["device"].startswith("cuda")
    evaluated = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert 1 <= evaluated["modes"] <= 1000
    print(f"{method} amp={amp}: {(time.perf_counter() - started) / 6 * 1000:.0f} ms per step incl. set-up")
