"""The one-way layering of `.importlinter` (README, "Layout"): every contract is kept, every package
and every module of the bottom layers is under it, and a lower layer importing a higher one is caught."""

from __future__ import annotations

import ast
import configparser
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / ".importlinter"
# The venv's import-linter CLI, run so that the folder it runs in comes first on sys.path
# (`-c` puts the working directory at sys.path[0]; the CLI inserts it again).
LINT = [sys.executable, "-c",
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LINT, "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    return parser


def _root_packages() -> list[str]:
    return _config()["importlinter"]["root_packages"].split()


def _layer_modules() -> list[str]:
    """Every module named in a layer (`a | b` independent, `a : b` not, `(a)` optional)."""
    layers = _config()["importlinter:contract:layers"]["layers"]
    return [name.strip("() ") for line in layers.split("\n") for name in re.split(r"[|:]", line) if name.strip("() ")]


def _setup_top_level_packages() -> set[str]:
    """The top-level packages of setup.py's `find_packages(include=[...])`."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "find_packages"]
    assert len(calls) == 1, "setup.py should call find_packages once"
    include = ast.literal_eval(next(k.value for k in calls[0].keywords if k.arg == "include"))
    return {name.split(".")[0] for name in find_packages(where=str(ROOT), include=include)}


def test_every_contract_is_kept():
    result = _lint(ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "BROKEN" not in output, f"lint-imports (.importlinter) failed:\n{output}"
    assert "0 broken" in output, output


def test_the_contract_covers_every_package():
    roots = _root_packages()
    assert _setup_top_level_packages() == set(roots), "setup.py's packages and .importlinter's root_packages differ"
    named = set(_layer_modules())
    uncovered = [root for root in roots if not any(name == root or name.startswith(root + ".") for name in named)]
    assert not uncovered, f"root packages {uncovered} are in no layer of .importlinter"
    for package in ("megatron_bio", "biomatrix_io"):
        children = {f"{package}.{m.name}" for m in pkgutil.iter_modules([str(ROOT / package)])}
        assert children, f"no modules found under {package}"
        missing = sorted(children - named)
        assert not missing, f"{missing} named in no layer of .importlinter: each module of {package} must be"


def _stand_ins(folder: Path) -> None:
    """Empty packages with the project's top-level names and every module a layer names."""
    names = set(_root_packages()) | set(_layer_modules())
    parents = {name.rsplit(".", 1)[0] for name in names if "." in name}
    for name in sorted(names | parents):
        path = folder.joinpath(*name.split("."))
        if name in parents or "." not in name:
            path.mkdir(parents=True, exist_ok=True)
            (path / "__init__.py").write_text("")
        else:
            path.with_suffix(".py").write_text("")
    shutil.copy(CONTRACT, folder / ".importlinter")


def test_the_contract_catches_a_lower_layer_importing_a_higher_one(tmp_path):
    _stand_ins(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # the stand-ins shadow the installed project
    kept = _lint(tmp_path, env)
    assert kept.returncode == 0, f"the stand-ins alone should keep every contract:\n{kept.stdout}{kept.stderr}"
    files = len(list(tmp_path.rglob("*.py")))
    assert f"Analyzed {files} files" in kept.stdout, f"lint-imports did not read the stand-ins:\n{kept.stdout}"

    (tmp_path / "biomatrix_io" / "records.py").write_text("import launch\n")
    broken = _lint(tmp_path, env)
    output = broken.stdout + broken.stderr
    assert broken.returncode == 1, output
    assert f"{_config()['importlinter:contract:layers']['name']} BROKEN" in output, output
    assert "biomatrix_io.records -> launch" in output, output
