"""Probe: a batched Levenberg-Marquardt MAP search (per-point damping, Gauss-Newton Hessian) against batched and
per-point L-BFGS (PresGAN sigma <= 0.1, the 10 digits of session 11)."""
import dataclasses
import time
import torch
import engine.metrics.likelihood as L
from loglik_probe_setup import OPTIONS, map_starts, presgan_digits

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


options = dataclasses.replace(OPTIONS, map_steps=200)  # as measured: the default until session 12
t0 = time.time()
with presgan_digits() as (decoder, encoder, x):
    starts = map_starts(encoder, x)
    mu = starts[0]

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
