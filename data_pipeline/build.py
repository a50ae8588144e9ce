"""A data build: plan -> stage 1 (normalize) units -> lexicon -> stage 2 (compose + tokenize)
units -> merge, manifests, blend.

Layout under `config.out`:
  work/plan.json              units and input checksums
  work/stage1/<unit>.tar      entities (webdataset: one `json` member per entity) + <unit>.done.json
  work/lexicon.json           entity names for interleaving (from stage 1, in plan order)
  work/stage2/<unit>/         that unit's part of every prefix + done.json
  shards/<category>/<view>.bin/.idx/.manifest.json, shards/blend.txt, blend.yaml, build.json

Every unit can run alone (`run_unit`, what a Slurm array task calls); `build` runs them all in a
local process pool. Re-running skips every unit whose done record has the current config hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Optional

from biomatrix_io.blend import write_blend
from biomatrix_io.config import ConfigError
from biomatrix_io.files import atomic

from .compose import PAPER_BUDGET_B, PREFIXES, Lexicon, compose
from .config import DataConfig
from .normalize import Normalizer, UnitStats
from .shards import blend, merge_prefix, write_unit
from .units import PIPELINE_VERSION, Unit, digest, package_versions, plan, read_done, units_of, write_json

STAGES = ("normalize", "compose")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    def stage1(self, unit: Unit) -> tuple[Path, Path]:
        return self.work / "stage1" / f"{unit.id}.tar", self.work / "stage1" / f"{unit.id}.done.json"

    def stage2(self, unit: Unit) -> tuple[Path, Path]:
        return self.work / "stage2" / unit.id, self.work / "stage2" / f"{unit.id}.done.json"

    command = "data"  # the `biomatrix` command that runs this build's units

    def outputs(self, unit: Unit, stage: str) -> tuple[Path, Path]:
        """(output, done record) of a unit's stage."""
        return {"normalize": self.stage1, "compose": self.stage2}[stage](unit)


def finished(layout: Layout, unit: Unit, stage: str) -> dict:
    """A unit's done record; a clear error when a later step runs before it (an array task
    scheduled without its dependency)."""
    path = layout.outputs(unit, stage)[1]
    if not path.is_file():
        raise ConfigError(f"unit {unit.id} has not finished stage {stage!r} ({path} is missing): "
                           f"run it first (biomatrix {layout.command} run-unit --stage {stage} --unit {unit.id})")
    return json.loads(path.read_text())


_PROCESS_CACHE: dict[str, object] = {}


def _cached(key: str, make: Callable[[], object]) -> object:
    """Heavy objects (structure tokenizers, the unified tokenizer) built once per process."""
    if key not in _PROCESS_CACHE:
        _PROCESS_CACHE[key] = make()
    return _PROCESS_CACHE[key]


def build_tokenizer(config: DataConfig):
    """The build's tokenizer, built once per process (workers and inspection share it)."""
    return _cached("tokenizer:" + digest(config.tokenizer), config.tokenizer.build)


def tokenizer_fingerprint(config: DataConfig) -> str:
    tokenizer = build_tokenizer(config)
    return _cached("fingerprint:" + digest(config.tokenizer),
                   lambda: hashlib.sha256(tokenizer.backend.to_str().encode()).hexdigest())


# Stage 1 ------------------------------------------------------------------------------------------
def stage1_hash(config: DataConfig, unit: Unit, planned: dict) -> str:
    return digest({"unit": dataclasses.asdict(unit), "inputs": [planned["checksums"][p] for p in unit.paths],
                   "source": config.sources[unit.source], "normalize": config.normalize,
                   "versions": package_versions(), "pipeline": PIPELINE_VERSION})


def run_stage1(config: DataConfig, unit: Unit, planned: dict) -> dict:
    import webdataset as wds

    layout = Layout(Path(config.out))
    tar_path, done_path = layout.stage1(unit)
    config_hash = stage1_hash(config, unit, planned)
    done = read_done(done_path, config_hash)
    if done and tar_path.is_file():
        return {**done, "skipped": True}
    normalizer = _cached("normalizer:" + digest(config.normalize), lambda: Normalizer(config.normalize))
    stats = UnitStats()
    with atomic(tar_path) as temporary, open(temporary, "wb") as handle:
        writer = wds.TarWriter(handle, encoder=False, mtime=0.0)
        entities = normalizer.entities(unit.source, config.sources[unit.source], unit.items(config), stats)
        for index, entity in enumerate(entities):
            payload = json.dumps(entity, sort_keys=True).encode()
            writer.write({"__key__": f"{index:09d}", "json": payload})
        writer.close()
    expected = unit.entries
    if stats.records != expected or stats.records != stats.written + sum(stats.rejected.values()):
        raise RuntimeError(f"unit {unit.id}: {expected} entries planned, {stats.records} read, "
                           f"{stats.written} written + {sum(stats.rejected.values())} rejected")
    done = {"unit": unit.id, "stage": "normalize", "config_hash": config_hash, **stats.as_dict(),
            "protein_structure": normalizer.protein_structure_status}
    write_json(done_path, done)
    return done


