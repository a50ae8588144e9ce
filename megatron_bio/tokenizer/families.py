"""The token families BioMatrix adds to Qwen3, declared as data.

Id stability rests on this module: the added tokens are appended to the base vocabulary in the
blocks of `VOCABULARY_PLAN`, each block in the order its table or inventory file gives. The plan
only ever grows at its end (a family added later is a new block after every existing id), so a
vocabulary built before an addition is a prefix of the one built after it, and a checkpoint trained
on it keeps the meaning of every row. Spelling rules live here too, so that a tokenizer directory
written by someone else (the released BioMatrix tokenizer, say) can be loaded and its families
discovered from the token strings alone.
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
    NUCLEOTIDE = "nucleotide"


# The blocks of added tokens, in id order: (block, family). What each block holds is named here and
# supplied by `unified._planned_tokens`. The molecule-3D inventory grows by appended versions
# (`ranked_file.read_ranked_sections`): version 1 is the block the report's five families ended
# with, and every later version is appended after all other blocks, so that the inventory can grow
# without moving the nucleic-acid tokens. A new family is a new block inserted before
# "molecule_3d later versions" only while no inventory in use has a version 2 yet; otherwise pin
# the versions in use as a block of their own first (see the README, "Ids").
VOCABULARY_PLAN: tuple[tuple[str, Family], ...] = (
    ("control", Family.CONTROL),                        # the report's ten wrappers
    ("residues", Family.RESIDUE),
    ("selfies inventory", Family.SELFIES),
    ("protein 3D codebook", Family.PROTEIN_3D),
    ("molecule_3d version 1", Family.MOLECULE_3D),
    ("nucleic acid control", Family.CONTROL),           # DNA and RNA wrappers (issue 25)
    ("nucleotides", Family.NUCLEOTIDE),                 # issue 25
    ("molecule_3d later versions", Family.MOLECULE_3D),
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
# The sixth modality's wrappers, spelled as the ten are: entity, then the form (`nt`: nucleotide
# letters, as `aa` is amino-acid letters), so that an RNA 3D form could join as `<|rna_3d_start|>`.
NUCLEIC_CONTROL_TOKENS: tuple[tuple[str, str], ...] = (
    ("<|dna_nt_start|>", "Begins a DNA nucleotide sequence"),
    ("<|dna_nt_end|>", "Ends a DNA nucleotide sequence"),
    ("<|rna_nt_start|>", "Begins an RNA nucleotide sequence"),
    ("<|rna_nt_end|>", "Ends an RNA nucleotide sequence"),
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

# One token per nucleotide letter, shared by DNA and RNA: the same base is the same token in both
# (the wrapper says which molecule it is), so only T (DNA) and U (RNA) differ. Upper-case IUPAC:
# the four bases of each molecule, N (any), and the ten ambiguity codes, in the readers' order
# (`biomatrix_io.readers.nucleic.IUPAC_NUCLEOTIDES`). Spelled `<N_A>`, apart from the residues' `<A_A>`.
NUCLEOTIDES: tuple[tuple[str, str], ...] = (
    ("A", "Adenine nucleotide (A) in a DNA or RNA sequence"),
    ("C", "Cytosine nucleotide (C) in a DNA or RNA sequence"),
    ("G", "Guanine nucleotide (G) in a DNA or RNA sequence"),
    ("T", "Thymine nucleotide (T) in a DNA sequence"),
    ("U", "Uracil nucleotide (U) in an RNA sequence"),
    ("N", "Any nucleotide (N) in a DNA or RNA sequence"),
    ("R", "Purine nucleotide, A or G (R), in a DNA or RNA sequence"),
    ("Y", "Pyrimidine nucleotide, C or T or U (Y), in a DNA or RNA sequence"),
    ("S", "Strong nucleotide, G or C (S), in a DNA or RNA sequence"),
    ("W", "Weak nucleotide, A or T or U (W), in a DNA or RNA sequence"),
    ("K", "Keto nucleotide, G or T or U (K), in a DNA or RNA sequence"),
    ("M", "Amino nucleotide, A or C (M), in a DNA or RNA sequence"),
    ("B", "Nucleotide other than A: C, G, T or U (B), in a DNA or RNA sequence"),
    ("D", "Nucleotide other than C: A, G, T or U (D), in a DNA or RNA sequence"),
    ("H", "Nucleotide other than G: A, C, T or U (H), in a DNA or RNA sequence"),
    ("V", "Nucleotide other than T or U: A, C or G (V), in a DNA or RNA sequence"),
)

PROTEIN_3D_CODEBOOK_SIZE = 4096
# Codes a molecule-3D joint token may carry: the 512-entry MolStrucTok codebook, or -1 for the
# SELFIES symbols that place no atom (branches, rings and the index symbols after them).
MOLECULE_3D_NO_GEOMETRY = -1


def residue_token(letter: str) -> str:
    return f"<A_{letter}>"


def nucleotide_token(letter: str) -> str:
    return f"<N_{letter}>"


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
_NUCLEOTIDE_RE = re.compile("<N_([%s])>" % "".join(letter for letter, _ in NUCLEOTIDES))
_CONTROL_DESCRIPTIONS = dict(CONTROL_TOKENS + NUCLEIC_CONTROL_TOKENS)


def classify(token: str) -> Optional[tuple[Family, object]]:
    """(family, key) of a BioMatrix token, or None for a base-vocabulary token.

    The key is what encoding looks the token up by: the control string, the residue or nucleotide
    letter, the SELFIES symbol, the protein structure code, or the (SELFIES symbol, code) pair.
    """
    if token in _CONTROL_DESCRIPTIONS:
        return Family.CONTROL, token
    if m := _RESIDUE_RE.fullmatch(token):
        return Family.RESIDUE, m.group(1)
    if m := _NUCLEOTIDE_RE.fullmatch(token):
        return Family.NUCLEOTIDE, m.group(1)
    if m := _PROTEIN_3D_RE.fullmatch(token):
        return Family.PROTEIN_3D, int(m.group(1))
    if m := _MOLECULE_3D_RE.fullmatch(token):
        return Family.MOLECULE_3D, (f"[{m.group(1)}]", int(m.group(2)))
    if _SELFIES_RE.fullmatch(token):
        return Family.SELFIES, token
    return None


_DESCRIBED = {Family.RESIDUE: dict(RESIDUES), Family.NUCLEOTIDE: dict(NUCLEOTIDES)}


def describe(family: Family, key: object, token: str) -> str:
    """The paper's rule: a phrase for control tokens, the amino acid's name for residues, and the
    token's own literal string for SELFIES, molecule-3D and protein-3D tokens. Nucleotides, which
    the report does not have, follow the residues: a phrase naming the base(s) and the molecule."""
    if family is Family.CONTROL:
        return _CONTROL_DESCRIPTIONS[token]
    if family in _DESCRIBED:
        return _DESCRIBED[family][key]
    return token
