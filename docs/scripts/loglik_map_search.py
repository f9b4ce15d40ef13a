"""Probe: is the MAP search the weak part? Joint (batched) L-BFGS, as map_optima runs it, against per-point
L-BFGS from the same starts, and with more iterations (PresGAN sigma <= 0.1, the 10 digits of session 11)."""
import dataclasses
import time
import torch
import engine.metrics.likelihood as L
from loglik_probe_setup import OPTIONS, map_starts, presgan_digits

torch.set_num_threads(1)
options = OPTIONS
t0 = time.time()
with presgan_digits() as (decoder, encoder, x):
    starts = map_starts(encoder, x)
    mu = starts[0]
    with torch.no_grad():
        print("log joint at the encoder mean", [round(v) for v in decoder.log_joint(x, mu).tolist()])
    for steps in (200, 1000):
        opts = dataclasses.replace(options, map_steps=steps)
        t = time.time()
        joint = torch.stack([L._lbfgs_map(decoder, x, s, opts)[1] for s in starts]).max(0).values
        tj = time.time() - t
        t = time.time()
        single = torch.stack([torch.cat([L._lbfgs_map(decoder, x[i:i + 1], s[i:i + 1], opts)[1] for i in range(len(x))])
                              for s in starts])
        ts = time.time() - t
        print(f"map_steps {steps}: batched best {[round(v) for v in joint.tolist()]} ({tj:.0f} s)", flush=True)
        print(f"map_steps {steps}: per point best {[round(v) for v in single.max(0).values.tolist()]} ({ts:.0f} s); "
              f"from the encoder mean {[round(v) for v in single[0].tolist()]}", flush=True)
