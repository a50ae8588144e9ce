"""Readers of molecules WITH 3D coordinates: QM9's DFT geometries and SDF files (the PDB chemical
components' ideal coordinates come from `read_ccd(..., with_ideal_coordinates=True)`). Each yields `Molecule3DRecord`s (an RDKit molecule with explicit
hydrogens and one conformer, atoms in the source file's order) or `Rejection`s with the reason.

The source atom order is kept on purpose: canonical ranking breaks ties between graph-equivalent
atoms (a methyl's hydrogens) by input index, so the structure tokens depend on it.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from biomatrix_io.files import first_line, open_text
from biomatrix_io.readers.molecules import element_symbols
from biomatrix_io.readers.sdf import sdf_molecules
from biomatrix_io.records import Molecule3DRecord, Provenance, Rejection

Read3D = Union[Molecule3DRecord, Rejection]

_BARE_DECIMAL = re.compile(r"\.(?=[,\]])")  # QM9 writes some zeros as "0." (Mathematica style)


def molecule_from_xyz(elements: list[str], coordinates: np.ndarray):
    """An RDKit molecule with the given atoms and one conformer, no bonds yet."""
    from rdkit import Chem

    mol = Chem.RWMol()
    conformer = Chem.Conformer(len(elements))
    for index, (element, xyz) in enumerate(zip(elements, coordinates)):
        atom = Chem.Atom(element)
        atom.SetNoImplicit(True)
        mol.AddAtom(atom)
        conformer.SetAtomPosition(index, [float(c) for c in xyz])
    mol.AddConformer(conformer, assignId=True)
    return mol.GetMol()


_QM9_COLUMNS = ("Index", "SMILES", "Elements", "XYZ_Ang")
# QM9 property columns -> record property keys (the unit in the key; values as the file has them)
_QM9_PROPERTIES = {
    "Dipole_debye": "mu_debye",
    "Polarizability_bohr3": "alpha_bohr3",
    "HOMO_au": "homo_hartree",
    "LUMO_au": "lumo_hartree",
    "HOMO_LUMO_gap_au": "gap_hartree",
    "Heatcapacity_Cv_cal_mol_K": "cv_cal_per_mol_k",
}


def _qm9_properties(row: dict) -> dict[str, float] | str:
    """The DFT properties of a row whose file has their columns, or why one cannot be read."""
    properties = {}
    for column, key in _QM9_PROPERTIES.items():
        if column not in row:
            continue
        try:
            properties[key] = float(row[column] or "")
        except ValueError:
            return f"property {column} {str(row[column])[:20]!r} is not a number"
        if not math.isfinite(properties[key]):
            return f"property {column} is not a finite number"
    return properties


def read_qm9_3d(path: str | Path) -> Iterator[Read3D]:
    """QM9 rows (qm9pack CSV) as molecules: bonds and bond orders are derived from the DFT geometry
    (RDKit's xyz2mol, neutral charge), as the coordinates are the ground truth. Every data row is a
    record or a rejection (a short row, an unknown element, coordinates that are not an atoms x 3
    array of numbers, a geometry without valid bonds); a table without the QM9 columns is one."""
    from rdkit import RDLogger
    from rdkit.Chem import rdDetermineBonds

    RDLogger.DisableLog("rdApp.*")
    path = Path(path)
    with open_text(path) as handle:
        table = csv.DictReader(handle)
        missing = [c for c in _QM9_COLUMNS if c not in (table.fieldnames or [])]
        if missing:
            yield Rejection(Provenance(str(path), "file", path.name), f"no column {missing} (columns: {str(table.fieldnames)[:200]})")
            return
        for row in table:
            line = table.line_num  # where the row ends: a quoted field may span lines
            index = (row["Index"] or "").strip()
            provenance = Provenance(str(path), f"line {line}", f"qm9:{index}" if index else f"{path.name}:{line}")
            absent = [c for c in _QM9_COLUMNS if row[c] is None]
            if absent:
                yield Rejection(provenance, f"short row: no field {absent}")
                continue
            elements = row["Elements"].strip("[]").replace("'", "").split(",")
            unknown = [e for e in elements if e not in element_symbols()]
            if unknown:
                yield Rejection(provenance, f"unknown element {unknown[0][:10]!r}")
                continue
            try:
                coordinates = np.asarray(json.loads(_BARE_DECIMAL.sub(".0", row["XYZ_Ang"])), dtype=float)
            except (ValueError, TypeError, RecursionError) as error:  # not JSON, not numbers, nested too deep
                yield Rejection(provenance, f"unreadable XYZ: {first_line(error)[:120]}")
                continue
            if coordinates.shape != (len(elements), 3):
                yield Rejection(provenance, f"{len(elements)} elements but coordinates of shape {coordinates.shape}")
                continue
            if not np.isfinite(coordinates).all():
                yield Rejection(provenance, "coordinates that are not finite numbers")
                continue
            mol = molecule_from_xyz(elements, coordinates)
            try:
                rdDetermineBonds.DetermineBonds(mol, charge=0)
            except Exception as error:  # RDKit raises ValueError or RuntimeError, by version
                yield Rejection(provenance, "bonds cannot be derived from the geometry: " + first_line(error))
                continue
            properties = _qm9_properties(row)
            if isinstance(properties, str):
                yield Rejection(provenance, properties)
                continue
            yield Molecule3DRecord(provenance, mol, properties={"smiles": row["SMILES"], **properties})


def read_sdf(path: str | Path) -> Iterator[Read3D]:
    """SDF records with 3D coordinates (optionally gzipped), hydrogens as the file has them and
    implicit ones added with coordinates. Each record is one entry (`sdf_molecules`): a record, or
    a rejection when it is not UTF-8, RDKit cannot read it, or it has no 3D coordinates."""
    from rdkit import Chem

    for item in sdf_molecules(Path(path), remove_hs=False):
        if isinstance(item, Rejection):
            yield item
            continue
        provenance, mol = item
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        if name:
            provenance = Provenance(provenance.path, provenance.location, name)
        if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
            yield Rejection(provenance, "no 3D coordinates")
            continue
        yield Molecule3DRecord(provenance, Chem.AddHs(mol, addCoords=True), name or None)
