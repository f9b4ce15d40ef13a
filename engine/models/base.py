"""The interface every method implements (DESIGN.md section 4)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.optim import Optimizer

from engine.data import DataSpec


class GenerativeModel(nn.Module):
    """One method: its networks, its optimisers and its update order."""

    Config: ClassVar[type]
    # dataset name -> model-config overrides for that benchmark, each citing its source
    PRESETS: ClassVar[dict[str, dict]] = {}

    def __init__(self, config, spec: DataSpec):
        super().__init__()
        self.config = config
        self.spec = spec

    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        """Every update of one iteration on the batch x, in the paper's order."""
        raise NotImplementedError

    def sample(self, n: int) -> torch.Tensor:
        """n data-space samples, (n, *spec.shape)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, Optimizer]:
        """The optimisers the model owns (attributes opt_*), for checkpoints."""
        return {name: value for name, value in vars(self).items() if isinstance(value, Optimizer)}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def extra_state(self) -> dict:
        """Non-parameter state to checkpoint (tensors or numbers); none by default."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what extra_state() returned."""
