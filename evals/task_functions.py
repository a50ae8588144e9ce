"""The functions the suite's lm-eval tasks call (`evals/tasks/utils.py` names them with `!function`):
read a task's test records, give lm-eval its prompt and target, extract the answer span from a
completion, and hand whole-task predictions to the metric library.

Data: `<data_dir>/records/test/<task>.jsonl`, the SFT corpus's record format (or an imported
benchmark file, `evals/importers.py`). `data_dir` comes from lm-eval's task metadata (`--metadata
'{"data_dir": ...}'` on its CLI, or `biomatrix eval run --data`), else from `BIOMATRIX_EVAL_DATA`.
A record that cannot be read is a rejection with its line and reason, printed and counted by the
job; it never stops the task.

Answers: the gold answer (the record's assistant turn) says what a model owes: one wrapped span of a
modality, or text. The answer filter takes the first span of that modality from a completion
(wrappers kept in the completion: special tokens are not skipped when decoding); no span is "no
answer", counted per task. Every score is a corpus-level aggregation over the task's samples, so a
metric's own definition (denominators, invalid outputs) holds; the per-sample values lm-eval logs
are the inputs of that aggregation.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from biomatrix_io.files import open_binary
from biomatrix_io.readers.text import json_object_line
from biomatrix_io.records import Provenance, Rejection
from data_pipeline.sft.rendered import RenderedError, parse_rendered
from megatron_bio.tokenizer.segments import WRAPPERS, Modality

from .metrics.molecules import as_smiles, canonical
from .metrics.registry import PAIRS, find
from .suite import QM9_PROPERTY_NAMES, QM9_UNIT_FACTORS, SuiteTask, by_corpus_task

DATA_ENV = "BIOMATRIX_EVAL_DATA"
NOTATIONS = {Modality.SMILES: "smiles", Modality.SELFIES: "selfies"}


# Reading ----------------------------------------------------------------------------------------
def resolve_data_dir(given: Optional[str]) -> Path:
    chosen = given or os.environ.get(DATA_ENV)
    if not chosen:
        raise FileNotFoundError(f"no evaluation data folder: pass --metadata '{{\"data_dir\": DIR}}' or set {DATA_ENV}")
    return Path(chosen)


def records_file(folder: Path, task: str) -> Path:
    return Path(folder) / "records" / "test" / f"{task}.jsonl"


def _doc(obj: dict, where: Provenance) -> dict | Rejection:
    """The flat document lm-eval stores (strings only: one Arrow schema for every record)."""
    missing = [key for key in ("id", "task", "messages", "target") if key not in obj]
    if missing:
        return Rejection(where, f"no {', '.join(map(repr, missing))} field")
    messages = obj["messages"]
    roles = [m.get("role") for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    if len(roles) != len(messages) or "user" not in roles or roles[-1] != "assistant":
        return Rejection(where, "'messages' is not a list of turns with a user turn and a final assistant turn")
    if not all(isinstance(m.get("content"), str) for m in messages):
        return Rejection(where, "a turn's 'content' is not a string")
    target = obj["target"]
    if isinstance(target, float) and not math.isfinite(target) or not isinstance(target, (str, int, float)):
        return Rejection(where, f"'target' is {target!r}, not a string or a finite number")
    system = [m["content"] for m in messages if m["role"] == "system"]
    user = [m["content"] for m in messages if m["role"] == "user"]
    return {"id": str(obj["id"]), "task": str(obj["task"]), "system": system[0] if system else "",
            "prompt": user[-1], "answer": messages[-1]["content"], "target": str(target),
            "record": json.dumps(obj, sort_keys=True)}


def read_test_records(path: Path) -> tuple[list[dict], list[Rejection]]:
    """Docs and rejections of one test file: lines read = docs + rejections (blank lines aside)."""
    docs, rejections = [], []
    with open_binary(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = Provenance(str(path), f"line {lineno}", f"{path.name}:{lineno}")
            obj = json_object_line(path, lineno, raw)
            found = obj if isinstance(obj, Rejection) else _doc(obj, where)
            (rejections if isinstance(found, Rejection) else docs).append(found)
    return docs, rejections


def load(task: str, data_dir: Optional[str] = None, metric_options: Optional[dict] = None, **_metadata) -> dict:
    """lm-eval's `custom_dataset`: the task's test split. Rejected records are printed, one line
    each, to stderr (the job counts them into its report). `metric_options` (run metadata) ride
    along in every doc to the metrics that take them (e.g. the QM9 stand-in's `train_size`)."""
    import datasets

    folder = resolve_data_dir(data_dir)
    path = records_file(folder, task)
    if not path.is_file():
        raise FileNotFoundError(f"task {task}: no test records at {path}")
    docs, rejections = read_test_records(path)
    for rejection in rejections:
        print(f"evaluation data: {rejection.provenance.location} of {path}: {rejection.reason}", file=sys.stderr)
    train = folder / "records" / "train" / f"{task}.jsonl"
    options = json.dumps(metric_options or {}, sort_keys=True)
    docs = [{**doc, "train": str(train) if train.is_file() else "", "options": options} for doc in docs]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)}) if docs else \
        datasets.DatasetDict({"test": datasets.Dataset.from_dict({k: [] for k in _DOC_FIELDS})})


