"""`biomatrix data` as a data engineer and a Slurm array run it: fetch-demo locates the real
sources; units run one by one (`run-unit`, by index as an array task does) and merged give the
same bytes as `build`; a finished unit is skipped, a changed composition reruns stage 2 only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from data_pipeline.build import build, merge, run_unit
from data_pipeline.config import DataConfig
from data_pipeline.units import plan, units_of
from biomatrix_io.config import ConfigError, from_dict

BIOMATRIX = str(Path(sys.executable).with_name("biomatrix"))


def _config(out: Path) -> dict:
    return {"out": str(out), "records_per_unit": 30, "workers": 1, "sources": {
        "chebi": {"reader": "chebi_obo", "paths": ["packaged:chebi_obo"], "limit": 70, "lexicon": True},
        "pubmed": {"reader": "pubmed_xml", "paths": ["packaged:pubmed_xmls"], "limit": 80, "interleave": True},
        "swissprot": {"reader": "swissprot", "paths": ["packaged:emboss_swissprot"], "limit": 20},
    }}


def _bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "shards").rglob("*"))
            if p.suffix in (".bin", ".idx") or p.name.endswith(".manifest.json")}


def test_fetch_demo_finds_every_demo_source():
    done = subprocess.run([BIOMATRIX, "data", "fetch-demo"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["missing"] == {} and len(report["found"]) >= 15
    assert all(f["bytes"] > 0 and len(f["sha256"]) == 64 for files in report["found"].values() for f in files)


def test_units_run_alone_then_merged_equal_the_local_build(tmp_path):
    local = from_dict(DataConfig, _config(tmp_path / "local"))
    build(local, workers=1, progress=False)

    alone = from_dict(DataConfig, _config(tmp_path / "alone"))
    config_path = tmp_path / "alone.yaml"
    config_path.write_text(yaml.safe_dump(_config(tmp_path / "alone")))
    units = units_of(plan(alone, tmp_path / "alone" / "work"))
    assert len(units) >= 4 and {u.source for u in units} == {"chebi", "pubmed", "swissprot"}
    with pytest.raises(ConfigError, match="has not finished stage 'normalize'"):
        run_unit(alone, "compose", units[0].id)  # an array task started before its dependency
    environment = dict(os.environ, SLURM_ARRAY_TASK_ID="0")
    done = subprocess.run([BIOMATRIX, "data", "run-unit", "--config", str(config_path), "--stage", "normalize"],
                          env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unit"] == units[0].id
    stage1 = tmp_path / "alone" / "work" / "stage1"
    assert done.stderr.splitlines()[-1] == f"unit {units[0].id} (normalize): wrote {stage1 / units[0].id}.tar, {stage1 / units[0].id}.done.json"
    for stage in ("normalize", "compose"):
        for unit in units:
            run_unit(alone, stage, unit.id)
    merge(alone, plan(alone, tmp_path / "alone" / "work"))
    assert _bytes(tmp_path / "alone") == _bytes(tmp_path / "local")

    assert all(run_unit(alone, "normalize", u.id).get("skipped") for u in units)
    recomposed = from_dict(DataConfig, {**_config(tmp_path / "alone"), "compose": {"seed": 99}})
    results = [run_unit(recomposed, stage, u.id) for stage in ("normalize", "compose") for u in units]
    assert all(r.get("skipped") for r in results[: len(units)])  # stage 1 kept
    assert not any(r.get("skipped") for r in results[len(units):])  # stage 2 redone
