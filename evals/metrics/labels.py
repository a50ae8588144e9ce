"""Label, choice and number metrics, each reproducing its named reference script:

- OPI (baaihealth/opi `compute_scores/metrics4all.py` calculate_metrics): EC numbers, keywords,
  GO terms and knowledge mining as per-sample label sets. Prediction and target are split on
  exactly `'; '` (so `a;b` is one label), sets (duplicates collapse), no case folding; micro
  precision / recall / F1 of the sample (sklearn, zero_division=0), then the plain mean over
  samples. An empty prediction splits into the one label `''`: a false positive.
- OPI fold type (`compute_scores/accuracy4fold_type.py`) and subcellular localization: accuracy as
  exact string equality, nothing stripped, over all samples (each holdout level is a separate file).
- LlaSMol / SMolInstruct (OSU-NLP-Group/LLM4Chem `utils/metrics.py`):
  yes/no properties (calculate_boolean_metrics): the answer stripped and lower-cased must be exactly
  `yes` or `no`; an empty one is `no_answer`, anything else `invalid`; both are wrong, and accuracy
  is correct / all samples, as the paper reports it.
  Numbers (calculate_number_metrics): `float()` of the answer; empty = `no_answer`, unparsable =
  `invalid`, both left out of RMSE; also left out here: answers that parse to NaN or infinity
  (`nonfinite`), which would make LlaSMol's RMSE NaN. MAE, Pearson and Spearman (scipy.stats, as
  the PDBBind/BindingDB tables report them) use the same parsed answers.
  S2I split match (judge_string_split_match): answer and gold split on `;` and sorted, compared as
  tuples; the gold is stripped, the answer is not.
- MoleculeQA (Lu et al., EMNLP 2024): accuracy over all questions; the total over the structure,
  source, property and usage categories is the micro-average, i.e. this metric over all of their
  samples together. The benchmark publishes no scoring code; the answer matching is ours (below).

Several references for one sample: LlaSMol's yes/no and number scripts and OPI take a single
target; those metrics use the first reference. Exact and split match accept any reference.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Optional, Sequence

from biomatrix_io.config import ConfigError

from .registry import PAIRS, Metric

OPI = "OPI (baaihealth/opi compute_scores/metrics4all.py calculate_metrics)"
OPI_ACCURACY = "OPI (baaihealth/opi compute_scores/accuracy4fold_type.py; subcellular localization accuracy)"
LLASMOL_BOOLEAN = "LlaSMol (OSU-NLP-Group/LLM4Chem utils/metrics.py calculate_boolean_metrics)"
LLASMOL_NUMBER = "LlaSMol (OSU-NLP-Group/LLM4Chem utils/metrics.py calculate_number_metrics)"
LLASMOL_SPLIT = "LlaSMol (OSU-NLP-Group/LLM4Chem utils/metrics.py judge_string_split_match)"
MOLECULEQA = "MoleculeQA (Lu et al., EMNLP 2024; no published scoring code)"

OPI_SEPARATOR = "; "
S2I_SEPARATOR = ";"
YES, NO = "yes", "no"

# A choice letter: "B", "B.", "B)", "B:", "(B)", optionally after "Option" or "Answer:"; a sentence
# that merely starts with a capital ("A molecule ...") is not a letter answer.
_CHOICE = re.compile(r"^\s*(?:(?i:option|answer)\s*:?\s*)?(?:\(([A-Z])\)|([A-Z])(?:[.):]|\s*$))")


def _mean(values: Sequence[float]) -> Optional[float]:
    return math.fsum(values) / len(values) if values else None


# --- OPI label sets and exact match --------------------------------------------------------------

def set_counts(prediction: str, target: str, separator: str = OPI_SEPARATOR) -> tuple[int, int, int]:
    """(true positives, predicted labels, target labels) of one sample, as label sets."""
    predicted, wanted = set(prediction.split(separator)), set(target.split(separator))
    return len(predicted & wanted), len(predicted), len(wanted)


def opi_set_f1(predictions: list[str], references: list[list[str]]) -> dict:
    """OPI per-sample set precision, recall and F1 (micro within the sample), averaged over samples."""
    precisions, recalls, f1s = [], [], []
    for pred, refs in zip(predictions, references, strict=True):
        hits, predicted, wanted = set_counts(pred, refs[0])
        precisions.append(hits / predicted)  # never 0 labels: "" splits into [""]
        recalls.append(hits / wanted)
        f1s.append(2 * hits / (predicted + wanted))  # micro F1 = 2TP / (2TP + FP + FN); 0 when TP = 0
    return {"value": _mean(f1s), "precision": _mean(precisions), "recall": _mean(recalls), "f1": _mean(f1s),
            "counts": {"samples": len(predictions), "empty": sum(1 for p in predictions if not p)}}


def exact_accuracy(predictions: list[str], references: list[list[str]]) -> dict:
    """OPI accuracy: the prediction equals a reference character for character."""
    correct = sum(1 for pred, refs in zip(predictions, references, strict=True) if pred in refs)
    return {"value": correct / len(predictions) if predictions else None,
            "counts": {"samples": len(predictions), "correct": correct, "empty": sum(1 for p in predictions if not p)}}


# --- LlaSMol yes/no, numbers, split match --------------------------------------------------------

def _gold_yes_no(reference: str, index: int) -> str:
    gold = reference.strip().lower()
    if gold not in (YES, NO):
        raise ConfigError(f"sample {index}: reference {reference!r} is not yes or no", ["references"])
    return gold


def yes_no_accuracy(predictions: list[str], references: list[list[str]]) -> dict:
    """LlaSMol yes/no accuracy: correct / all samples; anything but yes/no (any case) is wrong."""
    answers = [pred.strip().lower() for pred in predictions]
    golds = [_gold_yes_no(refs[0], i) for i, refs in enumerate(references)]
    correct = sum(1 for answer, gold in zip(answers, golds, strict=True) if answer == gold)
    return {"value": correct / len(predictions) if predictions else None,
            "counts": {"samples": len(predictions), "correct": correct,
                       "no_answer": sum(1 for a in answers if not a),
                       "invalid": sum(1 for a in answers if a and a not in (YES, NO))}}


def _gold_number(reference: str, index: int) -> float:
    try:
        value = float(reference)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"sample {index}: reference {reference!r} is not a finite number", ["references"])
    return value


def parsed_numbers(predictions: Sequence[str],
                   references: Sequence[Sequence[str]]) -> tuple[list[float], list[float], dict]:
    """(predicted, true) for the answers that parse as finite floats, and the counts of the rest."""
    counts = {"samples": len(predictions), "scored": 0, "no_answer": 0, "invalid": 0, "nonfinite": 0}
    predicted, true = [], []
    for i, (pred, refs) in enumerate(zip(predictions, references, strict=True)):
        gold = _gold_number(refs[0], i)
        if pred == "":
            counts["no_answer"] += 1
            continue
        try:
            value = float(pred)  # as LlaSMol: surrounding whitespace, "1e3", "1_000" parse
        except ValueError:
            counts["invalid"] += 1
            continue
        if not math.isfinite(value):
            counts["nonfinite"] += 1
            continue
        predicted.append(value)
        true.append(gold)
    counts["scored"] = len(predicted)
    return predicted, true, counts


def _rmse(predicted: list[float], true: list[float]) -> Optional[float]:
    return math.sqrt(math.fsum((p - t) ** 2 for p, t in zip(predicted, true)) / len(true)) if true else None


def _mae(predicted: list[float], true: list[float]) -> Optional[float]:
    return math.fsum(abs(p - t) for p, t in zip(predicted, true)) / len(true) if true else None


def _correlation(kind: str) -> Callable[[list[float], list[float]], Optional[float]]:
    def statistic(predicted: list[float], true: list[float]) -> Optional[float]:
        from scipy import stats

        # Undefined (None) below two pairs or for a constant side, where scipy returns NaN.
        if len(true) < 2 or len(set(predicted)) < 2 or len(set(true)) < 2:
            return None
        return float(getattr(stats, kind)(predicted, true).statistic)

    return statistic


REGRESSION = {"rmse": _rmse, "mae": _mae, "pearson": _correlation("pearsonr"), "spearman": _correlation("spearmanr")}
_FORMULA = {"rmse": "its RMSE", "mae": "mean absolute error", "pearson": "scipy.stats.pearsonr",
            "spearman": "scipy.stats.spearmanr"}


def regression(name: str) -> Callable[..., dict]:
    statistic = REGRESSION[name]

    def score(predictions: list[str], references: list[list[str]]) -> dict:
        predicted, true, counts = parsed_numbers(predictions, references)
        return {"value": statistic(predicted, true), "counts": counts}

    score.__doc__ = f"{name} over the answers that parse as finite floats (LlaSMol's parsing); the rest counted."
    return score


def split_match(predictions: list[str], references: list[list[str]]) -> dict:
    """LlaSMol S2I split match: sorted ';'-separated parts of the answer equal a stripped gold's."""
    correct = sum(
        1 for pred, refs in zip(predictions, references, strict=True)
        if any(sorted(pred.split(S2I_SEPARATOR)) == sorted(ref.strip().split(S2I_SEPARATOR)) for ref in refs))
    return {"value": correct / len(predictions) if predictions else None,
            "counts": {"samples": len(predictions), "correct": correct,
                       "no_answer": sum(1 for p in predictions if not p)}}