def read_entities(tar_path: Path):
    import webdataset as wds

    for sample in wds.WebDataset(str(tar_path), shardshuffle=False, empty_check=False):
        yield json.loads(sample["json"])


# Lexicon --------------------------------------------------------------------------------------------
def ensure_lexicon(config: DataConfig, units: list[Unit]) -> tuple[Lexicon, str]:
    """The interleaving lexicon from every lexicon source's entities, written once (atomically;
    concurrent writers produce the same bytes)."""
    layout = Layout(Path(config.out))
    sources = sorted(name for name, s in config.sources.items() if s.lexicon)
    hashes = [finished(layout, u, "normalize")["config_hash"] for u in units if u.source in sources]
    key = digest({"stage1": hashes, "interleave": config.compose.interleave})
    path = layout.work / "lexicon.json"
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored["hash"] == key:
            return Lexicon(stored["entries"], config.compose.interleave), key
    entities = (e for u in units if u.source in sources for e in read_entities(layout.stage1(u)[0]))
    lexicon = Lexicon.from_entities(entities, config.compose.interleave)
    write_json(path, {"hash": key, "entries": lexicon.entries})
    return lexicon, key


# Stage 2 ------------------------------------------------------------------------------------------
def stage2_hash(config: DataConfig, unit: Unit, lexicon_hash: str) -> str:
    layout = Layout(Path(config.out))
    stage1 = finished(layout, unit, "normalize")["config_hash"]
    return digest({"stage1": stage1, "compose": config.compose, "tokenizer": tokenizer_fingerprint(config),
                   "lexicon": lexicon_hash, "pipeline": PIPELINE_VERSION})


def run_stage2(config: DataConfig, unit: Unit, units: list[Unit]) -> dict:
    layout = Layout(Path(config.out))
    directory, done_path = layout.stage2(unit)
    lexicon, lexicon_hash = ensure_lexicon(config, units)
    config_hash = stage2_hash(config, unit, lexicon_hash)
    done = read_done(done_path, config_hash)
    if done and directory.is_dir():
        return {**done, "skipped": True}
    entities = read_entities(layout.stage1(unit)[0])
    documents = (document for entity in entities for document in compose(entity, config.compose, lexicon))
    stats = write_unit(documents, build_tokenizer(config), directory, config.compose.batch_size)
    if stats["composed"] != stats["written"] + sum(stats["rejected"].values()):
        raise RuntimeError(f"unit {unit.id}: documents composed != written + rejected: {stats}")
    done = {"unit": unit.id, "stage": "compose", "config_hash": config_hash, **stats}
    write_json(done_path, done)
    return done


# Merge -------------------------------------------------------------------------------------------
def merge(config: DataConfig, planned: dict) -> dict:
    """Join unit outputs per prefix; write a manifest per prefix, the blend and build.json."""
    layout = Layout(Path(config.out))
    units = units_of(planned)
    stage1 = {u.id: finished(layout, u, "normalize") for u in units}
    stage2 = {u.id: finished(layout, u, "compose") for u in units}
    tokenizer = build_tokenizer(config)
    common = {"dtype": "int32", "package_versions": package_versions(), "pipeline_version": PIPELINE_VERSION,
              "tokenizer": {"vocab_size": tokenizer.vocab_size, "eod": tokenizer.eod, "fingerprint": tokenizer_fingerprint(config)}}
    token_counts: dict[str, int] = {}
    for prefix in PREFIXES:
        contributing = [u for u in units if prefix in stage2[u.id]["prefixes"]]
        if not merge_prefix(prefix, [layout.stage2(u)[0] for u in contributing], layout.shards):
            continue
        manifest = _prefix_manifest(prefix, contributing, stage1, stage2, planned, common)
        manifest["rejected"]["documents"] = _document_rejections(prefix, units, stage2)
        token_counts[prefix] = manifest["tokens"]
        write_json(layout.shards / f"{prefix}.manifest.json", manifest)
    weights = blend(token_counts, config.blend_weights, config.nucleic_budget_b)
    write_blend(layout.shards, [{"prefix": p, "weight": w, "tokens": token_counts[p], **_budget(p, config)}
                                for p, w in weights.items()], config.blend_weights)
    summary = _build_summary(config, units, stage1, stage2, token_counts, weights)
    write_json(layout.shards / "build.json", summary)
    return summary


def _budget(prefix: str, config: DataConfig) -> dict:
    """The token budget a prefix's `paper` weight comes from, named by whose it is."""
    if prefix in PAPER_BUDGET_B:
        return {"paper_budget_b": PAPER_BUDGET_B[prefix]}
    return {"our_budget_b": config.nucleic_budget_b[prefix]}


