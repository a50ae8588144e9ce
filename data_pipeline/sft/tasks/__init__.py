"""Every task family of the SFT corpus, by name: one module per category, each a tuple `FAMILIES`
of declarative `TaskFamily` entries (`base.py` says what an entry holds)."""

from __future__ import annotations

import functools
import importlib

from .base import TaskFamily

_MODULES = ("molecule_1d", "molecule_oracle", "reactions", "molecule_3d", "protein_1d", "protein_3d", "interaction", "science_text",
            "nucleic")


@functools.lru_cache(maxsize=1)
def families() -> dict[str, TaskFamily]:
    """name -> family, in module order then declaration order (task ids follow this order); built
    once per process (the builder looks a family up per example)."""
    found: dict[str, TaskFamily] = {}
    for module in _MODULES:
        for family in importlib.import_module(f"{__name__}.{module}").FAMILIES:
            if family.name in found:
                raise ValueError(f"task family {family.name!r} is declared twice")
            found[family.name] = family
    return found


@functools.lru_cache(maxsize=1)
def by_task() -> dict[str, TaskFamily]:
    """Task id -> its family (a family written in several notations has one id per notation)."""
    return {task: family for family in families().values() for task in family.task_names()}
