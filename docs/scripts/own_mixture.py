"""The "own data" study of issue 10: an imbalanced 2-D mixture saved as a user's vectors file, and the mode
metrics of runs trained on it (the file itself carries no modes; this script knows how it was made).

    .venv/bin/python docs/scripts/own_mixture.py make var/data/imbalanced6.npy
    .venv/bin/python docs/scripts/own_mixture.py score RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.data.synthetic import Mixture, ring  # noqa: E402
from engine.metrics.modes import mode_histogram, mode_metrics  # noqa: E402

WEIGHTS = np.array([0.5, 0.2, 0.1, 0.08, 0.07, 0.05])  # six modes, from half the data down to 5 %


def mixture() -> Mixture:
    return Mixture(means=ring(6, radius=2.0, std=0.05).means, std=0.05, weights=WEIGHTS, intrinsic_dim=2)


def score(run_dir: Path) -> dict:
    samples = np.load(run_dir / "samples" / "latest.npy")
    evaluation = json.loads((run_dir / "eval.json").read_text())
    found = mode_metrics(samples, mixture())
    histogram = mode_histogram(samples, mixture())
    return {"run": run_dir.name, **{k: round(v, 3) for k, v in found.items()},
            "hq_share_per_mode": [round(float(c) / max(1, histogram.sum()), 3) for c in histogram],
            **{k: round(evaluation[k], 3) for k in ("coverage", "precision", "recall", "density") if k in evaluation}}


if __name__ == "__main__":
    if sys.argv[1] == "make":
        x, _ = mixture().sample(20_000, seed=0)
        Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)
        np.save(sys.argv[2], x)
        print(f"wrote {len(x)} points to {sys.argv[2]}")
    else:
        for run in sys.argv[2:]:
            print(json.dumps(score(Path(run))))
