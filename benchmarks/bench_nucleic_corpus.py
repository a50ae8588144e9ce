"""The nucleic-acid corpus on the packaged sources: documents and tokens per document kind and
source, and build throughput, in one run.

Per source (a reader over `packaged:NAME`, with a limit where the source is large), one process
(one torch thread) runs the data build's stage 1 (read + normalize) and stage 2 (compose into
windows, gene-protein pairs and interleaved text, tokenize, write the indexed datasets) over that
source alone, with the default `compose.nucleic` settings; records/s and bases/s count the
source's entries and bases over both stages (CPU seconds of the process: other jobs share the
cores). The baseline is the reader alone over the same entries (through the record boundary, as
the pipeline reads; the faster of two runs, after the build), so the columns show what
normalizing, composing and tokenizing add to parsing. Figures go to benchmarks/RESULTS.md through `results.publish`.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import itertools
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

from results import RESULTS, publish

clock = time.process_time

# source -> (reader, packaged locator, limit in entries: None = all)
SOURCES = {
    "kaptive": ("genbank", "kaptive_genbank", None),
    "leptospira": ("genbank", "any2fasta_genbank", None),
    "emboss_genbank": ("genbank", "emboss_genbank", None),
    "emboss_embl": ("embl", "emboss_embl", None),
    "diphtheriae": ("nucleotide_fasta", "pyrodigal_genome_fasta", None),
    "rrna_16s": ("rrna_blast_db", "ncbi_16s_rrna", 2000),
    "rrna_organelle": ("rrna_blast_db", "ncbi_organelle_rrna", 1000),
}
KINDS = ("nucleic/genome", "nucleic/rna", "nucleic/gene_protein", "nucleic/interleaved")


def _reader_alone(source) -> tuple[float, Counter]:
    """CPU seconds of reading the source's entries, and its records and rejections by level."""
    from biomatrix_io.records import Rejection
    from data_pipeline.catalog import reader, resolve_paths

    read = reader(source.reader, source.options)
    counts: Counter = Counter()
    start = clock()
    for item in itertools.islice((i for p in resolve_paths(source.paths, "bench") for i in read(p)), source.limit):
        if isinstance(item, Rejection):
            counts["feature rejections" if " feature " in item.provenance.location else "record rejections"] += 1
        else:
            counts["records"] += 1
            counts["bases"] += len(item.sequence)
    return clock() - start, counts


