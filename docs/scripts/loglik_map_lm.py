"""Probe: a batched Levenberg-Marquardt MAP search (per-point damping, Gauss-Newton Hessian) against batched and
per-point L-BFGS (PresGAN sigma <= 0.1, the 10 digits of session 11)."""
import time
from pathlib import Path
import torch
from engine.trainer import load_run
from engine.registry import load_dataset
from engine.analysis import held_out_rows
from engine.models.base import frozen_weights
import engine.metrics.likelihood as L

torch.set_num_threads(1)


def lm_map(decoder, x, z, iters, damping=1.0):
    lam = torch.full((len(x),), damping, dtype=torch.float64)
    with torch.no_grad():
        f = -decoder.log_joint(x, z)
    accepted = 0
    for _ in range(iters):
        zg = z.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(-decoder.log_joint(x, zg).sum(), zg)
        H = L.gauss_newton_precision(decoder, z)
        eye = torch.eye(z.shape[1], dtype=torch.float64)
        step = -torch.linalg.solve(H + lam[:, None, None] * eye, g.double()[:, :, None])[:, :, 0]
        trial = z + step.float()
        with torch.no_grad():
            f_trial = -decoder.log_joint(x, trial)
        better = f_trial < f
        accepted += int(better.sum())
        z = torch.where(better[:, None], trial, z)
        f = torch.where(better, f_trial, f)
        lam = torch.where(better, (lam / 3).clamp(min=1e-6), (lam * 4).clamp(max=1e8))
    return z, -f


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
    with torch.no_grad():
        mu = encoder(x).chunk(2, dim=1)[0]
    print("encoder", round(time.time() - t0), "s", flush=True)
    g = torch.Generator().manual_seed(options.seed + 4)
    starts = [mu] + [torch.randn(mu.shape, generator=g) for _ in range(7)]

    def r(v):
        return [round(a) for a in v.tolist()]

    t = time.time()
    lb = [L._lbfgs_map(decoder, x, s, options) for s in starts]
    print(f"batched L-BFGS 200: best {r(torch.stack([j for _, j in lb]).max(0).values)} ({time.time() - t:.0f} s)", flush=True)
    for iters in (10, 30):
        t = time.time()
        pol = [lm_map(decoder, x, z, iters)[1] for z, _ in lb]
        print(f"+ LM {iters} from each L-BFGS optimum: best {r(torch.stack(pol).max(0).values)}; from the encoder's "
              f"{r(pol[0])} ({time.time() - t:.0f} s)", flush=True)
    t = time.time()
    fresh = [lm_map(decoder, x, s, 30)[1] for s in starts[:2]]
    print(f"LM 30 alone from the encoder mean {r(fresh[0])}, from a prior draw {r(fresh[1])} ({time.time() - t:.0f} s)", flush=True)
