"""Checkpoint conversion time and peak memory on a randomly initialized Qwen3-1.7B-shaped model,
each way, against the size of the weights on disk, in one run.

Ours (`biomatrix convert`): memory-mapped safetensors in, one model filled in place, a megatron-core
dist checkpoint out; back: the model loaded once, safetensors written one shard at a time.
Baseline (the obvious script): `AutoModelForCausalLM.from_pretrained`, then a converted copy of its
state dict (the mapping's own transforms) saved with `torch.save`: two models in memory.
Each measurement is its own process (peak resident memory = its ru_maxrss). Appends to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import RESULTS, publish

RECIPE = Path(__file__).resolve().parents[1] / "launch" / "configs" / "pretrain_1p7b.yaml"


def write_random_hf(folder: Path) -> int:
    """A 1.7B-shaped HF directory of random bf16 weights, written tensor by tensor (no model in memory)."""
    import torch
    from transformers import Qwen3ForCausalLM

    from biomatrix_io.config import load_config
    from megatron_bio.convert.megatron_to_hf import ShardWriter
    from megatron_bio.model.config import QWEN3_VOCAB_SIZE
    from megatron_bio.training.config import PretrainConfig

    model = load_config(PretrainConfig, RECIPE).model
    hf_config = model.hf_config(QWEN3_VOCAB_SIZE)
    hf_config.architectures = ["Qwen3ForCausalLM"]
    hf_config.dtype = torch.bfloat16
    with torch.device("meta"):
        shapes = {name: p.shape for name, p in Qwen3ForCausalLM(hf_config).named_parameters()}
    folder.mkdir(parents=True)
    writer = ShardWriter(folder, 2 * 1024**3)
    generator = torch.Generator().manual_seed(0)
    for name, shape in shapes.items():
        writer.add(name, (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16))
    writer.close()
    hf_config.save_pretrained(folder)
    return writer.total


def baseline(hf_dir: str, out: str) -> dict:
    """from_pretrained + converted state-dict copy + torch.save."""
    import resource

    import torch
    from transformers import AutoModelForCausalLM

    from megatron_bio.convert.mapping import expand
    from megatron_bio.model.config import ModelConfig

    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.bfloat16)
    config = ModelConfig.from_hf_config(model.config)
    state = model.state_dict()
    converted = {mapping.megatron: mapping.to_megatron([state[k] for k in mapping.hf], config,
                                                       state[mapping.hf[0]].shape[0]).clone()
                 for mapping in expand(config)}
    torch.save(converted, out)
    return {"seconds": time.perf_counter() - started, "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def _run(arguments: list[str]) -> dict:
    done = subprocess.run([sys.executable, *arguments], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count())))
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    start = done.stdout.index("{")
    return json.loads(done.stdout[start:done.stdout.rindex("}") + 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where the ~10 GB of checkpoints go (default: a temp folder)")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--baseline-only", nargs=2, metavar=("HF_DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_only:
        print(json.dumps(baseline(*args.baseline_only)))
        return
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench_convert_"))
    try:
        hf = root / "hf"
        size = write_random_hf(hf)
        cli = ["-m", "launch.cli", "convert"]
        to_megatron = _run([*cli, "hf-to-megatron", "--hf", str(hf), "--out", str(root / "megatron")])
        to_hf = _run([*cli, "megatron-to-hf", "--checkpoint", str(root / "megatron"), "--out", str(root / "back")])
        naive = _run([__file__, "--baseline-only", str(hf), str(root / "naive.pt")])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = [f"\n## Checkpoint conversion: Qwen3-1.7B shape, random bf16 weights ({datetime.date.today()}, "
             f"{platform.machine()}, {os.cpu_count()} cores, {'GPU' if shutil.which('nvidia-smi') else 'no GPU'})\n",
             f"Weights on disk: {size / 1e9:.2f} GB (bf16, 151,936-row vocabulary, tied). Peak = the process's "
             "peak resident memory (Python, torch and megatron-core included).\n",
             "| direction | implementation | seconds | peak memory GB | peak / weights |", "|---|---|---:|---:|---:|"]
    for direction, name, report in [("HF -> Megatron", "ours (biomatrix convert hf-to-megatron)", to_megatron),
                                    ("HF -> Megatron", "baseline (from_pretrained + converted copy + torch.save)", naive),
                                    ("Megatron -> HF", "ours (biomatrix convert megatron-to-hf)", to_hf)]:
        lines.append(f"| {direction} | {name} | {report['seconds']:.1f} | {report['peak_memory_gb']:.2f} | "
                     f"{report['peak_memory_gb'] * 1e9 / size:.2f} |")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
