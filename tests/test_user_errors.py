"""A user's mistakes, as a newcomer makes them: each ends in one `biomatrix: error:` line that says
what is wrong and where the value came from, exit status 2, no traceback; in one process and
across the ranks `biomatrix pretrain --nproc-per-node 2` starts."""

import subprocess
import sys
from pathlib import Path

import pytest

from launch.cli import main

TINY = "launch/configs/tiny.yaml"
BIOMATRIX = str(Path(sys.executable).with_name("biomatrix"))

# argv (with {tmp} for a scratch folder) -> fragments the one line must hold
MISTAKES = {
    "config file that does not exist": (["pretrain", "--config", "{tmp}/tiny.yml"], ["tiny.yml: no such config file"]),
    "misspelled key through --set": (["pretrain", "--set", "schedule.train_stpes=3"],
                                     ["unknown keys ['train_stpes']", "from --set schedule.train_stpes=3"]),
    "a value of the wrong type": (["pretrain", "--set", "optimizer.lr=fast"],
                                  ["optimizer.lr: 'fast' is not a number", "from --set optimizer.lr=fast"]),
    "values that contradict each other": (["pretrain", "schedule.train_steps=2"],
                                          ["warmup_steps (5) must be below schedule.train_steps (2)",
                                           f"schedule.warmup_steps from {Path(TINY).resolve()}", "train_steps from --set schedule.train_steps=2"]),
    "a value outside the choices": (["pretrain", "--set", "schedule.decay_style=cosin"],
                                    ["'cosin' is not one of 'cosine', 'linear'"]),
    "default that does not fit the override": (["pretrain", "--config", "{tmp}/bare.yaml"],
                                               ["schedule.warmup_steps from default", "schedule.train_steps from {tmp}/bare.yaml"]),
    "shards that were not built": (["pretrain", "data.shards={tmp}/shards"], ["{tmp}/shards: no blend.yaml"]),
    "a checkpoint folder that holds none": (["convert", "megatron-to-hf", "--checkpoint", "{tmp}", "--out", "{tmp}/hf"],
                                            ["neither a checkpoint", "nor a checkpoint root"]),
    "an input that does not exist": (["convert", "megatron-to-hf", "--checkpoint", "{tmp}/none", "--out", "{tmp}/hf"],
                                     ["{tmp}/none: no such file or folder"]),
    "an SFT task that is not a family": (["sft-data", "plan", "--set", "tasks.captioning.fraction=0.5"],
                                         ["task 'captioning' is not a task family", "from --set tasks.captioning"]),
    "an SFT task over an undefined source": (["sft-data", "plan", "--set", "tasks.molecule_captioning.sources=[chebi2]"],
                                             ["reads source 'chebi2', which `sources` does not define"]),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_is_one_line_with_its_origin_and_exit_status_2(name, tmp_path, capsys):
    argv, fragments = MISTAKES[name]
    (tmp_path / "bare.yaml").write_text((Path(TINY).read_text().replace("warmup_steps: 5,", "")
                                         .replace("train_steps: 30,", "train_steps: 1,")))
    with pytest.raises(SystemExit) as exited:
        main([part.format(tmp=tmp_path) for part in argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    [line] = err.splitlines()[-1:]
    assert line.startswith("biomatrix") and "error:" in line and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment.format(tmp=tmp_path) in line, line


def test_a_mistake_found_by_the_ranks_is_printed_once(shards, tmp_path):
    """A batch that does not divide over two data-parallel ranks is seen by each rank; rank 0 alone
    says so, and the launcher adds no failure report of its own."""
    done = subprocess.run([BIOMATRIX, "pretrain", "--nproc-per-node", "2", f"data.shards={shards}",
                           f"output={tmp_path}/run", "schedule.global_batch=6", "schedule.micro_batch=2",
                           "tracking.enabled=false"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["biomatrix: error: schedule.global_batch 6 is not a multiple of schedule.micro_batch 2 x 2 "
                      "data-parallel ranks"], done.stderr
    assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr
