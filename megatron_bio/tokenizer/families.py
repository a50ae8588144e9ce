"""The token families BioMatrix adds to Qwen3, declared as data.

Id stability rests on this module: families are appended to the base vocabulary in the order of
`FAMILY_ORDER`, each in the order its table or inventory file gives. Spelling rules live here too,
so that a tokenizer directory written by someone else (the released BioMatrix tokenizer, say) can be
loaded and its families discovered from the token strings alone.
"""

from __future__ import annotations

import enum
import re
from typing import Optional


class Family(str, enum.Enum):
    CONTROL = "control"
    RESIDUE = "residue"
    SELFIES = "selfies"
    PROTEIN_3D = "protein_3d"
    MOLECULE_3D = "molecule_3d"


FAMILY_ORDER: tuple[Family, ...] = (
    Family.CONTROL,
    Family.RESIDUE,
    Family.SELFIES,
    Family.PROTEIN_3D,
    Family.MOLECULE_3D,
)

# (token, description) in id order. Descriptions feed the description-based embedding init.
CONTROL_TOKENS: tuple[tuple[str, str], ...] = (
    ("<|mol_smi_start|>", "Begins a molecule SMILES string"),
    ("<|mol_smi_end|>", "Ends a molecule SMILES string"),
    ("<|mol_sfi_start|>", "Begins a molecule SELFIES string"),
    ("<|mol_sfi_end|>", "Ends a molecule SELFIES string"),
    ("<|mol_3d_start|>", "Begins a molecule 3D structure"),
    ("<|mol_3d_end|>", "Ends a molecule 3D structure"),
    ("<|prot_aa_start|>", "Begins a protein amino acid sequence"),
    ("<|prot_aa_end|>", "Ends a protein amino acid sequence"),
    ("<|prot_3d_start|>", "Begins a protein 3D structure"),
    ("<|prot_3d_end|>", "Ends a protein 3D structure"),
)

# The 26 IUPAC one-letter codes (20 standard + B, J, O, U, X, Z) with the amino acid's name.
RESIDUES: tuple[tuple[str, str], ...] = (
    ("A", "Alanine"),
    ("B", "Aspartic acid or Asparagine"),
    ("C", "Cysteine"),
    ("D", "Aspartic acid"),
    ("E", "Glutamic acid"),
    ("F", "Phenylalanine"),
    ("G", "Glycine"),
    ("H", "Histidine"),
    ("I", "Isoleucine"),
    ("J", "Leucine or Isoleucine"),
    ("K", "Lysine"),
    ("L", "Leucine"),
    ("M", "Methionine"),
    ("N", "Asparagine"),
    ("O", "Pyrrolysine"),
    ("P", "Proline"),
    ("Q", "Glutamine"),
    ("R", "Arginine"),
    ("S", "Serine"),
    ("T", "Threonine"),
    ("U", "Selenocysteine"),
    ("V", "Valine"),
    ("W", "Tryptophan"),
    ("X", "any amino acid"),
    ("Y", "Tyrosine"),
    ("Z", "Glutamic acid or Glutamine"),
)

PROTEIN_3D_CODEBOOK_SIZE = 4096
# Codes a molecule-3D joint token may carry: the 512-entry MolStrucTok codebook, or -1 for the
# SELFIES symbols that place no atom (branches, rings and the index symbols after them).
MOLECULE_3D_NO_GEOMETRY = -1


def residue_token(letter: str) -> str:
    return f"<A_{letter}>"


def protein_3d_token(code: int) -> str:
    return f"<S_{code}>"


def molecule_3d_token(symbol: str, code: int) -> str:
    """`[C]` with code 42 is written `[C 42]`: the SELFIES symbol's inner text, a space, the code."""
    return f"[{symbol[1:-1]} {code}]"


# Discovery patterns. The public material also shows `<A M>` / `<S 4012>` (underscores lost in PDF
# extraction), so a space is accepted where we write an underscore.
_RESIDUE_RE = re.compile(r"<A[_ ]([A-Z])>")
_PROTEIN_3D_RE = re.compile(r"<S[_ ](\d+)>")
_MOLECULE_3D_RE = re.compile(r"\[([^\s\[\]]+) (-?\d+)\]")
_SELFIES_RE = re.compile(r"\[[^\s\[\]]+\]")
_CONTROL = {token for token, _ in CONTROL_TOKENS}


def classify(token: str) -> Optional[tuple[Family, object]]:
    """(family, key) of a BioMatrix token, or None for a base-vocabulary token.

    The key is what encoding looks the token up by: the control string, the residue letter, the
    SELFIES symbol, the protein structure code, or the (SELFIES symbol, code) pair.
    """
    if token in _CONTROL:
        return Family.CONTROL, token
    if m := _RESIDUE_RE.fullmatch(token):
        return Family.RESIDUE, m.group(1)
    if m := _PROTEIN_3D_RE.fullmatch(token):
        return Family.PROTEIN_3D, int(m.group(1))
    if m := _MOLECULE_3D_RE.fullmatch(token):
        return Family.MOLECULE_3D, (f"[{m.group(1)}]", int(m.group(2)))
    if _SELFIES_RE.fullmatch(token):
        return Family.SELFIES, token
    return None


def describe(family: Family, key: object, token: str) -> str:
    """The paper's rule: a phrase for control tokens, the amino acid's name for residues, and the
    token's own literal string for SELFIES, molecule-3D and protein-3D tokens."""
    if family is Family.CONTROL:
        return dict(CONTROL_TOKENS)[token]
    if family is Family.RESIDUE:
        return dict(RESIDUES)[key]
    return token
