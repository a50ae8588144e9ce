"""Atom order, SELFIES symbols and reference atoms of a molecule: everything about the molecule's
graph that the structure tokens are defined over (the geometry is in `descriptors`).

The rules are those of BioMatrix's released MolStrucTok pipeline (shared/notes/molstructok-compat.md):
kekulized, non-isomeric canonical SMILES with explicit hydrogens; atoms renumbered to the SMILES
output order; SELFIES of that SMILES, whose atom-producing symbols carry the atoms' codes; and the
"recurrent-index" reference rule. An atom whose focal atom is atom 0, which the released pipeline
leaves undefined, uses references (0, 1, 2). Disconnected molecules (salts) are rejected: the token
string has no fragment separator, and a fragment's atoms have no bonded reference.

The atom order comes from RDKit's canonical ranking, which sees aromaticity. The release ranks the
molecule AS GIVEN (aromatic flags and all: a sanitized molecule ranks its aromatic rings as such)
and only kekulizes for writing; ours ranks the kekulized form (aromatic flags cleared). The two
orders differ on about a third of fused N/O heteroaromatics, so `released` chooses the release's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import selfies as sf

from .errors import StructureTokenError

_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Layout:
    """A molecule's atoms in token order. `mol` is renumbered so that atom k is the k-th atom of
    the SELFIES; `atom_symbols[k]` is the index of the SELFIES symbol that produces atom k;
    `references[k]` = (focal, first, second) reference atoms (negative where unused: atoms 0-2)."""

    mol: object
    symbols: tuple[str, ...]
    atom_symbols: np.ndarray
    references: np.ndarray
    bond_to_focal: np.ndarray  # bond order between atom k and its focal atom, 0 when not bonded

    @property
    def num_atoms(self) -> int:
        return len(self.atom_symbols)


def _check_hydrogens(mol, where: str) -> None:
    implicit = [a.GetIdx() for a in mol.GetAtoms() if a.GetNumImplicitHs() or a.GetNumExplicitHs()]
    if implicit:
        raise StructureTokenError(
            where, f"atom {implicit[0]} has implicit hydrogens: add them with coordinates (Chem.AddHs(mol, addCoords=True))"
        )


def layout_of_molecule(mol, where: str = "molecule", released: bool = False) -> Layout:
    """The token-order layout of an RDKit molecule with explicit hydrogens (coordinates follow the
    renumbering, so the layout's `mol` carries the conformer in token order, kekulized). With
    `released`, atoms are ranked as the release ranks them: on the molecule as given."""
    from rdkit import Chem

    if mol.GetNumAtoms() == 0:
        raise StructureTokenError(where, "no atoms")
    _check_hydrogens(mol, where)
    fragments = len(Chem.GetMolFrags(mol))
    if fragments > 1:
        raise StructureTokenError(where, f"disconnected ({fragments} fragments): structure tokens describe one connected molecule")
    kekulized = Chem.Mol(mol)
    ranked = Chem.Mol(mol) if released else kekulized
    try:
        Chem.Kekulize(kekulized, clearAromaticFlags=True)
        smiles = Chem.MolToSmiles(ranked, canonical=True, kekuleSmiles=True, isomericSmiles=False)
    except Exception as error:  # RDKit raises several types for kekulization problems
        raise StructureTokenError(where, f"RDKit cannot write a kekulized SMILES: {error}") from None
    order = [int(k) for k in _DIGITS.findall(ranked.GetProp("_smilesAtomOutputOrder"))]
    mol = Chem.RenumberAtoms(kekulized, order)
    try:
        selfies = sf.encoder(smiles, strict=True)
    except sf.EncoderError as error:
        raise StructureTokenError(where, f"SELFIES cannot encode {smiles!r}: {error}") from None
    symbols = tuple(sf.split_selfies(selfies))
    atom_symbols = _atom_producing_symbols(selfies, where)
    if len(atom_symbols) != mol.GetNumAtoms():
        raise StructureTokenError(where, f"SELFIES {selfies!r} produces {len(atom_symbols)} atoms, the molecule has {mol.GetNumAtoms()}")
    return _finish(mol, symbols, atom_symbols)


def layout_of_symbols(symbols: tuple[str, ...], where: str = "structure string") -> Layout:
    """The layout a token string implies: its SELFIES decoded to a molecule with explicit hydrogens."""
    from rdkit import Chem

    selfies = "".join(symbols)
    try:
        smiles = sf.decoder(selfies)
    except sf.DecoderError as error:
        raise StructureTokenError(where, f"not a valid SELFIES: {error}") from None
    params = Chem.SmilesParserParams()
    params.removeHs = False
    mol = Chem.MolFromSmiles(smiles, params) if smiles else None
    if mol is None:
        raise StructureTokenError(where, f"the SELFIES decodes to {smiles!r}, which RDKit cannot read")
    # Bond orders as at encoding time (kekulized), not the aromatic 1.5 that sanitizing perceives.
    Chem.Kekulize(mol, clearAromaticFlags=True)
    atom_symbols = _atom_producing_symbols(selfies, where)
    if len(atom_symbols) != mol.GetNumAtoms():
        raise StructureTokenError(where, f"{len(atom_symbols)} atom symbols but {mol.GetNumAtoms()} atoms")
    return _finish(mol, symbols, atom_symbols)


def _atom_producing_symbols(selfies: str, where: str) -> np.ndarray:
    """Indices of the SELFIES symbols that produce atoms, in atom order: the decoder's attribution
    of each SMILES atom, whose last entry is the atom symbol (a branch symbol may precede it)."""
    try:
        _, attribution = sf.decoder(selfies, attribute=True)
    except sf.DecoderError as error:
        raise StructureTokenError(where, f"not a valid SELFIES: {error}") from None
    atoms = [m.attribution[-1].index for m in attribution if m.token[:1] == "[" or m.token[:1].isalpha()]
    return np.asarray(atoms, dtype=np.int64)


def _finish(mol, symbols: tuple[str, ...], atom_symbols: np.ndarray) -> Layout:
    references, bond_to_focal = reference_atoms(mol)
    return Layout(mol, symbols, atom_symbols, references, bond_to_focal)


def reference_atoms(mol) -> tuple[np.ndarray, np.ndarray]:
    """(focal, first, second) reference atoms per atom by the recurrent-index rule, and the bond
    order to the focal atom (0 when not bonded)."""
    n = mol.GetNumAtoms()
    references = np.zeros((n, 3), dtype=np.int64)
    bond_to_focal = np.zeros(n, dtype=np.int64)
    earlier = [[] for _ in range(n)]
    orders = {}
    for bond in mol.GetBonds():
        a, b = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        earlier[b].append(a)
        orders[a, b] = int(bond.GetBondTypeAsDouble())
    for i in range(n):
        focal = max(earlier[i]) if earlier[i] else None
        if i < 3:
            references[i] = (i - 1, i - 2, i - 3)
        elif focal == 1:
            references[i] = (1, 0, 2)
        elif focal == 0:
            references[i] = (0, 1, 2)
        else:
            references[i] = (focal, references[focal, 0], references[focal, 1])
        if references[i, 0] >= 0:
            bond_to_focal[i] = orders.get((references[i, 0], i), 0)
    return references, bond_to_focal
