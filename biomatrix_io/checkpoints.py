"""The checkpoint folder layout, as Megatron-LM lays it out: `<root>/iter_0000100/` per save (a
megatron-core `dist_checkpointing` folder, `metadata.json` inside) and
`<root>/latest_checkpointed_iteration.txt`, the tracker, written last. Training writes it;
conversion, resume and job scripts find checkpoints by it, without each other's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .config import ConfigError

TRACKER = "latest_checkpointed_iteration.txt"


def iteration_dir(root: Path, iteration: int) -> Path:
    return Path(root) / f"iter_{iteration:07d}"


def latest_iteration(root: Path) -> Optional[int]:
    tracker = Path(root) / TRACKER
    return int(tracker.read_text()) if tracker.exists() else None


def resolve(path: str | Path) -> Path:
    """A checkpoint folder: `path` itself when it is one iteration, else its latest iteration."""
    path = Path(path)
    if (path / "metadata.json").exists():
        return path
    iteration = latest_iteration(path)
    if iteration is None:
        raise ConfigError(f"{path}: neither a checkpoint (no metadata.json) nor a checkpoint root (no {TRACKER})")
    return iteration_dir(path, iteration)
