"""Shared fixtures, built once per session; the no-skip rule CI enforces lives in fail_on_skip.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist

DATA = Path(__file__).parent / "data"
pytest_plugins = ["tests.fail_on_skip"]


@pytest.fixture(scope="session")
def tokenizer():
    """The default tokenizer plus the small molecule-3D test inventory."""
    from megatron_bio.tokenizer import BioMatrixTokenizer

    return BioMatrixTokenizer.build(molecule_3d_inventory=DATA / "molecule_3d_small.txt")


@pytest.fixture(scope="session")
def hf_dir(tokenizer, tmp_path_factory):
    from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir

    return write_hf_tokenizer_dir(tokenizer, tmp_path_factory.mktemp("hf_tokenizer"))


def _process_group(folder) -> None:
    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method=f"file://{folder}/pg", rank=0, world_size=1)


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    """Small real shards (ChEBI, pyrodigal genes, Swiss-Prot), built once for the training tests."""
    root = tmp_path_factory.mktemp("shards")
    from data_pipeline.build import build
    from data_pipeline.config import DataConfig
    from biomatrix_io.config import from_dict

    config = from_dict(DataConfig, {"out": str(root), "records_per_unit": 200, "sources": {
        "chebi": {"reader": "chebi_obo", "paths": ["packaged:chebi_obo"], "limit": 300},
        "genes": {"reader": "fasta", "paths": ["packaged:pyrodigal_protein_fastas"], "limit": 200},
        "swissprot": {"reader": "swissprot", "paths": ["packaged:emboss_swissprot"], "limit": 3},
    }})
    build(config, workers=1, progress=False)
    _process_group(root)
    return root / "shards"


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory, worker_id):
    """The demo's data build as `make demo` runs it (launch/configs/data/demo.yaml, two workers):
    (config, summary, shards folder). Built once per run: the xdist workers (pytest.ini runs two)
    share it through their common base folder, the second one waiting on the first."""
    import json

    from filelock import FileLock

    from data_pipeline.build import build
    from data_pipeline.config import DataConfig
    from biomatrix_io.config import load_config
    from launch.commands.data import DEFAULT_CONFIG

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / "demo_build"
    with FileLock(f"{root}.lock"):
        config = load_config(DataConfig, DEFAULT_CONFIG, [f"out={root}"])
        done = root / "summary.json"
        if not done.is_file():
            done.parent.mkdir(parents=True, exist_ok=True)
            done.write_text(json.dumps(build(config, workers=2, progress=False)))
        return config, json.loads(done.read_text()), root / "shards"


@pytest.fixture(scope="session")
def sft_corpus(tmp_path_factory, worker_id):
    """The demo SFT corpus as `make demo` builds it (launch/configs/sft_data/demo.yaml: every task
    family, small): (config, manifest). Built once per run and shared by the xdist workers, as
    `demo_build` is."""
    return _sft_build(tmp_path_factory, worker_id, "sft_corpus")


@pytest.fixture(scope="session")
def sft_corpus_short(sft_corpus, tmp_path_factory, worker_id):
    """The same corpus packed at 256 tokens (samples longer than that are rejected, counted): what
    the SFT trainer's tests train on, 8x cheaper per pack than 2,048 for the tiny model on CPU. Its
    build starts from a copy of `sft_corpus`'s normalized units, examples and split table, whose
    hashes do not depend on the packing: only samples and merge run again (the build checks the
    hashes, so nothing stale is reused)."""
    return _sft_build(tmp_path_factory, worker_id, "sft_corpus_short", "sequence_length=256",
                      reuse=Path(sft_corpus[0].out) / "work")


def _sft_build(tmp_path_factory, worker_id, name: str, *overrides: str, reuse: Path | None = None):
    import json
    import shutil

    from filelock import FileLock

    from biomatrix_io.config import load_config
    from data_pipeline.sft.build import build
    from data_pipeline.sft.config import SFTDataConfig
    from launch.commands.sft_data import DEFAULT_CONFIG

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / name
    with FileLock(f"{root}.lock"):
        config = load_config(SFTDataConfig, DEFAULT_CONFIG, [f"out={root}", *overrides])
        done = root / "shards" / "manifest.json"
        if not done.is_file():
            if reuse and not (root / "work").exists():
                shutil.copytree(reuse, root / "work", ignore=shutil.ignore_patterns("samples"))
            build(config, workers=2, progress=False)
        return config, json.loads(done.read_text())


@pytest.fixture(scope="session")
def megatron_single_process(tmp_path_factory):
    """megatron-core set up in this process: gloo, world size 1, through the CPU layer."""
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

    from megatron_bio import cpu_compat

    assert cpu_compat.activate() is not torch.cuda.is_available()
    _process_group(tmp_path_factory.mktemp("pg"))
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(1, 1)
    model_parallel_cuda_manual_seed(1234)

