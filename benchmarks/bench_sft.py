"""The SFT corpus builder on the demo corpus, in one run (issue 20, "Done when": benchmarks).

Measured side by side, in one process (one torch thread, the Hugging Face tokenizers library held
to one thread: TOKENIZERS_PARALLELISM=false), CPU seconds of the process (other jobs share the cores):

1. Build throughput: the demo SFT build (`data_pipeline.sft.build`) run stage by stage with the
   functions `build(config, workers=1)` calls, each stage timed: plan + normalize (stage 1, the
   pretraining build's own), examples (the task families), split table + samples (render, tokenize,
   mask) and merge (pack, shards, records, manifest). Examples per second per core over the whole
   build and per stage. The tokenizer and the normalizer are built before the clock starts (a
   once-per-worker cost, reported apart). A second `build(config, workers=1)` over the finished
   folder must return the same manifest: the staged run is the build.
2. The tokenizing step against the obvious baseline, on every record the build wrote (one
   conversation per example, all splits): the exported Hugging Face tokenizer
   (`write_hf_tokenizer_dir`, `AutoTokenizer.from_pretrained`) rendering and tokenizing each
   conversation one at a time with `apply_chat_template(messages, tokenize=True)` (once for the
   full render; twice with the generation prompt, which a loss mask needs), against our batched
   `ChatEncoder.samples` (batches of 128, as the build), asserting both give the same ids and that
   our mask starts where HF's prompt ends.
3. Packing: the training samples' lengths in the build's own order (plan order), packed by every
   packer of `packing.PACKERS` (`naive` = that order, a new pack when the next sample does not fit)
   and, for scale, no packing at all (one sample per row, padded to the length). Per packer: packs,
   efficiency (real tokens / packs x length; target >= 97% at 2,048), samples per pack and the
   attention work of a block-diagonal causal mask, sum(s_i^2) over a pack's samples, against the
   T^2 of a dense mask over the pack. At the config's length (2,048) from the build itself; at the
   other `--lengths` the samples stage reruns over a copy of the build's work folder with that
   sequence length (samples longer than it are rejected, as in a build), and the same packers run.
4. Composition: examples per task and category and split (the records), tokens of one render per
   example (from pass 2), and the packed training samples and tokens (repeats included); a plot
   (`benchmarks/sft_composition.png`).

Figures go to benchmarks/RESULTS.md through `results.publish`.
"""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # before `tokenizers` loads: one core, as the brief measures

import argparse
import dataclasses
import datetime
import json
import platform
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from results import RESULTS, publish

clock = time.process_time
PLOT = Path(__file__).with_name("sft_composition.png")
BATCH = 128  # conversations per `ChatEncoder.samples` call, as `run_samples` flushes


class Timer:
    """CPU and wall seconds of named steps, in the order they ran."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = {}

    def __call__(self, name: str, work, *args):
        cpu, wall = clock(), time.perf_counter()
        result = work(*args)
        spent = self.steps.setdefault(name, [0.0, 0.0])
        spent[0] += clock() - cpu
        spent[1] += time.perf_counter() - wall
        return result


def _staged_build(config, timer: Timer) -> tuple[dict, list]:
    """`build(config, workers=1)`, stage by stage: the same functions in the same order."""
    from data_pipeline.build import Layout, init_worker, run_stage1
    from data_pipeline.sft.build import _imported, ensure_splits, merge, run_examples, run_samples
    from data_pipeline.units import plan, units_of

    init_worker()
    planned = timer("plan + normalize", plan, config, Layout(Path(config.out)).work)
    units = units_of(planned)
    for unit in units:
        if not _imported(config, unit):
            timer("plan + normalize", run_stage1, config, unit, planned)
    for unit in units:
        timer("examples", run_examples, config, unit, planned)
    timer("split table", ensure_splits, config, units)
    for unit in units:
        timer("samples", run_samples, config, unit, units)
    manifest = timer("merge", merge, config, planned)
    return manifest, units


def _lengths(config, units, split: str = "train") -> tuple[np.ndarray, int]:
    """A split's sample lengths in the order the merge packs them, and its loss tokens."""
    from data_pipeline.sft.build import SFTLayout

    layout = SFTLayout(Path(config.out))
    lengths, loss = [], 0
    for unit in units:
        folder = layout.samples(unit)[0]
        lengths.append(np.load(folder / f"{split}.lengths.npy"))
        loss += int(np.load(folder / f"{split}.loss_mask.npy").sum())
    return np.concatenate(lengths), loss


