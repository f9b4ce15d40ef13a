"""Held-out log-likelihood: both estimators against closed forms (engine.metrics.likelihood, issue 12)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import multivariate_normal

from engine.data import DataSpec
from engine.metrics.likelihood import (GaussianDecoder, LoglikOptions, _log_normal_mass, annealed_importance_sampling,
                                       data_loglik, fit_encoder, importance_sampling, refine_sigma, sigmoid_schedule,
                                       simulate)

D, LATENT = 3, 2
SPEC = DataSpec(name="lg", kind="vector", shape=(D,), low=-10.0, high=10.0)
FAST = LoglikOptions(encoder_steps=400, importance_samples=300, ais_temperatures=150, ais_chains=8)


@pytest.fixture(scope="module")
def linear_gaussian():
    """G(z) = Wz + b, sigma 0.5: x ~ N(b, W W^T + sigma^2 I) exactly; its fitted encoder."""
    torch.manual_seed(0)
    weight, bias = torch.randn(D, LATENT), torch.randn(D)
    decoder = GaussianDecoder(lambda z: z @ weight.T + bias, torch.full((D,), 0.5), LATENT)
    exact = torch.distributions.MultivariateNormal(bias, weight @ weight.T + 0.25 * torch.eye(D))
    train, test = exact.sample((2000,)), exact.sample((100,))
    encoder, _ = fit_encoder(decoder, train, SPEC, FAST)
    return decoder, encoder, test, exact.log_prob(test).double().numpy()


def test_importance_sampling_matches_the_linear_gaussian_closed_form(linear_gaussian):
    decoder, encoder, test, exact = linear_gaussian
    estimate = importance_sampling(decoder, encoder, test, FAST)
    assert abs(estimate.per_point.mean() - exact.mean()) < 0.05
    assert np.abs(estimate.per_point - exact).max() < 0.5
    assert (estimate.ess > 1).all() and estimate.ess.max() <= FAST.importance_samples + 1e-6


def test_importance_sampling_rises_toward_the_exact_value_as_s_grows(linear_gaussian):
    decoder, encoder, test, exact = linear_gaussian
    poor = replace(FAST, dispersion=6.0, prior_share=0.0)  # a wide proposal: log mean w is well below at small S
    means = [importance_sampling(decoder, encoder, test, replace(poor, importance_samples=s)).per_point.mean()
             for s in (1, 10, 1000)]
    assert means[0] < means[1] < means[2] and means[0] < exact.mean() - 1.0
    assert abs(means[2] - exact.mean()) < 0.1


def test_annealed_importance_sampling_matches_the_closed_form(linear_gaussian):
    decoder, _, test, exact = linear_gaussian
    estimate = annealed_importance_sampling(decoder, test, replace(FAST, ais_temperatures=500, ais_chains=16))
    assert abs(estimate.per_point.mean() - exact.mean()) < 0.1
    assert np.abs(estimate.per_point - exact).max() < 0.5
    assert 0.3 < estimate.extra["accept_rate"] < 0.95


def test_a_wrong_model_scores_below_the_datas_own_density(linear_gaussian):
    """E_p[log q] <= E_p[log p] for any q: a shifted generator's estimate must fall below the exact figure,
    and the right generator's must not exceed it by more than its standard error."""
    decoder, encoder, test, exact = linear_gaussian
    right = importance_sampling(decoder, encoder, test, FAST).summary(D)
    shifted = replace(decoder, decode=lambda z: decoder.decode(z) + 1.0)
    wrong = importance_sampling(shifted, encoder, test, FAST).summary(D)
    assert right["nats"] <= exact.mean() + right["se"]
    assert wrong["nats"] < exact.mean() - 1.0


