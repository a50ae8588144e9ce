"""Molecule-output metrics (evals/metrics/molecules.py) on fixed inputs, against values worked out
by hand from each reference's definition (LlaSMol, MolT5, BioT5+)."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import AllChem, MACCSkeys

from biomatrix_io.config import ConfigError
from evals.metrics import molecules
from evals.metrics.registry import PAIRS

BY_KEY = {m.key: m for m in molecules.METRICS}


def score(key: str, predictions, references, **options) -> dict:
    return BY_KEY[key].score(predictions, references, **options)


def test_each_metric_has_one_default_variant():
    defaults = Counter(m.name for m in molecules.METRICS if m.default)
    assert defaults == {name: 1 for name in {m.name for m in molecules.METRICS}}
    assert all(m.kind == PAIRS and m.comparable and m.reference for m in molecules.METRICS)
    assert {m.variant for m in molecules.METRICS if m.name == "molecule_exact_match"} == {"llasmol", "molt5", "biot5"}


# (prediction, references, LlaSMol match, MolT5 match, BioT5+ match or None when the sample leaves
# BioT5+'s denominator; LlaSMol and MolT5 keep every sample)
EXACT_CASES = [
    ("CCO", ["CCO"], True, True, True),
    ("OCC", ["CCO"], True, True, True),  # another writing of ethanol
    ("O.CC", ["CC.O"], True, True, True),  # fragment order never counts
    ("CC.CC.O", ["CC.O"], True, False, False),  # a duplicated fragment: LlaSMol compares SETS of InChIs
    ("CC;O", ["CC.O"], True, False, None),  # ';' is '.' for LlaSMol only; RDKit cannot parse it
    ("C[C@H](N)O", ["CC(N)O"], False, False, True),  # stereo kept (LlaSMol, MolT5) or dropped (BioT5+)
    ("C[C@H](N)O", ["C[C@@H](N)O"], False, False, True),  # the enantiomer
    ("[13CH3]O", ["CO"], True, False, True),  # LlaSMol's rebuild drops isotopes; MolT5's InChI keeps /i
    ("[CH3]", ["C"], True, False, False),  # LlaSMol's rebuild saturates a radical
    ("[CH3:1][OH:2]", ["CO"], True, True, True),  # atom maps never count
    ("CCN", ["CCO", "CCN"], True, True, True),  # any accepted reference
    ("", ["CCO"], False, False, False),  # empty: a miss; RDKit reads "" as an empty molecule (BioT5+ keeps it)
    ("C1CC", ["CCO"], False, False, None),  # unclosed ring: invalid
    ("C.", ["C"], False, False, None),  # empty fragment
]


def test_exact_match_variants_on_each_pitfall():
    predictions = [c[0] for c in EXACT_CASES]
    references = [c[1] for c in EXACT_CASES]
    for key, column in (("molecule_exact_match:llasmol", 2), ("molecule_exact_match:molt5", 3),
                        ("molecule_exact_match:biot5", 4)):
        for case in EXACT_CASES:  # one sample at a time: which ones match, which leave the denominator
            single = score(key, [case[0]], [case[1]])
            expected = case[column]
            assert single["matches"] == (expected is True), (key, case)
            assert single["denominator"] == (0 if expected is None and key.endswith("biot5") else 1), (key, case)
    # LlaSMol: 9 matches (rows 1-5, 8-11) over all 14 samples; empty 1 (""), invalid 2 ("C1CC", "C.").
    llasmol = score("molecule_exact_match:llasmol", predictions, references)
    assert (llasmol["matches"], llasmol["denominator"]) == (9, 14)
    assert llasmol["value"] == pytest.approx(9 / 14)
    assert llasmol["counts"] == {"samples": 14, "empty": 1, "invalid": 2, "valid": 11, "bad_references": 0}
    # MolT5: 5 matches (rows 1-3, 10, 11) over all 14; invalid: "CC;O", "C1CC", "C." (3); ""
    # parses as an empty molecule: a miss in the denominator.
    molt5 = score("molecule_exact_match:molt5", predictions, references)
    assert (molt5["matches"], molt5["denominator"]) == (5, 14)
    assert molt5["counts"]["invalid"] == 3 and molt5["counts"]["empty"] == 1
    # BioT5+: 8 matches (rows 1-3, 6-8, 10, 11) over 14 - 3 invalid = 11: 0.727 vs LlaSMol's 0.643,
    # though it accepts neither the ';' answer nor a duplicate.
    biot5 = score("molecule_exact_match:biot5", predictions, references)
    assert (biot5["matches"], biot5["denominator"]) == (8, 11)


def test_biot5_denominator_inflates_exact_match():
    # 2 right, 2 unparsable: LlaSMol and MolT5 2/4; BioT5+ drops the invalid ones: 2/2.
    predictions, references = ["CCO", "CCN", "C1CC", "xyz"], [["CCO"], ["CCN"], ["CCO"], ["CCO"]]
    assert score("molecule_exact_match:llasmol", predictions, references)["value"] == 0.5
    assert score("molecule_exact_match:molt5", predictions, references)["value"] == 0.5
    assert score("molecule_exact_match:biot5", predictions, references)["value"] == 1.0


def test_unparsable_reference_is_counted_not_matched():
    result = score("molecule_exact_match:llasmol", ["C1CC", "CCO"], [["C1CC"], ["CCO"]])
    assert result["counts"]["bad_references"] == 1 and result["matches"] == 1 and result["denominator"] == 2


def test_validity_variants_differ_on_empty_answers():
    predictions = ["CCO", "", "C1CC", "C.", "c1ccccc1"]
    # LlaSMol: CCO and benzene valid (2/5); "" is no answer, "C1CC" and "C." invalid.
    llasmol = score("molecule_validity:llasmol", predictions, None)
    assert llasmol["value"] == pytest.approx(2 / 5)
    assert llasmol["counts"] == {"samples": 5, "empty": 1, "invalid": 2, "valid": 2}
    # MolT5: RDKit parses "" to an empty molecule: (2 + 1) / 5.
    assert score("molecule_validity:molt5", predictions, None)["value"] == pytest.approx(3 / 5)


def test_selfies_predictions_are_decoded_first():
    predictions = ["[C][C][O]", "[O][C][C]", "<|mol_sfi_start|>[C][C][O]<|mol_sfi_end|>", "[C][Xx]", "", "CCO"]
    references = [["[C][C][O]"]] * len(predictions)
    result = score("molecule_exact_match:llasmol", predictions, references, notation="selfies")
    # 3 decode to ethanol (the third once unwrapped); "[C][Xx]" does not decode and "CCO" decodes to
    # nothing (no SELFIES symbol): both invalid; "" is empty. 3 / 6.
    assert result["value"] == pytest.approx(3 / 6)
    assert result["counts"] == {"samples": 6, "empty": 1, "invalid": 2, "valid": 3, "bad_references": 0}
    # Read as SMILES, "[C][C][O]" parses too: a chain of bare radical atoms, not ethanol (MolT5's InChI
    # sees the difference): the notation must be said.
    assert score("molecule_exact_match:molt5", ["[C][C][O]"], [["CCO"]])["matches"] == 0
    assert score("molecule_exact_match:molt5", ["[C][C][O]"], [["[O][C][C]"]], notation="selfies")["matches"] == 1
    with pytest.raises(ConfigError, match="notation"):
        score("molecule_exact_match:llasmol", ["CCO"], [["CCO"]], notation="inchi")


def _reference_similarities(pred: str, ref: str) -> tuple[float, float, float]:
    """MACCS, RDK, Morgan-count Tanimoto exactly as the reference scripts call RDKit."""
    a, b = Chem.MolFromSmiles(pred), Chem.MolFromSmiles(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        morgan = DataStructs.TanimotoSimilarity(AllChem.GetMorganFingerprint(a, 2), AllChem.GetMorganFingerprint(b, 2))
    return (DataStructs.TanimotoSimilarity(MACCSkeys.GenMACCSKeys(a), MACCSkeys.GenMACCSKeys(b)),
            DataStructs.TanimotoSimilarity(Chem.RDKFingerprint(a), Chem.RDKFingerprint(b)), morgan)


def test_fingerprint_similarity_over_valid_predictions_only():
    t = _reference_similarities("CCN", "CCO")
    assert all(0 < x < 1 for x in t)
    predictions = ["CCO", "CCN", "CCN", "", "C1CC"]
    references = [["CCO"], ["CCO"], ["CCO", "CCN"], ["CCO"], ["CCO"]]
    # LlaSMol: valid 3 -> per fingerprint (1 + t + max(t, 1)) / 3; "" and "C1CC" left out, counted.
    llasmol = score("molecule_fingerprint_similarity:llasmol", predictions, references)
    for name, value in zip(("maccs", "rdk", "morgan"), t):
        assert llasmol[name] == pytest.approx((2 + value) / 3), name
    assert llasmol["value"] == llasmol["morgan"] and llasmol["scored"] == 3
    assert llasmol["counts"] == {"samples": 5, "empty": 1, "invalid": 1, "valid": 3, "bad_references": 0}
    # MolT5: "" is an empty molecule with similarity 0 to anything: (2 + t) / 4.
    molt5 = score("molecule_fingerprint_similarity:molt5", predictions, references)
    assert molt5["morgan"] == pytest.approx((2 + t[2]) / 4) and molt5["scored"] == 4
    # Nothing valid: no figure, not 0.
    assert score("molecule_fingerprint_similarity:llasmol", ["C1CC"], [["CCO"]])["value"] is None


def test_fingerprint_similarity_on_llasmol_canonical_molecules():
    # LlaSMol scores its canonical molecule: the radical is saturated, so [CH2]CO is ethanol (1.0).
    assert score("molecule_fingerprint_similarity:llasmol", ["[CH2]CO"], [["CCO"]])["morgan"] == 1.0
    # MolT5 reads the radical. Ethanol's Morgan r=2 environments: 3 atoms at radius 0, 3 at radius 1
    # (radius 2 repeats the CH2's radius-1 bond set: dropped) = 6. [CH2]CO changes the first carbon's
    # hydrogen count: its radius-0 and radius-1 ids and the middle carbon's radius-1 id differ, so
    # 3 of 6 are shared: count Tanimoto 3 / (6 + 6 - 3) = 1/3.
    assert score("molecule_fingerprint_similarity:molt5", ["[CH2]CO"], [["CCO"]])["morgan"] == pytest.approx(1 / 3)
    # ';' joins fragments for LlaSMol.
    assert score("molecule_fingerprint_similarity:llasmol", ["O;CC"], [["CC.O"]])["value"] == 1.0


def test_formula_element_match():
    cases = [
        ("C6H12O6", "C6H12O6", True),
        ("H12C6O6", "C6H12O6", True),  # order-free
        ("CH3CH3", "C2H6", True),  # repeated elements summed
        ("C6H10O6", "C6H12O6", False),  # hydrogens count
        ("C6h6", "C6H6", False),  # reading stops at "h": {C: 6}
        ("Na+", "Na", False),  # the charge counts
        ("C6H5O7-3", "C6H5O7-3", True),
        ("Ca(OH)2", "CaH2O2", False),  # brackets: not a formula for LlaSMol (invalid)
        ("", "C", False),  # no answer
    ]
    result = score("formula_element_match:llasmol", [c[0] for c in cases], [[c[1]] for c in cases])
    # 4 matches over all 9 samples; "" empty, "Ca(OH)2" invalid.
    assert result["matches"] == 4 and result["value"] == pytest.approx(4 / 9)
    assert result["counts"] == {"samples": 9, "empty": 1, "invalid": 1, "valid": 7, "bad_references": 0}
    for pred, gold, expected in cases:
        assert (score("formula_element_match:llasmol", [pred], [[gold]])["matches"] == 1) == expected, pred
    assert molecules.element_counts("C6H5O7-3") == {"C": 6, "H": 5, "O": 7, "-": 3}
    # References are stripped, predictions are not; any reference may match.
    assert score("formula_element_match:llasmol", ["C2H6"], [["CH4", " C2H6 "]])["matches"] == 1
