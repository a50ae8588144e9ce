"""Stage 2, second half: documents -> ids -> Megatron indexed datasets, one prefix per
category/view; then the merge of unit outputs, the manifests and the blend.

Files are written with megatron-core's `IndexedDatasetBuilder` (int32 ids: the vocabulary exceeds
uint16), each document followed by the tokenizer's EOD. A unit writes `<unit>/<category>_<view>.bin/.idx`;
the merge joins them per prefix, in plan order, with `IndexedDatasetBuilder.add_index`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from biomatrix_io.files import atomic
from biomatrix_io.records import reason_group
from megatron_bio.tokenizer.errors import TokenizationError
from megatron_bio.tokenizer.segments import WRAPPERS
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

from .compose import NUCLEIC_BUDGET_B, PAPER_BUDGET_B, PREFIXES, Composed

DTYPE = np.int32


def flat_name(prefix: str) -> str:
    return prefix.replace("/", "_")


class ModalityCounter:
    """Tokens per modality of an id sequence: inside a wrapper pair, the pair's modality; the
    wrappers and EOD are `control`; everything else is `text`. Vectorized over whole documents."""

    def __init__(self, tokenizer: BioMatrixTokenizer) -> None:
        self.names = ["text", "control"] + [m.value for m in WRAPPERS]
        self.start_ids = np.array([tokenizer.wrapper_ids(m)[0] for m in WRAPPERS])
        self.end_ids = np.array([tokenizer.wrapper_ids(m)[1] for m in WRAPPERS] + [tokenizer.eod])
        self.modality_of = np.zeros(tokenizer.vocab_size, dtype=np.int64)
        self.modality_of[self.start_ids] = np.arange(2, 2 + len(WRAPPERS))

    def __call__(self, ids: np.ndarray) -> Counter:
        position = np.arange(len(ids))
        is_start, is_end = np.isin(ids, self.start_ids), np.isin(ids, self.end_ids)
        last_start = np.maximum.accumulate(np.where(is_start, position, -1))
        last_end = np.maximum.accumulate(np.where(is_end, position, -1))
        inside = (last_start > last_end) & ~is_start
        kind = np.where(is_start | is_end, 1, 0)
        kind[inside] = self.modality_of[ids[last_start[inside]]]
        counts = np.bincount(kind, minlength=len(self.names))
        return Counter({name: int(c) for name, c in zip(self.names, counts) if c})


def _encoded(tokenizer: BioMatrixTokenizer, batch: list[Composed], rejected: Counter) -> Iterator[tuple[str, list[int]]]:
    """(prefix, ids) per document; a document the tokenizer refuses is counted and left out
    (the batch is retried one document at a time to find it)."""
    try:
        yield from zip((p for p, _ in batch), tokenizer.encode_batch([d for _, d in batch]))
        return
    except TokenizationError:
        pass
    for prefix, document in batch:
        try:
            yield prefix, tokenizer.encode(document)
        except TokenizationError as error:
            rejected[f"{prefix}: {reason_group(error.reason)}"] += 1


def write_unit(documents: Iterable[Composed], tokenizer: BioMatrixTokenizer, directory: Path, batch_size: int) -> dict:
    """Tokenize and write one unit's documents into `directory` (created whole, atomically)."""
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    temporary = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    builders: dict[str, IndexedDatasetBuilder] = {}
    stats: dict[str, dict] = defaultdict(lambda: {"documents": 0, "tokens": 0, "tokens_by_modality": Counter()})
    rejected: Counter = Counter()
    composed = 0
    count = ModalityCounter(tokenizer)
    batch: list[Composed] = []

    def flush() -> None:
        for prefix, ids in _encoded(tokenizer, batch, rejected):
            if prefix not in builders:
                builders[prefix] = IndexedDatasetBuilder(str(temporary / f"{flat_name(prefix)}.bin"), dtype=DTYPE)
            array = np.asarray(ids + [tokenizer.eod], dtype=DTYPE)
            builders[prefix].add_document(array, [len(array)])
            entry = stats[prefix]
            entry["documents"] += 1
            entry["tokens"] += len(array)
            entry["tokens_by_modality"].update(count(array))
        batch.clear()

    for document in documents:
        composed += 1
        batch.append(document)
        if len(batch) == batch_size:
            flush()
    flush()
    for prefix, builder in builders.items():
        builder.finalize(str(temporary / f"{flat_name(prefix)}.idx"))
    if directory.exists():
        shutil.rmtree(directory)
    os.rename(temporary, directory)
    prefixes = {p: {**s, "tokens_by_modality": dict(sorted(s["tokens_by_modality"].items()))} for p, s in sorted(stats.items())}
    return {"composed": composed, "written": sum(s["documents"] for s in prefixes.values()),
            "rejected": dict(sorted(rejected.items())), "prefixes": prefixes}


def merge_prefix(prefix: str, unit_dirs: list[Path], shards: Path) -> bool:
    """Join the units' parts of one prefix into `shards/<category>/<view>.bin/.idx`; False if no
    unit wrote this prefix. The .bin and .idx appear under their names only when complete."""
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    parts = [d / flat_name(prefix) for d in unit_dirs if (d / f"{flat_name(prefix)}.idx").is_file()]
    if not parts:
        return False
    final = shards / prefix
    # The .bin is renamed into place before the .idx: readers open a prefix by its index.
    with atomic(final.with_suffix(".idx")) as idx_path, atomic(final.with_suffix(".bin")) as bin_path:
        builder = IndexedDatasetBuilder(str(bin_path), dtype=DTYPE)
        for part in parts:
            builder.add_index(str(part))
        builder.finalize(str(idx_path))
    return True


def blend(token_counts: dict[str, int], weights: str, nucleic_budget_b: dict[str, float] = NUCLEIC_BUDGET_B) -> dict[str, float]:
    """Weight per present prefix: the paper's token budget, ours for the nucleic prefixes it lacks
    (renormalized over the prefixes this build has), or the tokens actually written."""
    present = [p for p in PREFIXES if token_counts.get(p)]
    budget = {**PAPER_BUDGET_B, **nucleic_budget_b}
    raw = {p: budget[p] if weights == "paper" else token_counts[p] for p in present}
    total = sum(raw.values())
    return {p: round(raw[p] / total, 6) for p in present}


def read_manifest(shards: Path, prefix: str) -> dict:
    return json.loads((shards / f"{prefix}.manifest.json").read_text())
