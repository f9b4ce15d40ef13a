"""Shared loss formulas reduce over every data dimension, for vectors and images alike."""

from __future__ import annotations

import torch

from engine.losses import reconstruction_error
from engine.models.pacgan import pack_samples
from engine.models.vae import gaussian_nll


def test_reconstruction_error_is_a_sum_over_the_data_dimensions():
    x, x_hat = torch.zeros(4, 3), torch.tensor([[1.0, -2.0, 0.5]]).repeat(4, 1)
    assert torch.allclose(reconstruction_error(x, x_hat, "l1"), torch.full((4,), 3.5))  # the paper's ||.||_1
    assert torch.allclose(reconstruction_error(x, x_hat, "l2"), torch.full((4,), 5.25))
    images = torch.rand(5, 3, 8, 8)
    assert torch.allclose(reconstruction_error(images, torch.zeros_like(images)), images.sum(dim=(1, 2, 3)))
    # BMS: T reconstructions per example against the example itself, one error per (example, sample)
    many = torch.rand(5, 4, 3, 8, 8)
    errors = reconstruction_error(images.unsqueeze(1), many, "l1", batch_dims=2)
    assert errors.shape == (5, 4)
    assert torch.allclose(errors[2, 1], (many[2, 1] - images[2]).abs().sum())


def test_gaussian_nll_on_images_with_a_per_pixel_sigma():
    x, mean = torch.randn(6, 3, 4, 4), torch.randn(2, 6, 3, 4, 4)
    sigma = torch.rand(1, 4, 4) + 0.5       # one value per pixel, shared over the channels
    expected = -torch.distributions.Normal(mean, sigma.expand(3, 4, 4)).log_prob(x).sum(dim=(2, 3, 4))
    assert torch.allclose(gaussian_nll(x, mean, sigma, batch_dims=2), expected, atol=1e-4)


def test_images_pack_along_channels():
    x = torch.arange(4 * 2 * 3 * 3, dtype=torch.float32).view(4, 2, 3, 3)
    packed = pack_samples(x, 2)
    assert packed.shape == (2, 4, 3, 3)
    assert torch.equal(packed[1, :2], x[2]) and torch.equal(packed[1, 2:], x[3])
