"""Fixtures of the SFT corpus tests: real entities (stage 1 of the data pipeline over real files),
the normalizer built once per session."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def normalizer():
    from data_pipeline.config import NormalizeConfig
    from data_pipeline.normalize import Normalizer

    return Normalizer(NormalizeConfig())


@pytest.fixture(scope="session")
def entities(normalizer):
    """entities(reader, paths, limit=20, **source options) -> stage-1 entity dicts of the first
    `limit` entries of a catalog reader over real files (`packaged:NAME` paths allowed)."""
    from data_pipeline.catalog import reader, resolve_paths
    from data_pipeline.config import SourceConfig
    from data_pipeline.normalize import UnitStats

    def make(reader_name: str, paths: list[str], limit: int = 20, **options) -> list[dict]:
        source = SourceConfig(reader=reader_name, paths=paths, options=options)
        read = reader(reader_name, options)
        files = resolve_paths(paths, "test")
        items = itertools.islice(((f"test:{i}:{k}", item) for i, path in enumerate(files)
                                  for k, item in enumerate(read(Path(path)))), limit)
        return list(normalizer.entities("test", source, items, UnitStats()))

    return make