_DOC_FIELDS = ("id", "task", "system", "prompt", "answer", "target", "record", "train", "options")


def prompt(doc: dict) -> str:
    return doc["prompt"]


def target(doc: dict) -> str:
    return doc["target"]


# Answers ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expected:
    """What a record's answer must be: one span of `modality` (None: free text) and, where the
    task has a length rule, exactly `length` body tokens."""

    modality: Optional[Modality]
    length: Optional[int] = None
    single: bool = True  # the gold answer is that span alone (constrained decoding applies)


def _spans(text: str) -> list:
    try:
        return parse_rendered(text)
    except RenderedError:
        return []


def suite_task(doc: dict) -> SuiteTask:
    found = by_corpus_task().get(doc["task"])
    if found is None:
        raise KeyError(f"record {doc['id']}: task {doc['task']!r} is not in the BioMatrix suite")
    return found


@functools.lru_cache(maxsize=65536)
def _expected(answer: str, prompt_text: str, record: str, task: str) -> Expected:
    entry = by_corpus_task()[task]
    segments = _spans(answer)
    wrapped = [s for s in segments if s.modality is not Modality.TEXT]
    loose_text = any(s.value.strip() for s in segments if s.modality is Modality.TEXT)
    if not wrapped:
        return Expected(None)
    single = len(wrapped) == 1 and not loose_text
    modality = wrapped[0].modality if single else entry.scoring.answer or wrapped[0].modality
    length = None
    if single and entry.length_rule:
        where, what = entry.length_rule
        if where == "prompt":
            given = [s for s in _spans(prompt_text) if s.modality is what]
            length = len(given[-1].value) if given else None
        else:
            value = json.loads(record).get("meta", {}).get(what)
            length = int(value) if isinstance(value, (int, float)) and value > 0 else None
    return Expected(modality, length, single)


def expected(doc: dict) -> Expected:
    return _expected(doc["answer"], doc["prompt"], doc["record"], doc["task"])


def extract(completion: str, modality: Optional[Modality]) -> str:
    """The body of the first span of `modality` in a completion ("" when it has none: no answer);
    the whole completion, stripped, for a text answer."""
    if modality is None:
        return completion.strip()
    start, end = WRAPPERS[modality]
    opened = completion.find(start)
    if opened < 0:
        return ""
    closed = completion.find(end, opened + len(start))
    return "" if closed < 0 else completion[opened + len(start):closed].strip()


