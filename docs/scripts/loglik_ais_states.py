"""Probe: where AIS's final chain states sit against the IS proposal (PresGAN sigma <= 0.1, the 10 digits)."""
import math
import time
import torch
from pathlib import Path
from engine.trainer import load_run
from engine.registry import load_dataset
from engine.analysis import held_out_rows
from engine.models.base import frozen_weights
import engine.metrics.likelihood as L

torch.set_num_threads(1)
cfg, spec, model, step = load_run(Path("var/t9/presgan_s01"))
options = L.LoglikOptions(proposal="hmc", encoder_steps=500, ais_chains=4, ais_temperatures=2000)
test = load_dataset(cfg.data, "test")
x = test.x[held_out_rows(len(test.x), 10, options.seed)]
train_x = load_dataset(cfg.data, "train").x
t0 = time.time()
with frozen_weights(model):
    decoder, _ = L.model_decoder(model, spec)
    torch.manual_seed(options.seed)
    encoder, sigma = L.fit_encoder(decoder, train_x, spec, options, False, None, width=model.config.conv_width)
    decoder.sigma = sigma
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
