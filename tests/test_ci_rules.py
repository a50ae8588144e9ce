"""The CI rule itself: a skipped test fails the run when BIOMATRIX_FAIL_ON_SKIP=1."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(tmp_path, strict: bool) -> int:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\ndef test_ok():\n    pass\n\n@pytest.mark.skip(reason='missing dependency')\ndef test_skipped():\n    pass\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BIOMATRIX_FAIL_ON_SKIP": "1" if strict else "0"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.fail_on_skip", "-c", os.devnull, str(tmp_path)]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=300).returncode


def test_skips_fail_only_under_the_ci_rule(tmp_path):
    assert _pytest(tmp_path, strict=True) == 1
    assert _pytest(tmp_path, strict=False) == 0
