"""Typed segments: the unit every stage exchanges with the tokenizer.

A document is a list of segments; text is the unwrapped carrier, every other modality is wrapped
by its pair of control tokens. The wrapping table below is the only place that pairs a modality
with its control tokens.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union


class Modality(str, enum.Enum):
    TEXT = "text"
    SMILES = "smiles"
    SELFIES = "selfies"
    MOLECULE_3D = "molecule_3d"
    PROTEIN = "protein"
    PROTEIN_3D = "protein_3d"
    DNA = "dna"
    RNA = "rna"


WRAPPERS: dict[Modality, tuple[str, str]] = {
    Modality.SMILES: ("<|mol_smi_start|>", "<|mol_smi_end|>"),
    Modality.SELFIES: ("<|mol_sfi_start|>", "<|mol_sfi_end|>"),
    Modality.MOLECULE_3D: ("<|mol_3d_start|>", "<|mol_3d_end|>"),
    Modality.PROTEIN: ("<|prot_aa_start|>", "<|prot_aa_end|>"),
    Modality.PROTEIN_3D: ("<|prot_3d_start|>", "<|prot_3d_end|>"),
    Modality.DNA: ("<|dna_nt_start|>", "<|dna_nt_end|>"),
    Modality.RNA: ("<|rna_nt_start|>", "<|rna_nt_end|>"),
}

# The letters a DNA or RNA segment may hold (upper-case IUPAC, one token each): T in DNA, U in RNA,
# never the other; N and the ambiguity codes in both. Lower case (soft-masked repeats) is the
# reader's or composer's to upper-case; gaps belong to alignments, not sequences.
NUCLEIC_ALPHABETS: dict[Modality, str] = {
    Modality.DNA: "ACGTNRYSWKMBDHV",
    Modality.RNA: "ACGUNRYSWKMBDHV",
}


@dataclass(frozen=True)
class Segment:
    """One piece of a document.

    `value` is a string for every modality but protein 3D, whose value is the tuple of backbone
    structure codes (one per residue). Molecule 3D is the joint-token string, e.g. `[C 42][H 305]`;
    DNA and RNA are their letters (`NUCLEIC_ALPHABETS`), e.g. `ATGGCC` and `AUGGCC`.
    """

    modality: Modality
    value: Union[str, tuple[int, ...]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", Modality(self.modality))
        if self.modality is Modality.PROTEIN_3D:
            object.__setattr__(self, "value", tuple(int(c) for c in self.value))
        elif not isinstance(self.value, str):
            raise TypeError(f"a {self.modality.value} segment holds a string, got {type(self.value).__name__}")


Document = list[Segment]
