"""The README's examples, run as a newcomer runs them: every `sh` and `python` block, in order, in a
folder laid out as a fresh clone after `make demo` (its `out/demo` made of the session's fixtures:
the demo's data build and SFT corpus, the tokenizer directory, QM9 conformers written as the demo
writes them)."""

import itertools
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.M | re.S)


def blocks() -> list[tuple[str, str]]:
    """(language, one command or script) in README order; a `sh` block's lines joined at `\\`."""
    found = []
    for language, body in BLOCK.findall(README.read_text()):
        if language == "python":
            found.append((language, body))
            continue
        for command in body.replace("\\\n", " ").splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                found.append((language, command))
    return found


def test_the_readme_has_runnable_examples_for_every_user():
    text = README.read_text()
    for role in ("Data engineer", "Trainer", "Cluster operator", "Release engineer"):
        section = text.split(f"**{role}**", 1)[1].split("\n**", 1)[0]
        assert "```sh" in section, f"{role}: no example the test runs"


@pytest.fixture(scope="module")
def clone(demo_build, sft_corpus, hf_dir, tmp_path_factory):
    """A working folder with the checkout's configs and .venv, and out/demo as `make demo` leaves it."""
    from rdkit import Chem

    from megatron_bio.structure.molecule.corpus import molecules

    work = tmp_path_factory.mktemp("clone")
    for name in (".venv", "launch", "benchmarks"):
        (work / name).symlink_to(ROOT / name)
    demo = work / "out" / "demo"
    demo.mkdir(parents=True)
    (demo / "data").symlink_to(demo_build[2].parent)  # shards/ and work/, the plan a Slurm dry run reads
    (demo / "tokenizer").symlink_to(hf_dir)
    (demo / "sft_data").symlink_to(sft_corpus[0].out)
    writer = Chem.SDWriter(str(demo / "molecules_3d.sdf"))
    for record in itertools.islice((r for r in molecules("qm9:test") if hasattr(r, "mol")), 3):
        writer.write(record.mol)
    writer.close()
    return work


def test_every_example_runs_in_order_after_the_demo(clone):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    for language, code in blocks():
        command = ["bash", "-c", code] if language == "sh" else [str(clone / ".venv" / "bin" / "python"), "-c", code]
        done = subprocess.run(command, cwd=clone, capture_output=True, text=True, timeout=900, env=env)
        assert done.returncode == 0, f"{code}\n{done.stderr[-3000:]}"
    assert (clone / "out" / "demo" / "document_lengths.png").stat().st_size > 0
    assert (clone / "out" / "tiny" / "loss.png").is_file()
    assert (clone / "out" / "release" / "biomatrix-tiny" / "config.json").is_file()