def _prefix_manifest(prefix: str, units: list[Unit], stage1: dict, stage2: dict, planned: dict, common: dict) -> dict:
    modality: Counter = Counter()
    by_source: dict[str, dict] = defaultdict(lambda: {"documents": 0, "tokens": 0, "files": {}})
    record_rejections: Counter = Counter()
    for unit in units:
        part = stage2[unit.id]["prefixes"][prefix]
        modality.update(part["tokens_by_modality"])
        source = by_source[unit.source]
        source["documents"] += part["documents"]
        source["tokens"] += part["tokens"]
        source["files"].update({p: planned["checksums"][p] for p in unit.paths})
        record_rejections.update(stage1[unit.id]["rejected"])
    return {
        "prefix": prefix,
        "documents": sum(s["documents"] for s in by_source.values()),
        "tokens": sum(s["tokens"] for s in by_source.values()),
        "tokens_by_modality": dict(sorted(modality.items())),
        "sources": dict(sorted(by_source.items())),
        "config_hash": digest([stage2[u.id]["config_hash"] for u in units]),
        "rejected": {"records": dict(sorted(record_rejections.items()))},
        "units": [u.id for u in units],
        **common,
    }


def _document_rejections(prefix: str, units: list[Unit], stage2: dict) -> dict:
    """Documents of this prefix the tokenizer refused, by reason, over every unit (a unit whose
    documents of this prefix were all refused still counts)."""
    rejected: Counter = Counter()
    for unit in units:
        rejected.update({r.partition(": ")[2]: n for r, n in stage2[unit.id]["rejected"].items() if r.startswith(prefix + ": ")})
    return dict(sorted(rejected.items()))


def _build_summary(config, units, stage1, stage2, token_counts, weights) -> dict:
    sources: dict[str, dict] = {}
    for unit in units:
        entry = sources.setdefault(unit.source, {"records": 0, "written": 0, "rejected": Counter(), "fields_dropped": Counter(),
                                                 "molecule_3d_degenerate_atoms": 0, "documents": 0, "documents_rejected": 0})
        done = stage1[unit.id]
        entry["records"] += done["records"]
        entry["written"] += done["written"]
        entry["rejected"].update(done["rejected"])
        entry["fields_dropped"].update(done["fields_dropped"])
        entry["molecule_3d_degenerate_atoms"] += done.get("molecule_3d_degenerate_atoms", 0)
        entry["documents"] += stage2[unit.id]["written"]
        entry["documents_rejected"] += sum(stage2[unit.id]["rejected"].values())
    statuses = sorted({done["protein_structure"] for done in stage1.values() if done.get("protein_structure")})
    protein_structure = [s for s in statuses if s != "megatron_bio.structure.protein"]
    absent = {p: "; ".join(protein_structure) if p == "protein/3d" and protein_structure
              else "no document of this view in the inputs" for p in PREFIXES if p not in token_counts}
    return {
        "prefixes": token_counts,
        "blend": weights,
        "absent_prefixes": absent,
        "protein_structure": statuses,
        "sources": {n: {**s, "rejected": dict(s["rejected"]), "fields_dropped": dict(s["fields_dropped"])}
                    for n, s in sorted(sources.items())},
    }


def summary_table(summary: dict, top: int = 3) -> str:
    """The end of a build on one screen: per source, records read, written, rejected, and the most
    frequent rejection reasons (every figure is in build.json's `sources`)."""
    rows = [("source", "records", "written", "rejected", "top rejection reasons")]
    for name, source in summary["sources"].items():
        reasons = Counter(source["rejected"]).most_common(top)
        rows.append((name, str(source["records"]), str(source["written"]), str(sum(source["rejected"].values())),
                     "; ".join(f"{reason} ({count})" for reason, count in reasons) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(f"{row[0]:<{widths[0]}}  " + "  ".join(f"{row[i]:>{widths[i]}}" for i in (1, 2, 3)) + f"  {row[4]}"
                     for row in rows)


# Executors ---------------------------------------------------------------------------------------
def run_unit(config: DataConfig, stage: str, unit_id: str) -> dict:
    """One unit of one stage, as a Slurm array task runs it."""
    planned = plan(config, Layout(Path(config.out)).work, verify_inputs=False)
    units = units_of(planned)
    by_id = {u.id: u for u in units}
    if unit_id not in by_id:
        raise KeyError(f"no unit {unit_id!r} in the plan ({len(units)} units: {units[0].id} .. {units[-1].id})")
    if stage == "normalize":
        return run_stage1(config, by_id[unit_id], planned)
    return run_stage2(config, by_id[unit_id], units)


def _job(args: tuple) -> dict:
    config, stage, unit_id = args
    return run_unit(config, stage, unit_id)


def init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # parallelism comes from processes; one thread also fixes reduction order


def build(config: DataConfig, workers: Optional[int] = None, progress: bool = True) -> dict:
    from tqdm import tqdm

    workers = config.workers if workers is None else workers
    planned = plan(config, Layout(Path(config.out)).work)
    units = units_of(planned)
    for stage in STAGES:
        if stage == "compose":
            ensure_lexicon(config, units)  # once, before the workers need it
        jobs = [(config, stage, u.id) for u in units]
        bar = tqdm(total=len(jobs), desc=f"{stage} ({workers} workers)", unit="unit", disable=not progress)
        if workers <= 1:
            init_worker()
            for job in jobs:
                _job(job)
                bar.update()
        else:
            with get_context("spawn").Pool(workers, initializer=init_worker) as pool:
                for _ in pool.imap_unordered(_job, jobs):
                    bar.update()
        bar.close()
    return merge(config, planned)
