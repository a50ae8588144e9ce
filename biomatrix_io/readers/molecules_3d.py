"""Readers of molecules WITH 3D coordinates: QM9's DFT geometries and SDF files (the PDB chemical
components' ideal coordinates come from `read_ccd(..., with_ideal_coordinates=True)`). Each yields `Molecule3DRecord`s (an RDKit molecule with explicit
hydrogens and one conformer, atoms in the source file's order) or `Rejection`s with the reason.

The source atom order is kept on purpose: canonical ranking breaks ties between graph-equivalent
atoms (a methyl's hydrogens) by input index, so the structure tokens depend on it.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from biomatrix_io.files import first_line, open_text
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


def read_qm9_3d(path: str | Path) -> Iterator[Read3D]:
    """QM9 rows (qm9pack CSV) as molecules: bonds and bond orders are derived from the DFT geometry
    (RDKit's xyz2mol, neutral charge), as the coordinates are the ground truth."""
    from rdkit import RDLogger
    from rdkit.Chem import rdDetermineBonds

    RDLogger.DisableLog("rdApp.*")
    path = Path(path)
    with open_text(path) as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            provenance = Provenance(str(path), f"line {row_number}", f"qm9:{row['Index']}")
            try:
                elements = row["Elements"].strip("[]").replace("'", "").split(",")
                coordinates = np.asarray(json.loads(_BARE_DECIMAL.sub(".0", row["XYZ_Ang"])), dtype=float)
            except (KeyError, ValueError) as error:
                yield Rejection(provenance, f"unreadable XYZ: {error}")
                continue
            if coordinates.shape != (len(elements), 3):
                yield Rejection(provenance, f"{len(elements)} elements but coordinates of shape {coordinates.shape}")
                continue
            mol = molecule_from_xyz(elements, coordinates)
            try:
                rdDetermineBonds.DetermineBonds(mol, charge=0)
            except Exception as error:  # RDKit raises ValueError or RuntimeError, by version
                yield Rejection(provenance, "bonds cannot be derived from the geometry: " + first_line(error))
                continue
            yield Molecule3DRecord(provenance, mol, properties={"smiles": row["SMILES"]})


def read_sdf(path: str | Path) -> Iterator[Read3D]:
    """SDF records with 3D coordinates; implicit hydrogens are added with coordinates."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    path = Path(path)
    supplier = Chem.ForwardSDMolSupplier(str(path), removeHs=False, sanitize=True)
    for index, mol in enumerate(supplier):
        provenance = Provenance(str(path), f"record {index + 1}", f"{path.name}:{index + 1}")
        if mol is None:
            yield Rejection(provenance, "RDKit cannot parse the record")
            continue
        name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        if name:
            provenance = Provenance(provenance.path, provenance.location, name)
        if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
            yield Rejection(provenance, "no 3D coordinates")
            continue
        yield Molecule3DRecord(provenance, Chem.AddHs(mol, addCoords=True), name or None)

