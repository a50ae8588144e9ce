"""Structure metrics on real inputs: a PDB chain (Debian theseus-examples) through the default
protein structure tokenizer, and QM9 molecules (qm9pack) through the released molecule-3D
tokenizer or straight from their DFT coordinates. Expected values are worked out by hand in the
comments."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from biomatrix_io.config import ConfigError
from biomatrix_io.readers import packaged
from biomatrix_io.readers.chains import read_chains
from biomatrix_io.readers.molecules_3d import read_qm9_3d
from evals.metrics import structures as S
from evals.metrics.registry import DISTRIBUTION, PAIRS
from megatron_bio.structure.geometry import random_rigid_motion
from megatron_bio.structure.protein.backbone import write_backbone
from megatron_bio.structure.protein.codec import structure_tokens

THESEUS = "/usr/share/doc/theseus/examples"
CHAIN_FILE = f"{THESEUS}/1s40.pdb.gz"  # chain A: 187 residues, every N/CA/C present; chain B: DNA


def find(key: str):
    """This module's entry by `name` (its default) or `name:variant`."""
    name, _, variant = key.partition(":")
    (metric,) = [m for m in S.METRICS if m.name == name and (m.variant == variant if variant else m.default)]
    return metric


TM = find("protein_tm_score")
TM_DPLM2 = find("protein_tm_score:dplm2_compat")
RMSD = find("protein_rmsd")
AAR = find("protein_aar")


@pytest.fixture(scope="module")
def chain():
    (record,) = [r for r in read_chains(CHAIN_FILE) if hasattr(r, "backbone")]
    return record.sequence, np.asarray(record.backbone, dtype=np.float64)


@pytest.fixture(scope="module")
def codes(chain):
    return S.protein_codec("torsion").encode(chain[1])


@pytest.fixture(scope="module")
def qm9():
    """The first 30 QM9 molecules by index: qm9:1 is methane, qm9:3 water, qm9:6 formaldehyde."""
    return {r.provenance.record_id: r for r in itertools.islice(read_qm9_3d(packaged.qm9_csvs()[0]), 30)}


def _tokens(qm9, *ids: str) -> list[str]:
    return [S.molecule_codec("released").encode(qm9[i].mol).tokens for i in ids]


# Protein structure ------------------------------------------------------------------------------
def test_identical_structures_score_tm_1_and_rmsd_0(codes, chain, tmp_path):
    tokens = structure_tokens(codes)
    for metric in (TM, TM_DPLM2):
        assert metric.score([tokens], [[tokens]])["value"] == pytest.approx(1.0)
    assert RMSD.score([tokens], [[tokens]])["value"] == pytest.approx(0.0, abs=1e-6)
    # The same backbone as a real file reference (PDB keeps 3 decimals: RMSD ~ 1e-3 A at most).
    written = write_backbone(S.protein_codec("torsion").decode(codes), chain[0], tmp_path / "decoded.pdb")
    assert TM.score([tokens], [[f"{written}:A"]])["value"] == pytest.approx(1.0, abs=1e-3)
    assert RMSD.score([tokens], [[str(written)]])["value"] < 2e-3


def test_a_rigid_motion_of_the_reference_leaves_the_scores_unchanged(codes, chain, tmp_path):
    sequence, backbone = chain
    rotation, shift = random_rigid_motion(np.random.default_rng(7))
    here = write_backbone(backbone, sequence, tmp_path / "here.pdb")
    moved = write_backbone(backbone @ rotation.T + shift, sequence, tmp_path / "moved.pdb")
    tokens = structure_tokens(codes)
    for metric in (TM, TM_DPLM2, RMSD):
        before, after = (metric.score([tokens], [[str(path)]])["value"] for path in (here, moved))
        assert after == pytest.approx(before, abs=1e-3)
    # Against the original file, the torsion tokenizer's reconstruction (TM 0.993 on held-out chains).
    assert TM.score([tokens], [[f"{CHAIN_FILE}:A"]])["value"] > 0.95


