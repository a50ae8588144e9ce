"""Work units: the plan that splits inputs, and the file discipline every unit follows.

A unit is one contiguous range of entries of one input file. It is an idempotent job: it writes
temporary files, renames them into place (a reader never sees a partial file), writes its `done`
record last, and is skipped when that record carries the same config hash. Units are numbered
from the input alone, so the output never depends on how many workers ran them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterator, Optional

from biomatrix_io.files import atomic

from .catalog import reader, resolve_paths
from .config import DataConfig

PIPELINE_VERSION = 1  # bump when a change alters output bytes for the same config
_VERSIONED = ("megatron-bio", "megatron-core", "rdkit", "selfies", "tokenizers", "biotite", "biopython", "numpy", "torch")


@dataclass(frozen=True)
class Segment:
    file_index: int
    path: str
    start: int  # first entry (record or rejection) of the file this segment takes
    stop: int


@dataclass(frozen=True)
class Unit:
    """Up to `records_per_unit` consecutive entries of one source: a range of one large file, or
    several small files (one PDB entry per file, one article file per journal issue)."""

    id: str
    source: str
    segments: tuple[Segment, ...]

    @property
    def entries(self) -> int:
        return sum(s.stop - s.start for s in self.segments)

    @property
    def paths(self) -> list[str]:
        return [s.path for s in self.segments]

    def items(self, config: DataConfig) -> Iterator[tuple[str, object]]:
        """(key, item) pairs; keys name the entry by source, file and index, not by unit."""
        source = config.sources[self.source]
        read = reader(source.reader, source.options)
        for segment in self.segments:
            entries = itertools.islice(read(Path(segment.path)), segment.start, segment.stop)
            for index, item in enumerate(entries, start=segment.start):
                yield f"{self.source}:{segment.file_index}:{index}", item


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def digest(value: object) -> str:
    """sha256 of a JSON-able value (dataclasses included), key order fixed."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_json(path: Path, value: object) -> None:
    with atomic(path) as temporary:
        temporary.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")


def read_done(path: Path, expected_hash: str) -> Optional[dict]:
    """The unit's done record if it finished with this config hash."""
    try:
        done = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return done if done.get("config_hash") == expected_hash else None


def _plan_key(config: DataConfig) -> str:
    return digest({"sources": {n: dataclasses.asdict(s) for n, s in config.sources.items()},
                   "records_per_unit": config.records_per_unit, "version": PIPELINE_VERSION})


def plan(config: DataConfig, work: Path, verify_inputs: bool = True) -> dict:
    """Units and input checksums. Entries are counted once by running each reader over its files
    (parsing only, no chemistry), capped by the source limit; the plan is cached in
    `work/plan.json` and recomputed when the sources or, if `verify_inputs`, the input files change.
    A unit job (`run-unit`) reuses the cached plan without re-reading the inputs."""
    cached = work / "plan.json"
    stored = json.loads(cached.read_text()) if cached.is_file() else None
    if stored and stored["key"] == _plan_key(config) and not verify_inputs:
        return stored
    files = {name: [str(p) for p in resolve_paths(s.paths, f"source {name!r}")] for name, s in config.sources.items()}
    checksums = {path: file_sha256(Path(path)) for paths in files.values() for path in paths}
    if stored and stored["key"] == _plan_key(config) and stored["checksums"] == checksums:
        return stored
    units: list[Unit] = []
    for name, source in sorted(config.sources.items()):  # by name: YAML key order must not matter
        read = reader(source.reader, source.options)
        remaining = source.limit
        segments: list[Segment] = []
        filled, parts = 0, 0
        for file_index, path in enumerate(files[name]):
            if remaining == 0:
                break
            count = sum(1 for _ in itertools.islice(read(Path(path)), remaining))
            remaining = None if remaining is None else remaining - count
            start = 0
            while start < count:
                stop = min(count, start + config.records_per_unit - filled)
                segments.append(Segment(file_index, path, start, stop))
                filled += stop - start
                start = stop
                if filled == config.records_per_unit:
                    units.append(Unit(f"{name}-{parts:05d}", name, tuple(segments)))
                    segments, filled, parts = [], 0, parts + 1
        if segments:
            units.append(Unit(f"{name}-{parts:05d}", name, tuple(segments)))
    result = {"key": _plan_key(config), "files": files, "checksums": checksums,
              "units": [dataclasses.asdict(u) for u in units]}
    write_json(cached, result)
    return result


def units_of(planned: dict) -> list[Unit]:
    return [Unit(u["id"], u["source"], tuple(Segment(**s) for s in u["segments"])) for u in planned["units"]]
