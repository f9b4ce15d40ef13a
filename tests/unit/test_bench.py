"""The benchmark suites: the speed suite's reference GAN and the synthetic suite's table."""

from __future__ import annotations

import dataclasses
import functools
import json

import pytest

from engine.bench import official_presgan_table, run_suite, same_network_gan, speed_table
from engine.registry import MODELS, preset_sections


def test_the_reference_gan_takes_the_methods_networks_and_batch():
    presgan = MODELS["presgan"]
    config = dataclasses.replace(presgan.Config(), **preset_sections("presgan", "ring8")["model"])
    gan_config, shared = same_network_gan(config)
    for field in ("latent_dim", "g_hidden", "g_depth", "d_hidden", "d_depth", "activation", "batch_size", "lr_d"):
        assert getattr(gan_config, field) == getattr(config, field), field
    assert "entropy_weight" not in shared and gan_config.latent_dim != MODELS["gan"].Config().latent_dim


def test_speed_table_has_a_row_per_method_and_variant():
    table = speed_table(["gan", "presgan"], iterations=2, repeats=1, echo=lambda line: None)
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert [row.split(" | ")[0] for row in rows] == [  # BMS variants only with BMS
        "| gan", "| presgan", "| presgan, hmc_gradient=prior", "| presgan, batch_size=64",
        "| presgan, hmc_gradient=prior, batch_size=64"]
    preset_batch = preset_sections("presgan", "ring8")["model"]["batch_size"]
    assert rows[1].endswith(f"batch_size {preset_batch} |") and rows[3].endswith("batch_size 64 |")  # variant wins
    ratios = [float(row.split(" | ")[3].rstrip("x")) for row in rows]
    assert all(r > 0 for r in ratios)


def test_synthetic_suite_reports_mean_and_spread_over_seeds(home):
    lines = []
    table = run_suite("synthetic", ["gan"], seeds=2, steps=20, overrides=["train.eval_samples=200"],
                      use_mlflow=False, datasets=["ring8"], echo=lines.append)
    assert len(lines) == 2 and all("exit 0" in line for line in lines)
    row = next(line for line in table.splitlines() if line.startswith("| gan | ring8"))
    modes = row.split(" | ")[3]
    assert "±" in modes and 0 <= float(modes.split(" ± ")[0]) <= 8
    assert "1 / 99.3" in row  # VEEGAN Table 1's GAN row printed beside it
    # the data's own figures below the methods: 200 true samples hit all 8 modes, ~98.9 % HQ (1 - e^-4.5)
    data = next(line for line in table.splitlines() if line.startswith("| true samples | ring8")).split(" | ")
    assert data[3] == "8.00 ± 0.00" and 97.0 < float(data[4].split(" ± ")[0]) < 100.0
    assert data[-1] == "3 draws of 200 |"


def test_noisy_figures_beside_the_mean_figures_for_models_with_observation_noise(home):
    """PresGAN's table row also gives modes / HQ % of G(z) + sigma * eps; the GAN, which has no sigma, a dash."""
    table = run_suite("synthetic", ["gan", "presgan"], seeds=1, steps=20, overrides=["train.eval_samples=200"],
                      use_mlflow=False, datasets=["ring8"], echo=lambda line: None)
    rows = {line.split(" | ")[0]: line.split(" | ") for line in table.splitlines() if "| ring8 |" in line}
    assert rows["| gan"][6] == "-"
    noisy_modes, noisy_hq = (float(v) for v in rows["| presgan"][6].split(" / "))
    assert 0 <= noisy_modes <= 8 and 0 <= noisy_hq <= 100


def test_report_rebuilds_the_table_from_run_directories_and_counts_unfinished_runs(home, tmp_path):
    from engine.__main__ import main

    table = run_suite("synthetic", ["pacgan"], seeds=2, steps=20, overrides=["train.eval_samples=200"],
                      use_mlflow=False, datasets=["ring8"], echo=lambda line: None)
    root = next((home / "var" / "bench").iterdir())
    (root / "pacgan-ring8-s1" / "eval.json").unlink()  # as if the second run had been killed before its evaluation
    out = tmp_path / "report.md"
    assert main(["bench", "--report", str(root), "--out", str(out)]) == 0
    row = next(line for line in out.read_text().splitlines() if line.startswith("| pacgan | ring8"))
    assert row.endswith("| 1 of 2 |") and "| 2 of 2 |" in table
    assert row.split(" | ")[3].endswith("± 0.00")  # one evaluated seed: no spread


