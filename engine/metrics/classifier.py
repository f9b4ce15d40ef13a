"""The evaluation classifier: a small CNN for 28-px digits, shipped in assets/ with its held-out accuracy.

MNIST and Stacked MNIST mode counts and KLs (DESIGN.md section 7) classify samples with it; its penultimate
layer is the feature space of Frechet distance and precision / recall. `python -m engine train-classifier`
trains it on `mnist` when its files are present, else on `mnist5k`, and writes the weights and a JSON record
(data, seed, epochs, held-out accuracy, the weights' SHA-256) next to each other.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.paths import REPO_ROOT

WEIGHTS = REPO_ROOT / "assets" / "digit_classifier.pt"
RECORD = REPO_ROOT / "assets" / "digit_classifier.json"
INPUT_SIDE = 28
FEATURES = 128
FEATURE_SPACE = "digit-classifier features (assets/digit_classifier.pt, 128-D penultimate layer)"


class DigitClassifier(nn.Module):
    """(n, 1, 28, 28) in [-1, 1] -> 10 logits; `features` is the 128-D penultimate layer."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1),
            nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),                                       # 14 x 14
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
            nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),                                       # 7 x 7
            nn.Flatten(), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(to_input(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(x: torch.Tensor) -> torch.Tensor:
    """Digits at 28 or 32 px (or any side) brought to the classifier's 28 x 28, one channel."""
    from engine.data.images import resize

    return resize(x, INPUT_SIDE)


@dataclass
class TrainingRecord:
    data: str
    seed: int
    epochs: int
    train_images: int
    test_images: int
    test_accuracy: float
    augmentation: str
    weights_sha256: str
    seconds: float
    command: str = "python -m engine train-classifier"


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random small affine maps of a batch: rotation up to 10 degrees, scale 0.9-1.1, shifts up to 2 px."""
    n = len(x)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(10)
    scale = 0.9 + 0.2 * torch.rand(n, generator=generator)
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / (INPUT_SIDE / 2))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1  # background stays -1


def accuracy(model: DigitClassifier, x: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(chunk).argmax(1) for chunk in x.split(1000)])
    return float((predicted == labels).float().mean())


def train_classifier(data: str | None = None, epochs: int = 15, seed: int = 0, out: Path = WEIGHTS,
                     echo=print) -> TrainingRecord:
    """Train on `data` (default: mnist if its files are present, else mnist5k); write weights and record."""
    from engine.config import ConfigError, DataConfig
    from engine.registry import load_dataset

    if data is None:
        try:
            load_dataset(DataConfig(name="mnist"), "test")
            data = "mnist"
        except ConfigError:
            data = "mnist5k"
    torch.manual_seed(seed)
    train, test = load_dataset(DataConfig(name=data, seed=seed)), load_dataset(DataConfig(name=data), "test")
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps_per_epoch = math.ceil(len(train.x) / 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps_per_epoch)
    batches = torch.Generator().manual_seed(seed + 1)
    started = time.monotonic()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train.x), generator=batches)
        for index in order.split(64):
            loss = F.cross_entropy(model(augment(train.x[index], batches)), train.labels[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
        echo(f"epoch {epoch + 1}/{epochs}: held-out accuracy {accuracy(model, test.x, test.labels):.4f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    record = TrainingRecord(data=data, seed=seed, epochs=epochs, train_images=len(train.x), test_images=len(test.x),
                            test_accuracy=accuracy(model, test.x, test.labels),
                            augmentation="rotation <= 10 deg, scale 0.9-1.1, shift <= 2 px",
                            weights_sha256=sha256(out), seconds=round(time.monotonic() - started, 1))
    out.with_suffix(".json").write_text(json.dumps(asdict(record), indent=2) + "\n")
    return record


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_LOADED: dict[str, DigitClassifier] = {}


def load_classifier(path: Path = WEIGHTS) -> DigitClassifier:
    """The shipped classifier in eval mode (cached per process); a clear error when its file is missing."""
    from engine.config import ConfigError

    key = str(path)
    if key not in _LOADED:
        if not Path(path).is_file():
            raise ConfigError(f"evaluation classifier {path} is missing: run `python -m engine train-classifier`")
        model = DigitClassifier()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        _LOADED[key] = model.eval()
    return _LOADED[key]


_FUSED: dict[str, nn.Sequential] = {}
CLASSIFY_CHUNK = 128  # images per forward: small chunks stay in cache (2,000 at a time was 2-5x slower here)


def inference_trunk(path: Path = WEIGHTS) -> nn.Sequential:
    """The classifier's feature trunk for inference only: each BatchNorm folded into the convolution before it
    (torch's fuse_conv_bn_eval) and channels-last memory, the same function to ~1e-5 and 3-5x faster on this CPU
    (docs/benchmarks.md, inspection session 3)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    key = str(path)
    if key not in _FUSED:
        layers, fused = list(load_classifier(path).trunk), []
        while layers:
            layer = layers.pop(0)
            if isinstance(layer, nn.Conv2d) and layers and isinstance(layers[0], nn.BatchNorm2d):
                layer = fuse_conv_bn_eval(layer, layers.pop(0))
            fused.append(layer)
        _FUSED[key] = nn.Sequential(*fused).eval().to(memory_format=torch.channels_last)
    return _FUSED[key]


@torch.no_grad()
def classify(images: torch.Tensor, path: Path = WEIGHTS) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax probabilities (n, 10), features (n, 128)) of one-channel digit images in [-1, 1]."""
    trunk, head = inference_trunk(path), load_classifier(path).head
    probs, feats = [], []
    for chunk in images.float().split(CLASSIFY_CHUNK):
        f = trunk(to_input(chunk).contiguous(memory_format=torch.channels_last))
        feats.append(f)
        probs.append(head(f).softmax(1))
    return torch.cat(probs), torch.cat(feats)
