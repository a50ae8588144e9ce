"""What selects a BioMatrix tokenizer: a config section of every job that tokenizes (data builds,
training, conversion), read from `launch/configs/tokenizer.yaml` and overrides.

It joins two layers, which is why it sits above both: the unified vocabulary
(`megatron_bio.tokenizer`) and the molecule structure tokenizer (`megatron_bio.structure`), whose
codebook decides the fallback of a molecule-3D pair outside the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from megatron_bio.tokenizer.unified import DEFAULT_MOLECULE_3D_INVENTORY, DEFAULT_SELFIES_INVENTORY, BioMatrixTokenizer


@dataclass
class TokenizerConfig:
    base_dir: Optional[str] = None
    selfies_inventory: Optional[str] = None
    molecule_3d_inventory: Optional[str] = None
    # The structure tokenizer whose codebook decides the fallback of a pair outside the inventory.
    molecule_3d_checkpoint: str = "released"
    strict_molecule_3d: bool = False
    # False: the vocabulary as it was before the DNA/RNA tokens (a prefix of today's), to resume or
    # export a checkpoint trained on it; `checkpoint.init_from` grows such a checkpoint instead.
    nucleic_acids: bool = True

    def build(self) -> BioMatrixTokenizer:
        # Imported here: the structure tokenizer (torch, RDKit) loads only when a tokenizer is built.
        from megatron_bio.structure.molecule.config import checkpoint_path
        from megatron_bio.structure.molecule.inventory import NearestCodeFallback

        return BioMatrixTokenizer.build(
            base_dir=self.base_dir,
            selfies_inventory=self.selfies_inventory or DEFAULT_SELFIES_INVENTORY,
            molecule_3d_inventory=self.molecule_3d_inventory or DEFAULT_MOLECULE_3D_INVENTORY,
            molecule_3d_fallback=NearestCodeFallback.from_checkpoint(checkpoint_path(self.molecule_3d_checkpoint)),
            strict_molecule_3d=self.strict_molecule_3d,
            nucleic_acids=self.nucleic_acids,
        )
