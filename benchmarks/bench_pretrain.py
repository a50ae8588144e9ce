"""Pretraining step throughput and checkpoint cost, against the obvious baseline, in one run.

Ours: megatron-core's GPTModel (local spec on CPU, Transformer Engine's on a GPU install) in its
DDP wrapper, its optimizer and its no-pipelining schedule, through the loop's `train_step` with a
job (`training.job`) whose rows are random tokens.
Baseline: Hugging Face `Qwen3ForCausalLM` of the same shapes and vocabulary with `torch.optim.AdamW`
(the plain PyTorch training step people start from). Same tokens, same micro-batches, one process.
Then a checkpoint of model + optimizer each way: megatron-core `dist_checkpointing` (what resume
and resharding need) vs `torch.save` of the two state dicts. Appends to benchmarks/RESULTS.md.

On CPU the figures are only relative; on a GPU the same script reports bf16 tokens/s and MFU.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from results import RESULTS, publish

from megatron_bio.training.job import Job

TINY = Path(__file__).resolve().parents[1] / "launch" / "configs" / "tiny.yaml"


class RandomTokens(Job):
    """GPTDataset-shaped rows of random BioMatrix ids (throughput does not depend on the text): a
    job whose only data seam is `item`."""

    name = "random tokens"
    packed = False

    def check_data(self) -> None:
        pass

    def build(self, tokenizer, train_samples: int, valid_samples: int) -> None:
        self.vocab = tokenizer.vocab_size

    def item(self, split: str, index: int) -> dict[str, np.ndarray]:
        length = self.config.sequence_length
        tokens = torch.randint(0, self.vocab, (length + 1,), generator=torch.Generator().manual_seed(index)).numpy()
        return {"tokens": tokens[:-1], "labels": tokens[1:], "loss_mask": np.ones(length, dtype=np.float32)}


def _random_tokens(config) -> RandomTokens:
    job = RandomTokens(config)
    job.build(config.tokenizer.build(), 0, 0)
    return job


def _config(args):
    from biomatrix_io.config import load_config
    from megatron_bio.training.config import PretrainConfig

    return load_config(PretrainConfig, TINY, [
        f"model.num_layers={args.layers}", f"model.hidden_size={args.hidden}", f"model.ffn_hidden_size={3 * args.hidden}",
        f"model.num_attention_heads={args.hidden // 64}", f"model.num_query_groups={max(1, args.hidden // 128)}",
        "model.kv_channels=64", f"sequence_length={args.sequence}", f"schedule.micro_batch={args.micro_batch}",
        f"schedule.global_batch={args.micro_batch * args.accumulation}", f"schedule.train_steps={args.steps + 10}",
        f"precision.dtype={'bf16' if torch.cuda.is_available() else 'fp32'}"])


def _timed(step, steps: int) -> float:
    step(0)  # warm-up
    start = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    return (time.perf_counter() - start) / steps


def measure_megatron(config, padded: int, steps: int, folder: Path) -> dict:
    from megatron.core.timers import Timers

    from megatron_bio.model.distributed import initialize
    from megatron_bio.training import checkpoint
    from megatron_bio.training.loop import check_batches, train_step
    from megatron_bio.training.setup import build_model, build_optimizer

    initialize(config.parallel.tensor, config.parallel.pipeline, seed=config.seed)
    job = _random_tokens(config)
    model, _ = build_model(config, padded, job.transformer_overrides())
    optimizer, scheduler = build_optimizer(config, model)
    timers = Timers(log_level=1, log_option="minmax")
    batches = check_batches(config)
    seconds = _timed(lambda i: train_step(job, model, optimizer, scheduler, i * config.schedule.global_batch, config,
                                          batches, timers), steps)
    start = time.perf_counter()
    path = checkpoint.save(folder / "megatron", steps, 0, model, optimizer, scheduler, {}, False, True)
    saved = time.perf_counter() - start
    start = time.perf_counter()
    checkpoint.load(path, model, optimizer, scheduler)
    loaded = time.perf_counter() - start
    return {"step_s": seconds, "save_s": saved, "load_s": loaded, "bytes": _size(path)}


def measure_hf(config, padded: int, steps: int, folder: Path) -> dict:
    from transformers import Qwen3ForCausalLM

    torch.manual_seed(config.seed)
    dtype = torch.bfloat16 if config.precision.dtype == "bf16" else torch.float32
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = Qwen3ForCausalLM(config.model.hf_config(padded)).to(device=device, dtype=dtype)
    model.train()
    o = config.optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.adam_beta1, o.adam_beta2), eps=o.adam_eps,
                                  weight_decay=o.weight_decay)
    data = _random_tokens(config)
    s = config.schedule

    def step(i: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        for first in range(i * s.global_batch, (i + 1) * s.global_batch, s.micro_batch):
            tokens = torch.from_numpy(np.stack([data.item("train", j)["tokens"]
                                                for j in range(first, first + s.micro_batch)])).to(device)
            loss = model(input_ids=tokens, labels=tokens).loss / (s.global_batch // s.micro_batch)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.clip_grad)
        optimizer.step()

    seconds = _timed(step, steps)
    path = folder / "hf.pt"
    start = time.perf_counter()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, path)
    saved = time.perf_counter() - start
    start = time.perf_counter()
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    loaded = time.perf_counter() - start
    return {"step_s": seconds, "save_s": saved, "load_s": loaded, "bytes": path.stat().st_size}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--sequence", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--accumulation", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    os.environ.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": os.environ.get("MASTER_PORT", "29533")})
    from megatron_bio.training.flops import peak_tflops, training_flops_per_token

    config = _config(args)
    padded = config.tokenizer.build().padded_vocab_size(1)
    tokens = config.schedule.global_batch * config.sequence_length
    flops = training_flops_per_token(config.model, padded, config.sequence_length) * tokens
    peak = peak_tflops()
    folder = Path(tempfile.mkdtemp(prefix="bench_pretrain_"))
    try:
        rows = {"megatron-core GPTModel + DDP + optimizer (ours)": measure_megatron(config, padded, args.steps, folder),
                "HF Qwen3ForCausalLM + torch AdamW (baseline)": measure_hf(config, padded, args.steps, folder)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"{platform.machine()}, {os.cpu_count()} cores, no GPU"
    lines = [f"\n## Pretraining step and checkpoint: ours vs HF + torch ({datetime.date.today()}, {device}, "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads)\n",
             f"Qwen3 shapes: {args.layers} layers, hidden {args.hidden}, vocabulary {padded:,} rows, sequence "
             f"{args.sequence}, {config.schedule.global_batch} sequences per step ({args.micro_batch} x {args.accumulation} "
             f"micro-batches), {config.precision.dtype}; {args.steps} timed steps after one warm-up. Checkpoint = "
             "model + optimizer state.\n",
             "| implementation | step s | tokens/s | model TFLOP/s | MFU | ckpt save s | ckpt load s | ckpt MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        tflops = flops / r["step_s"] / 1e12
        lines.append(f"| {name} | {r['step_s']:.3f} | {tokens / r['step_s']:,.0f} | {tflops:.3f} | "
                     f"{f'{tflops / peak:.1%}' if peak else 'n/a (CPU)'} | {r['save_s']:.2f} | {r['load_s']:.2f} | "
                     f"{r['bytes'] / 1e6:.1f} |")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
