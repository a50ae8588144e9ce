"""An export is a release: beside the weights and the tokenizer, the folder says what the model is
and where it came from, in files a user (or an auditor) reads without this stack:

- `README.md`, the model card; `NOTICE.md`, the licence notices of the base model and of every data
  source that went in (`card.py`, `licences.py`);
- `provenance.json`: the exporting code's git commit (null where git or the repository is absent,
  as on a cluster node that runs an installed copy), package versions, the export's settings, and
  every training stage behind the checkpoint (`lineage.py`) with the commit that trained it, its
  config and its data manifests;
- `SHA256SUMS`, written last, over every other file (`sha256sum -c SHA256SUMS` checks the folder).

The generation settings depend on the job that trained the model: a base model ends a document
with the EOD it was trained to write; a chat model ends its turn with `<|im_end|>`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Optional

from biomatrix_io.code_state import git_state
from biomatrix_io.config import ConfigError

from .card import CARD, NOTICE, Release, model_card, notices
from .licences import base_model as known_base_model
from .lineage import Stage, job_of, lineage

PROVENANCE = "provenance.json"
CHECKSUMS = "SHA256SUMS"
FORMAT = "biomatrix-release/1"
PACKAGES = ("megatron-bio", "torch", "megatron-core", "transformers", "tokenizers", "safetensors")
# The token that ends a generation, per training job.
EOS = {"pretrain": "<|endoftext|>", "sft": "<|im_end|>"}
PAD = "<|endoftext|>"


def job(common: dict) -> str:
    """The checkpoint's job, one this export knows how to release."""
    name = job_of(common)
    if name not in EOS:
        raise ConfigError(f"checkpoint job {name!r}: an export knows {sorted(EOS)}", ["job"])
    return name


def special_tokens(backend, job_name: str) -> dict:
    """bos/eos/pad ids for config.json and generation_config.json (`backend`: a `tokenizers.Tokenizer`)."""
    return {"bos_token_id": backend.token_to_id(PAD), "eos_token_id": backend.token_to_id(EOS[job_name]),
            "pad_token_id": backend.token_to_id(PAD)}


def write_generation_settings(out: Path, backend, job_name: str) -> dict:
    """The job's special tokens in an exported folder: config.json's ids, generation_config.json, and
    tokenizer_config.json's eos_token, so that `generate` and `tokenizer.eos_token` agree."""
    from transformers import GenerationConfig

    out = Path(out)
    special = special_tokens(backend, job_name)
    for name, update in (("config.json", special), ("tokenizer_config.json", {"eos_token": EOS[job_name]})):
        config = json.loads((out / name).read_text())
        config.update(update)
        (out / name).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    GenerationConfig(**special).save_pretrained(out)
    return special


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _stage_record(stage: Stage) -> dict:
    data = stage.data
    return {"checkpoint": stage.checkpoint, "job": stage.job, "iteration": stage.iteration,
            "consumed_samples": stage.consumed_samples, "source": stage.source, "problem": stage.problem,
            "code": stage.code, "config": stage.config,
            "data": None if data is None else {"kind": data.kind, "shards": data.shards, "manifests": data.manifests}}


def provenance(release: Release, export: dict) -> dict:
    return {"format": FORMAT, "exported": {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                           "code": git_state(), "packages": package_versions(), **export},
            "model": {"name": release.name, "job": release.job, "license": release.license,
                      "base_model": release.base_model, "vocab_size": release.vocab_size, "parameters": release.parameters},
            "unknown_licences": release.unknown_licences(),
            "stages": [_stage_record(stage) for stage in release.stages]}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(out: Path) -> Path:
    """`SHA256SUMS` over every file below `out` but itself, in `sha256sum`'s format, sorted by path."""
    out = Path(out)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.relative_to(out).as_posix() != CHECKSUMS)
    path = out / CHECKSUMS
    path.write_text("".join(f"{sha256(p)}  {p.relative_to(out).as_posix()}\n" for p in files))
    return path


def write_release(out: Path, folder: Path, common: dict, parameters: int, export: dict, base_model: Optional[str] = None,
                  license: str = "apache-2.0", evaluation: Optional[Path] = None, tokenizer: bool = True) -> dict:
    """The card, notices, provenance and checksums of an export already in `out` (weights, config,
    tokenizer); returns what the export's report says about them. `base_model`: the hub id of the
    base, by default the released Qwen3 base of the model's shape. `evaluation`: an evaluation
    results file for the card (`card.evaluation_section` reads it), None until the evaluation job exists.
    `tokenizer`: whether the folder holds one (the card's Quick Start needs it)."""
    out = Path(out)
    model = common["config"]["model"]
    release = Release(name=out.name, license=license, base_model=base_model or known_base_model(model), job=job(common),
                      model=model, vocab_size=common["vocab_size"], parameters=parameters,
                      stages=lineage(folder, common), evaluation=evaluation, tokenizer=tokenizer)
    (out / CARD).write_text(model_card(release))
    (out / NOTICE).write_text(notices(release))
    (out / PROVENANCE).write_text(json.dumps(provenance(release, export), indent=1, default=str) + "\n")
    write_checksums(out)
    return {"job": release.job, "base_model": release.base_model, "card": CARD, "notices": NOTICE,
            "provenance": PROVENANCE, "checksums": CHECKSUMS, "unknown_licences": release.unknown_licences()}