# --- MoleculeQA ----------------------------------------------------------------------------------

def choice_letter(answer: str) -> Optional[str]:
    match = _CHOICE.match(answer)
    return (match.group(1) or match.group(2)) if match else None


def choice_accuracy(predictions: list[str], references: list[list[str]]) -> dict:
    """MoleculeQA accuracy over all questions. References: the correct letter, optionally also the
    correct option's text. Correct when the stripped answer equals a reference, or its choice letter
    equals a one-letter reference."""
    correct = no_choice = 0
    for pred, refs in zip(predictions, references, strict=True):
        answer, accepted = pred.strip(), {ref.strip() for ref in refs}
        letter = choice_letter(answer)
        if answer in accepted or letter in accepted:
            correct += 1
        elif answer and letter is None:
            no_choice += 1
    return {"value": correct / len(predictions) if predictions else None,
            "counts": {"samples": len(predictions), "correct": correct,
                       "empty": sum(1 for p in predictions if not p.strip()), "no_choice": no_choice}}


_PARSING = ("Answers parsed with float() as LlaSMol does; empty (no_answer), unparsable (invalid) and NaN/inf "
            "(nonfinite, which LlaSMol would let through as a NaN RMSE) answers are counted and left out: the "
            "denominator is counts.scored. First reference, which must be a finite number.")

