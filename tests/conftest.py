"""Shared fixtures (built once per session) and the no-skip rule CI enforces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def tokenizer():
    """The default tokenizer plus the small molecule-3D test inventory."""
    from megatron_bio.tokenizer import BioMatrixTokenizer

    return BioMatrixTokenizer.build(molecule_3d_inventory=DATA / "molecule_3d_small.txt")


@pytest.fixture(scope="session")
def hf_dir(tokenizer, tmp_path_factory):
    return tokenizer.save_pretrained(tmp_path_factory.mktemp("hf_tokenizer"))


def pytest_sessionfinish(session, exitstatus):
    """With BIOMATRIX_FAIL_ON_SKIP=1 (set by .ci/run) a skipped test fails the run: every
    dependency a test needs is one the install step provides."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("BIOMATRIX_FAIL_ON_SKIP") == "1" and skipped:
        reporter.write_line(f"{len(skipped)} test(s) skipped: failing (BIOMATRIX_FAIL_ON_SKIP=1)", red=True)
        session.exitstatus = 1
