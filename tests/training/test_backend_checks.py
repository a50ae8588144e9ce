"""Machine-dependent checks run where the job runs: a login node without Transformer Engine renders
and submits an FP8 recipe for the GPU nodes, and the job itself refuses it where TE is missing,
before it builds anything."""

import subprocess
import sys
from pathlib import Path

from megatron_bio.model.gpt import transformer_engine_available

ROOT = Path(__file__).resolve().parents[2]


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launch.cli", *arguments], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_an_fp8_recipe_is_submitted_from_anywhere_and_refused_by_a_job_without_transformer_engine(tmp_path):
    dry = _cli("slurm", "submit", "pretrain", "--dry-run", "--config", str(ROOT / "launch/configs/slurm/h100.yaml"),
               "--set", f"cluster.folder={tmp_path / 'slurm'}")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "precision.fp8=hybrid" in dry.stdout and "#SBATCH --gpus-per-node=8" in dry.stdout
    if not transformer_engine_available():
        job = _cli("pretrain", "--config", str(ROOT / "launch/configs/tiny.yaml"), "--set", "precision.fp8=hybrid",
                   "--set", f"output={tmp_path / 'run'}")
        assert job.returncode != 0
        assert "precision.fp8='hybrid' needs Transformer Engine" in job.stderr
        assert not (tmp_path / "run").exists()  # refused before a process group, a model or a checkpoint
