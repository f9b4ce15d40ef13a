"""Shared network blocks."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}


def mlp(in_dim: int, out_dim: int, hidden: int, depth: int, activation: str = "relu") -> nn.Sequential:
    """in_dim -> depth x (Linear(hidden) + activation) -> Linear(out_dim), linear output."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def spectrally_normalised(net: nn.Module) -> nn.Module:
    """Every Linear layer of net with spectral normalisation (Miyato et al. 2018): Lipschitz constant <= 1
    per layer, one power iteration per training forward."""
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.utils.parametrizations.spectral_norm(module)
    return net
