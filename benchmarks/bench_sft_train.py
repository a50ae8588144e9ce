"""SFT step throughput: packed rows vs one sample per row padded, on the same examples, in one run
(issue 21, "Done when": packed >= 2x pad-to-longest in loss tokens/s).

The examples: the demo SFT corpus (`launch/configs/sft_data/demo.yaml`, every task family) built
into a temporary folder at `--sequence` tokens (default 512: the tiny model's 157k-row logits make a
2,048-token pack cost seconds on a CPU; samples longer than the length are rejected by the build, as
in any build), or an SFT corpus already built (`--shards`). The first train packs in the SFT job's
own order, enough to hold `--samples` samples, are the examples of all three ways:

- packed: `SFTJob` over the shards as training runs it, one pack per row (micro-batch 1, as
  Transformer Engine's THD path requires), samples kept apart by the block-diagonal causal mask;
- pad-to-longest: each sample of those packs alone in a row, micro-batches of samples padded to the
  longest of the micro-batch, the samples in a seeded shuffle (what a plain trainer does);
- pad-to-max: the same, every row padded to the sequence length.

The unpacked samples are cut out of the packed rows themselves (tokens, shifted labels, loss mask,
task family, per segment), so the three ways read the same tokens and train on the same loss
tokens, which the run checks. Each way takes `--packs-per-step` micro-batches per step; a padded
micro-batch holds as many samples as a pack does on average (`--micro-batch` to choose), so the
ways also see about as many samples per micro-batch and per step. All three run through the
project's one loop (`training.loop.train_step`: megatron-core's GPTModel of the tiny SFT shapes,
`launch/configs/sft_tiny.yaml`, its DDP, optimizer and schedule), one process, each from the same
random initial weights; they differ only by the job that gives the rows. Their steps are
interleaved (one of each in turn), each way after one untimed warm-up step.

Per way: steps to cover the examples, seconds, real (non-padding) tokens/s, loss tokens/s, padding
fraction of the row tokens. On a CPU the seconds are the process's CPU seconds on one torch thread
(other jobs on the same cores would inflate wall time unevenly) and the figures only relative; on a
GPU the same script runs in bf16 and counts wall seconds. Appends to benchmarks/RESULTS.md
(`--results`).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from results import RESULTS, publish

from megatron_bio.training.job import TRAIN, Job
from megatron_bio.training.packed_attention import PAD_GROUP
from megatron_bio.training.sft import SFTJob

RECIPE = Path(__file__).resolve().parents[1] / "launch" / "configs" / "sft_tiny.yaml"
KEYS = ("tokens", "labels", "loss_mask", "groups")
GPU = torch.cuda.is_available()


class RowTokens:
    """Counts the row tokens (padding included) of the micro-batches a job makes."""

    row_tokens = 0

    def batch(self, items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
        batch = super().batch(items)
        self.row_tokens += batch["tokens"].numel()
        return batch


class Packed(RowTokens, SFTJob):
    """The SFT job as training runs it."""


class OnePerRow(RowTokens, Job):
    """Each sample alone in a row (no mask beyond the causal one: padding only follows the sample),
    padded to the longest of its micro-batch or to the sequence length. Indices past the samples
    give empty rows (all padding, no loss), as the SFT job's past a split's end."""

    name = "sft, one sample per row"
    packed = False

    def __init__(self, config, samples: list[dict[str, np.ndarray]], pad: int, groups: tuple[str, ...],
                 to_longest: bool) -> None:
        super().__init__(config)
        self.samples, self.pad, self.groups, self.to_longest = samples, pad, groups, to_longest

    def check_data(self) -> None:
        pass

    def build(self, tokenizer, train_samples: int, valid_samples: int) -> None:
        pass

    def item(self, split: str, index: int) -> dict[str, np.ndarray]:
        if index < len(self.samples):
            return self.samples[index]
        return {key: np.zeros(0, dtype=self.samples[0][key].dtype) for key in KEYS}

    def batch(self, items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
        width = max(max(len(item["tokens"]) for item in items), 1) if self.to_longest else self.config.sequence_length
        fill = {"tokens": self.pad, "labels": self.pad, "loss_mask": 0, "groups": PAD_GROUP}
        return super().batch([{key: np.concatenate([item[key], np.full(width - len(item[key]), fill[key],
                                                                       dtype=item[key].dtype)]) for key in KEYS}
                              for item in items])


def cut_samples(job: SFTJob, wanted: int, per_step: int) -> tuple[list[dict[str, np.ndarray]], int]:
    """The samples of the job's first train rows, each cut out of its row by segment: whole steps
    of `per_step` rows until at least `wanted` samples (or the split's last whole step); (samples, rows)."""
    rows: list[list[dict[str, np.ndarray]]] = []
    available = len(job.sets[TRAIN]) - len(job.sets[TRAIN]) % per_step
    while (sum(map(len, rows)) < wanted or len(rows) % per_step) and len(rows) < available:
        row = job.item(TRAIN, len(rows))
        real = row["groups"] != PAD_GROUP
        rows.append([{key: row[key][row["segments"] == segment] for key in KEYS}
                     for segment in np.unique(row["segments"][real])])
    return [sample for row in rows for sample in row], len(rows)


def _config(shards: Path, sequence: int, micro_batch: int, global_batch: int, output: Path):
    from biomatrix_io.config import load_config
    from megatron_bio.training.config import SFTConfig

    return load_config(SFTConfig, RECIPE, [
        f"data.shards={shards}", f"sequence_length={sequence}", f"output={output}", "checkpoint.init_from=null",
        f"schedule.micro_batch={micro_batch}", f"schedule.global_batch={global_batch}", "schedule.train_steps=100000",
        f"precision.dtype={'bf16' if GPU else 'fp32'}"])


def _build_corpus(folder: Path, sequence: int) -> tuple[Path, float]:
    from biomatrix_io.config import load_config
    from data_pipeline.sft.build import build
    from data_pipeline.sft.config import SFTDataConfig
    from launch.commands.sft_data import DEFAULT_CONFIG

    config = load_config(SFTDataConfig, DEFAULT_CONFIG, [f"out={folder}", f"sequence_length={sequence}"])
    start = time.perf_counter()
    build(config, workers=2, progress=False)
    return folder / "shards", time.perf_counter() - start



def clock() -> float:
    """Wall seconds after the device's queue drains on a GPU; on a CPU the process's CPU seconds
    (one torch thread), which other jobs on the same cores do not inflate."""
    if GPU:
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


class Way:
    """One way of making rows, its model and optimizer from the shared seed, and its timed steps."""

    def __init__(self, name: str, config, job: Job, padded_vocab: int, steps: int) -> None:
        from megatron.core.timers import Timers

        from megatron_bio.model.distributed import initialize
        from megatron_bio.training.loop import check_batches, check_job
        from megatron_bio.training.setup import build_model, build_optimizer

        check_job(config, job)
        initialize(config.parallel.tensor, config.parallel.pipeline, seed=config.seed)  # the same initial weights
        self.name, self.config, self.job, self.steps = name, config, job, steps
        self.model, _ = build_model(config, padded_vocab, job.transformer_overrides())
        self.optimizer, self.scheduler = build_optimizer(config, self.model)
        self.batches = check_batches(config)
        self.timers = Timers(log_level=1, log_option="minmax")
        self.seconds, self.tokens, self.loss_tokens = 0.0, 0, 0

    def step(self, index: int) -> tuple[dict, float]:
        from megatron_bio.training.loop import train_step

        start = clock()
        figures, _ = train_step(self.job, self.model, self.optimizer, self.scheduler,
                                index * self.config.schedule.global_batch, self.config, self.batches, self.timers)
        return figures, clock() - start

    def warm_up(self) -> None:
        self.step(0)
        self.job.row_tokens = 0

    def timed(self, index: int) -> None:
        figures, seconds = self.step(index)
        self.seconds += seconds
        self.tokens += figures["tokens"]
        self.loss_tokens += figures["loss_tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", help="an SFT corpus's shards folder (default: build the demo corpus at --sequence)")
    parser.add_argument("--sequence", type=int, default=512)
    parser.add_argument("--samples", type=int, default=200, help="at least this many samples (whole packed steps)")
    parser.add_argument("--packs-per-step", type=int, default=4, help="the packed way's global batch (sft_tiny's)")
    parser.add_argument("--micro-batch", type=int, default=0,
                        help="samples per micro-batch of the padded ways (default: the examples' samples per pack)")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    if not GPU:
        torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="bench_sft_train_"))
    try:
        shards, build_s = (Path(args.shards), None) if args.shards else _build_corpus(folder / "corpus", args.sequence)
        lines = measure(args, shards, build_s, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    publish(lines, args.results)


def measure(args, shards: Path, build_s, folder: Path) -> list[str]:
    from megatron_bio.model.distributed import initialize

    packed_config = _config(shards, args.sequence, 1, args.packs_per_step, folder / "out")
    initialize(seed=packed_config.seed)
    tokenizer = packed_config.tokenizer.build()
    padded_vocab = tokenizer.padded_vocab_size(1)
    packed = Packed(packed_config)
    packed.build(tokenizer, 0, 0)
    samples, packs = cut_samples(packed, args.samples, args.packs_per_step)
    shuffled = [samples[i] for i in np.random.default_rng(packed_config.data.seed).permutation(len(samples))]
    # As many samples per micro-batch and micro-batches per step as the packed way has, by default.
    micro_batch = args.micro_batch or max(round(len(samples) / packs), 1)
    padded_config = _config(shards, args.sequence, micro_batch, micro_batch * args.packs_per_step, folder / "out")
    padded_steps = math.ceil(len(samples) / padded_config.schedule.global_batch)
    ways = [Way("packed (SFTJob, block-diagonal causal mask)", packed_config, packed, padded_vocab,
                packs // args.packs_per_step)]
    for name, to_longest in (("pad-to-longest", True), ("pad-to-max", False)):
        job = OnePerRow(padded_config, shuffled, tokenizer.pad, packed.groups, to_longest)
        ways.append(Way(f"{name} (one sample per row)", padded_config, job, padded_vocab, padded_steps))
    for way in ways:
        way.warm_up()
    for index in range(max(way.steps for way in ways)):
        for way in ways:
            if index < way.steps:
                way.timed(index)
    if len({(w.tokens, w.loss_tokens) for w in ways}) != 1:
        raise AssertionError(f"the ways read different examples: {[(w.name, w.tokens, w.loss_tokens) for w in ways]}")
    return _report(args, shards, build_s, packed_config, padded_vocab, samples, packs, micro_batch, ways)


def _report(args, shards: Path, build_s, config, padded_vocab: int, samples: list, packs: int, micro_batch: int,
            ways: list[Way]) -> list[str]:
    lengths = np.array([len(s["tokens"]) for s in samples])
    loss_rate = {w.name: w.loss_tokens / w.seconds for w in ways}
    base, longest, widest = (w.name for w in ways)
    device = torch.cuda.get_device_name() if GPU else f"{platform.machine()}, {os.cpu_count()} cores, no GPU"
    corpus = (f"the demo SFT corpus (`launch/configs/sft_data/demo.yaml`) built at sequence length {args.sequence} "
              f"({build_s:.0f} s, not counted below)" if build_s is not None else f"the SFT corpus `{shards}`")
    seconds = "wall seconds" if GPU else ("CPU seconds of the process (one torch thread; other jobs shared the cores), "
                                          "so the figures are only relative")
    lines = [f"\n## SFT step throughput: packed vs pad-to-longest vs pad-to-max ({datetime.date.today()}, {device}, "
             f"torch {torch.__version__}, {torch.get_num_threads()} torch thread{'s' * (torch.get_num_threads() != 1)})\n",
             f"Examples: {corpus}; its first {packs} train packs in the SFT job's order: {len(samples)} samples "
             f"(tokens per sample: mean {lengths.mean():.0f}, median {np.median(lengths):.0f}, max {lengths.max()}; "
             f"{len(samples) / packs:.2f} samples per pack), {ways[0].tokens:,} tokens, {ways[0].loss_tokens:,} loss "
             f"tokens, the same in every way (checked). Tiny SFT shapes (`launch/configs/sft_tiny.yaml`: "
             f"{config.model.num_layers} layers, hidden {config.model.hidden_size}, vocabulary {padded_vocab:,} rows), "
             f"{config.precision.dtype}, sequence length {config.sequence_length}, one process, the loop's `train_step`, "
             f"{args.packs_per_step} micro-batches per step: packed 1 pack each, padded {micro_batch} samples each "
             f"(shuffled). Steps interleaved across the ways after one untimed warm-up step each; {seconds}.\n",
             "| way | steps | seconds | real tokens/s | loss tokens/s | padding | loss tokens/s vs packed |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for w in ways:
        lines.append(f"| {w.name} | {w.steps} | {w.seconds:.1f} | {w.tokens / w.seconds:,.0f} | {loss_rate[w.name]:,.1f} | "
                     f"{1 - w.tokens / w.job.row_tokens:.1%} | {loss_rate[w.name] / loss_rate[base]:.2f} |")
    rows = [w.job.row_tokens / w.tokens for w in ways]
    lines.append(f"\nPacked / pad-to-longest in loss tokens/s: **{loss_rate[base] / loss_rate[longest]:.2f}x** "
                 f"(target >= 2x); packed / pad-to-max: {loss_rate[base] / loss_rate[widest]:.2f}x. Row tokens per "
                 f"real token: {rows[0]:.2f} packed, {rows[1]:.2f} pad-to-longest, {rows[2]:.2f} pad-to-max; with the "
                 f"step's cost following its row tokens, padding alone predicts {rows[1] / rows[0]:.2f}x and "
                 f"{rows[2] / rows[0]:.2f}x.")
    return lines


if __name__ == "__main__":
    main()
