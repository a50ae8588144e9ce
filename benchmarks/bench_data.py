"""Data pipeline throughput per source type, and the Megatron-LM-style baseline, in one run.

For each source of the demo config (its own limits), one process (one core, one torch thread) runs
stage 1 (read + normalize: canonical forms, SELFIES, conformers, structure codes) and stage 2
(compose + tokenize + IndexedDatasetBuilder) over that source alone; tokens/s per core is tokens
written / (stage 1 + stage 2 seconds). Baseline for the text path, on the same PubMed texts: what
Megatron-LM's tools/preprocess_data.py does per document (Hugging Face Qwen3 tokenizer, encode,
IndexedDatasetBuilder), against our stage 2 on the same entities. From the rates, the core-hours
the paper's 304.4B-token corpus would take, category by category. Appends to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
# Which demo source stands for each category/view of the paper's corpus when estimating its cost.
STANDS_FOR = {
    "text/general": "factbook", "text/scientific": "pmc", "molecule/1d": "moses", "molecule/3d": "qm9",
    "molecule/other": "chebi", "protein/1d": "genes", "protein/3d": "chains", "protein/other": "swissprot",
    "cross/interleaved": "pubmed", "cross/3d": "complexes", "cross/other": "affinity",
}


def _one_source(config, name: str, root: Path) -> dict:
    from data_pipeline.build import Layout, ensure_lexicon, run_stage1, run_stage2
    from data_pipeline.units import plan, units_of

    single = copy.deepcopy(config)
    single.out = str(root / name)
    # An interleaving source needs the lexicon: its sources' stage 1 runs too, untimed.
    lexicon = [n for n, s in config.sources.items() if s.lexicon] if config.sources[name].interleave else []
    single.sources = {n: config.sources[n] for n in [name, *lexicon]}
    planned = plan(single, Layout(Path(single.out)).work)
    everything = units_of(planned)
    units = [u for u in everything if u.source == name]
    for unit in everything:
        if unit.source != name:
            run_stage1(single, unit, planned)
    start = time.perf_counter()
    for unit in units:
        run_stage1(single, unit, planned)
    stage1 = time.perf_counter() - start
    ensure_lexicon(single, everything)
    start = time.perf_counter()
    done = [run_stage2(single, unit, everything) for unit in units]
    stage2 = time.perf_counter() - start
    tokens = sum(p["tokens"] for d in done for p in d["prefixes"].values())
    records = sum(u.entries for u in units)
    return {"source": name, "reader": config.sources[name].reader, "records": records, "tokens": tokens,
            "stage1_s": stage1, "stage2_s": stage2, "tokens_per_s": tokens / (stage1 + stage2),
            "prefixes": sorted({p for d in done for p in d["prefixes"]})}


def _baseline_text(config, root: Path) -> tuple[dict, dict]:
    """Megatron-LM-style (HF Qwen3 tokenizer + IndexedDatasetBuilder) vs our stage 2, same texts."""
    import numpy as np
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder
    from transformers import AutoTokenizer

    from data_pipeline.build import read_entities
    from data_pipeline.compose import Lexicon, compose
    from data_pipeline.shards import write_unit
    from megatron_bio.tokenizer.base import default_base_dir

    texts = []
    for tar in sorted((root / "pubmed" / "work" / "stage1").glob("pubmed-*.tar")):
        texts += [e for e in read_entities(tar)]
    plain = [dict(e, interleave=False) for e in texts]
    hf = AutoTokenizer.from_pretrained(str(default_base_dir()))
    start = time.perf_counter()
    builder = IndexedDatasetBuilder(str(root / "baseline.bin"), dtype=np.int32)
    tokens = 0
    for entity in plain:
        body = f"{entity['title']}\n\n{entity['text']}" if entity.get("title") else entity["text"]
        ids = hf(body, add_special_tokens=False)["input_ids"] + [hf.eos_token_id]
        builder.add_document(np.asarray(ids, dtype=np.int32), [len(ids)])
        tokens += len(ids)
    builder.finalize(str(root / "baseline.idx"))
    baseline_s = time.perf_counter() - start
    from data_pipeline.build import _tokenizer

    tokenizer = _tokenizer(config)
    lexicon = Lexicon({}, config.compose.interleave)
    start = time.perf_counter()
    documents = (d for e in plain for d in compose(e, config.compose, lexicon))
    stats = write_unit(documents, tokenizer, root / "ours_text", config.compose.batch_size)
    ours_s = time.perf_counter() - start
    ours_tokens = sum(p["tokens"] for p in stats["prefixes"].values())
    return ({"documents": len(plain), "tokens": tokens, "seconds": baseline_s},
            {"documents": stats["written"], "tokens": ours_tokens, "seconds": ours_s})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "launch/configs/data/demo.yaml"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    import torch

    from data_pipeline.compose import PAPER_BUDGET_B
    from data_pipeline.config import DataConfig
    from biomatrix_io.config import load_config

    torch.set_num_threads(1)
    config = load_config(DataConfig, args.config)
    root = Path(tempfile.mkdtemp(prefix="bench_data_"))
    from data_pipeline.build import _cached, tokenizer_fingerprint
    from data_pipeline.normalize import Normalizer
    from data_pipeline.units import digest

    tokenizer_fingerprint(config)  # loads the tokenizer: a once-per-worker cost, kept out of the rates
    _cached("normalizer:" + digest(config.normalize), lambda: Normalizer(config.normalize))
    try:
        rows = [_one_source(config, name, root) for name in config.sources]
        baseline, ours = _baseline_text(config, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    by_source = {r["source"]: r for r in rows}
    lines = [
        f"\n## Data pipeline: tokens/s per core by source ({datetime.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, one process and one torch thread per measurement)\n",
        "`benchmarks/bench_data.py` over the demo config's sources and limits. Stage 1 = read + normalize "
        "(canonical SMILES, SELFIES, conformers, structure codes); stage 2 = compose + tokenize + write.\n",
        "| source | reader | records | tokens | stage 1 s | stage 2 s | tokens/s/core | prefixes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {r['source']} | {r['reader']} | {r['records']:,} | {r['tokens']:,} | {r['stage1_s']:.2f} | "
              f"{r['stage2_s']:.2f} | {r['tokens_per_s']:,.0f} | {', '.join(r['prefixes'])} |" for r in rows]
    lines += [
        "\nText path, same PubMed texts, tokenize + write only:\n",
        "| pipeline | documents | tokens | seconds | tokens/s/core |", "|---|---:|---:|---:|---:|",
        f"| Megatron-LM style (HF Qwen3 tokenizer + IndexedDatasetBuilder, per document) | {baseline['documents']:,} | "
        f"{baseline['tokens']:,} | {baseline['seconds']:.2f} | {baseline['tokens'] / baseline['seconds']:,.0f} |",
        f"| ours (compose + batched unified tokenizer + IndexedDatasetBuilder) | {ours['documents']:,} | "
        f"{ours['tokens']:,} | {ours['seconds']:.2f} | {ours['tokens'] / ours['seconds']:,.0f} |",
        "\nCore-hours for the paper's 304.4B tokens at these rates (each category at the rate of the demo source "
        "that stands for it):\n",
        "| prefix | paper tokens (B) | stands for it | tokens/s/core | core-hours |", "|---|---:|---|---:|---:|",
    ]
    total = 0.0
    for prefix, budget in PAPER_BUDGET_B.items():
        row = by_source.get(STANDS_FOR[prefix])
        if row is None or not row["tokens"] or prefix not in row["prefixes"]:
            lines.append(f"| {prefix} | {budget} | {STANDS_FOR[prefix]} | n/a | not estimable (no tokens of this view) |")
            continue
        hours = budget * 1e9 / row["tokens_per_s"] / 3600
        total += hours
        lines.append(f"| {prefix} | {budget} | {row['source']} | {row['tokens_per_s']:,.0f} | {hours:,.0f} |")
    lines.append(f"\nTotal over the estimable categories: {total:,.0f} core-hours "
                 f"({total / 64 / 24:,.1f} days on 64 cores). molecule/3d is estimated from QM9, whose geometries "
                 "come with the data; a corpus that needs ETKDG+MMFF conformers for every molecule runs at the "
                 "conformer rate instead (drugs above: a fifth of the molecules get one, and stage 1 takes "
                 "~30x longer than for MOSES). protein/3d needs the protein structure tokenizer (issue 8).\n")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        with open(RESULTS, "a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
