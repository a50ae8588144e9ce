"""What selects and drives the molecule structure tokenizer; read from
`launch/configs/structure_molecule.yaml` and `--set` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .codec import MoleculeStructureTokenizer
from .train import DEFAULT_CHECKPOINT, RELEASED_CHECKPOINT, TrainConfig

# Names usable wherever a checkpoint path is expected.
CHECKPOINTS = {"ours": DEFAULT_CHECKPOINT, "released": RELEASED_CHECKPOINT}


def checkpoint_path(name_or_path: str) -> Path:
    return Path(CHECKPOINTS.get(name_or_path, name_or_path))


@dataclass
class InventoryConfig:
    checkpoint: str = "released"  # the tokens BioMatrix's checkpoints were trained on
    sources: list = field(default_factory=lambda: ["qm9", "ccd", "moses", "chebi"])
    limits: dict = field(default_factory=lambda: {"moses": 10000, "chebi": 5000})
    out: Optional[str] = None  # null = the unified tokenizer's default inventory file
    workers: int = 2


@dataclass
class EvalConfig:
    source: str = "qm9:test"
    molecules: int = 1000
    inventory: Optional[str] = None  # null = the default joint inventory (built with `inventory.checkpoint`)


@dataclass
class MoleculeStructureConfig:
    checkpoint: str = "ours"  # "ours", "released" or a path (.bin released format, .safetensors ours)
    closed_loop: Optional[bool] = None  # null = the checkpoint's own setting (released: open loop)
    refine: bool = False  # decode: one MMFF optimization after the rebuild
    batch_size: int = 256
    train: TrainConfig = field(default_factory=TrainConfig)
    inventory: InventoryConfig = field(default_factory=InventoryConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def tokenizer(self) -> MoleculeStructureTokenizer:
        return MoleculeStructureTokenizer.from_checkpoint(checkpoint_path(self.checkpoint), self.closed_loop)
