"""Hooks of the training loop (DESIGN.md section 5): tracking and a study's pruning are callbacks.

The trainer calls `on_start` once the run is set up, `on_log` at every loss record, `on_eval` after
every evaluation and `on_end` once with the run's result. An `on_eval` may raise `PruneRun` to end the
run early in state "pruned" (its checkpoint is written first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.trainer import Trainer


class PruneRun(Exception):
    """Raised by an evaluation callback: stop here, keep the checkpoint, end in state "pruned"."""


@dataclass
class TrainResult:
    """How a run ended: exit code, final state, last step, and the metrics of its last evaluation."""

    code: int
    state: str
    step: int
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""


class Callback:
    """Base class: every hook does nothing unless overridden."""

    def on_start(self, trainer: Trainer) -> None:
        """The run directory, model and data are ready; nothing has been trained in this process yet."""

    def on_log(self, trainer: Trainer, step: int, losses: dict[str, float]) -> None:
        """A loss record was written (every train.log_every steps and at the last step)."""

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float], samples: np.ndarray) -> None:
        """An evaluation was written; raise PruneRun to end the run as pruned."""

    def on_end(self, trainer: Trainer, result: TrainResult) -> None:
        """The run ended (finished, stopped, pruned, diverged or failed); called once."""
