"""Mode metrics and every dataset's HQ rule on samples with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.data.synthetic import HQ_ACCEPT_RATE, MIXTURES
from engine.metrics.modes import mode_histogram, mode_metrics

N = 2500


@pytest.fixture(scope="module", params=sorted(MIXTURES))
def mixture(request):
    return MIXTURES[request.param]()


def test_all_samples_on_one_mode_count_one_mode(mixture):
    x = np.repeat(mixture.means[3:4], N, axis=0)
    m = mode_metrics(x, mixture)
    assert m["modes"] == 1
    assert m["hq_pct"] == 100.0
    assert m["reverse_kl"] == pytest.approx(math.log(mixture.n_modes))  # KL(delta || uniform) = log K


def test_true_samples_capture_every_mode_at_the_rule_rate(mixture):
    rates = []
    for seed in range(4):
        x, _ = mixture.sample(N, seed=100 + seed)
        m = mode_metrics(x, mixture)
        assert m["modes"] == mixture.n_modes
        assert m["reverse_kl"] < 0.03
        rates.append(m["hq_pct"] / 100)
    # 3 binomial standard errors around 1 - e^-4.5 = 98.89 %, over 4 x 2,500 samples
    error = 3 * math.sqrt(HQ_ACCEPT_RATE * (1 - HQ_ACCEPT_RATE) / (4 * N))
    assert abs(np.mean(rates) - HQ_ACCEPT_RATE) < error


def _moment_matched(mixture, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data, _ = mixture.sample(20_000, seed=7)
    mean, cov = data.mean(0), np.cov(data.T)
    return np.random.default_rng(0).multivariate_normal(mean, cov, size=n, method="cholesky"), mean, cov


def _disc_mass(mixture, mean: np.ndarray, cov: np.ndarray) -> float:
    """Probability a 2-D Gaussian puts inside the HQ discs (density at each mean x disc area)."""
    inv, norm = np.linalg.inv(cov), 2 * math.pi * math.sqrt(np.linalg.det(cov))
    diff = mixture.means - mean
    density = np.exp(-0.5 * np.einsum("kd,de,ke->k", diff, inv, diff)) / norm
    return float(density.sum() * math.pi * mixture.hq_radius**2)


@pytest.mark.parametrize("name", ["ring8", "ring10", "hd1200"])
def test_moment_matched_gaussian_is_rejected(name):
    x, _, _ = _moment_matched(MIXTURES[name](), N)
    assert mode_metrics(x, MIXTURES[name]())["hq_pct"] <= 1.0


def test_grid_rule_accepts_a_moment_matched_gaussian_at_its_theoretical_rate():
    # VEEGAN's grid (std 0.05, 3-std discs) keeps 1.5 % of a moment-matched Gaussian by geometry:
    # 25 discs of radius 0.15 where its density is about 0.02. The rule cannot reach 1 % here;
    # check the measured share is that geometric rate, not more.
    grid = MIXTURES["grid25"]()
    n = 40_000
    x, mean, cov = _moment_matched(grid, n)
    expected = _disc_mass(grid, mean, cov)
    assert 0.010 < expected < 0.02
    measured = mode_metrics(x, grid)["hq_pct"] / 100
    assert abs(measured - expected) < 3 * math.sqrt(expected * (1 - expected) / n)


def test_two_dimensional_rule_is_three_standard_deviations():
    ring = MIXTURES["ring8"]()
    assert ring.hq_radius == pytest.approx(3 * ring.std)
    inside = ring.means[0] + np.array([2.99 * ring.std, 0.0])
    outside = ring.means[0] + np.array([3.01 * ring.std, 0.0])
    assert mode_metrics(inside[None], ring)["hq_pct"] == 100.0
    assert mode_metrics(outside[None], ring)["hq_pct"] == 0.0


def test_far_samples_and_nan_samples_are_not_high_quality():
    grid = MIXTURES["grid25"]()
    x = np.full((10, 2), 100.0)
    x[0] = np.nan
    m = mode_metrics(x, grid)
    assert m["modes"] == 0 and m["hq_pct"] == 0.0 and math.isnan(m["reverse_kl"])


def test_reverse_kl_of_a_known_histogram():
    ring = MIXTURES["ring8"]()
    # 3/4 of the HQ samples on mode 0, 1/4 on mode 1: KL = 3/4 log(6) + 1/4 log(2)
    x = np.concatenate([np.repeat(ring.means[:1], 300, 0), np.repeat(ring.means[1:2], 100, 0)])
    m = mode_metrics(x, ring)
    assert m["modes"] == 2
    assert m["reverse_kl"] == pytest.approx(0.75 * math.log(6) + 0.25 * math.log(2))
    assert mode_histogram(x, ring).tolist() == [300, 100, 0, 0, 0, 0, 0, 0]


def test_coverage_falls_when_a_mode_is_dropped_and_needs_no_known_modes():
    import numpy as np

    from engine.data.synthetic import MIXTURES
    from engine.metrics.coverage import prdc_metrics

    mixture = MIXTURES["ring8"]()
    real, _ = mixture.sample(2500, seed=1)
    matched, _ = mixture.sample(2500, seed=2)
    dropped, labels = mixture.sample(4000, seed=3)
    dropped = dropped[labels >= 2][:2500]  # modes 0 and 1 never generated: a quarter of the data uncovered
    full, half = prdc_metrics(real, matched), prdc_metrics(real, dropped)
    assert full["coverage"] > 0.9 and full["precision"] > 0.9
    assert half["coverage"] < full["coverage"] - 0.2  # about 3/4 of the real points keep a sample nearby
    assert half["precision"] > 0.9  # what is generated is still real-looking
    assert np.isnan(prdc_metrics(real, real[:3])["coverage"])