def test_first_seed_starts_the_seed_range_there(home):
    run_suite("synthetic", ["gan"], seeds=1, steps=5, overrides=["train.eval_samples=100"], use_mlflow=False,
              datasets=["ring8"], first_seed=2, echo=lambda line: None)
    (run_dir,) = next((home / "var" / "bench").iterdir()).iterdir()
    assert run_dir.name == "gan-ring8-s2"
    assert json.loads((run_dir / "config.json").read_text())["train"]["seed"] == 2


def test_bench_bad_arguments_are_one_line_errors_naming_them(home, capsys):
    from engine.__main__ import main

    assert main(["bench", "--report", str(home / "no-such-dir")]) == 2
    assert "no-such-dir" in capsys.readouterr().err
    assert main(["bench"]) == 2
    assert "--suite" in capsys.readouterr().err


def test_image_suite_reports_modes_kl_fd_and_the_true_images_row(home):
    table = run_suite("images", ["gan"], seeds=1, steps=4, use_mlflow=False, echo=lambda line: None,
                      overrides=["train.eval_samples=300", "model.conv_width=8", "data.n_train=500"])
    lines = table.splitlines()
    assert lines[0].startswith("| method | dataset | steps | modes | KL | FD | coverage |")
    gan = next(line for line in lines if line.startswith("| gan | stacked_mnist")).split(" | ")
    assert "99 / 3.4 (VEEGAN Table 2 (DCGAN))" in gan and float(gan[5].split(" ± ")[0]) > 0  # an untrained G: FD > 0
    true = next(line for line in lines if line.startswith("| true samples | stacked_mnist")).split(" | ")
    # 300 real stacked images (from mnist5k's test digits) reach about 1000 (1 - e^-0.3) = 259 triples
    assert 230 < float(true[3].split(" ± ")[0]) <= 300 and true[-1] == "3 draws of 300 |"
    assert "FD and coverage in digit-classifier features of the three channels" in table


def test_official_presgan_variant_times_the_released_settings_beside_the_official_figures():
    table = official_presgan_table(sizes=(32,), iterations=1, repeats=1, threads=1, echo=lambda line: None)
    row = next(line for line in table.splitlines() if line.startswith("| presgan, official settings, 32 px"))
    assert row.endswith("| 732-756 | 169-184 |") and "latent_dim 100" in row and "conv_width 64" in row
    assert "g_hidden" not in row  # image networks: the MLP widths do not apply


def test_report_adds_the_held_out_likelihood_table_with_the_datas_own_figure(home, capsys, monkeypatch):
    from engine.__main__ import main
    from engine.metrics import likelihood

    # a shallower MAP search than the defaults' 8 x 1,000 L-BFGS steps (86 % of this test's time under cProfile)
    monkeypatch.setattr(likelihood, "LoglikOptions", functools.partial(likelihood.LoglikOptions, map_steps=100,
                                                                        map_starts=2, encoder_steps=300))
    run_suite("synthetic", ["presgan"], seeds=2, steps=20, overrides=["train.eval_samples=200"], use_mlflow=False,
              datasets=["grid25"], echo=lambda line: None)
    root = next((home / "var" / "bench").iterdir())
    assert main(["bench", "--report", str(root), "--loglik", "is", "--loglik-points", "50"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| presgan | grid25 | 20 |") and "nats" not in line
               and "the model's own" in line).split(" | ")
    model, gap, own = (float(row[i].split(" ± ")[0]) for i in (3, 4, 5))
    assert row[-1] == "2 |" and own > model and gap == pytest.approx(own - model, abs=0.02)
    assert (root / "presgan-grid25-s0" / "analysis").is_dir()  # cached per run
