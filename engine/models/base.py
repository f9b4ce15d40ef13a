"""The interface every method implements (DESIGN.md section 4)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Protocol, runtime_checkable

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

    @property
    def latent_dim(self) -> int:
        """The size of a code z, what prior() draws and decode() reads."""
        return self.config.latent_dim

    def prior(self, n: int) -> torch.Tensor:
        """n codes z ~ p(z) = N(0, I), (n, latent_dim)."""
        return torch.randn(n, self.latent_dim, device=self.device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The data-space mean of x given codes z, (n, *spec.shape): the generator applied to z. Differentiable
        in z (no no_grad here): the likelihood estimators and IvOM optimise codes through it."""
        return self.generator(z)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n data-space samples, (n, *spec.shape): decode(prior(n)) plus the model's own noise where it has
        one (an ObservationModel's sigma * eps; VEEGAN's extra generator noise)."""
        return self.decode(self.prior(n))

    @torch.no_grad()
    def mean_sample(self, n: int) -> torch.Tensor:
        """n samples without observation noise, the papers' convention for their figures: decode(prior(n)) for
        models with an observation model, sample(n) for the others (their noise is part of the generator)."""
        return self.decode(self.prior(n)) if isinstance(self, ObservationModel) else self.sample(n)

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


@contextmanager
def frozen_weights(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode with no gradient for its weights while codes are optimised through it (the
    likelihood's encoder fit and MAP search, IvOM); the weights that had gradients get them back after."""
    model.train(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p in trainable:
            p.requires_grad_(True)


@runtime_checkable
class Encodes(Protocol):
    """Models with an encoder (alpha-GAN, BMS-VAE-GAN, VAE, VEEGAN's reconstructor): x -> a code, (n, latent_dim)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class ObservationModel(Protocol):
    """Models of x | z ~ N(decode(z), diag sigma^2) (PresGAN, VAE): sigma per dimension or per pixel."""

    def observation_sigma(self) -> torch.Tensor: ...