def _build(config, name: str, root: Path) -> dict:
    from data_pipeline.build import Layout, ensure_lexicon, read_entities, run_stage1, run_stage2
    from data_pipeline.units import plan, units_of

    config.out = str(root / name)
    planned = plan(config, Layout(Path(config.out)).work)
    units = units_of(planned)
    start = clock()
    stage1 = [run_stage1(config, unit, planned) for unit in units]
    stage1_s = clock() - start
    ensure_lexicon(config, units)
    start = clock()
    stage2 = [run_stage2(config, unit, units) for unit in units]
    stage2_s = clock() - start
    kinds: dict[str, Counter] = {kind: Counter() for kind in KINDS}
    for done in stage2:
        for prefix, part in done["prefixes"].items():
            kinds[prefix].update({"documents": part["documents"], "tokens": part["tokens"]})
    entities = [e for unit in units for e in read_entities(Layout(Path(config.out)).stage1(unit)[0])]
    return {"entries": sum(d["records"] for d in stage1), "written": sum(d["written"] for d in stage1),
            "bases": sum(len(e["sequence"]) for e in entities), "stage1_s": stage1_s, "stage2_s": stage2_s, "kinds": kinds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    args = parser.parse_args()
    import torch

    from biomatrix_io.config import from_dict
    from data_pipeline.build import _cached, tokenizer_fingerprint
    from data_pipeline.config import DataConfig
    from data_pipeline.normalize import Normalizer
    from data_pipeline.units import digest

    torch.set_num_threads(1)
    began = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_nucleic_corpus_") as folder:
        for name in args.sources:
            reader_name, locator, limit = SOURCES[name]
            config = from_dict(DataConfig, {"records_per_unit": 2000, "sources": {
                name: {"reader": reader_name, "paths": [f"packaged:{locator}"], "limit": limit}}})
            # Once-per-worker costs kept out of the rates: the tokenizer, the structure tokenizers,
            # megatron-core's import (the shard writer); the reader runs after the build (warm files).
            tokenizer_fingerprint(config)
            _cached("normalizer:" + digest(config.normalize), lambda: Normalizer(config.normalize))
            importlib.import_module("megatron.core.datasets.indexed_dataset")

            built = _build(config, name, Path(folder))
            (reading_s, counts), (again_s, _) = _reader_alone(config.sources[name]), _reader_alone(config.sources[name])
            reading_s = min(reading_s, again_s)
            rows.append({"source": name, "reader": reader_name, "locator": locator, "limit": limit, "reading_s": reading_s,
                         "counts": counts, **built})
    wall = time.perf_counter() - began
    today = datetime.date.today()
    lines = [
        f"\n## Nucleic-acid corpus: documents, tokens and build throughput by source ({today}, {platform.machine()}, "
        "2 cores shared with other jobs, one process and one torch thread, CPU seconds of the process)\n",
        "`benchmarks/bench_nucleic_corpus.py`: each packaged source alone through stage 1 (read + normalize) and "
        "stage 2 (compose with the default `compose.nucleic`: 4,096-base windows, pairs and interleaved mentions of at "
        "most 6,000 bases, 6,000 embedded letters per interleaved document; tokenize; write). Entries = records + "
        "record rejections + feature rejections (a feature's rejection is an entry of its own, its record kept; "
        "limits count entries); written = records. Baseline: the reader alone over the same entries, through the record "
        "boundary (the faster of two runs).\n",
        "Documents and tokens per document kind (EOD included):\n",
        "| source | reader | limit | records | genome docs | genome tokens | rna docs | rna tokens | pair docs | "
        "pair tokens | interleaved docs | interleaved tokens | tokens | tokens/base |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total: Counter = Counter()
    for r in rows:
        k = r["kinds"]
        tokens = sum(k[kind]["tokens"] for kind in KINDS)
        cells = [f"{k[kind]['documents']:,} | {k[kind]['tokens']:,}" for kind in KINDS]
        lines.append(f"| `{r['locator']}` | {r['reader']} | {r['limit'] or 'all'} | {r['written']:,} | {' | '.join(cells)} | "
                     f"{tokens:,} | {tokens / r['bases']:.2f} |")
        total.update({"records": r["written"], "bases": r["bases"], "tokens": tokens,
                      **{f"{kind} {m}": k[kind][m] for kind in KINDS for m in ("documents", "tokens")}})
    cells = [f"{total[kind + ' documents']:,} | {total[kind + ' tokens']:,}" for kind in KINDS]
    lines.append(f"| all | | | {total['records']:,} | {' | '.join(cells)} | {total['tokens']:,} | "
                 f"{total['tokens'] / total['bases']:.2f} |")
    lines += [
        "\nBuild throughput (stage 1 + stage 2) against the reader alone:\n",
        "| source | entries | records | record rejections | feature rejections | Mb | reader CPU s | stage 1 CPU s | "
        "stage 2 CPU s | records/s | Mb/s | reader alone Mb/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c, seconds = r["counts"], r["stage1_s"] + r["stage2_s"]
        assert r["entries"] == c["records"] + c["record rejections"] + c["feature rejections"] and r["written"] == c["records"]
        lines.append(f"| `{r['locator']}` | {r['entries']:,} | {r['written']:,} | {c['record rejections']:,} | "
                     f"{c['feature rejections']:,} | {r['bases'] / 1e6:.2f} | {r['reading_s']:.2f} | {r['stage1_s']:.2f} | "
                     f"{r['stage2_s']:.2f} | {r['written'] / seconds:,.0f} | {r['bases'] / 1e6 / seconds:.2f} | "
                     f"{c['bases'] / 1e6 / r['reading_s']:.2f} |")
    seconds = sum(r["stage1_s"] + r["stage2_s"] for r in rows)
    lines.append(f"| all | {sum(r['entries'] for r in rows):,} | {total['records']:,} | | | {total['bases'] / 1e6:.2f} | "
                 f"{sum(r['reading_s'] for r in rows):.2f} | {sum(r['stage1_s'] for r in rows):.2f} | "
                 f"{sum(r['stage2_s'] for r in rows):.2f} | {total['records'] / seconds:,.0f} | "
                 f"{total['bases'] / 1e6 / seconds:.2f} | |")
    lines.append(f"\nBenchmark wall time {wall:.0f} s.")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
