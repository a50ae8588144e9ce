"""Real molecules for the structure tests: held-out QM9 DFT conformers and PDB components with
ideal coordinates, read once per session."""

from __future__ import annotations

import itertools

import pytest

from biomatrix_io.records import Molecule3DRecord


def _records(source: str, count: int) -> list[Molecule3DRecord]:
    from megatron_bio.structure.molecule.corpus import molecules

    return [r for r in itertools.islice(molecules(source), count * 2) if isinstance(r, Molecule3DRecord)][:count]


@pytest.fixture(scope="session")
def qm9_test() -> list[Molecule3DRecord]:
    return _records("qm9:test", 60)


@pytest.fixture(scope="session")
def ccd() -> list[Molecule3DRecord]:
    return _records("ccd", 40)


@pytest.fixture(scope="session")
def released():
    from megatron_bio.structure.molecule import MoleculeStructureTokenizer
    from megatron_bio.structure.molecule.train import RELEASED_CHECKPOINT

    return MoleculeStructureTokenizer.from_checkpoint(RELEASED_CHECKPOINT)


@pytest.fixture(scope="session")
def ours():
    from megatron_bio.structure.molecule import MoleculeStructureTokenizer
    from megatron_bio.structure.molecule.train import DEFAULT_CHECKPOINT

    return MoleculeStructureTokenizer.from_checkpoint(DEFAULT_CHECKPOINT)
