"""A path that names no file is the user's mistake, found before any work starts and reported in
one line naming the source and the path; odd file names are data, carried through."""

import subprocess
import sys
from pathlib import Path

import pytest

from biomatrix_io.config import ConfigError
from data_pipeline.catalog import resolve_paths

ROOT = Path(__file__).resolve().parents[2]


def test_paths_that_name_no_file_are_config_errors(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.smi").write_text("CCO\n")
    with pytest.raises(ConfigError, match=r"source 's': .*missing\.smi does not exist"):
        resolve_paths([str(tmp_path / "missing.smi")], "source 's'")
    with pytest.raises(ConfigError, match=r"folder is a folder; name its files"):
        resolve_paths([str(tmp_path / "folder")], "source 's'")
    with pytest.raises(ConfigError, match=r"no file matches"):
        resolve_paths([str(tmp_path / "*.csv")], "source 's'")
    with pytest.raises(ConfigError, match=r"matches 1 folder"):
        resolve_paths([str(tmp_path / "*")], "source 's'")
    odd = tmp_path / "folder" / "caf\udce9.smi"  # the bytes b"caf\xe9.smi": not UTF-8
    odd.write_text("CCO\n")
    assert resolve_paths([str(tmp_path / "folder" / "*.smi")], "source 's'") == [tmp_path / "folder" / "a.smi", odd]


def test_the_cli_reports_a_missing_path_in_one_line_before_any_work(tmp_path):
    done = subprocess.run([sys.executable, "-m", "launch.cli", "data", "plan", "--set", f"out={tmp_path / 'out'}",
                           "--set", f"sources={{mols: {{reader: smi, paths: [{tmp_path / 'nowhere.smi'}]}}}}"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"biomatrix: error: source 'mols': {tmp_path / 'nowhere.smi'} does not exist"]
    assert not (tmp_path / "out").exists()
