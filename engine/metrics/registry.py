"""Every figure the engine reports, described once: its label, unit, format and which way is better.

The app's tables, tiles and charts and the studies' objectives read this table instead of their own lists.
Models with an observation model also report `noisy_<name>` (the same metric on G(z) + sigma * eps);
`describe("noisy_hq_pct")` derives its description from `hq_pct`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

NOISY = "noisy_"
EVAL_PREFIX = "eval/"  # how MLflow keys an evaluation metric


@dataclass(frozen=True)
class Metric:
    """One reported figure. `column` is its short table header; `digits` its decimals."""

    name: str
    label: str
    column: str
    unit: str
    digits: int
    direction: Literal["maximize", "minimize"]
    help: str
    objective: bool = True  # a study may optimise it

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "maximize"

    def format(self, value: float | None) -> str:
        """The value as the pages print it ("n/a" when missing or not finite)."""
        if value is None or not math.isfinite(value):
            return "n/a"
        return f"{value:.{self.digits}f}{' ' + self.unit if self.unit == '%' else ''}"

    @property
    def printf(self) -> str:
        """A printf format for table columns."""
        return f"%.{self.digits}f"


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("modes", "modes captured", "modes", "", 0, "maximize",
           "true modes that are the nearest mode of at least one high-quality sample (DESIGN.md 7)"),
    Metric("hq_pct", "HQ samples", "HQ %", "%", 1, "maximize",
           "share of samples within the data set's HQ radius of their nearest mode (3 std in 2-D)"),
    Metric("reverse_kl", "reverse KL", "KL", "nats", 3, "minimize",
           "KL(histogram of HQ samples over modes || true weights); undefined while no sample is high quality"),
    Metric("mean_error", "mean error", "mean error", "", 3, "minimize",
           "distance between the samples' mean and the training data's mean"),
    Metric("std_error", "std error", "std error", "", 3, "minimize",
           "distance between the samples' per-dimension std and the training data's"),
    Metric("precision", "precision", "precision", "", 3, "maximize",
           "share of samples inside the k-NN ball of some real point (PRDC, k = 5, in the data set's feature space)"),
    Metric("recall", "recall", "recall", "", 3, "maximize",
           "share of real points inside the k-NN ball of some sample (PRDC, k = 5, in the data set's feature space)"),
    Metric("density", "density", "density", "", 3, "maximize",
           "mean number of real k-NN balls a sample falls in, over k (PRDC, feature space; 1 for matching data)"),
    Metric("coverage", "coverage", "coverage", "", 3, "maximize",
           "share of real points with a sample inside their k-NN ball (PRDC, k = 5, feature space): needs no modes"),
    Metric("fd", "Frechet distance", "FD", "", 2, "minimize",
           "Frechet distance between Gaussians fitted to real and generated features (FID where the feature space "
           "is Inception's); 0 for matching sets"),
    Metric("vendi", "Vendi score", "Vendi", "", 2, "maximize",
           "effective number of distinct samples: exp(entropy) of the cosine-kernel eigenvalues of their features "
           "(Friedman & Dieng 2023)"),
    Metric("n_modes", "modes in the data", "data modes", "", 0, "maximize",
           "the number of components of the data's mixture (a property of the data)", objective=False),
)}


def describe(name: str) -> Metric:
    """The description of a metric name as logged (with or without "eval/", noisy_ variants included)."""
    key = name.removeprefix(EVAL_PREFIX)
    if key in METRICS:
        return METRICS[key]
    if key.startswith(NOISY) and key.removeprefix(NOISY) in METRICS:
        base = METRICS[key.removeprefix(NOISY)]
        return replace(base, name=key, label=f"noisy {base.column}", column=f"noisy {base.column}",
                       help=f"{base.help}; on the noisy samples G(z) + sigma * eps")
    raise KeyError(f"{name!r} is not a registered metric ({', '.join(METRICS)})")


def label(name: str) -> str:
    """A metric's label, or the name itself for figures the registry does not know (a method's own losses)."""
    try:
        return describe(name).label
    except KeyError:
        return name


def objectives() -> list[str]:
    """Names a study may optimise."""
    return [name for name, metric in METRICS.items() if metric.objective]


MODE_METRICS = ("modes", "hq_pct", "reverse_kl")  # the three figures every mixture run is judged by
