"""Records every reader yields: the payload plus where it came from, so a rejected record can be
named (file, line or offset, id) and counted. Readers parse; they compute nothing expensive
(canonical forms, conformers, structure codes are stage 1's work, `data_pipeline.normalize`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Provenance:
    path: str
    location: str  # "line 12", "record 5", "offset 4096": whatever locates it in that format
    record_id: str


@dataclass(frozen=True)
class MoleculeRecord:
    provenance: Provenance
    smiles: str
    name: Optional[str] = None
    properties: dict = field(default_factory=dict)  # "definition" (a description) and measured values


@dataclass(frozen=True)
class Molecule3DRecord:
    """A molecule with explicit hydrogens and one 3D conformer (an RDKit `Mol`), atoms in source order."""

    provenance: Provenance
    mol: object
    name: Optional[str] = None
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProteinRecord:
    """A protein chain or sequence entry. `backbone` is (residues, 3 atoms N/CA/C, 3) in Angstrom
    with NaN for missing atoms, present when the source is a structure."""

    provenance: Provenance
    sequence: str
    name: Optional[str] = None
    description: Optional[str] = None
    annotations: tuple[str, ...] = ()  # GO term names, keywords, function comments
    backbone: Optional[np.ndarray] = None


@dataclass(frozen=True)
class TextRecord:
    provenance: Provenance
    text: str
    title: Optional[str] = None


@dataclass(frozen=True)
class AffinityRecord:
    """A measured molecule-protein interaction. `sequence` may be None when the source names the
    target but the sequence is not known."""

    provenance: Provenance
    smiles: str
    sequence: Optional[str]
    value: float
    unit: str  # "nM", "kcal/mol", ...
    measure: str  # "Ki", "EC50", "IC50", "dG"
    target: Optional[str] = None


@dataclass(frozen=True)
class ComplexRecord:
    """Entities observed together in one structure (a PDB entry): protein chains and small-molecule
    ligands, with their 3D coordinates where the source has them."""

    provenance: Provenance
    proteins: tuple[ProteinRecord, ...]
    ligands: tuple[Molecule3DRecord, ...] = ()
    # (i, j, n) for every pair of proteins i < j: n residue pairs with heavy atoms within the
    # reader's contact distance (0: the two chains do not touch in this structure).
    contacts: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class Rejection:
    """A source record that could not be read into a record, and why."""

    provenance: Provenance
    reason: str


_PARTICULARS = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d+(?:\.\d+)?\b")


def reason_group(reason: str) -> str:
    """A rejection reason without its particulars (quoted values, numbers), so that reasons from
    many records can be counted together."""
    return " ".join(_PARTICULARS.sub("_", reason).split())[:120]
