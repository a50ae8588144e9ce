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


# How a geometry's covalent contacts become a bond graph, tried in order until the graph is the
# SMILES's. First RDKit's connect-the-dots rule (what xyz2mol uses: it gives QM9's graph for 94.8% of
# the molecules), then covalent radii scaled by a factor (RDKit's van der Waals rule): narrower
# factors first, as strained cages bring non-bonded atoms within connect-the-dots' reach (1.3 to 1.15
# read the rest of QM9, 1.1 one molecule), then wider ones for long bonds it would miss (none in QM9).
# Which rule matched does not change the result: the graph is the SMILES's.
CONNECTIVITY_RULES: tuple[dict, ...] = (
    {},
    *({"useVdw": True, "covFactor": factor} for factor in (1.3, 1.25, 1.2, 1.15, 1.1, 1.35, 1.4, 1.45)),
)


def smiles_template(smiles: str):
    """A SMILES as a molecule with every hydrogen an atom (a QM9 geometry lists them all), or None
    when RDKit cannot read it or it is empty."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return Chem.AddHs(mol) if mol is not None and mol.GetNumAtoms() else None


def _skeleton(mol):
    """The element-labelled graph alone: every bond single, no charges, radicals or aromaticity."""
    from rdkit import Chem

    skeleton = Chem.RWMol(mol)
    for bond in skeleton.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    for atom in skeleton.GetAtoms():
        atom.SetFormalCharge(0)
        atom.SetNumRadicalElectrons(0)
        atom.SetIsAromatic(False)
    return skeleton.GetMol()


def geometry_graph(mol, template) -> tuple[object, dict] | None:
    """The geometry's bonds (all single) under the first of `CONNECTIVITY_RULES` whose graph is the
    template's, with that rule; None when none is. The template has the same atoms (checked by the
    caller), so a substructure match with as many bonds is an isomorphism of the element-labelled graphs."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    pattern = _skeleton(template)
    for rule in CONNECTIVITY_RULES:
        graph = Chem.Mol(mol)
        rdDetermineBonds.DetermineConnectivity(graph, **rule)
        if graph.GetNumBonds() == pattern.GetNumBonds() and graph.HasSubstructMatch(pattern):
            return graph, rule
    return None


def bonds_from_smiles(mol, smiles: str):
    """`mol` (atoms and conformer, no bonds: `molecule_from_xyz`) with the bonds of the geometry and
    the bond orders and charges of the SMILES, atoms and coordinates untouched; or why not.

    The geometry decides which atoms are bonded, the SMILES (the dataset's own chemistry) how: RDKit's
    `AssignBondOrdersFromTemplate` over a template whose hydrogens are atoms, as the geometry's are
    (with implicit ones, an aromatic [nH] would get its hydrogen twice, which RDKit rejects). As the
    two graphs are checked isomorphic first, the result is the SMILES's molecule; stereo tags then
    come from the 3D coordinates, as xyz2mol sets them."""
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    if not (smiles.isascii() and smiles.isprintable()):  # SMILES are; undecodable bytes never reach RDKit
        return f"SMILES is not printable ASCII (bytes that are not UTF-8?): {smiles[:80]!r}"
    template = smiles_template(smiles)
    if template is None:
        return f"SMILES does not parse: {smiles[:80]!r}"
    formulas = CalcMolFormula(template), CalcMolFormula(mol)
    if formulas[0] != formulas[1]:
        return f"SMILES atoms differ from the geometry's: {formulas[0]} vs {formulas[1]}"
    found = geometry_graph(mol, template)
    if found is None:
        return "geometry connectivity does not match the SMILES graph at any covalent factor"
    try:
        bonded = AllChem.AssignBondOrdersFromTemplate(template, found[0])
        Chem.SanitizeMol(bonded)
    except Exception as error:  # RDKit raises ValueError or its own sanitization errors
        return "template assignment failed: " + first_line(error)
    Chem.AssignStereochemistryFrom3D(bonded)
    return bonded


def read_qm9_3d(path: str | Path) -> Iterator[Read3D]:
    """QM9 rows (qm9pack CSV) as molecules: the DFT geometry is the ground truth for the atoms, their
    order and coordinates, and which atoms are bonded; the row's SMILES gives the bond orders and
    charges (`bonds_from_smiles`). Every data row is a record or a rejection (a short row, an unknown
    element, coordinates that are not an atoms x 3 array of numbers, a SMILES that does not parse or
    whose graph is not the geometry's); a table without the QM9 columns is one.

    Why the SMILES is the only path, not a second one after xyz2mol (the geometry alone, which this
    reader used before): xyz2mol must guess bond orders and charges from contacts and rejected 6,810
    of QM9's 130,831 molecules (strained cages: 6,571 bridged, all 6,810 with a 3- or 4-membered
    ring, whose non-bonded atoms sit within connect-the-dots' reach; 18 zwitterions); the SMILES is the
    dataset's own chemistry, and reads all but 2 molecules. Those 2 (qm9:133857, qm9:133859) are
    rows whose DFT geometry is another constitutional isomer than the row's SMILES and InChI (the
    structure rearranged during relaxation): xyz2mol accepted them, but their record would carry a
    SMILES that is not its geometry. Of the 124,019 molecules both read, 123,505 keep the same
    structure tokens; 294 put a carboxylate's or nitro group's charge on the other, equivalent oxygen
    (same molecule), and 220 are another resonance structure (104 neutral under xyz2mol, zwitterions
    in QM9's SMILES; 116 zwitterions with the charges elsewhere). Figures: benchmarks/RESULTS.md,
    "QM9 3D reader: bonds from QM9's SMILES"."""
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    for item in qm9_rows(path):
        if isinstance(item, Rejection):
            yield item
            continue
        provenance, row = item
        mol = qm9_atoms(row)
        if not isinstance(mol, str):
            mol = bonds_from_smiles(mol, row["SMILES"])
        if isinstance(mol, str):
            yield Rejection(provenance, mol)
            continue
        properties = _qm9_properties(row)
        if isinstance(properties, str):
            yield Rejection(provenance, properties)
            continue
        yield Molecule3DRecord(provenance, mol, properties={"smiles": row["SMILES"], **properties})


def qm9_rows(path: str | Path) -> Iterator[tuple[Provenance, dict] | Rejection]:
    """The data rows of a QM9 table with where each comes from; a short row, or a table without the
    QM9 columns, is a rejection."""
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
            yield provenance, row


def qm9_atoms(row: dict):
    """A QM9 row's atoms with their DFT coordinates, in the file's order, no bonds yet
    (`molecule_from_xyz`); or why not (an unknown element, coordinates that are not an atoms x 3
    array of finite numbers)."""
    elements = row["Elements"].strip("[]").replace("'", "").split(",")
    unknown = [e for e in elements if e not in element_symbols()]
    if unknown:
        return f"unknown element {unknown[0][:10]!r}"
    try:
        coordinates = np.asarray(json.loads(_BARE_DECIMAL.sub(".0", row["XYZ_Ang"])), dtype=float)
    except (ValueError, TypeError, RecursionError) as error:  # not JSON, not numbers, nested too deep
        return f"unreadable XYZ: {first_line(error)[:120]}"
    if coordinates.shape != (len(elements), 3):
        return f"{len(elements)} elements but coordinates of shape {coordinates.shape}"
    if not np.isfinite(coordinates).all():
        return "coordinates that are not finite numbers"
    return molecule_from_xyz(elements, coordinates)


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
