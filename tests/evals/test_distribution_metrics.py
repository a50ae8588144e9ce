"""Distribution metrics of generated molecules (evals/metrics/distribution.py) on fixed inputs,
against values worked out by hand from the MOSES and GuacaMol definitions."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from biomatrix_io.config import ConfigError
from evals.metrics import distribution
from evals.metrics.registry import DISTRIBUTION

BY_KEY = {m.key: m for m in distribution.METRICS}


def score(key: str, predictions, train=None, **options) -> dict:
    return BY_KEY[key].score(predictions, train, **options)


def tanimoto(a: str, b: str) -> float:
    """RDKit's own Tanimoto of Morgan r=2 1,024-bit vectors (not the bulk path under test)."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return DataStructs.TanimotoSimilarity(generator.GetFingerprint(Chem.MolFromSmiles(a)),
                                          generator.GetFingerprint(Chem.MolFromSmiles(b)))


def test_each_metric_has_one_default_variant():
    defaults = Counter(m.name for m in distribution.METRICS if m.default)
    assert defaults == {name: 1 for name in {m.name for m in distribution.METRICS}}
    assert all(m.kind == DISTRIBUTION and m.reference for m in distribution.METRICS)
    assert {m.key for m in distribution.METRICS if m.needs == ("train",)} == {
        "generation_novelty:moses", "generation_novelty:guacamol", "fcd:moses"}


# 7 samples: 5 valid (ethanol twice, both enantiomers of 1-aminoethanol, benzene), 1 empty, 1 invalid.
SAMPLES = ["CCO", "OCC", "C[C@H](N)O", "C[C@@H](N)O", "c1ccccc1", "", "C1CC"]
TRAIN = ["CCO", "C1=CC=CC=C1"]  # benzene in Kekule form: not how RDKit writes it


def test_validity_moses_and_guacamol():
    # MOSES: 1 - 2 invalid / 7 ("" counts as invalid); GuacaMol: 5 valid / 7 asked, or / 10 asked.
    moses = score("generation_validity:moses", SAMPLES)
    assert moses["value"] == pytest.approx(5 / 7)
    assert moses["counts"] == {"samples": 7, "empty": 1, "invalid": 1, "valid": 5}
    assert score("generation_validity:guacamol", SAMPLES)["value"] == pytest.approx(5 / 7)
    assert score("generation_validity:guacamol", SAMPLES, asked=10)["value"] == pytest.approx(5 / 10)
    with pytest.raises(ConfigError, match="asked"):
        score("generation_validity:guacamol", SAMPLES, asked=3)


def test_unique_at_k_over_the_first_k_valid():
    # Valid canonical, in order: CCO, CCO, C[C@H](N)O, C[C@@H](N)O, c1ccccc1.
    # unique@2: {CCO} / 2 = 0.5; unique@4: 3 / 4; unique@6: only 5 valid -> None (molsets would
    # divide by 5 instead: 4 / 5, shown as unique_among_valid).
    result = score("generation_uniqueness:moses", SAMPLES, k=(2, 4, 6))
    assert (result["unique@2"], result["unique@4"], result["unique@6"]) == (0.5, 0.75, None)
    assert result["value"] is None and result["unique_among_valid"] == pytest.approx(4 / 5)
    assert result["counts"]["valid"] == 5 and result["counts"]["unique"] == 4
    # Default k = (1000, 10000): 5 valid samples are short of both.
    assert score("generation_uniqueness:moses", SAMPLES)["unique@1000"] is None
    # GuacaMol: stereo stripped, the enantiomers are one molecule: {CCO, CC(N)O, benzene} = 3 / 7.
    assert score("generation_uniqueness:guacamol", SAMPLES)["value"] == pytest.approx(3 / 7)


def test_novelty_denominators_moses_vs_guacamol():
    # MOSES: unique valid {CCO, C[C@H](N)O, C[C@@H](N)O, c1ccccc1} = 4; the training set is compared
    # as written, so its Kekule benzene does not match: novel = both enantiomers + benzene = 3 / 4.
    moses = score("generation_novelty:moses", SAMPLES, TRAIN)
    assert moses["value"] == pytest.approx(3 / 4)
    assert (moses["counts"]["unique"], moses["counts"]["novel"]) == (4, 3)
    # GuacaMol: stereo-free {CCO, CC(N)O, c1ccccc1}; the training set canonicalized (benzene known):
    # novel = {CC(N)O} = 1, over the 7 samples asked.
    guacamol = score("generation_novelty:guacamol", SAMPLES, TRAIN)
    assert guacamol["value"] == pytest.approx(1 / 7)
    assert guacamol["counts"]["novel"] == 1
    for key in ("generation_novelty:moses", "generation_novelty:guacamol"):
        with pytest.raises(ConfigError, match="train"):
            score(key, SAMPLES, None)
    assert score("generation_novelty:moses", ["", "C1CC"], TRAIN)["value"] is None  # nothing valid