def test_em_takes_a_fitted_sigma_to_the_datas_noise_where_the_elbo_fit_stops_short():
    """A circle of radius 2 from a 4-D code, data on it with noise 0.05 per dimension: a short ELBO fit leaves
    sigma near its start (0.31); the EM steps on the importance-sampled log p(x) bring it to the noise, and
    never lower their objective."""
    torch.manual_seed(0)
    angle = torch.rand(3000) * 2 * math.pi
    x = 2 * torch.stack([angle.cos(), angle.sin()], 1) + 0.05 * torch.randn(3000, 2)
    decoder = GaussianDecoder(lambda z: 2 * F.normalize(z[:, :2], dim=1), torch.ones(2), 4)
    spec = DataSpec(name="circle", kind="vector", shape=(2,), low=-3.0, high=3.0)
    options = LoglikOptions(encoder_steps=200, sigma_em_iterations=30, sigma_em_samples=256)
    encoder, elbo_sigma = fit_encoder(decoder, x, spec, options, fit_sigma=True)
    decoder.sigma = elbo_sigma
    sigma, rounds = refine_sigma(decoder, encoder, x, spec, options)
    assert (elbo_sigma > 0.15).all()
    assert sigma.shape == (2,) and (sigma - 0.05).abs().max() < 0.01
    for objective in rounds:  # the draws are fixed within a round
        assert all(later >= earlier - 1e-6 for earlier, later in zip(objective, objective[1:]))
    assert rounds[-1][-1] > rounds[0][0] + 1.0


def test_a_shared_fitted_sigma_is_the_residuals_pooled_scale_where_the_per_dimension_one_follows_each():
    """The circle again plus a third dimension the generator holds at 0.5, noise 0.05, 0.05 and 0.2: the
    per-dimension fit finds each, the shared one (--sigma-shared) the maximum-likelihood value, with a lower
    objective (one parameter instead of three). The code's angle absorbs the noise along the circle, and its
    posterior spread s adds s^2 there, so s^2 = (s^2 + 0.05^2 + 0.2^2) / 3: s = sqrt((0.05^2 + 0.2^2) / 2)."""
    torch.manual_seed(0)
    angle = torch.rand(3000) * 2 * math.pi
    x = torch.cat([2 * torch.stack([angle.cos(), angle.sin()], 1), torch.full((3000, 1), 0.5)], 1)
    x = x + torch.tensor([0.05, 0.05, 0.2]) * torch.randn(3000, 3)
    spec = DataSpec(name="circle", kind="vector", shape=(3,), low=-3.0, high=3.0)
    fits = {}
    for shared in (False, True):
        decoder = GaussianDecoder(lambda z: torch.cat([2 * F.normalize(z[:, :2], dim=1),
                                                       torch.full((len(z), 1), 0.5)], 1), torch.ones(3), 4)
        options = LoglikOptions(encoder_steps=200, sigma_em_iterations=30, sigma_em_samples=256, sigma_shared=shared)
        encoder, decoder.sigma = fit_encoder(decoder, x, spec, options, fit_sigma=True)
        fits[shared] = refine_sigma(decoder, encoder, x, spec, options)
    (each, each_objective), (shared, shared_objective) = fits[False], fits[True]
    assert each.shape == (3,) and (each - torch.tensor([0.05, 0.05, 0.2])).abs().max() < 0.01
    assert shared.shape == (1,)
    assert shared.item() == pytest.approx(math.sqrt((0.05 ** 2 + 0.2 ** 2) / 2), abs=0.01)
    assert shared_objective[-1][-1] < each_objective[-1][-1] - 0.3
    assert "sigma_shared" in options.key() and "sigma_shared" not in replace(options, sigma_shared=False).key()


def test_the_sigma_em_draws_at_the_map_find_the_noise_where_a_poor_encoder_inflates_it():
    """x = W z + noise 0.1 in 200-D from a 20-D code, an encoder fitted for only 5 steps: EM on draws from that
    encoder and the prior ends at a sigma far above the noise; with half the draws from the Laplace approximation
    at each point's MAP code (the default), drawn again at the first round's sigma, it finds 0.1."""
    torch.manual_seed(0)
    weight = 2 * torch.randn(200, 20) / math.sqrt(20)
    x = torch.randn(3000, 20) @ weight.T + 0.1 * torch.randn(3000, 200)
    spec = DataSpec(name="linear", kind="vector", shape=(200,), low=-20.0, high=20.0)
    found = {}
    for at_map in (False, True):
        decoder = GaussianDecoder(lambda z: z @ weight.T, torch.ones(200), 20)
        options = LoglikOptions(encoder_steps=5, sigma_em_samples=64, sigma_em_points=512, sigma_shared=True,
                                sigma_em_map=at_map)
        encoder, decoder.sigma = fit_encoder(decoder, x, spec, options, fit_sigma=True)
        found[at_map] = refine_sigma(decoder, encoder, x, spec, options)[0].item()
    assert found[False] > 0.5 and found[True] == pytest.approx(0.1, abs=0.01)


