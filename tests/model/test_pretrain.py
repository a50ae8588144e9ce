"""Pretraining the tiny model on real shards with 2 processes (gloo): tensor, pipeline and data
parallel (distributed optimizer) each lower the loss; data parallelism reproduces the
single-process run, since the two see the same global batches and synchronize gradients."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "launch" / "configs" / "tiny.yaml"
STEPS = 16


def _pretrain(shards: Path, processes: int, *overrides: str) -> list[float]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "-m", "launch.cli", "pretrain", "--config", str(CONFIG), f"data.shards={shards}", "data.split=100,0,0",
               f"schedule.train_steps={STEPS}", *overrides]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    return [r["loss"] for r in records]


@pytest.fixture(scope="module")
def single(shards):
    return _pretrain(shards, 1)


@pytest.mark.parametrize("overrides", [("parallel.tensor=2",), ("parallel.pipeline=2",),
                                       ("optimizer.distributed=true",)], ids=["tp2", "pp2", "dp2-distopt"])
def test_two_process_parallelism_lowers_the_loss(shards, single, overrides):
    losses = _pretrain(shards, 2, *overrides)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.3
    if overrides == ("optimizer.distributed=true",):
        # Same global batches, gradients averaged over the two ranks: the single-process curve, up to
        # float32 summation order.
        assert max(abs(a - b) for a, b in zip(losses, single)) < 1e-3
