"""The training stages behind a checkpoint and the data each one read, from files alone.

A checkpoint's common entries hold the config of the run that wrote it; that config names the
checkpoint it started from (`checkpoint.init_from`: weights, e.g. the pretraining checkpoint an
SFT run fine-tunes, or the imported Qwen3 base; `checkpoint.load`: an earlier save of the same run)
and the shards folder it read (`data.shards`). Following those names gives every stage and every
data build that went into the model. A stage or a build that cannot be read here (moved, on
another cluster) is kept with the reason, so what it trained on is reported as unknown, not omitted.

Data builds are read by their documented formats: a pretraining build's shards folder holds
`blend.yaml` (biomatrix_io/blend.py), `build.json` and one `<prefix>.manifest.json` per dataset
(data_pipeline/README.md, "Outputs"); an SFT corpus's holds `manifest.json` (tasks with their
category and metric, per-task counts per split, sources).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from biomatrix_io.checkpoints import resolve

SFT_MANIFEST = "manifest.json"
BLEND = "blend.yaml"
BUILD = "build.json"


@dataclass
class Source:
    """One data source of a build: its name, the reader and input files when the build records them."""

    name: str
    reader: Optional[str] = None
    files: list[str] = field(default_factory=list)


@dataclass
class Data:
    kind: str  # "pretraining" (a data build's shards) or "sft" (an SFT corpus's shards)
    shards: str
    manifests: dict  # file name inside the shards folder -> its content
    sources: list[Source]
    composition: list[dict]  # one row per category, in the kind's own columns
    tasks: list[dict]  # SFT: one row per task; pretraining: none


@dataclass
class Stage:
    checkpoint: str
    job: Optional[str] = None  # "pretrain", "sft"; None for an imported model; "unknown" when not readable here
    iteration: Optional[int] = None
    consumed_samples: Optional[int] = None
    config: Optional[dict] = None
    source: Optional[str] = None  # the Hugging Face directory an imported checkpoint was converted from
    code: Optional[dict] = None  # the training code's git state ({"commit", "dirty"}), as its checkpoint recorded it
    data: Optional[Data] = None
    problem: Optional[str] = None  # why the checkpoint or its data could not be read

    @property
    def data_unknown(self) -> bool:
        """True when this stage trained on data that could not be read."""
        return self.job is not None and self.data is None


def job_of(common: dict) -> str:
    """The job that wrote a checkpoint; checkpoints written before the entry existed are pretraining's."""
    return common.get("job") or "pretrain"


def _stage(folder: Path, common: dict) -> Stage:
    config = common.get("config") or {}
    imported = "iteration" not in common  # a converted Hugging Face model: weights, no training run
    stage = Stage(str(folder), None if imported else job_of(common), common.get("iteration"),
                  common.get("consumed_samples"), config, common.get("source"), code=common.get("code"))
    shards = (config.get("data") or {}).get("shards")
    if imported:
        return stage
    if not shards:
        stage.problem = "its config names no data.shards"
        return stage
    try:
        stage.data = read_data(Path(shards))
    except (OSError, ValueError, KeyError, yaml.YAMLError) as error:
        stage.problem = f"data {shards}: {error}"
    return stage


def lineage(folder: Path, common: dict) -> list[Stage]:
    """This checkpoint's stage, then the stages it started from, nearest first."""
    from megatron.core import dist_checkpointing

    stages = [_stage(folder, common)]
    seen = {Path(folder).resolve()}
    pending = list(_links(common))
    while pending:
        path = pending.pop(0)
        try:
            earlier = resolve(path)
            if earlier.resolve() in seen:
                continue
            earlier_common = dist_checkpointing.load_common_state_dict(str(earlier))
        except (OSError, ValueError, RuntimeError) as error:
            stages.append(Stage(str(path), job="unknown", problem=str(error)))
            continue
        seen.add(earlier.resolve())
        stages.append(_stage(earlier, earlier_common))
        pending.extend(_links(earlier_common))
    return stages


def _links(common: dict) -> list[str]:
    checkpoint = (common.get("config") or {}).get("checkpoint") or {}
    return [checkpoint[key] for key in ("load", "init_from") if checkpoint.get(key)]


def read_data(shards: Path) -> Data:
    """A shards folder, by whichever format it holds."""
    for marker, read in ((SFT_MANIFEST, _sft), (BLEND, _pretraining)):
        if (shards / marker).is_file():
            return read(shards)
    raise ValueError(f"neither {SFT_MANIFEST} (an SFT corpus) nor {BLEND} (a data build) in {shards}")


def _pretraining(shards: Path) -> Data:
    blend = yaml.safe_load((shards / BLEND).read_text())
    manifests = {BLEND: blend}
    if (shards / BUILD).is_file():
        manifests[BUILD] = json.loads((shards / BUILD).read_text())
    sources: dict[str, Source] = {}
    categories: dict[str, dict] = {}
    for dataset in blend["datasets"]:
        name = f"{dataset['prefix']}.manifest.json"
        manifest = json.loads((shards / name).read_text())
        manifests[name] = manifest
        row = categories.setdefault(dataset["prefix"].split("/")[0], {"category": dataset["prefix"].split("/")[0],
                                                                       "datasets": [], "documents": 0, "tokens": 0,
                                                                       "weight": 0.0, "sources": set()})
        row["datasets"].append(dataset["prefix"])
        row["documents"] += manifest["documents"]
        row["tokens"] += manifest["tokens"]
        row["weight"] += float(dataset["weight"])
        for source_name, entry in manifest["sources"].items():
            source = sources.setdefault(source_name, Source(source_name, entry.get("reader")))
            source.files.extend(f for f in entry.get("files", {}) if f not in source.files)
            row["sources"].add(source_name)
    composition = [{**row, "sources": sorted(row["sources"])} for row in categories.values()]
    return Data("pretraining", str(shards), manifests, sorted(sources.values(), key=lambda s: s.name), composition, [])


def _sft(shards: Path) -> Data:
    manifest = json.loads((shards / SFT_MANIFEST).read_text())
    sources = {name: Source(name, entry.get("reader"), list(entry.get("files", {}))) for name, entry in manifest["sources"].items()}
    tasks, categories = [], {}
    for task in manifest["tasks"]:
        counts = manifest["per_task"].get(task["name"], {})
        row = {"task": task["name"], "category": task["category"], "metric": task["metric"],
               "examples": counts.get("examples", 0), "train_samples": counts.get("samples", {}).get("train", 0),
               "train_tokens": counts.get("tokens", {}).get("train", 0),
               "train_loss_tokens": counts.get("loss_tokens", {}).get("train", 0)}
        tasks.append(row)
        total = categories.setdefault(task["category"], {"category": task["category"], "tasks": 0, "examples": 0,
                                                         "train_samples": 0, "train_tokens": 0, "train_loss_tokens": 0})
        total["tasks"] += 1
        for key in ("examples", "train_samples", "train_tokens", "train_loss_tokens"):
            total[key] += row[key]
        if task["category"] == "imported":  # imported chat files are named <source> or <source>:<task> (sft/build.py)
            name = task["name"].split(":")[0]
            sources.setdefault(name, Source(name))
    return Data("sft", str(shards), {SFT_MANIFEST: manifest}, sorted(sources.values(), key=lambda s: s.name),
                sorted(categories.values(), key=lambda r: r["category"]), tasks)