def test_truncated_pixel_likelihood_integrates_to_one_on_the_range():
    decoder = GaussianDecoder(lambda z: z, torch.tensor([0.3]), 1, bounds=(-1.0, 1.0))
    grid = torch.linspace(-1, 1, 20001)[:, None]
    for mean in (-3.0, -0.9, 0.0, 0.7, 3.0):  # the ends far outside the range: both tails' branches
        density = decoder.log_likelihood(grid, torch.full_like(grid, mean)).exp()
        assert torch.trapezoid(density, grid[:, 0]).item() == pytest.approx(1.0, abs=1e-3)
    from scipy.stats import norm

    low, high = torch.tensor([-40.0, 39.0, -1.0, 2.0]), torch.tensor([-39.0, 40.0, 1.0, 2.5])
    mass = _log_normal_mass(low, high)
    expected = [norm.logcdf(-39.0) + np.log1p(-np.exp(norm.logcdf(-40.0) - norm.logcdf(-39.0))),
                norm.logsf(39.0) + np.log1p(-np.exp(norm.logsf(40.0) - norm.logsf(39.0))),
                np.log(norm.cdf(1.0) - norm.cdf(-1.0)), np.log(norm.sf(2.0) - norm.sf(2.5))]
    np.testing.assert_allclose(mass.double().numpy(), expected, rtol=1e-5)


def test_mixture_log_density_against_a_direct_sum():
    from engine.data.synthetic import MIXTURES

    mixture = MIXTURES["grid25"]()
    x, _ = mixture.sample(50, seed=3)
    direct = np.log(sum(w * multivariate_normal(m, mixture.std**2 * np.eye(2)).pdf(x)
                        for w, m in zip(mixture.weights, mixture.means)))
    np.testing.assert_allclose(mixture.log_prob(x.astype(np.float64)), direct, rtol=1e-9)
    assert data_loglik(SPEC, torch.zeros(2, D)) is None  # no known density


def test_sigmoid_schedule_runs_from_zero_to_one():
    betas = sigmoid_schedule(100)
    assert betas[0] == 0.0 and betas[-1] == 1.0 and (np.diff(betas) > 0).all()


def test_loglik_cli_on_a_trained_run_reports_both_and_caches(tmp_path, capsys):
    """A few ring8 steps of PresGAN: both estimators, the data's own figure above both, a second call cached."""
    from engine.__main__ import main

    run = tmp_path / "run"
    assert main(["train", "--model", "presgan", "--data", "ring8", "--steps", "200", "--set", "train.eval_every=100",
                 "--set", "train.threads=1", "--no-mlflow", "--out", str(run)]) == 0
    args = ["loglik", "--run", str(run), "--points", "60", "--importance-samples", "2000", "--encoder-steps", "200",
            "--ais-temperatures", "200", "--ais-chains", "8", "--json", "--status", str(tmp_path / "progress.json")]
    capsys.readouterr()
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first["estimates"]) == {"is", "ais"} and not first["cached"]
    assert first["sigma"] == "the model's own" and first["points"] == 60
    for name in ("is", "ais"):
        assert first["estimates"][name]["nats"] <= first["data"]["nats"] + first["estimates"][name]["se"]
        assert first["gap"][name]["nats"] == pytest.approx(first["data"]["nats"] - first["estimates"][name]["nats"])
    assert json.loads((tmp_path / "progress.json").read_text())["state"] == "finished"
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["cached"] and second["estimates"] == first["estimates"]
    # the same generator under a sigma fitted at test time: its own result, labelled, with another sigma
    fitted_args = [*args, "--sigma", "fitted", "--estimator", "is", "--sigma-em-points", "128"]
    assert main(fitted_args) == 0
    fitted = json.loads(capsys.readouterr().out)
    assert not fitted["cached"] and fitted["sigma"] == "fitted at test time"
    assert abs(fitted["sigma_mean"] - first["sigma_mean"]) > 1e-3
    assert main(fitted_args) == 0
    assert json.loads(capsys.readouterr().out)["cached"]
    # an earlier kept step, and a step that was never kept
    assert main([*args[:3], "--step", "100", *args[3:]]) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 100
    assert main([*args[:3], "--step", "150", *args[3:]]) == 2
    assert "no weights at that step (kept: 100, 200)" in capsys.readouterr().err


