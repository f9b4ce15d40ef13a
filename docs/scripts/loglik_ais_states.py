"""Probe: where AIS's final chain states sit against the IS proposal (PresGAN sigma <= 0.1, the 10 digits)."""
import dataclasses
import math
import time
import torch
import engine.metrics.likelihood as L
from loglik_probe_setup import OPTIONS, presgan_digits

torch.set_num_threads(1)
options = dataclasses.replace(OPTIONS, map_steps=200)  # as measured: the default until session 12
t0 = time.time()
with presgan_digits() as (decoder, encoder, x):
    gaussian = L.proposal(decoder, encoder, x, options)
    print("proposal built", round(time.time() - t0), "s", flush=True)
    # AIS as annealed_importance_sampling, keeping the final states
    from engine.hmc import hmc
    C = options.ais_chains
    betas = L.sigmoid_schedule(options.ais_temperatures)
    torch.manual_seed(options.seed + 1)
    xb = x.repeat_interleave(C, 0)
    z = torch.randn(len(xb), decoder.latent_dim)
    with torch.no_grad():
        log_lik = decoder.log_likelihood(xb, decoder.decode(z))
    log_w = torch.zeros(len(xb), dtype=torch.float64)
    stepsize = 0.1 / math.sqrt(decoder.latent_dim)
    for t in range(1, len(betas)):
        log_w += (betas[t] - betas[t - 1]) * log_lik.double()
        result = hmc(L.TemperedPosterior(decoder, xb, float(betas[t])), z, stepsize, num_samples=1, burn_in=0,
                     leapfrog_steps=options.ais_leapfrog_steps, adapt_rate=0.0)
        z, log_lik = result.samples[-1], result.aux[-1]
        stepsize *= 1.02 if result.accept_rate.item() > 0.65 else 0.98
    ais = (torch.logsumexp(log_w.view(-1, C), 1) - math.log(C)).numpy()
    print("AIS done", round(time.time() - t0), "s; AIS mean", round(ais.mean(), 1), flush=True)
    with torch.no_grad():
        joint_ais = decoder.log_joint(xb, z).view(-1, C)
        joint_map = decoder.log_joint(x, gaussian.centre)
        # the proposal's own draws: their log joint and log r
        eps = torch.randn(200, *gaussian.centre.shape)
        draws = gaussian.draw(eps)
        log_r_draws = gaussian.log_prob(draws)                       # (200, n)
        joint_draws = decoder.log_joint(x.repeat(200, *([1] * (x.dim() - 1))), draws.flatten(0, 1)).view(200, -1)
        log_r_ais = gaussian.log_prob(z.view(-1, C, z.shape[1]).transpose(0, 1))   # (C, n)
        white_ais = (z.view(-1, C, z.shape[1]) - gaussian.centre[:, None]).norm(dim=-1)
        white_draws = (draws - gaussian.centre).norm(dim=-1)
for i in range(len(x)):
    print(f"digit {i}: AIS {ais[i]:.0f} | log joint: MAP {joint_map[i]:.0f}, AIS states {joint_ais[i].min():.0f}..{joint_ais[i].max():.0f}, "
          f"proposal draws median {joint_draws[:, i].median():.0f} | log r: AIS states {log_r_ais[:, i].min():.0f}..{log_r_ais[:, i].max():.0f}, "
          f"proposal draws median {log_r_draws[:, i].median():.0f} | |z - centre|: AIS {white_ais[i].min():.2f}..{white_ais[i].max():.2f}, draws median {white_draws[:, i].median():.2f}")