METRICS = [
    Metric("set_f1", "opi", OPI, PAIRS, opi_set_f1, default=True,
           description="EC numbers, keywords, GO terms, knowledge mining: labels split on exactly '; ', per-sample "
                       "set precision/recall/F1 (micro, zero_division=0) averaged over samples; value = F1. No case "
                       "folding; an empty prediction is one false positive. First reference."),
    Metric("accuracy", "exact", OPI_ACCURACY, PAIRS, exact_accuracy, default=True,
           description="Fold type (per holdout level), subcellular localization: the prediction equals a reference "
                       "exactly (nothing stripped or case-folded), over all samples."),
    Metric("yes_no_accuracy", "llasmol", LLASMOL_BOOLEAN, PAIRS, yes_no_accuracy, default=True,
           description="BBBP, ClinTox, HIV, SIDER: stripped, lower-cased answer must be exactly yes or no; empty "
                       "(no_answer) and other answers (invalid) are wrong; correct / all samples. First reference."),
    *[Metric(name, "parsed", f"{LLASMOL_NUMBER}: its answer parsing; {_FORMULA[name]}", PAIRS, regression(name),
             default=True, description=f"{name.upper()} of numeric answers (ESOL, Lipo, affinities). " + _PARSING)
      for name in REGRESSION],
    Metric("split_match", "llasmol", LLASMOL_SPLIT, PAIRS, split_match, default=True,
           description="S2I (SMILES -> IUPAC): answer and gold split on ';' and sorted, compared; gold stripped, "
                       "answer not; any reference; over all samples."),
    Metric("choice_accuracy", "moleculeqa", MOLECULEQA, PAIRS, choice_accuracy, default=True,
           description="MoleculeQA: references are the correct letter (and optionally the correct option's text); "
                       "an answer is right when it equals one of them after stripping, or when its choice letter "
                       "('B', 'B.', '(B)', 'Option B', 'Answer: B') equals the letter. Over all questions; the total "
                       "is the micro-average: score all categories' samples together."),
]
