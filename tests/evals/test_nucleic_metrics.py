"""The DNA and RNA tasks' metrics: translation exact match and needle identity, back-translation
validity by re-translation under the prompt's genetic code (stop codon counted), nucleotide exact
match and INSDC location match, with every unscorable answer counted."""

from __future__ import annotations

import json

import pytest

from evals.metrics.nucleic import (
    back_translation_validity,
    location_match,
    needle_identity,
    nucleotide_exact_match,
    nucleotide_letters,
    protein_exact_match,
    protein_identity,
)


def tokens(letters: str, prefix: str) -> str:
    return "".join(f"<{prefix}_{letter}>" for letter in letters)


def test_translation_exact_match_and_needle_identity():
    protein = "MKVLAAGIV"
    predictions = [protein, tokens(protein, "A"), "KVLSAGIVWW", "", "not a protein"]
    exact = protein_exact_match(predictions, [[protein]] * 5)
    assert exact["value"] == pytest.approx(2 / 5)
    assert exact["counts"] == {"samples": 5, "correct": 2, "empty": 1, "invalid": 1}
    assert needle_identity(protein, "KVLSAGIVWW") == pytest.approx(7 / 11)  # end gaps count in the length
    assert needle_identity("MKUV", "MKCV") == pytest.approx(0.75)  # U (selenocysteine) aligned as X
    identity = protein_identity(predictions, [[protein]] * 5)
    assert identity["value"] == pytest.approx((1 + 1 + 7 / 11 + 0 + 0) / 5)
    assert identity["counts"] == {"samples": 5, "empty": 1, "invalid": 1}


def _instruction(protein: str, table: int) -> list[str]:
    return [json.dumps({"meta": {"protein": protein, "transl_table": table}, "input": None})]


def test_back_translation_is_valid_when_it_translates_back_under_the_prompt_s_code_with_its_stop():
    cases = {  # answer -> what it counts as, for MKV under code 11
        "ATGAAAGTTTAA": "valid",
        "ATGAAGGTGTGA": "valid",  # synonymous codons, another stop: any gene that encodes it is right
        "ATAAAAGTCTAG": "valid",  # ATA starts a CDS under code 11 (read as M)
        tokens("ATGAAAGTTTAA", "N"): "valid",
        "ATGAAAGTT": "length_mismatch",  # no stop codon: the stop counts
        "ATGAAAGTTTAC": "not_a_cds",  # right length, last codon no stop
        "ATGAAAATTTAA": "other_protein",
        "AUGAAAGUUUAA": "valid",  # an mRNA answer
        "ATGAAAGTTUAA": "invalid",  # T and U: no sequence of one molecule (Biopython would translate it)
        "": "empty",
        "<A_M><A_K>": "invalid",
    }
    result = back_translation_validity(list(cases), [_instruction("MKV", 11)] * len(cases))
    expected = {key: list(cases.values()).count(key) for key in ("valid", "empty", "invalid", "length_mismatch",
                                                                  "not_a_cds", "other_protein")}
    assert result["counts"] == {"samples": len(cases), **expected}
    assert result["value"] == pytest.approx(5 / len(cases))
    under_code_1 = back_translation_validity(["ATAAAAGTCTAG", "ATGAAAGTTTAA"], [_instruction("MKV", 1)] * 2)
    assert under_code_1["counts"]["not_a_cds"] == 1 and under_code_1["value"] == 0.5  # ATA starts no CDS under code 1


def test_nucleotide_exact_match_and_letters():
    assert nucleotide_letters(tokens("ACGU", "N")) == "ACGU" and nucleotide_letters("acgt") is None
    assert nucleotide_letters("<N_A><A_M>") is None and nucleotide_letters("") is None
    result = nucleotide_exact_match(["ACGTN", tokens("ACGTN", "N"), "ACGTA", "", "hello"], [["ACGTN"]] * 5)
    assert result["value"] == pytest.approx(2 / 5)
    assert result["counts"] == {"samples": 5, "correct": 2, "empty": 1, "invalid": 1}


def test_location_match_reads_insdc_locations_strand_start_and_end():
    predictions = ["complement(12..340)", " complement(12..340) ", "12..340", "complement(12..341)", "340..12",
                   "complement(12..340", ""]
    result = location_match(predictions, [["complement(12..340)"]] * len(predictions))
    assert result["value"] == pytest.approx(2 / 7)
    assert result["counts"] == {"samples": 7, "correct": 2, "empty": 1, "invalid": 2, "strand_correct": 3}
