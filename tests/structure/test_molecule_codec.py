"""Encode -> decode on real molecules, with the released checkpoint and with ours."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from megatron_bio.structure.geometry import kabsch_rmsd
from megatron_bio.structure.molecule import MoleculeStructureTokenizer
from megatron_bio.structure.molecule.train import RELEASED_CHECKPOINT
from megatron_bio.structure.molecule.vqvae import LEGACY_PREFIXES, load_released


def _rmsds(tokenizer, records):
    encoded = tokenizer.encode_many([r.mol for r in records])
    assert all(not isinstance(e, Exception) for e in encoded), [e for e in encoded if isinstance(e, Exception)][:3]
    decoded = tokenizer.decode_many([e.tokens for e in encoded])
    return np.array([kabsch_rmsd(e.coordinates, d.GetConformer().GetPositions()) for e, d in zip(encoded, decoded)])


def test_released_checkpoint_is_the_release_and_loads_weights_only():
    assert hashlib.sha256(RELEASED_CHECKPOINT.read_bytes()).hexdigest() == (
        "22e66bd72c08c7bc98f964050dc8f9a8045cd4c29d568ccfd07fd06efdb7ffc6"
    )
    state = torch.load(RELEASED_CHECKPOINT, map_location="cpu", weights_only=True)
    model = load_released(RELEASED_CHECKPOINT)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert {k for k in state if k not in model.state_dict()} and all(
        k.startswith(LEGACY_PREFIXES) for k in state if k not in model.state_dict()
    )


def test_released_tokens_follow_the_reference_pipeline(released, qm9_test):
    """Open loop with the released model: atom 0's fixed descriptor always gets code 3, non-atom
    symbols get -1, and the same input gives the same tokens."""
    first = released.encode_many([r.mol for r in qm9_test])
    again = released.encode_many([r.mol for r in qm9_test])
    assert [e.tokens for e in first] == [e.tokens for e in again]
    for e in first:
        assert e.atom_codes[0] == 3
        atom = np.zeros(len(e.codes), bool)
        atom[e.layout.atom_symbols] = True
        codes = np.array(e.codes)
        assert (codes[~atom] == -1).all() and (codes[atom] >= 0).all()
        assert all("Branch" not in e.layout.symbols[k] and "Ring" not in e.layout.symbols[k] for k in e.layout.atom_symbols)


def test_released_reconstructs_qm9_like_the_release(released, qm9_test):
    """The compat note measured a median all-atom RMSD of 0.136 A (decoded without MMFF) on QM9;
    the same model on our descriptors must land there, which it cannot with any descriptor wrong."""
    rmsd = _rmsds(released, qm9_test)
    assert np.median(rmsd) < 0.25 and rmsd.max() < 2.0


QM9_ELEMENTS = {"H", "C", "N", "O", "F"}


def test_ours_closed_loop_reconstructs_qm9_and_pdb_components(ours, qm9_test, ccd):
    """Ours stays within a fraction of a bond length (C-H 1.09 A): QM9 held out from training, and
    PDB components of QM9's elements (the only ones ours was trained on) up to ~100 atoms, where
    errors would accumulate if the closed loop did not correct them."""
    qm9 = _rmsds(ours, qm9_test)
    in_domain = [r for r in ccd if {a.GetSymbol() for a in r.mol.GetAtoms()} <= QM9_ELEMENTS]
    assert len(in_domain) >= 20
    components = _rmsds(ours, in_domain)
    assert np.median(qm9) < 0.1 and qm9.max() < 0.4
    assert np.median(components) < 0.2 and components.max() < 0.8


def test_released_reconstructs_pdb_components(released, ccd):
    """Every element, open loop: errors accumulate along the walk of these larger molecules."""
    rmsd = _rmsds(released, ccd)
    assert np.median(rmsd) < 0.6


def test_closed_loop_beats_open_loop_on_the_same_model(released, qm9_test):
    closed = MoleculeStructureTokenizer(released.model, closed_loop=True)
    assert _rmsds(closed, qm9_test).mean() < _rmsds(released, qm9_test).mean()


def test_decode_with_mmff_refinement(released, qm9_test):
    encoded = released.encode(qm9_test[0].mol)
    mol = released.decode(encoded.tokens, refine=True)
    assert mol.GetProp("refinement") == "mmff"
    assert mol.GetNumAtoms() == qm9_test[0].mol.GetNumAtoms()
    assert kabsch_rmsd(encoded.coordinates, mol.GetConformer().GetPositions()) < 0.5


@pytest.mark.parametrize("smiles", ["N#N", "C#C", "C#CC#C", "[H]C#N", "O=C=O", "[Xe]"])
def test_small_linear_and_disconnected_molecules(ours, smiles):
    """The released pipeline cannot encode molecules under 5 atoms and gives NaN on collinear frames.
    Here they encode and decode to finite, recognisable geometries (linear triatomics such as CO2 are
    rare in QM9, so their 1-3 distance is coarsely coded: up to ~0.5 A)."""
    from megatron_bio.structure.molecule.conformers import generate_conformer

    mol = generate_conformer(smiles) if smiles != "[Xe]" else _single_atom()
    encoded = ours.encode(mol)
    decoded = ours.decode(encoded.tokens)
    xyz = decoded.GetConformer().GetPositions()
    assert np.isfinite(xyz).all()
    assert kabsch_rmsd(encoded.coordinates, xyz) < 0.6


def _single_atom():
    from biomatrix_io.readers.molecules_3d import molecule_from_xyz

    return molecule_from_xyz(["Xe"], np.zeros((1, 3)))


def test_disconnected_molecules_are_rejected(released):
    from megatron_bio.structure.molecule.conformers import generate_conformer

    with pytest.raises(Exception, match="disconnected"):
        released.encode(generate_conformer("CC(=O)[O-].[Na+]"), where="salt")