def _packing_rows(lengths: np.ndarray, capacity: int) -> list[dict]:
    from data_pipeline.sft.packing import PACKERS, efficiency, pack

    values = lengths.tolist()
    squares = lengths.astype(np.float64) ** 2
    rows = [{"packer": "none (one sample per row, padded)", "packs": len(values), "seconds": 0.0,
             "efficiency": float(lengths.sum()) / (len(values) * capacity), "per_pack": 1.0, "max_per_pack": 1,
             "attention": float(squares.sum()) / (len(values) * capacity ** 2)}]
    for name in PACKERS:
        start = clock()
        packs = pack(values, capacity, name)
        seconds = clock() - start
        rows.append({"packer": name, "packs": len(packs), "seconds": seconds,
                     "efficiency": efficiency(values, packs, capacity), "per_pack": len(values) / len(packs),
                     "max_per_pack": max(len(p) for p in packs),
                     # block-diagonal causal work over dense causal work, summed over packs (packer-independent numerator)
                     "attention": float(sum(squares[p].sum() for p in packs)) / (len(packs) * capacity ** 2)})
    return rows


def _other_length(config, units, length: int, root: Path) -> tuple[np.ndarray, int, float]:
    """The samples stage at another sequence length over a copy of the build's work folder."""
    from data_pipeline.sft.build import ensure_splits, run_samples

    other = dataclasses.replace(config, out=str(root / f"len{length}"), sequence_length=length)
    shutil.copytree(Path(config.out) / "work", Path(other.out) / "work",
                    ignore=lambda folder, names: ["samples"] if Path(folder).name == "work" else [])
    start = clock()
    ensure_splits(other, units)
    dones = [run_samples(other, unit, units) for unit in units]
    seconds = clock() - start
    rejected = sum(n for d in dones for t in d["tasks"].values() for reason, n in t["rejected"].items()
                   if "longer than the sequence length" in reason)
    lengths, _ = _lengths(other, units)
    shutil.rmtree(other.out, ignore_errors=True)
    return lengths, rejected, seconds


def _records(root: Path) -> list[dict]:
    return [json.loads(line) for split in ("train", "valid", "test")
            for path in sorted((root / "records" / split).glob("*.jsonl")) for line in open(path)]


def _tokenizers(config, records: list[dict], root: Path) -> dict:
    """HF apply_chat_template one conversation at a time vs our batched ChatEncoder.samples."""
    from transformers import AutoTokenizer

    from data_pipeline.build import build_tokenizer
    from data_pipeline.sft.content import Rejected
    from data_pipeline.sft.render import ChatEncoder
    from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir

    tokenizer = build_tokenizer(config)
    hf = AutoTokenizer.from_pretrained(str(write_hf_tokenizer_dir(tokenizer, root / "hf_tokenizer")))
    conversations = [r["messages"] for r in records]
    hf.apply_chat_template(conversations[0], tokenize=True, return_dict=False)  # compiles the template once
    start = clock()
    full = [hf.apply_chat_template(m, tokenize=True, return_dict=False) for m in conversations]
    hf_full_s = clock() - start
    start = clock()
    prompts = [hf.apply_chat_template(m[:-1], tokenize=True, add_generation_prompt=True, return_dict=False)
               for m in conversations]
    hf_prompt_s = clock() - start
    encoder = ChatEncoder(tokenizer, config.sequence_length)
    start = clock()
    ours = [s for i in range(0, len(conversations), BATCH) for s in encoder.samples(conversations[i:i + BATCH])]
    ours_s = clock() - start
    tokens = []
    for record, ids, prompt, samples in zip(records, full, prompts, ours):
        assert not isinstance(samples, Rejected), (record["id"], samples)
        [sample] = samples  # one assistant turn per built record
        assert sample.tokens.tolist() == ids, f"{record['id']}: ids differ from apply_chat_template"
        assert int(np.argmax(sample.loss_mask)) == len(prompt) and ids[:len(prompt)] == prompt, record["id"]
        tokens.append(len(ids))
    return {"conversations": len(conversations), "tokens": sum(tokens), "per_record": tokens,
            "hf_full_s": hf_full_s, "hf_prompt_s": hf_prompt_s, "ours_s": ours_s}


