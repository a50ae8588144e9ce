"""Label, choice and number metrics (evals/metrics/labels.py) on fixed inputs, against values
worked out by hand from each reference's definition."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from biomatrix_io.config import ConfigError
from evals.metrics import labels
from evals.metrics.registry import PAIRS

BY_KEY = {m.key: m for m in labels.METRICS}


def score(key: str, predictions, references) -> dict:
    return BY_KEY[key].score(predictions, references)


def test_each_metric_has_one_default_variant():
    defaults = Counter(m.name for m in labels.METRICS if m.default)
    assert defaults == {name: 1 for name in {m.name for m in labels.METRICS}}
    assert all(m.kind == PAIRS and m.comparable for m in labels.METRICS)


def test_opi_set_f1_splits_on_semicolon_space_exactly():
    # Per sample (TP, |pred|, |target|) -> P, R, F1 = 2TP / (|pred| + |target|):
    cases = [
        ("1.1.1.1; 2.7.11.1", "1.1.1.1; 3.1.3.16", (0.5, 0.5, 0.5)),  # 1 of 2 each way
        ("a; b; c", "a; b", (2 / 3, 1.0, 0.8)),  # TP 2: P 2/3, R 2/2, F1 4/5
        ("GO:1;GO:2", "GO:1; GO:2", (0.0, 0.0, 0.0)),  # ';' alone does not split: one wrong label
        ("a; a; b", "a; b", (1.0, 1.0, 1.0)),  # sets: the duplicate collapses
        ("Kinase", "kinase", (0.0, 0.0, 0.0)),  # no case folding
    ]
    for pred, target, (p, r, f1) in cases:
        single = score("set_f1:opi", [pred], [[target]])
        assert (single["precision"], single["recall"], single["f1"]) == pytest.approx((p, r, f1)), pred
    together = score("set_f1:opi", [c[0] for c in cases], [[c[1]] for c in cases])
    # Mean over samples: P (0.5 + 2/3 + 0 + 1 + 0) / 5, R (0.5 + 1 + 0 + 1 + 0) / 5, F1 (0.5 + 0.8 + 0 + 1 + 0) / 5.
    assert together["precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 5)
    assert together["recall"] == pytest.approx(2.5 / 5)
    assert together["value"] == together["f1"] == pytest.approx(2.3 / 5)


def test_opi_empty_prediction_is_one_false_positive():
    # "" splits into [""]: |pred| = 1, TP 0 -> P 0, R 0, F1 0 (zero_division never needed), counted as empty.
    assert labels.set_counts("", "a; b") == (0, 1, 2)
    result = score("set_f1:opi", ["", "a; b"], [["a; b"], ["a; b"]])
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert result["counts"] == {"samples": 2, "empty": 1}


def test_exact_accuracy_strips_nothing():
    result = score("accuracy:exact", ["a.1.1", "a.1.1 ", "", "Cytoplasm"], [["a.1.1"], ["a.1.1"], ["b"], ["cytoplasm"]])
    assert result["value"] == pytest.approx(1 / 4)
    assert result["counts"] == {"samples": 4, "correct": 1, "empty": 1}


def test_yes_no_accuracy_lowercases_and_counts_no_answer_and_invalid_as_wrong():
    # " Yes " -> yes (right), "NO" -> no (right), "maybe" invalid, "" no answer, "yes" vs "No" wrong: 2 / 5.
    result = score("yes_no_accuracy:llasmol", [" Yes ", "NO", "maybe", "", "yes"],
                   [["yes"], ["no"], ["yes"], ["no"], ["No"]])
    assert result["value"] == pytest.approx(2 / 5)
    assert result["counts"] == {"samples": 5, "correct": 2, "no_answer": 1, "invalid": 1}
    with pytest.raises(ConfigError, match="not yes or no"):
        score("yes_no_accuracy:llasmol", ["yes"], [["Yes."]])


PREDICTED = ["1.5", "abc", "", "nan", "2", " 3 ", "-inf"]
TRUE = [["1.0"], ["2"], ["3"], ["4"], ["4"], ["3"], ["1"]]
# Scored: (1.5, 1), (2, 4), (3, 3); "abc" invalid, "" no answer, "nan" and "-inf" nonfinite.


def test_regression_scores_parsed_answers_only_and_says_the_denominator():
    expected = {
        "rmse": math.sqrt((0.5 ** 2 + 2 ** 2 + 0) / 3),
        "mae": (0.5 + 2 + 0) / 3,
        # x = (1.5, 2, 3), y = (1, 4, 3): centred x (-2/3, -1/6, 5/6), y (-5/3, 4/3, 1/3);
        # Sxy = 7/6, Sxx = 7/6, Syy = 14/3 -> r = (7/6) / sqrt(7/6 * 14/3) = 1/2.
        "pearson": 0.5,
        # ranks (1, 2, 3) vs (1, 3, 2): rho = 1 - 6 * (0 + 1 + 1) / (3 * 8) = 1/2.
        "spearman": 0.5,
    }
    for name, value in expected.items():
        result = score(f"{name}:parsed", PREDICTED, TRUE)
        assert result["value"] == pytest.approx(value), name
        assert result["counts"] == {"samples": 7, "scored": 3, "no_answer": 1, "invalid": 1, "nonfinite": 2}


def test_regression_undefined_cases_are_none_and_bad_references_are_config_errors():
    assert score("rmse:parsed", ["x"], [["1"]])["value"] is None
    assert score("pearson:parsed", ["1", "1"], [["1"], ["2"]])["value"] is None  # constant predictions
    with pytest.raises(ConfigError, match="not a finite number"):
        score("rmse:parsed", ["1"], [["n/a"]])


def test_s2i_split_match_sorts_parts_and_strips_only_the_gold():
    result = score("split_match:llasmol", ["sodium;chloride", "sodium; chloride", "", "a;b"],
                   [["chloride;sodium"], ["chloride;sodium"], ["x"], ["zz", " b;a "]])
    # right, wrong (" chloride" keeps its space), no answer, right against the second (stripped) gold.
    assert result["value"] == pytest.approx(2 / 4)
    assert result["counts"] == {"samples": 4, "correct": 2, "no_answer": 1}


def test_moleculeqa_choice_accuracy():
    predictions = ["B", "(C)", "Option A.", "The molecule is an alkaloid.", "A molecule", "", "D"]
    references = [["B"], ["C", "It is a base."], ["A"], ["D", "The molecule is an alkaloid."], ["A"], ["A"], ["C"]]
    # right: letter, (letter), "Option A.", the correct option's text; "A molecule" is no choice letter; empty; D != C.
    result = score("choice_accuracy:moleculeqa", predictions, references)
    assert result["value"] == pytest.approx(4 / 7)
    assert result["counts"] == {"samples": 7, "correct": 4, "empty": 1, "no_choice": 1}
    assert [labels.choice_letter(a) for a in ("B", "B.", "B)", "Answer: C", "(D) text", "A molecule")] == \
        ["B", "B", "B", "C", "D", None]


def test_moleculeqa_total_is_the_micro_average():
    # Categories of 3 (2 right) and 1 (0 right): micro = 2/4, not the macro (2/3 + 0) / 2.
    first = score("choice_accuracy:moleculeqa", ["A", "B", "C"], [["A"], ["B"], ["D"]])
    second = score("choice_accuracy:moleculeqa", ["A"], [["B"]])
    total = score("choice_accuracy:moleculeqa", ["A", "B", "C", "A"], [["A"], ["B"], ["D"], ["B"]])
    assert (first["value"], second["value"], total["value"]) == pytest.approx((2 / 3, 0.0, 0.5))


def test_mismatched_lengths_are_refused():
    for key, metric in BY_KEY.items():
        gold = "yes" if metric.name == "yes_no_accuracy" else "1"  # a valid reference for each
        with pytest.raises(ValueError, match="zip"):
            score(key, [gold, gold], [[gold]])
