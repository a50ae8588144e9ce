"""Shared fixtures, built once per session; the no-skip rule CI enforces lives in fail_on_skip.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist

DATA = Path(__file__).parent / "data"
pytest_plugins = ["tests.fail_on_skip"]


# Modules that share one expensive session fixture run on the same xdist worker (pytest.ini runs
# two, `--dist loadgroup`); every other module is a group of its own, so that its module fixtures
# (a trained run, a built corpus) are built once.
SHARED_GROUPS = {"tests.data_pipeline.test_build": "demo_build", "tests.test_readme": "demo_build"}


def pytest_collection_modifyitems(items):
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            module = item.module.__name__
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(module, module)))


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
def demo_build(tmp_path_factory):
    """The demo's data build as `make demo` runs it (launch/configs/data/demo.yaml, two workers):
    (config, summary, shards folder)."""
    from data_pipeline.build import build
    from data_pipeline.config import DataConfig
    from biomatrix_io.config import load_config
    from launch.commands.data import DEFAULT_CONFIG

    config = load_config(DataConfig, DEFAULT_CONFIG, [f"out={tmp_path_factory.mktemp('demo')}"])
    summary = build(config, workers=2, progress=False)
    return config, summary, Path(config.out) / "shards"


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