def test_internal_diversity_counts_self_pairs():
    for key in ("internal_diversity:moses", "internal_diversity:moses_paper"):
        # Two writings of one molecule: every pair (self pairs included) has T = 1 -> IntDiv 0.
        same = score(key, ["CCO", "OCC"])
        assert same["intdiv1"] == pytest.approx(0) and same["intdiv2"] == pytest.approx(0)
        # Two molecules with Tanimoto t: pairs (1, t, t, 1) -> IntDiv1 = 1 - (2 + 2t) / 4,
        # IntDiv2 = 1 - ((1 + 1 + 2t^2) / 4)^(1/2) (both rows alike: the variants agree).
        t = tanimoto("CCO", "CCN")
        assert 0 < t < 1
        pair = score(key, ["CCO", "CCN", "", "C1CC"])  # the empty and the invalid sample are left out
        assert pair["intdiv1"] == pytest.approx(1 - (2 + 2 * t) / 4)
        assert pair["intdiv2"] == pytest.approx(1 - math.sqrt((1 + t * t) / 2))
        assert pair["counts"] == {"samples": 4, "empty": 1, "invalid": 1, "valid": 2, "unique": 2}
        assert score(key, ["", "C1CC"])["value"] is None


def test_internal_diversity_variants_differ_for_p2():
    # Methane and water share no Morgan bit (t = 0). Samples C, C, O: rows (1, 1, 0), (1, 1, 0), (0, 0, 1).
    assert tanimoto("C", "O") == 0
    code = score("internal_diversity:moses", ["C", "C", "O"])
    paper = score("internal_diversity:moses_paper", ["C", "C", "O"])
    # IntDiv1 (both): 1 - 5/9 (5 of the 9 ordered pairs are identical molecules).
    assert code["intdiv1"] == pytest.approx(4 / 9) and paper["intdiv1"] == pytest.approx(4 / 9)
    # molsets: per molecule sqrt(row mean of T^2), then the mean: 1 - (2 sqrt(2/3) + sqrt(1/3)) / 3.
    assert code["intdiv2"] == pytest.approx(1 - (2 * math.sqrt(2 / 3) + math.sqrt(1 / 3)) / 3)
    # The paper: 1 - sqrt(mean over all 9 pairs of T^2) = 1 - sqrt(5/9).
    assert paper["intdiv2"] == pytest.approx(1 - math.sqrt(5 / 9))


def test_bulk_similarities_match_rdkit_in_every_chunk(monkeypatch):
    smiles = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "CN", "c1ccncc1"]
    monkeypatch.setattr(distribution, "_ROWS", 3)  # 7 rows in chunks of 3, 3 and 1
    weights = np.array([1, 2, 1, 1, 3, 1, 1])
    means = distribution.tanimoto_power_means(distribution.morgan_bit_matrix(smiles), weights, (1, 2))
    for i, a in enumerate(smiles):
        row = np.array([tanimoto(a, b) for b in smiles])
        assert means[1][i] == pytest.approx(float(row @ weights) / weights.sum(), abs=1e-6)
        assert means[2][i] == pytest.approx(float(row ** 2 @ weights) / weights.sum(), abs=1e-6)


def test_selfies_samples_are_decoded():
    # "[C][Xx]" does not decode, "" is empty: 2 valid of 4, both ethanol.
    selfies = ["[C][C][O]", "[O][C][C]", "[C][Xx]", ""]
    assert score("generation_validity:moses", selfies, notation="selfies")["value"] == 0.5
    assert score("generation_uniqueness:moses", selfies, notation="selfies", k=(2,))["value"] == 0.5


def test_fcd_against_a_reference_set():
    samples = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "CN", "C1CC", ""]
    reference = ["CCC", "CCN", "c1ccncc1", "CC(=O)N", "CCCO", "CO", "xyz"]
    result = score("fcd:moses", samples, reference)
    # Pinned with fcd_torch 1.0.7 (FCD is version-sensitive: a change of package or version must show here).
    assert result["value"] == pytest.approx(3.8239383, rel=1e-4)
    assert result["counts"] == {"samples": 8, "empty": 1, "invalid": 1, "valid": 6, "reference": 6, "bad_reference": 1}
    assert score("fcd:moses", ["CCO", "C1CC"], reference)["value"] is None  # under 2 valid samples
    with pytest.raises(ConfigError, match="train"):
        score("fcd:moses", samples, None)
