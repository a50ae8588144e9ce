"""Shared fixtures, built once per session; the no-skip rule CI enforces lives in fail_on_skip.py."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
pytest_plugins = ["tests.fail_on_skip"]


@pytest.fixture(scope="session")
def tokenizer():
    """The default tokenizer plus the small molecule-3D test inventory."""
    from megatron_bio.tokenizer import BioMatrixTokenizer

    return BioMatrixTokenizer.build(molecule_3d_inventory=DATA / "molecule_3d_small.txt")


@pytest.fixture(scope="session")
def hf_dir(tokenizer, tmp_path_factory):
    return tokenizer.save_pretrained(tmp_path_factory.mktemp("hf_tokenizer"))