def extract_answers(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    """lm-eval filter (`function: custom`): every repeat's answer span, per doc."""
    return [[extract(r, expected(doc).modality) for r in responses] for responses, doc in zip(resps, docs)]


# Scoring ----------------------------------------------------------------------------------------
def _references(doc: dict, entry: SuiteTask) -> tuple[list[str], dict]:
    """What the metric compares against, and the options the record implies."""
    record = json.loads(doc["record"])
    meta, given = record.get("meta") or {}, record.get("input") or {}
    kind = entry.scoring.reference
    if kind == "answer":
        return [doc["answer"]], {}
    if kind == "instruction":
        source = given.get("molecule") if isinstance(given, dict) else None
        return [json.dumps({"meta": meta, "input": source})], {}
    if kind == "property":
        name = str(meta.get("property", ""))
        factor = QM9_UNIT_FACTORS.get(str(meta.get("unit")), 1.0)
        value = meta.get("value")
        value = value * factor if isinstance(value, (int, float)) else value
        return [str(value)], {"property": QM9_PROPERTY_NAMES.get(name, name)}
    return list(meta.get("references") or [doc["target"]]), {}


def process_results(doc: dict, results: list[str]) -> dict:
    """Per sample: the inputs of each score's whole-task aggregation, and whether it answered.
    `results` holds the request's filtered answers: one list of repeats."""
    results = [answer for result in results for answer in (result if isinstance(result, list) else [result])]
    entry = suite_task(doc)
    wanted = expected(doc)
    references, implied = _references(doc, entry)
    options = {**json.loads(doc.get("options") or "{}"), **implied}
    if wanted.modality in NOTATIONS:
        options["notation"] = NOTATIONS[wanted.modality]
    out: dict = {}
    for score in entry.scoring.scores:
        out[score.name] = {"metric": score.metric, "figure": score.figure, "options": {**options, **dict(score.options)},
                           "predictions": list(results), "references": references,
                           "train": doc.get("train") if entry.scoring.train else None}
    out["no_answer"] = sum(1 for r in results if not r) / max(len(results), 1)
    return out


@functools.lru_cache(maxsize=16)
def _train_molecules(path: str, notation: str) -> Optional[list[str]]:
    """Canonical SMILES of a training split's answers (MOSES compares against canonical training SMILES)."""
    docs, _ = read_test_records(Path(path))
    found = (canonical(as_smiles(doc["target"], notation)) for doc in docs)
    return [smiles for smiles in found if smiles]


@functools.lru_cache(maxsize=256)
def _score(key: str) -> dict:
    metric_key, options, predictions, references, train = json.loads(key)
    metric = find(metric_key)
    accepted = inspect.signature(metric.score).parameters
    options = {name: value for name, value in options.items() if name in accepted}
    if metric.kind == PAIRS:
        return metric.score(predictions, references, **options)
    known = _train_molecules(train, options.get("notation", "smiles")) if train else None
    if "train" in metric.needs and known is None:
        return {"value": None, "counts": {"samples": len(predictions)}}
    return metric.score(predictions, known, **options)


def aggregate(items: list[dict]) -> float:
    """lm-eval aggregation of every score: the library metric over the task's samples, the score's
    figure read from its result (a `counts.<key>` figure as a share of the samples). Undefined
    figures (no valid answer to average over) are NaN."""
    if not items:
        return math.nan
    first = items[0]
    metric = find(first["metric"])
    if metric.kind == PAIRS:
        predictions = [item["predictions"][0] if item["predictions"] else "" for item in items]
        references = [item["references"] for item in items]
    else:
        predictions = [p for item in items for p in item["predictions"]]
        references = []
    key = json.dumps([first["metric"], first["options"], predictions, references, first["train"]], sort_keys=True)
    result = _score(key)
    figure = first["figure"]
    if figure.startswith("counts."):
        counts = result.get("counts", {})
        return counts.get(figure[len("counts."):], 0) / counts["samples"] if counts.get("samples") else math.nan
    value = result.get(figure)
    return math.nan if value is None else float(value)

