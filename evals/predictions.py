"""Files of predictions to score, one JSON object per line: `prediction` with `reference` (a
string) or `references` (a non-empty list of strings, any of which is accepted) for a pairs
metric; `prediction` alone for a distribution metric, whose training set (for novelty) is a plain
list, one molecule per line.

A line that cannot be scored (not JSON, a missing or mistyped field, a NaN) is a rejection with
its line number and reason, counted beside the metric: lines read = scored + rejected. An empty
prediction is not a bad line: it is the model's answer, and the metric counts it as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

from biomatrix_io.boundary import guarded
from biomatrix_io.files import open_binary, open_text
from biomatrix_io.readers.text import json_object_line
from biomatrix_io.records import Provenance, Rejection

from .metrics.registry import PAIRS, Metric, result


@dataclass(frozen=True)
class Prediction:
    provenance: Provenance
    prediction: str
    references: tuple[str, ...] = ()


def _text(value: object, field: str) -> tuple[str, str]:
    """(the field's text, "") or ("", why it is not text)."""
    if isinstance(value, bool) or value is None:
        return "", f"{field!r} is {json_type(value)}, not a string"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "", f"{field!r} is {value} (not a finite number)"
        return str(value), ""
    if isinstance(value, str):
        return value, ""
    return "", f"{field!r} is {json_type(value)}, not a string"


def json_type(value: object) -> str:
    return {type(None): "null", bool: "a boolean", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def read_predictions(path: Path, with_references: bool) -> Iterator[Union[Prediction, Rejection]]:
    path = Path(path)
    with open_binary(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            obj = json_object_line(path, lineno, raw)
            if isinstance(obj, Rejection):
                yield obj
                continue
            yield _entry(obj, Provenance(str(path), f"line {lineno}", f"{path.name}:{lineno}"), with_references)


def _entry(obj: dict, provenance: Provenance, with_references: bool) -> Union[Prediction, Rejection]:
    if "prediction" not in obj:
        return Rejection(provenance, "no 'prediction' field")
    prediction, why = _text(obj["prediction"], "prediction")
    if why:
        return Rejection(provenance, why)
    if not with_references:
        return Prediction(provenance, prediction)
    if "references" in obj:
        given = obj["references"]
        if not isinstance(given, list) or not given:
            return Rejection(provenance, "'references' is not a non-empty list")
        field_name = "references"
    elif "reference" in obj:
        given, field_name = [obj["reference"]], "reference"
    else:
        return Rejection(provenance, "no 'reference' or 'references' field")
    references = []
    for value in given:
        text, why = _text(value, field_name)
        if why:
            return Rejection(provenance, why)
        references.append(text)
    return Prediction(provenance, prediction, tuple(references))


def read_train(path: Path) -> list[str]:
    """A training set for novelty: one molecule per line, as written (MOSES does not re-canonicalize it)."""
    with open_text(path) as handle:
        return [line.strip() for line in handle if line.strip()]


def score_file(metric: Metric, path: Path, train: Optional[Path] = None, **options) -> dict:
    """The metric over a predictions file, with the file's own accounting under `lines`."""
    entries = list(guarded(lambda p: read_predictions(p, metric.kind == PAIRS))(path))
    scored = [e for e in entries if isinstance(e, Prediction)]
    rejected = [e for e in entries if isinstance(e, Rejection)]
    predictions = [e.prediction for e in scored]
    if metric.kind == PAIRS:
        figures = metric.score(predictions, [list(e.references) for e in scored], **options)
    else:
        figures = metric.score(predictions, read_train(train) if train else None, **options)
    lines = {"read": len(entries), "scored": len(scored), "rejected": len(rejected),
             "rejections": [{"where": r.provenance.location, "reason": r.reason} for r in rejected]}
    return {**result(metric, figures), "input": str(path), "lines": lines}