def test_against_pairs_two_runs_on_the_same_points_and_refuses_other_points(tmp_path, capsys):
    """loglik --against: the run minus another, per point; the mean is the difference of the two means, the
    standard error that of the per-point differences; a run scored on other points is refused."""
    from engine.__main__ import main

    runs = {}
    for name, model, data, steps in (("a", "gan", "ring8", 60), ("b", "gan", "ring8", 20), ("c", "gan", "grid25", 20)):
        runs[name] = tmp_path / name
        assert main(["train", "--model", model, "--data", data, "--steps", str(steps), "--set", "train.threads=1",
                     "--no-mlflow", "--out", str(runs[name])]) == 0
    args = ["--points", "30", "--importance-samples", "100", "--estimator", "is", "--encoder-steps", "50",
            "--sigma-em-iterations", "0", "--json"]  # the pairing, not the sigma, is under test
    singles = {}
    for name in ("a", "b"):
        capsys.readouterr()
        assert main(["loglik", "--run", str(runs[name]), *args]) == 0
        singles[name] = json.loads(capsys.readouterr().out)
    assert main(["loglik", "--run", str(runs["a"]), "--against", str(runs["b"]), "--against", str(runs["a"]), *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cached"] and set(out["against"]) == {str(runs["b"]), str(runs["a"])}
    paired = out["against"][str(runs["b"])]["is"]
    assert paired["nats"] == pytest.approx(singles["a"]["estimates"]["is"]["nats"] - singles["b"]["estimates"]["is"]["nats"])
    per_point = {name: np.load(next((runs[name] / "analysis").glob("loglik-*.npz")))["is_per_point"] for name in "ab"}
    diff = per_point["a"] - per_point["b"]
    assert paired["se"] == pytest.approx(diff.std(ddof=1) / math.sqrt(30)) and paired["points"] == 30
    assert out["against"][str(runs["a"])]["is"] == {"nats": 0.0, "se": 0.0, "points": 30}
    assert main(["loglik", "--run", str(runs["a"]), "--against", str(runs["b"]), *args[:-1]]) == 0
    assert f"minus {runs['b']} (gan, step 20), paired on the same points: IS" in capsys.readouterr().out
    assert main(["loglik", "--run", str(runs["a"]), "--against", str(runs["c"]), *args]) == 2
    assert f"--against {runs['c']}: it scored other held-out points" in capsys.readouterr().err


def test_a_model_without_an_observation_model_gets_a_fitted_sigma(tmp_path, capsys):
    from engine.__main__ import main

    run = tmp_path / "gan"
    assert main(["train", "--model", "gan", "--data", "grid25", "--steps", "50", "--set", "train.threads=1",
                 "--no-mlflow", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["loglik", "--run", str(run), "--points", "40", "--importance-samples", "200", "--estimator", "is",
                 "--encoder-steps", "100", "--sigma-em-points", "128", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sigma"] == "fitted at test time" and set(out["estimates"]) == {"is"}
    assert out["estimates"]["is"]["proposal"] == "laplace"  # --proposal auto on vectors
    assert math.isfinite(out["estimates"]["is"]["nats"]) and out["sigma_mean"] > 1e-3
    assert main(["loglik", "--run", str(run), "--data", "mnist5k"]) == 2
    assert "--data mnist5k: examples of shape (1, 28, 28)" in capsys.readouterr().err
    # points simulated from the model (its fitted sigma): AIS forward and in reverse, a separate cached result
    simulated = ["loglik", "--run", str(run), "--points", "10", "--estimator", "ais", "--encoder-steps", "100",
                 "--ais-temperatures", "10", "--ais-chains", "2", "--simulated",
                 "--sigma-em-iterations", "0", "--json"]  # the ELBO's smaller sigma: a sharper posterior, a wider sandwich
    assert main(simulated) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["simulated"] and set(out["estimates"]) == {"ais", "ais_upper"} and "data" not in out
    assert out["ais_upper_minus_ais"]["nats"] > 0  # 10 temperatures: a wide sandwich
    assert main(simulated[:-1]) == 0 and "AIS upper - lower bound" in capsys.readouterr().out


def test_the_laplace_proposal_is_the_exact_posterior_of_a_linear_gaussian(linear_gaussian):
    """For G(z) = Wz + b the Gauss-Newton precision I + W^T W / sigma^2 is the posterior's: with dispersion 1 every
    importance weight equals p(x), so the estimate is exact at S = 1 and the ESS is S."""
    from engine.metrics.likelihood import gauss_newton_precision

    decoder, encoder, test, exact = linear_gaussian
    weight = torch.autograd.functional.jacobian(decoder.decode, torch.zeros(1, LATENT))[0, :, 0, :]  # (D, d)
    precision = gauss_newton_precision(decoder, torch.zeros(4, LATENT))
    assert torch.allclose(precision[0].float(), torch.eye(LATENT) + weight.T @ weight / 0.25, atol=1e-4)
    exact_proposal = replace(FAST, proposal="laplace", dispersion=1.0, prior_share=0.0, map_steps=500)
    for samples in (1, 50):
        estimate = importance_sampling(decoder, encoder, test, replace(exact_proposal, importance_samples=samples))
        assert np.abs(estimate.per_point - exact).max() < 1e-3
        assert estimate.ess.min() == pytest.approx(samples, rel=1e-3)
    encoder_based = importance_sampling(decoder, encoder, test, replace(exact_proposal, proposal="encoder"))
    assert encoder_based.ess.min() < 0.99 * FAST.importance_samples  # the fitted diagonal is close, not exact
    assert abs(encoder_based.per_point.mean() - exact.mean()) < 0.05
    # an unequal defensive mixture: the weights must use the share the draws were taken with
    mixed = importance_sampling(decoder, encoder, test, replace(exact_proposal, prior_share=0.2,
                                                               importance_samples=2000))
    assert abs(mixed.per_point.mean() - exact.mean()) < 0.02 and np.abs(mixed.per_point - exact).max() < 0.1


class FixedStart(torch.nn.Module):
    """An encoder whose mean is `start` for every point (and log-variance 0)."""

    def __init__(self, start: float):
        super().__init__()
        self.start = start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.full_like(x, self.start), torch.zeros_like(x)], 1)


def test_prior_starts_find_the_map_where_the_encoders_start_leads_to_a_lower_mode():
    """x = 2 sin(4 z) + noise 0.05: the log joint has a mode near every solution of sin(4 z) = x / 2, the prior
    preferring the ones near 0. L-BFGS from the encoder's z = 2 stops at the mode there (2.04); prior starts find
    one within |z| < 0.6, about 2 nats higher."""
    from engine.metrics.likelihood import map_codes

    decoder = GaussianDecoder(lambda z: 2 * torch.sin(4 * z), torch.tensor([0.05]), 1)
    x = torch.full((5, 1), 1.9)
    one, _ = map_codes(decoder, FixedStart(2.0), x, replace(FAST, map_starts=1))
    many, _ = map_codes(decoder, FixedStart(2.0), x, replace(FAST, map_starts=8))
    assert (one - 2.0).abs().max() < 0.2 and many.abs().max() < 0.6
    gain = decoder.log_joint(x, many) - decoder.log_joint(x, one)
    assert (gain > 1.5).all()
    assert "map_starts" in FAST.key() and "map_starts" not in replace(FAST, map_starts=1).key()  # older results match


def test_a_proposal_component_at_each_distinct_mode_recovers_the_mass_one_mode_misses():
    """x = z^2 + noise 0.05 at x = 1: the posterior has two equal modes, z = +-1, 80 posterior standard deviations
    apart. A Gaussian at one of them (no prior share) puts almost no draws on the other and reads log 2 low; one
    component at each mode finds the exact value (a 1-D integral on a grid)."""
    decoder = GaussianDecoder(lambda z: z.square(), torch.tensor([0.05]), 1)
    x = torch.full((4, 1), 1.0)
    grid = torch.linspace(-4, 4, 400_001, dtype=torch.float64)[:, None]
    log_joint = decoder.log_joint(torch.ones(1, 1).double(), grid).double()
    exact = float(torch.logsumexp(log_joint, 0) + math.log(8 / 400_000))
    options = replace(FAST, map_starts=8, prior_share=0.0, proposal="laplace", importance_samples=2000)
    one = importance_sampling(decoder, FixedStart(0.9), x, options)
    two = importance_sampling(decoder, FixedStart(0.9), x, replace(options, map_modes=2))
    assert np.allclose(one.per_point, exact - math.log(2), atol=0.05)
    assert np.allclose(two.per_point, exact, atol=0.05)
    assert two.extra["distinct_modes_mean"] == 2.0 and two.ess.mean() > 0.8 * options.importance_samples
    # optima within the radius are one mode: the second component then repeats the first
    same = importance_sampling(decoder, FixedStart(0.9), x, replace(options, map_modes=2, mode_radius=1000.0))
    assert same.extra["distinct_modes_mean"] == 1.0 and np.allclose(same.per_point, one.per_point, atol=0.05)
    assert "map_modes" not in options.key() and replace(options, map_modes=2).key()["mode_radius"] == 10.0


def test_the_hmc_proposal_corrects_a_wrong_gaussian_to_the_posterior(linear_gaussian):
    """PresGAN appendix 7.1's proposal: HMC samples run from a Gaussian of the wrong centre and a 4x too narrow
    covariance come back with the exact posterior's mean and covariance (a linear Gaussian's posterior is
    N(P^-1 W^T (x - b) / sigma^2, P^-1), P = I + W^T W / sigma^2), and IS with it is exact to sampling error."""
    from engine.metrics.likelihood import GaussianProposal, gauss_newton_precision, hmc_fitted

    decoder, encoder, test, exact = linear_gaussian
    x = test[:10]
    weight = torch.autograd.functional.jacobian(decoder.decode, torch.zeros(1, LATENT))[0, :, 0, :].double()
    bias = decoder.decode(torch.zeros(1, LATENT))[0].double()
    precision = torch.eye(LATENT, dtype=torch.float64) + weight.T @ weight / 0.25
    mean = torch.linalg.solve(precision, weight.T @ ((x.double() - bias) / 0.25).T).T          # (10, d)
    wrong = GaussianProposal((mean + 0.3).float(), 1.0,
                             cholesky=torch.linalg.cholesky(4 * gauss_newton_precision(decoder, mean.float())))
    options = replace(FAST, proposal_chains=16, proposal_samples=200, proposal_shrinkage=0.0)
    fitted = hmc_fitted(decoder, x, wrong, options)
    assert torch.allclose(fitted.centre.double(), mean, atol=0.06)
    fitted_cov = torch.cholesky_inverse(fitted.cholesky.double())
    covariance = torch.linalg.inv(precision)
    assert torch.allclose(fitted_cov, covariance.expand_as(fitted_cov), rtol=0.2, atol=0.05 * covariance.max())  # from 4x off
    hmc_based = importance_sampling(decoder, encoder, test, replace(options, proposal="hmc", prior_share=0.0))
    assert abs(hmc_based.per_point.mean() - exact.mean()) < 0.02 and np.abs(hmc_based.per_point - exact).max() < 0.1
    assert hmc_based.extra["proposal"] == "hmc" and hmc_based.ess.mean() > 0.8 * FAST.importance_samples


def test_points_whose_hmc_chains_never_move_keep_the_laplace_proposal(linear_gaussian):
    """A point whose posterior HMC cannot move in (here every move is rejected: a NaN energy away from the start)
    leaves no sample covariance; it keeps the Laplace proposal, and the others are fitted as usual."""
    from engine.metrics.likelihood import GaussianProposal, gauss_newton_precision, hmc_fitted

    decoder, _, test, _ = linear_gaussian
    x, centre = test[:4], torch.zeros(4, LATENT)
    laplace = GaussianProposal(centre, 1.0, cholesky=torch.linalg.cholesky(gauss_newton_precision(decoder, centre)))
    stuck_row = 2

    def decode(z: torch.Tensor) -> torch.Tensor:  # NaN wherever point 2's chains leave its start
        mean = decoder.decode(z)
        moved = (z.abs().sum(1, keepdim=True) > 0) & (torch.arange(len(z))[:, None] // 8 == stuck_row)
        return torch.where(moved, torch.nan, mean)

    fitted = hmc_fitted(replace(decoder, decode=decode), x, laplace, replace(FAST, proposal_chains=8, proposal_samples=20))
    assert fitted.fallbacks == 1 and torch.isfinite(fitted.cholesky).all()
    assert torch.equal(fitted.centre[stuck_row], laplace.centre[stuck_row])
    assert torch.allclose(fitted.cholesky[stuck_row].double(), laplace.cholesky[stuck_row].double(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(fitted.cholesky[0].double(), laplace.cholesky[0].double(), rtol=1e-2)


def test_few_annealing_temperatures_underestimate_as_ais_must(linear_gaussian):
    """AIS is a stochastic lower bound: with 10 temperatures its mean falls clearly below the exact value (a
    weight update after, instead of before, each transition would not)."""
    decoder, _, test, exact = linear_gaussian
    coarse = annealed_importance_sampling(decoder, test, replace(FAST, ais_temperatures=10, ais_chains=4)).per_point
    fine = annealed_importance_sampling(decoder, test, replace(FAST, ais_temperatures=500, ais_chains=4)).per_point
    assert coarse.mean() < fine.mean() - 0.05 and coarse.mean() < exact.mean() - 0.05


def test_reverse_ais_from_the_generating_codes_bounds_log_p_from_above():
    """Bidirectional Monte Carlo on points simulated from a linear-Gaussian model: AIS forward falls below the exact
    log p(x), AIS in reverse from the codes that made the points rises above it, and both close in as the
    temperatures grow."""
    torch.manual_seed(1)
    weight, bias = torch.randn(D, LATENT) * 2, torch.randn(D)
    decoder = GaussianDecoder(lambda z: z @ weight.T + bias, torch.full((D,), 0.3), LATENT)
    x, z = simulate(decoder, 100, seed=0)
    exact = torch.distributions.MultivariateNormal(bias, weight @ weight.T + 0.09 * torch.eye(D)).log_prob(x).mean()
    bounds = {}
    for temperatures in (5, 300):
        options = replace(FAST, ais_temperatures=temperatures, ais_chains=4)
        lower = annealed_importance_sampling(decoder, x, options).per_point.mean()
        upper = annealed_importance_sampling(decoder, x, options, exact=z).per_point.mean()
        bounds[temperatures] = lower, upper
    assert bounds[5][0] < exact - 0.1 < exact + 0.1 < bounds[5][1]
    assert bounds[300][0] > bounds[5][0] and bounds[300][1] < bounds[5][1]
    assert abs(bounds[300][0] - exact) < 0.1 and abs(bounds[300][1] - exact) < 0.1


def test_simulated_points_follow_the_truncated_pixel_model():
    """simulate() draws x | z from the decoder's truncated Gaussian: inside the range, with its mean and spread."""
    decoder = GaussianDecoder(lambda z: torch.tanh(z[:, :1]).expand(-1, 400).reshape(-1, 1, 20, 20),
                              torch.full((1, 20, 20), 0.5), 1, bounds=(-1.0, 1.0))
    x, z = simulate(decoder, 50, seed=0)
    assert x.shape == (50, 1, 20, 20) and x.min() >= -1 and x.max() <= 1
    from scipy.stats import truncnorm

    mean = torch.tanh(z[:, 0]).numpy()
    expected = truncnorm.mean((-1 - mean) / 0.5, (1 - mean) / 0.5, loc=mean, scale=0.5)
    assert np.abs(x.flatten(1).mean(1).numpy() - expected).max() < 0.06  # 400 pixels per point: sd ~0.02


def test_image_shaped_data_with_per_pixel_sigma():
    """A linear generator onto 1 x 28 x 28 images with one sigma per pixel: the Gauss-Newton precision and IS match
    the closed forms; truncated to [-1, 1] the density of points inside the range only rises. (Truncated AIS
    against IS: 0.5 nats apart at 300 temperatures here, 23 s: measured, not tested.)"""
    from engine.metrics.likelihood import gauss_newton_precision

    torch.manual_seed(3)
    weight, bias = 0.3 * torch.randn(784, LATENT), 0.2 * torch.randn(784)
    sigma = torch.linspace(0.1, 0.3, 784).view(1, 28, 28)
    decoder = GaussianDecoder(lambda z: (z @ weight.T + bias).view(-1, 1, 28, 28), sigma, LATENT)
    exact = torch.distributions.MultivariateNormal(bias, weight @ weight.T + torch.diag(sigma.flatten() ** 2))
    images = DataSpec(name="img", kind="image", shape=(1, 28, 28), low=-1.0, high=1.0)
    train, test = exact.sample((2000,)).view(-1, 1, 28, 28), exact.sample((40,)).view(-1, 1, 28, 28)
    precision = gauss_newton_precision(decoder, torch.zeros(1, LATENT))[0]
    expected = torch.eye(LATENT) + weight.T @ torch.diag(sigma.flatten() ** -2) @ weight
    assert torch.allclose(precision.float(), expected, rtol=1e-4)
    encoder, _ = fit_encoder(decoder, train, images, FAST, width=4)
    estimate = importance_sampling(decoder, encoder, test, FAST).per_point
    np.testing.assert_allclose(estimate, exact.log_prob(test.flatten(1)).double().numpy(), atol=0.1)
    inside = test[:8].clamp(-0.99, 0.99)
    plain = importance_sampling(decoder, encoder, inside, FAST).per_point
    truncated = importance_sampling(replace(decoder, bounds=(-1.0, 1.0)), encoder, inside, FAST).per_point
    assert np.isfinite(truncated).all() and (truncated > plain).all()


def test_held_out_points_are_a_seeded_subset_across_a_class_sorted_split():
    from engine.analysis import held_out_rows
    from engine.registry import load_dataset

    labels = load_dataset("mnist5k", "test").labels.numpy()  # stored sorted by digit
    rows = held_out_rows(len(labels), 20, seed=0)
    assert len(set(labels[:20])) == 1 and len(set(labels[rows])) >= 6
    assert (np.diff(rows) > 0).all() and np.array_equal(rows, held_out_rows(len(labels), 20, seed=0))


def test_the_default_map_steps_reach_the_exact_map_of_a_badly_scaled_batch_where_fewer_do_not():
    """L-BFGS runs on the batch's summed log joint, so one line search and one curvature history serve every
    point: on a linear-Gaussian whose posterior scales span 1,000x, the exact MAP (I + W^T W / s^2)^-1 W^T x / s^2
    of 16 points in 12-D takes ~200 iterations (100 stop 88 nats short). On a 28-px PresGAN 200 stopped 28-147 nats short of 1,000 (docs/benchmarks.md)."""
    from engine.metrics.likelihood import _lbfgs_map

    torch.manual_seed(0)
    latent, dims, sigma = 12, 20, 0.05
    weight = torch.linalg.qr(torch.randn(dims, latent))[0] * torch.logspace(-1.5, 1.5, latent)
    decoder = GaussianDecoder(lambda z: z @ weight.T, torch.full((dims,), sigma), latent)
    x = torch.randn(16, dims)
    precision = torch.eye(latent) + weight.T @ weight / sigma**2
    exact = torch.linalg.solve(precision, (x @ weight).T / sigma**2).T
    best = decoder.log_joint(x, exact)
    _, found = _lbfgs_map(decoder, x, torch.zeros_like(exact), LoglikOptions())
    _, fewer = _lbfgs_map(decoder, x, torch.zeros_like(exact), LoglikOptions(map_steps=100))
    assert (best - found).max() < 1e-2
    assert (best - fewer).max() > 10.0


def test_the_auto_proposal_is_the_hmc_fitted_one_on_images(tmp_path, capsys):
    from engine.__main__ import main

    run = tmp_path / "gan-images"
    assert main(["train", "--model", "gan", "--data", "mnist5k", "--steps", "4", "--set", "train.eval_every=4",
                 "--set", "model.conv_width=8", "--set", "train.eval_samples=100", "--set", "train.threads=1",
                 "--no-mlflow", "--out", str(run)]) == 0
    tiny = ["--points", "2", "--importance-samples", "10", "--estimator", "is", "--encoder-steps", "5",
            "--map-steps", "5", "--map-starts", "1", "--sigma-em-iterations", "0", "--sigma-em-points", "16",
            "--proposal-chains", "2", "--proposal-samples", "4", "--proposal-burn-in", "2", "--json"]
    capsys.readouterr()
    assert main(["loglik", "--run", str(run), *tiny]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert auto["estimates"]["is"]["proposal"] == "hmc" and auto["options"]["proposal"] == "hmc"
    assert main(["loglik", "--run", str(run), "--proposal", "hmc", *tiny]) == 0  # the same key: read from the cache
    assert json.loads(capsys.readouterr().out)["cached"]
    assert main(["loglik", "--run", str(run), "--proposal", "laplace", *tiny]) == 0  # an explicit choice is kept
    assert json.loads(capsys.readouterr().out)["estimates"]["is"]["proposal"] == "laplace"
