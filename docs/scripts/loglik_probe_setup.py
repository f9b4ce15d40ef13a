"""The loglik probes' shared set-up: session 9's PresGAN (sigma <= 0.1), its 10 held-out digits, the frozen generator
as a GaussianDecoder and the encoder fitted by the ELBO as `loglik --encoder-steps 500` fits it."""
import time
from contextlib import contextmanager
from pathlib import Path

import torch

import engine.metrics.likelihood as L
from engine.analysis import held_out_rows
from engine.models.base import frozen_weights
from engine.registry import load_dataset
from engine.trainer import load_run

OPTIONS = L.LoglikOptions(proposal="hmc", encoder_steps=500, ais_chains=4, ais_temperatures=2000)


@contextmanager
def presgan_digits(run: str = "var/t9/presgan_s01", points: int = 10, options: L.LoglikOptions = OPTIONS):
    """Yields (decoder, encoder, x) with the generator's weights frozen."""
    torch.set_num_threads(1)
    cfg, spec, model, _ = load_run(Path(run))
    test = load_dataset(cfg.data, "test")
    x = test.x[held_out_rows(len(test.x), points, options.seed)]
    train_x = load_dataset(cfg.data, "train").x
    started = time.time()
    with frozen_weights(model):
        decoder, _ = L.model_decoder(model, spec)
        torch.manual_seed(options.seed)
        encoder, sigma = L.fit_encoder(decoder, train_x, spec, options, False, None, width=model.config.conv_width)
        decoder.sigma = sigma
        print("encoder fitted", round(time.time() - started), "s", flush=True)
        yield decoder, encoder, x


def map_starts(encoder, x, options: L.LoglikOptions = OPTIONS) -> list[torch.Tensor]:
    """map_optima's starts: the encoder mean, then 7 prior draws from its generator seed."""
    with torch.no_grad():
        mu = encoder(x).chunk(2, dim=1)[0]
    generator = torch.Generator().manual_seed(options.seed + 4)
    return [mu] + [torch.randn(mu.shape, generator=generator) for _ in range(7)]
