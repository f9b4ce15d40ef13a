"""Named study presets: the searches the papers' own ablations and our weak spots call for.

Each preset is a space over some fields of the methods it fits; `build(methods)` returns it. Ranges cite
their source; relative ranges are multiples of the data's scale (engine.data.data_scale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.config import ConfigError
from studies.spaces import METHOD_KEY, Dimension, Space

# PresGAN without entropy (lambda = 0, the paper's "GAN" rows) up to 1 (100x the official 0.01)
LAMBDA_GRID = [0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
BMS_T = [1, 2, 5, 10, 20, 30]             # issue 10; BMS uses "as many samples as fit in memory"
ALPHA_RECON = [1.0, 5.0, 10.0, 50.0]      # alpha-GAN's reconstruction weights (appendix H)
COMPARE_METHODS = ["gan", "presgan", "veegan", "alpha_gan", "bms_vae_gan"]
COMPARE_SEEDS = [0, 1, 2]


@dataclass(frozen=True)
class Preset:
    fits: tuple[str, ...] | None          # methods it applies to (None: any, the method is a dimension)
    build: Callable[[list[str]], Space]
    help: str


def _presgan_sigma_dimensions() -> list[Dimension]:
    # sigma_max from half to 8 times the data's scale (the ring8 preset's 0.02 is 2x its std 0.01, hd1200's
    # 0.5 half its 1.0); sigma_min a fraction of sigma_max, so sigma_min < sigma_max by construction
    return [Dimension("sigma_max/scale", "model.sigma_max", low=0.5, high=8.0, log=True, relative_to="scale"),
            Dimension("sigma_min/sigma_max", "model.sigma_min", low=0.05, high=0.9, log=True,
                      relative_to="model.sigma_max")]


def presgan_lambda(methods: list[str]) -> Space:
    return Space([Dimension("entropy_weight", "model.entropy_weight", low=1e-3, high=1.0, log=True),
                  *_presgan_sigma_dimensions()])


def presgan_lambda_grid(methods: list[str]) -> Space:
    return Space([Dimension("entropy_weight", "model.entropy_weight", low=0.0, high=max(LAMBDA_GRID))],
                 sampler="grid", grid={"entropy_weight": LAMBDA_GRID})


def bms_t(methods: list[str]) -> Space:
    return Space([Dimension("num_samples", "model.num_samples", kind="categorical", choices=BMS_T),
                  Dimension("recon_weight", "model.recon_weight", low=0.1, high=100.0, log=True)])


def alpha_recon(methods: list[str]) -> Space:
    return Space([Dimension("recon_weight", "model.recon_weight", low=min(ALPHA_RECON), high=max(ALPHA_RECON))],
                 sampler="grid", grid={"recon_weight": ALPHA_RECON})


def compare(methods: list[str]) -> Space:
    """Each method with its own preset for the data set, the same steps, over the same training seeds."""
    chosen = methods if len(methods) > 1 else COMPARE_METHODS
    return Space([Dimension("method", METHOD_KEY, kind="categorical", choices=chosen),
                  Dimension("seed", "train.seed", kind="int", low=0, high=max(COMPARE_SEEDS))],
                 sampler="grid", grid={"method": chosen, "seed": COMPARE_SEEDS})


PRESETS = {
    "presgan-lambda": Preset(("presgan",), presgan_lambda,
                             "entropy weight lambda (log 1e-3..1), sigma_max (0.5-8 x data scale), sigma_min "
                             "(0.05-0.9 x sigma_max)"),
    "presgan-lambda-grid": Preset(("presgan",), presgan_lambda_grid,
                                  f"grid over lambda {LAMBDA_GRID} (0 = PresGAN without entropy)"),
    "bms-T": Preset(("bms_vae_gan",), bms_t, f"BMS samples T over {BMS_T} and recon_weight (log 0.1..100)"),
    "alpha-recon": Preset(("alpha_gan",), alpha_recon, f"grid over alpha-GAN recon_weight {ALPHA_RECON}"),
    "compare": Preset(None, compare, "the methods (comma-separated --model) each with its preset, over seeds "
                                     f"{COMPARE_SEEDS}: a grid, so every method gets the same budget"),
}


def preset_space(name: str, methods: list[str]) -> Space:
    """The named preset's space for these methods; ConfigError when it does not exist or does not fit."""
    if name not in PRESETS:
        raise ConfigError(f"--preset {name} is not a study preset ({', '.join(PRESETS)})")
    preset = PRESETS[name]
    if preset.fits is not None and (len(methods) != 1 or methods[0] not in preset.fits):
        raise ConfigError(f"--preset {name} is for {', '.join(preset.fits)}, not {','.join(methods)}")
    return preset.build(methods)
