"""The sharding stage as Slurm jobs (normalize array -> compose array -> merge) against the local
executor (a process pool) on the same corpus, in one run, on the local single-node cluster:
wall time end to end, and what Slurm adds per job (submission to start, start to end of an empty
job). Appends to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from results import RESULTS, publish

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "chebi": {"reader": "chebi_obo", "paths": ["packaged:chebi_obo"], "limit": 1200},
    "genes": {"reader": "fasta", "paths": ["packaged:pyrodigal_protein_fastas"], "limit": 800},
    "swissprot": {"reader": "swissprot", "paths": ["packaged:emboss_swissprot"], "limit": 20},
}


def _state(job: str) -> str:
    text = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, check=True).stdout
    return re.search(r"JobState=(\S+)", text).group(1)


def _wait(jobs: list[str]) -> None:
    while any(_state(job) not in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for job in jobs):
        time.sleep(0.2)
    if any(_state(job) != "COMPLETED" for job in jobs):
        raise RuntimeError(f"jobs {jobs}: {[_state(j) for j in jobs]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    from data_pipeline.build import build
    from data_pipeline.config import DataConfig
    from biomatrix_io.config import load_config
    from slurm import local_cluster

    local_cluster.start()
    os.environ["SLURM_CONF"] = str(local_cluster.CONF)
    root = Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"out": str(root / "local"), "records_per_unit": 400, "sources": SOURCES}))
    started = time.perf_counter()
    build(load_config(DataConfig, data, ["workers=2"]), progress=False)
    local_seconds = time.perf_counter() - started
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "launch.cli", "slurm", "submit", "shard", "--set", f"cluster.folder={root}/slurm",
                           "--set", f"shard.config={data}", "--set", f"shard.overrides=[out={root / 'slurm-out'}]"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    jobs = json.loads(done.stdout.strip().splitlines()[-1])["jobs"]
    _wait(list(jobs.values()))
    slurm_seconds = time.perf_counter() - started
    units = len(json.loads((root / "local" / "work" / "plan.json").read_text())["units"])
    started = time.perf_counter()
    job = subprocess.run(["sbatch", "--parsable", "--wrap", "true", "-o", "/dev/null"], capture_output=True, text=True,
                         check=True).stdout.strip()
    _wait([job])
    empty_seconds = time.perf_counter() - started
    lines = [f"\n## Slurm: the sharding stage as jobs vs the local executor ({datetime.date.today()}, {platform.machine()}, "
             f"{os.cpu_count()} cores, single-node Slurm from slurm/local_cluster.py)\n",
             f"{sum(s['limit'] for s in SOURCES.values())} records (ChEBI, pyrodigal genes, Swiss-Prot) in {units} units; "
             "Slurm: one array task per unit per stage, 1 CPU each, then the merge job.\n",
             "| executor | wall s | |", "|---|---:|---|",
             f"| local process pool, 2 workers (baseline) | {local_seconds:.1f} | |",
             f"| Slurm: normalize array -> compose array -> merge (ours) | {slurm_seconds:.1f} | "
             f"{len(jobs)} jobs, {2 * units + 1} tasks |",
             f"| Slurm: one empty job, submission to completion | {empty_seconds:.1f} | the per-job floor |"]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
