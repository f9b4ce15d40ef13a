"""Probe: is the MAP search the weak part? Joint (batched) L-BFGS, as map_optima runs it, against per-point
L-BFGS from the same starts, and with more iterations (PresGAN sigma <= 0.1, the 10 digits of session 11)."""
import dataclasses
import time
from pathlib import Path
import torch
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
    with torch.no_grad():
        mu = encoder(x).chunk(2, dim=1)[0]
    print("encoder", round(time.time() - t0), "s", flush=True)
    g = torch.Generator().manual_seed(options.seed + 4)
    starts = [mu] + [torch.randn(mu.shape, generator=g) for _ in range(7)]
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
