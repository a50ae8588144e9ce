"""Readers of 3D molecules on real files: QM9's DFT geometries and PDB components' ideal coordinates."""

from __future__ import annotations

import ast
import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdDetermineBonds

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_ccd
from biomatrix_io.readers.molecules_3d import molecule_from_xyz, read_qm9_3d
from biomatrix_io.records import Molecule3DRecord, Rejection


def _bond_lengths(mol) -> np.ndarray:
    xyz = mol.GetConformer().GetPositions()
    return np.array([np.linalg.norm(xyz[b.GetBeginAtomIdx()] - xyz[b.GetEndAtomIdx()]) for b in mol.GetBonds()])


def test_qm9_geometries_become_molecules_with_their_source_order():
    reads = list(itertools.islice(read_qm9_3d(packaged.qm9_csvs()[0]), 200))
    records = [r for r in reads if isinstance(r, Molecule3DRecord)]
    assert len(records) > 190 and all(isinstance(r, (Molecule3DRecord, Rejection)) for r in reads)
    methane = records[0]
    assert methane.provenance.record_id == "qm9:1" and [a.GetSymbol() for a in methane.mol.GetAtoms()] == ["C", "H", "H", "H", "H"]
    for record in records:
        lengths = _bond_lengths(record.mol)
        assert ((lengths > 0.9) & (lengths < 1.8)).all()


# Real QM9 rows whose geometry alone gives no valid molecule (RDKit's xyz2mol, what the reader used
# before), read now with bonds from QM9's own SMILES. Index -> what defeats xyz2mol.
XYZ2MOL_REJECTED = {
    105: "bicyclo[1.1.1]pentane: the bridgeheads 1.9 A apart",
    106: "an oxa-bicyclo[1.1.1]pentane",
    320: "an aza-bicyclo[1.1.1]pentane with a bridgehead alcohol",
    2005: "a bicyclopentane nitrile",
    3536: "a tricyclic cage with a double bond",
    24186: "a fused tricycle with an amidine",
    33722: "a bicyclopentane dinitrile",
    44763: "a strained oxa-bicycle with a ketone and a nitrile",
    8398: "a zwitterion (carboxylate, ammonium) on a cage",
    17809: "a zwitterion with a bridgehead ammonium",
    81578: "a zwitterion: amino acid on a bicyclopentane",
}
# A real row whose DFT geometry is another isomer than its SMILES (and InChI): rearranged in relaxation.
GEOMETRY_NOT_ITS_SMILES = 133857


def _qm9_table(tmp_path: Path, rows: list[list[str]], header: list[str]) -> Path:
    path = tmp_path / "qm9.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


@pytest.fixture(scope="module")
def qm9_rows() -> tuple[list[str], dict[int, list[str]]]:
    """The QM9 header and the rows of `XYZ2MOL_REJECTED`, straight from the installed CSV files
    (a row is one line; its first field names the XYZ file, hence the index)."""
    wanted = {f'"dsgdb9nsd_{index:06d}.xyz"': index for index in [*XYZ2MOL_REJECTED, GEOMETRY_NOT_ITS_SMILES]}
    rows: dict[int, list[str]] = {}
    for path in packaged.qm9_csvs():
        with open(path, encoding="utf-8") as handle:
            header = next(csv.reader([next(handle)]))
            for line in handle:
                if line[:22] in wanted:
                    rows[wanted[line[:22]]] = next(csv.reader([line]))
    assert len(rows) == len(wanted)
    return header, rows


def test_qm9_molecules_xyz2mol_rejected_get_their_smiles_bonds(qm9_rows, tmp_path):
    header, rows = qm9_rows
    column = {name: header.index(name) for name in ("Index", "SMILES", "Elements", "XYZ_Ang")}
    reads = list(read_qm9_3d(_qm9_table(tmp_path, [rows[i] for i in XYZ2MOL_REJECTED], header)))
    assert [r.provenance.record_id for r in reads] == [f"qm9:{i}" for i in XYZ2MOL_REJECTED]
    for read, row in zip(reads, [rows[i] for i in XYZ2MOL_REJECTED]):
        elements = ast.literal_eval(row[column["Elements"]])
        xyz = np.array(ast.literal_eval(row[column["XYZ_Ang"]]), dtype=float)  # "0." is a Python float
        with pytest.raises(Exception):  # the premise: the geometry alone gives no valid molecule
            rdDetermineBonds.DetermineBonds(molecule_from_xyz(elements, xyz), charge=0)
        assert isinstance(read, Molecule3DRecord), (row[column["Index"]], getattr(read, "reason", None))
        mol = read.mol
        assert [a.GetSymbol() for a in mol.GetAtoms()] == elements  # the file's atom order
        assert np.array_equal(mol.GetConformer().GetPositions(), xyz)  # the DFT coordinates, untouched
        template = Chem.AddHs(Chem.MolFromSmiles(row[column["SMILES"]]))
        assert Chem.MolToSmiles(mol, isomericSmiles=False) == Chem.MolToSmiles(template, isomericSmiles=False)
        assert sum(a.GetFormalCharge() for a in mol.GetAtoms()) == 0
        assert ((_bond_lengths(mol) > 0.9) & (_bond_lengths(mol) < 1.9)).all()


def test_qm9_rows_whose_smiles_is_not_the_geometry_are_rejected(qm9_rows, tmp_path):
    header, rows = qm9_rows
    smiles = header.index("SMILES")
    cases = [  # (QM9 index, its SMILES replaced by, the reason it must give); None keeps the file's
        (105, None, None),
        (GEOMETRY_NOT_ITS_SMILES, None, "geometry connectivity does not match the SMILES graph at any covalent factor"),
        (44763, "O=C1CC2CC1(O2)[N+]#[C-]", "geometry connectivity does not match the SMILES graph"),  # the isonitrile isomer
        (44763, "O=C1CC2CC1(O2)C#C", "SMILES atoms differ from the geometry's: C7H6O2 vs C6H5NO2"),
        (8398, "[O-]C(=O)C12CC(C1)[NH2+", "SMILES does not parse"),
        (8398, None, None),
    ]
    table = []
    for index, replacement, _ in cases:
        table.append(list(rows[index]))
        table[-1][smiles] = replacement or table[-1][smiles]
    reads = list(read_qm9_3d(_qm9_table(tmp_path, table, header)))
    assert [r.provenance.record_id for r in reads] == [f"qm9:{index}" for index, _, _ in cases]  # in = out + rejected
    for read, (index, _, reason) in zip(reads, cases):
        if reason is None:
            assert isinstance(read, Molecule3DRecord)
        else:
            assert isinstance(read, Rejection) and read.reason.startswith(reason), (index, read)


def test_ccd_ideal_coordinates():
    reads = list(itertools.islice(read_ccd(packaged.ccd_bcif(), with_ideal_coordinates=True), 300))
    records = [r for r in reads if isinstance(r, Molecule3DRecord)]
    rejected = [r for r in reads if isinstance(r, Rejection)]
    assert len(records) + len(rejected) == 300 and len(records) > 250
    assert all(r.reason and r.provenance.record_id for r in rejected)
    for record in records[:100]:
        assert record.mol.GetNumConformers() == 1
        assert all(a.GetTotalNumHs() == 0 for a in record.mol.GetAtoms())  # every hydrogen is an atom
        assert ((_bond_lengths(record.mol) > 0.8) & (_bond_lengths(record.mol) < 3.0)).all()
