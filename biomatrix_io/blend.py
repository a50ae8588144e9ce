"""The blend files: how a data build tells training what to read, and in what mixture.

A shards folder holds `blend.yaml` (`weights_from`, `root: .`, and per dataset its `prefix`,
relative to the folder, its `weight` and what the build records beside: tokens, the paper's
budget `paper_budget_b`, or `our_budget_b` for a prefix the paper lacks) and `blend.txt` (Megatron-LM's `weight prefix ...`, absolute prefixes, for `--data-path`).
Writers and readers of both sides meet here, through the format, not through each other.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .config import ConfigError
from .files import atomic

BLEND_YAML = "blend.yaml"
BLEND_TXT = "blend.txt"


def write_blend(shards: Path, entries: list[dict], weights_from: str) -> None:
    """Both blend files of a shards folder; each entry holds at least `prefix` and `weight`."""
    pairs = " ".join(f"{e['weight']} {(shards / e['prefix']).resolve()}" for e in entries)
    with atomic(shards / BLEND_TXT) as path:
        path.write_text(pairs + "\n")
    with atomic(shards / BLEND_YAML) as path:
        path.write_text(yaml.safe_dump({"weights_from": weights_from, "root": ".", "datasets": entries}, sort_keys=False))


def read_blend(shards: Path) -> tuple[list[str], list[float]]:
    """A build's blend as megatron-core's `BlendedMegatronDatasetConfig.blend` wants it, prefixes
    resolved against the shards folder, so a moved or copied build still reads."""
    shards = Path(shards)
    if not (shards / BLEND_YAML).is_file():
        raise ConfigError(f"{shards}: no {BLEND_YAML}, so not a data build's shards folder "
                          "(`biomatrix data build` writes one and prints where)")
    entries = yaml.safe_load((shards / BLEND_YAML).read_text())["datasets"]
    return [str((shards / e["prefix"]).resolve()) for e in entries], [float(e["weight"]) for e in entries]
