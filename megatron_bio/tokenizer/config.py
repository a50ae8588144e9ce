"""What selects a BioMatrix tokenizer; read from `launch/configs/tokenizer.yaml` and overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .unified import DEFAULT_SELFIES_INVENTORY, BioMatrixTokenizer


@dataclass
class TokenizerConfig:
    base_dir: Optional[str] = None
    selfies_inventory: Optional[str] = None
    molecule_3d_inventory: Optional[str] = None
    strict_molecule_3d: bool = False

    def build(self) -> BioMatrixTokenizer:
        return BioMatrixTokenizer.build(
            base_dir=self.base_dir,
            selfies_inventory=self.selfies_inventory or DEFAULT_SELFIES_INVENTORY,
            molecule_3d_inventory=self.molecule_3d_inventory,
            strict_molecule_3d=self.strict_molecule_3d,
        )
