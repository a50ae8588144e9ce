"""The molecule 3D structure tokenizer (MolStrucTok-compatible): conformer <-> `[SYMBOL CODE]` tokens."""

from .codec import EncodedMolecule, MoleculeStructureTokenizer
from .errors import StructureTokenError

__all__ = ["EncodedMolecule", "MoleculeStructureTokenizer", "StructureTokenError"]
