"""Small real shards (ChEBI, pyrodigal genes, Swiss-Prot) built once for the model and training tests."""

import pytest
import torch.distributed as dist

from data_pipeline.build import build
from data_pipeline.config import DataConfig
from launch.config import from_dict


@pytest.fixture(scope="session")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    config = from_dict(DataConfig, {"out": str(root), "records_per_unit": 200, "sources": {
        "chebi": {"reader": "chebi_obo", "paths": ["packaged:chebi_obo"], "limit": 300},
        "genes": {"reader": "fasta", "paths": ["packaged:pyrodigal_protein_fastas"], "limit": 200},
        "swissprot": {"reader": "swissprot", "paths": ["packaged:emboss_swissprot"], "limit": 3},
    }})
    build(config, workers=1, progress=False)
    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method=f"file://{root}/pg", rank=0, world_size=1)
    return root / "shards"
