"""Readers of 3D molecules on real files: QM9's DFT geometries and PDB components' ideal coordinates."""

from __future__ import annotations

import itertools

import numpy as np

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_ccd
from biomatrix_io.readers.molecules_3d import read_qm9_3d
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


def test_qm9_rejects_a_geometry_without_valid_bonds():
    # QM9 44763, a strained bicycle: the geometry's covalent contacts give an impossible valence.
    reads = [r for r in read_qm9_3d(packaged.qm9_csvs()[1]) if r.provenance.record_id == "qm9:44763"]
    assert isinstance(reads[0], Rejection) and "bonds cannot be derived from the geometry" in reads[0].reason


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