def _composition(manifest: dict, records: list[dict], tokens: list[int]) -> tuple[list[dict], dict]:
    categories = {t["name"]: t["category"] for t in manifest["tasks"]}
    rendered: dict[str, Counter] = defaultdict(Counter)
    for record, n in zip(records, tokens):
        rendered[record["task"]][record["split"]] += n
    rows = []
    for task, counts in manifest["per_task"].items():
        rows.append({"task": task, "category": categories[task],
                     "examples": {s: counts["written"].get(s, 0) for s in ("train", "valid", "test")},
                     "tokens": {s: rendered[task][s] for s in ("train", "valid", "test")},
                     "samples": counts["samples"].get("train", 0), "packed": counts["tokens"].get("train", 0),
                     "repeats": counts["repeats"]})
    rows.sort(key=lambda r: (r["category"], r["task"]))
    by_category: dict[str, dict] = {}
    for row in rows:
        entry = by_category.setdefault(row["category"], {"tasks": 0, "examples": Counter(), "tokens": Counter(),
                                                         "samples": 0, "packed": 0})
        entry["tasks"] += 1
        entry["examples"].update(row["examples"])
        entry["tokens"].update(row["tokens"])
        entry["samples"] += row["samples"]
        entry["packed"] += row["packed"]
    return rows, by_category


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["task"] for r in rows]
    y = np.arange(len(rows))[::-1]
    colours = {c: plt.get_cmap("tab10")(i) for i, c in enumerate(sorted({r["category"] for r in rows}))}
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 1.2 + 0.17 * len(rows)), sharey=True)
    left_edge = np.zeros(len(rows))
    for split, shade in (("train", 1.0), ("valid", 0.6), ("test", 0.35)):
        values = np.array([r["examples"][split] for r in rows])
        left.barh(y, values, left=left_edge, color=[colours[r["category"]] for r in rows], alpha=shade,
                  label=split, height=0.8)
        left_edge += values
    left.set_xlabel("examples (train / valid / test, dark to light)")
    left.set_yticks(y, names, fontsize=6)
    right.barh(y, [r["packed"] / 1e3 for r in rows], color=[colours[r["category"]] for r in rows], height=0.8)
    right.set_xlabel("packed training tokens (thousands, repeats included)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    right.legend(handles, list(colours), fontsize=6, loc="lower right")
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=7)
        axis.xaxis.label.set_size(7)
    figure.suptitle("Demo SFT corpus: examples and packed tokens per task", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "launch/configs/sft_data/demo.yaml"))
    parser.add_argument("--lengths", type=int, nargs="*", default=[4096, 1024],
                        help="sequence lengths besides the config's own to rerun the samples stage at and pack")
    parser.add_argument("--plot", default=str(PLOT), help="where the composition plot is written")
    parser.add_argument("--results", default=str(RESULTS), help="file the figures are appended to")
    parser.add_argument("--no-write", action="store_true", help="print only (the plot is still written)")
    args = parser.parse_args()
    import torch

    from biomatrix_io.config import load_config
    from data_pipeline.build import _cached, build_tokenizer, tokenizer_fingerprint
    from data_pipeline.normalize import Normalizer
    from data_pipeline.sft.build import build
    from data_pipeline.sft.config import SFTDataConfig
    from data_pipeline.units import digest

    torch.set_num_threads(1)
    total_start = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="bench_sft_"))
    try:
        config = load_config(SFTDataConfig, args.config, [f"out={root / 'demo'}"])
        start = clock()
        tokenizer_fingerprint(config)  # builds the tokenizer: once per worker, kept out of the rates
        _cached("normalizer:" + digest(config.normalize), lambda: Normalizer(config.normalize))
        warmup_s = clock() - start
        timer = Timer()
        manifest, units = _staged_build(config, timer)
        again = build(config, workers=1, progress=False)
        assert again == manifest, "the staged run and build(config, workers=1) disagree"
        records = _records(Path(config.out))
        compared = _tokenizers(config, records, root)
        train, loss_tokens = _lengths(config, units)
        packing = {config.sequence_length: (train, 0, None)}
        for length in args.lengths:
            packing[length] = _other_length(config, units, length, root)
        rows, by_category = _composition(manifest, records, compared["per_record"])
        _plot(rows, Path(args.plot))
        vocab = build_tokenizer(config).vocab_size
    finally:
        shutil.rmtree(root, ignore_errors=True)
    total_s = time.perf_counter() - total_start

    offered = sum(t["offered"] for t in manifest["per_task"].values())
    examples = sum(t["examples"] for t in manifest["per_task"].values())
    written = sum(sum(t["written"].values()) for t in manifest["per_task"].values())
    entries = sum(u.entries for u in units)
    build_cpu = sum(cpu for cpu, _ in timer.steps.values())
    build_wall = sum(wall for _, wall in timer.steps.values())
    lines = [
        f"\n## SFT corpus: packing, build throughput, composition ({datetime.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, one process, one torch thread, tokenizers on one thread, CPU seconds of the process)\n",
        f"`benchmarks/bench_sft.py` over `{Path(args.config).name}` ({len(manifest['tasks'])} tasks, {len(units)} units, "
        f"{entries:,} source records, vocabulary {vocab:,}). Benchmark wall time {total_s / 60:.1f} min.\n",
        f"**Packing** of the training samples at each length (naive = the build's own sample order; at "
        f"{config.sequence_length} from the build, at the others the samples stage rerun at that length). Attention = "
        "sum over packs of sum(s_i^2) / (packs x T^2): the work of a block-diagonal causal mask as a share of a dense one.\n",
        "| length | packer | samples | packs | efficiency | samples/pack (max) | attention sum(s_i^2)/T^2 | pack s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for length, (lengths, rejected, _) in packing.items():
        for row in _packing_rows(lengths, length):
            lines.append(f"| {length:,} | {row['packer']} | {len(lengths):,} | {row['packs']:,} | {row['efficiency']:.2%} | "
                         f"{row['per_pack']:.1f} ({row['max_per_pack']}) | {row['attention']:.3f} | {row['seconds']:.3f} |")
    extra = " ".join(f"At {length:,}: {rejected:,} samples longer than it rejected, samples stage {seconds:.1f} CPU s."
                      for length, (_, rejected, seconds) in packing.items() if seconds is not None)
    best = max((r for r in _packing_rows(train, config.sequence_length)), key=lambda r: r["efficiency"])
    verdict = "meets" if best["efficiency"] >= 0.97 else "does NOT meet"
    lines.append(f"\nAt {config.sequence_length:,}: {best['packer']} {best['efficiency']:.2%}, {verdict} the 97% target; "
                 f"the build's packer ({config.packer}) gave {manifest['splits']['train']['packing_efficiency']:.2%} in the "
                 f"manifest. Loss tokens are {loss_tokens / max(1, int(train.sum())):.1%} of the training tokens. {extra}\n")
    lines += [
        f"**Build throughput**, `build(config, workers=1)` stage by stage ({offered:,} entities offered to the tasks, "
        f"{examples:,} examples made, {written:,} written; tokenizer + normalizer built beforehand in {warmup_s:.1f} CPU s; "
        "a second `build` over the finished folder returned the same manifest):\n",
        "| stage | CPU s | wall s | examples/s/core |", "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {cpu:.2f} | {wall:.2f} | {examples / cpu:,.0f} |" for name, (cpu, wall) in timer.steps.items()]
    lines.append(f"| whole build | {build_cpu:.2f} | {build_wall:.2f} | **{examples / build_cpu:,.1f}** |")
    hf_both = compared["hf_full_s"] + compared["hf_prompt_s"]
    n, tokens = compared["conversations"], compared["tokens"]
    lines += [
        f"\n**Tokenizing step**: every record written ({n:,} conversations, one per example, {tokens:,} tokens), "
        "same ids asserted for every one (and our loss mask starting where HF's generation prompt ends):\n",
        "| renderer + tokenizer | CPU s | conversations/s | tokens/s |", "|---|---:|---:|---:|",
        f"| HF `apply_chat_template(messages, tokenize=True)`, one at a time (full render only) | {compared['hf_full_s']:.2f} | "
        f"{n / compared['hf_full_s']:,.0f} | {tokens / compared['hf_full_s']:,.0f} |",
        f"| HF, one at a time, full + prompt (what a loss mask needs) | {hf_both:.2f} | {n / hf_both:,.0f} | {tokens / hf_both:,.0f} |",
        f"| ours: `ChatEncoder.samples`, batches of {BATCH} (prompt + full, mask) | {compared['ours_s']:.2f} | "
        f"{n / compared['ours_s']:,.0f} | {tokens / compared['ours_s']:,.0f} |",
        f"\nOurs is {hf_both / compared['ours_s']:.1f}x the HF baseline for the same work "
        f"({compared['hf_full_s'] / compared['ours_s']:.1f}x its full-render-only pass).\n",
        f"**Composition** (examples = records written per split; rendered tokens = one render per example; packed = "
        f"the training shards, repeats included), and the plot `benchmarks/{Path(args.plot).name}`:\n",
        f"![SFT corpus composition]({Path(args.plot).name})\n",
        "| category | task | train | valid | test | tokens train | tokens valid | tokens test | repeats | packed samples | packed tokens |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['category']} | {r['task']} | {r['examples']['train']:,} | {r['examples']['valid']:,} | {r['examples']['test']:,} | "
              f"{r['tokens']['train']:,} | {r['tokens']['valid']:,} | {r['tokens']['test']:,} | {r['repeats']:.2f} | "
              f"{r['samples']:,} | {r['packed']:,} |" for r in rows]
    packed_total = sum(c["packed"] for c in by_category.values())
    lines += ["\n| category | tasks | train | valid | test | tokens train | tokens valid | tokens test | packed tokens | share |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {c['tasks']} | {c['examples']['train']:,} | {c['examples']['valid']:,} | {c['examples']['test']:,} | "
              f"{c['tokens']['train']:,} | {c['tokens']['valid']:,} | {c['tokens']['test']:,} | {c['packed']:,} | "
              f"{c['packed'] / max(1, packed_total):.1%} |" for name, c in sorted(by_category.items())]
    lines.append("")
    if args.no_write:
        print("\n".join(lines))
    else:
        publish(lines, args.results)


if __name__ == "__main__":
    main()
