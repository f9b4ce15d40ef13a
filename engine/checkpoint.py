"""Atomic checkpoint save and safe load (weights_only) of everything a run needs to resume."""

from __future__ import annotations

import os
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not ours; the message names the file."""


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


RESUMABLE = frozenset({"step", "config", "model", "optimizers", "rng"})
WEIGHTS = frozenset({"step", "model"})  # the weights a run keeps per evaluation step


def load_checkpoint(path: Path, needed: frozenset[str] = RESUMABLE) -> dict:
    """Load with weights_only=True; any failure becomes one CheckpointError line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({reason[:120]})") from None
    if not isinstance(payload, dict) or not needed <= set(payload):
        raise CheckpointError(f"checkpoint {path} is not a ModeScope checkpoint (missing {sorted(needed)})")
    return payload