def test_a_known_perturbation_gives_the_rmsd_worked_out_by_hand(chain):
    """Half the atoms move by delta along u, the other half by -delta, where u is parallel to
    v = sum(first half) - sum(second half) (centred coordinates). The centroid stays; A^T B =
    A^T A + delta |v| u u^T is symmetric positive semi-definite, so the best rotation is the identity
    and the RMSD is sqrt(sum |d|^2 / N) = delta exactly."""
    atoms = chain[1][:186].reshape(-1, 3)  # 558 atoms: an even count
    centred = atoms - atoms.mean(axis=0)
    sign = np.where(np.arange(len(atoms)) < len(atoms) // 2, 1.0, -1.0)
    u = (sign[:, None] * centred).sum(axis=0)
    u /= np.linalg.norm(u)
    delta = 0.5
    reference, model = atoms.reshape(-1, 3, 3), (atoms + delta * sign[:, None] * u).reshape(-1, 3, 3)
    assert S.backbone_rmsd(model, reference) == (pytest.approx(delta, abs=1e-9), None)


def test_rmsd_and_tm_leave_out_residues_without_a_reference_ca(chain):
    """DPLM-2's mask: a residue whose reference CA is missing does not count, however far the
    prediction puts it."""
    backbone = chain[1]
    reference = backbone.copy()
    reference[10, S.CA] = np.nan
    model = backbone.copy()
    model[10] += 25.0
    assert S.backbone_rmsd(model, reference)[0] == pytest.approx(0.0, abs=1e-6)
    assert S.tm_standard(model, reference)[0] == pytest.approx(1.0)
    assert S.backbone_rmsd(model, backbone)[0] > 1.0  # with the CA present, residue 10 counts


def test_dplm2_compat_reads_only_the_first_third_of_the_chain(codes):
    """tmtools reads the first L rows of the (3L, 3) N/CA/C atoms: the first L/3 residues. Codes
    changed after residue L/3 + 1 move only atoms after those (NeRF decodes in chain order), so
    DPLM-2's TM stays exactly 1 while the CA TM-score sees the change."""
    third = len(codes) // 3 + 1
    changed = codes.copy()
    changed[third:] = (changed[third:] + 2048) % 4096
    prediction, reference = structure_tokens(changed), structure_tokens(codes)
    assert TM_DPLM2.score([prediction], [[reference]])["value"] == pytest.approx(1.0)
    assert TM.score([prediction], [[reference]])["value"] < 0.8


def test_dplm2_compat_differs_from_the_standard_score_on_a_real_chain(chain):
    """On the greedy closed loop's codes (TM ~0.998: the default beam encoder's reconstruction is
    so close, 0.9988, that every definition tends to 1)."""
    tokens = structure_tokens(S.protein_codec("torsion-greedy").encode(chain[1]))
    standard = TM.score([tokens], [[CHAIN_FILE]])["value"]
    compat = TM_DPLM2.score([tokens], [[CHAIN_FILE]])["value"]
    assert abs(standard - compat) > 1e-3


def test_tm_is_normalized_by_the_reference_and_wrong_lengths_are_counted(codes):
    """The first half of the chain (93 of 187 residues) decodes to exactly the first 93 residues of
    the full chain, so TM-align pairs them at distance 0: TM normalized by the reference = 93/187,
    while normalized by the prediction it would be 1."""
    half, full = structure_tokens(codes[:93]), structure_tokens(codes)
    result = TM.score([half], [[full]])
    assert result["value"] == pytest.approx(93 / 187, abs=0.01)
    assert result["right_length_mean"] is None
    assert result["counts"]["length_mismatch"] == 1
    assert TM_DPLM2.score([half], [[full]])["value"] == 0.0  # DPLM-2 cannot pair unequal chains
    rmsd = RMSD.score([half, full], [[full], [full]])
    assert rmsd["value"] == pytest.approx(0.0, abs=1e-6)  # the right-length one only
    assert rmsd["counts"] == {"samples": 2, "scored": 1, "empty": 0, "invalid": 0, "length_mismatch": 1}


def test_unscorable_predictions_are_counted_never_dropped(codes):
    tokens = structure_tokens(codes)
    wrapped = f" <|prot_3d_start|>{tokens}<|prot_3d_end|>\n"
    predictions = [wrapped, "", "   ", "the structure is <S_1><S_2>", "<S_1><S_99999>", "<S_1><S_2>"]
    result = TM.score(predictions, [[tokens]] * 6)
    # (1 + 0 + 0 + 0 + 0 + 0) / 6: undecodable answers score 0, so does a chain too short for
    # TM-align (under 3 residues); the right-length mean is the wrapped one alone.
    assert result["value"] == pytest.approx(1 / 6)
    assert result["right_length_mean"] == pytest.approx(1.0)
    assert result["counts"] == {"samples": 6, "scored": 2, "empty": 2, "invalid": 2, "length_mismatch": 0,
                                "too_short": 1}


def test_the_best_of_several_references_is_kept(codes):
    tokens = structure_tokens(codes)
    other = structure_tokens((codes + 1000) % 4096)
    assert TM.score([tokens], [[other, tokens]])["value"] == pytest.approx(1.0)
    assert RMSD.score([tokens], [[other, tokens]])["value"] == pytest.approx(0.0, abs=1e-6)


def test_reference_files_resolve_chains_and_report_mistakes(codes, tmp_path):
    tokens = structure_tokens(codes)
    named = TM.score([tokens], [[f"{CHAIN_FILE}:A"]])["value"]
    assert TM.score([tokens], [[CHAIN_FILE]])["value"] == named  # the file's only protein chain
    relative = TM.score([tokens], [["1s40.pdb.gz:A"]], structure_root=THESEUS)["value"]
    assert relative == named
    with pytest.raises(ConfigError, match="nucleic acid"):
        TM.score([tokens], [[f"{CHAIN_FILE}:B"]])
    with pytest.raises(ConfigError, match="no chain 'C'"):
        TM.score([tokens], [[f"{CHAIN_FILE}:C"]])
    with pytest.raises(ConfigError, match="no such file"):
        TM.score([tokens], [[str(tmp_path / "absent.pdb:A")]])
    with pytest.raises(ConfigError, match="neither"):
        RMSD.score([tokens], [["MKV"]])


def test_a_predictions_file_with_a_relative_structure_reference(codes, tmp_path):
    from evals.predictions import score_file

    path = tmp_path / "folding.jsonl"
    lines = [{"prediction": structure_tokens(codes), "reference": "1s40.pdb.gz:A"},
             {"prediction": "", "references": ["1s40.pdb.gz"]}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    result = score_file(TM, path, structure_root=THESEUS)
    assert result["variant"] == "tmalign_ca" and result["comparable"]
    assert result["value"] == pytest.approx(TM.score([structure_tokens(codes)], [[CHAIN_FILE]])["value"] / 2)
    assert result["counts"]["empty"] == 1 and result["lines"]["rejected"] == 1


# Inverse folding --------------------------------------------------------------------------------
def test_amino_acid_recovery_by_hand(chain):
    sequence = chain[0]
    predictions = ["ACDF", "<A_A><A_C><A_D><A_E>", "<|prot_aa_start|>XC<|prot_aa_end|>", "MKV", "", "acde",
                   sequence[:-1] + ("A" if sequence[-1] != "A" else "C")]
    references = [["ACDE"], ["ACDE"], ["XA"], ["MKVL"], ["MKV"], ["ACDE"], [f"{CHAIN_FILE}:A"]]
    result = AAR.score(predictions, references)
    # Per protein: 3/4, 4/4, 1/2 (X equals X), wrong length 0, empty 0, lower case invalid 0, 186/187.
    per_protein = [0.75, 1.0, 0.5, 0.0, 0.0, 0.0, 186 / 187]
    assert result["value"] == pytest.approx(sum(per_protein) / 7)
    assert result["right_length_mean"] == pytest.approx((0.75 + 1.0 + 0.5 + 186 / 187) / 4)
    assert result["counts"] == {"samples": 7, "scored": 4, "empty": 1, "invalid": 1, "length_mismatch": 1}


# Protein stand-ins ------------------------------------------------------------------------------
def test_ca_geometry_by_hand():
    ca = np.array([[0.0, 0, 0], [3.8, 0, 0], [7.6, 0, 0], [0.5, 0, 0]])
    geometry = S.ca_geometry(ca)
    # Steps 3.8, 3.8, 7.1; |step - 3.80209737| averaged; 2 of 3 steps under 3.90209737; one pair
    # (atoms 0 and 3, 0.5 A apart) under 1 A.
    expected = (2 * abs(3.8 - S.CA_CA) + abs(7.1 - S.CA_CA)) / 3
    assert geometry == {"ca_ca_deviation": pytest.approx(expected), "ca_ca_valid": pytest.approx(2 / 3), "clashes": 1}


def test_backbone_geometry_stand_in_on_decoded_tokens(codes):
    metric = find("protein_sc_tm")
    assert not metric.comparable and metric.kind == DISTRIBUTION
    result = metric.score([structure_tokens(codes), "junk"])
    # The torsion decoder places ideal geometry: the real chain is clash-free; "junk" counts as a failure.
    assert result["value"] == pytest.approx(0.5)
    assert result["ca_ca_valid"] == pytest.approx(1.0)
    assert result["counts"] == {"samples": 2, "decoded": 1, "empty": 0, "invalid": 1}


def test_sequence_sanity_stand_in_by_hand():
    result = find("protein_plddt").score(["ACDEFGH", "AAAAAAA", "ACDZ", "", "<A_M><A_K>", "ACDEFGH"])
    # Standard: ACDEFGH, AAAAAAA, MK, ACDEFGH (4 of 6); 3 distinct of 4; distinct 3-mers 5/5, 1/5,
    # MK too short, 5/5 -> (1 + 0.2 + 1) / 3.
    assert result["value"] == pytest.approx(4 / 6)
    assert result["uniqueness"] == pytest.approx(3 / 4)
    assert result["distinct_3mers"] == pytest.approx(2.2 / 3)
    assert result["counts"] == {"samples": 6, "standard": 4, "empty": 1, "invalid": 0, "non_standard": 1}


# Molecules 3D -----------------------------------------------------------------------------------
def _xyz(elements, xyz) -> str:
    return f"{len(elements)}\n\n" + "\n".join(f"{e} {x:.6f} {y:.6f} {z:.6f}" for e, (x, y, z) in zip(elements, xyz))


def _methane(qm9, h_moved_by: float = 0.0) -> str:
    mol = qm9["qm9:1"].mol
    xyz = mol.GetConformer().GetPositions()
    xyz[-1] += h_moved_by
    return _xyz([a.GetSymbol() for a in mol.GetAtoms()], xyz)


def test_edm_stability_of_real_coordinates_by_hand(qm9):
    """Methane as QM9 gives it: C-H 1.09 A < 1.09 + 0.10, H-H 1.78 A > 0.74 + 0.10: C has 4 bonds,
    each H 1: all 5 atoms stable. One H moved 5 A away on each axis: it has no bond, C has 3: 3 of
    5 atoms stable, molecule unstable. With an empty and an unreadable answer: atoms 8/10, molecules
    1 of 4 samples."""
    good, broken = _methane(qm9), _methane(qm9, 5.0)
    result = find("molecule_3d_stability").score([good, broken, "", "not xyz"], notation="xyz")
    assert result["atom_stability"] == result["value"] == pytest.approx(8 / 10)
    assert result["molecule_stability"] == pytest.approx(1 / 4)
    assert result["counts"] == {"samples": 4, "atoms": 10, "empty": 1, "invalid": 1, "outside_qm9_elements": 0}


def test_edm_stability_has_no_table_outside_qm9_elements():
    # H2S: sulfur is not among QM9's five elements: unstable, its atoms unstable, counted.
    h2s = _xyz(["S", "H", "H"], [[0, 0, 0], [1.34, 0, 0], [-0.03, 1.34, 0]])
    result = find("molecule_3d_stability").score([h2s], notation="xyz")
    assert result["value"] == 0.0 and result["molecule_stability"] == 0.0
    assert result["counts"]["outside_qm9_elements"] == 1


def test_edm_stability_of_decoded_tokens_raw_and_after_mmff(qm9):
    raw, mmff = find("molecule_3d_stability:edm"), find("molecule_3d_stability:edm_mmff")
    good = _tokens(qm9, "qm9:1", "qm9:6")  # methane and formaldehyde decode to stable geometries
    wrapped = [f"<|mol_3d_start|>{t}<|mol_3d_end|>" for t in good]
    assert raw.score(wrapped) == raw.score(good)
    assert raw.score(good)["molecule_stability"] == 1.0 and raw.score(good)["value"] == 1.0
    # Water's open-loop tokens decode with a wrong O-H distance; one MMFF optimization repairs it.
    water = _tokens(qm9, "qm9:3")
    assert raw.score(water)["value"] < 1.0
    relaxed = mmff.score(water)
    assert relaxed["value"] == 1.0
    assert relaxed["counts"]["mmff_failed"] == relaxed["counts"]["mmff_not_applied"] == 0
    with pytest.raises(ConfigError, match="notation"):
        mmff.score([_methane(qm9)], notation="xyz")


def test_edm_validity_uniqueness_and_novelty_by_hand(qm9):
    """Bonds from distances, sanitized, largest fragment: methane twice, methane with an H pulled
    off (EDM's plain atoms take an implicit H: CH3 reads as methane with 3 explicit H, a different
    SMILES), and a carbon with five H at 1.09 A (valence 5: sanitization fails). Valid 3/4; distinct
    2 of 3; novel against methane's SMILES: 1 of 2."""
    pentavalent = _xyz(["C"] + ["H"] * 5, [[0, 0, 0], [0, 0, 1.09], [0, 0, -1.09], [1.09, 0, 0],
                                           [-0.545, 0.944, 0], [-0.545, -0.944, 0]])
    predictions = [_methane(qm9), _methane(qm9), _methane(qm9, 5.0), pentavalent]
    validity = find("molecule_3d_validity").score(predictions, notation="xyz")
    assert validity["value"] == pytest.approx(3 / 4)
    assert validity["counts"]["not_sanitizable"] == 1
    assert find("molecule_3d_uniqueness").score(predictions, notation="xyz")["value"] == pytest.approx(2 / 3)
    novelty = find("molecule_3d_novelty")
    assert novelty.needs == ("train",)
    result = novelty.score(predictions, ["C", "not a smiles ("], notation="xyz")
    assert result["value"] == pytest.approx(1 / 2)
    assert result["counts"]["train_unreadable"] == 1
    with pytest.raises(ConfigError, match="train"):
        novelty.score(predictions, None, notation="xyz")


# QM9 property stand-in --------------------------------------------------------------------------
def test_property_stand_in_predicts_held_out_molecules_better_than_their_mean(qm9):
    metric = find("qm9_property_mae")
    assert not metric.comparable and metric.kind == PAIRS
    held_out = [i for i in qm9 if not S.in_regressor_half(i.split(":")[1])]
    tokens = _tokens(qm9, *held_out)
    alpha = np.array([qm9[i].properties["alpha_bohr3"] for i in held_out])  # bohr^3, EDM's unit
    result = metric.score(tokens + [""], [[str(a)] for a in alpha] + [["1.0"]], property="alpha", train_size=2000)
    naive = float(np.mean(np.abs(alpha - alpha.mean())))
    assert result["value"] < naive
    assert result["counts"] == {"samples": len(held_out) + 1, "scored": len(held_out), "empty": 1, "invalid": 0,
                                "unparsable_graph": 0}
    shifted = metric.score(tokens, [[str(a + 10.0)] for a in alpha], property="alpha", train_size="2000")  # as typed
    assert shifted["value"] >= 10.0 - result["value"]
    with pytest.raises(ConfigError, match="property"):
        metric.score(tokens, [[str(a)] for a in alpha], property="polarizability")
    with pytest.raises(ConfigError, match="train_size"):
        metric.score(tokens, [[str(a)] for a in alpha], property="alpha", train_size="all")
    with pytest.raises(ConfigError, match="finite number"):
        metric.score(tokens[:1], [["nan"]], property="alpha", train_size=2000)


# The table --------------------------------------------------------------------------------------
def test_every_entry_names_its_reference_and_stand_ins_say_what_is_missing():
    keys = [m.key for m in S.METRICS]
    assert len(keys) == len(set(keys))
    for name in {m.name for m in S.METRICS}:
        assert sum(m.default for m in S.METRICS if m.name == name) == 1
    for metric in S.METRICS:
        assert metric.reference and metric.kind in (PAIRS, DISTRIBUTION)
        assert metric.comparable == (not metric.description.startswith("No reference metric here: needs"))
