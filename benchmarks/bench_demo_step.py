"""The tiny recipe's step time inside `biomatrix demo` against the same training run alone, in one run.

A user saw 3.0 s/step in `make demo` and 0.68 s/step from a standalone torchrun, possibly on a
busy machine. This measures, one after the other on the same machine and the same shards:
- demo: `biomatrix demo` (every stage in one process; the pretrain stage's per-step lines);
- alone: `biomatrix pretrain` as one process on the demo's shards;
- torchrun: `torchrun --standalone --nproc_per_node 1 -m launch.cli pretrain`, the same run.
Each row is the median `step_s` after the first two steps, with the intra-op thread count the
trainer ran with. Appends to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from results import RESULTS, publish

BIN = Path(sys.executable).parent


def _run(command: list[str]) -> list[dict]:
    """The trainer's JSON lines (its first one says the torch thread count it ran with)."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _row(name: str, records: list[dict]) -> str:
    times = [r["step_s"] for r in records if "step_s" in r][2:]
    threads = next(r["torch_threads"] for r in records if "torch_threads" in r)
    return f"| {name} | {len(times) + 2} | {statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} | {threads} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        demo = _run([str(BIN / "biomatrix"), "demo", "--workdir", str(work / "demo")])
        shards = work / "demo" / "data" / "shards"
        alone = _run([str(BIN / "biomatrix"), "pretrain", f"data.shards={shards}", f"output={work / 'alone'}"])
        launched = _run([str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "1", "-m", "launch.cli",
                            "pretrain", f"data.shards={shards}", f"output={work / 'torchrun'}"])
    lines = [f"\n## Demo vs standalone step time ({datetime.date.today()}, {platform.node()}, {os.cpu_count()} CPUs, "
             f"{platform.processor() or platform.machine()})", "",
             "The tiny recipe on the demo's shards, median seconds per step after two warm-up steps, one run after "
             "the other (`benchmarks/bench_demo_step.py`).", "",
             "| run | steps | median s/step | min | max | torch threads |", "|---|---|---|---|---|---|",
             _row("inside `biomatrix demo`", demo), _row("`biomatrix pretrain` alone", alone),
             _row("`torchrun --nproc_per_node 1`", launched)]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
