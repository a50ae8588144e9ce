"""Records every reader yields: the payload plus where it came from, so a rejected record can be
named (file, line or offset, id) and counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


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
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Molecule3DRecord:
    """A molecule with explicit hydrogens and one 3D conformer (an RDKit `Mol`), atoms in source order."""

    provenance: Provenance
    mol: object
    name: Optional[str] = None
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProteinRecord:
    provenance: Provenance
    sequence: str
    description: Optional[str] = None


@dataclass(frozen=True)
class Rejection:
    """A source record that could not be read into a record, and why."""

    provenance: Provenance
    reason: str
