"""The 3D molecule corpora the structure tokenizer is trained, counted and evaluated on, as one
stream of (where, molecule) items or rejections per named source.

- qm9: QM9's DFT conformers, split deterministically by id into train and test (a tenth), so that
  training, the joint inventory and evaluation agree on which molecules are held out.
- ccd: PDB chemical components with their ideal coordinates.
- moses, chebi: SMILES-only; conformers are generated (ETKDG + MMFF), in worker processes.
- sdf:PATH: any SDF file with 3D coordinates.
"""

from __future__ import annotations

import hashlib
import itertools
from multiprocessing import Pool
from typing import Iterator, Optional, Union

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_ccd, read_chebi_obo, read_smiles_table
from biomatrix_io.readers.molecules_3d import read_qm9_3d, read_sdf
from biomatrix_io.records import Molecule3DRecord, MoleculeRecord, Rejection

from .conformers import ConformerConfig, generate_conformer
from .errors import StructureTokenError

Item = Union[Molecule3DRecord, Rejection]
TEST_FRACTION_PER_MILLE = 100


def qm9_split(record_id: str) -> str:
    """'test' for a fixed tenth of QM9 (by a hash of the id), 'train' for the rest."""
    digest = int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:4], "big")
    return "test" if digest % 1000 < TEST_FRACTION_PER_MILLE else "train"


def _qm9(split: Optional[str]) -> Iterator[Item]:
    for read in itertools.chain.from_iterable(read_qm9_3d(p) for p in packaged.qm9_csvs()):
        if split is None or isinstance(read, Rejection) or qm9_split(read.provenance.record_id) == split:
            yield read


def _with_conformer(args: tuple[Union[MoleculeRecord, Rejection], ConformerConfig]) -> Item:
    record, config = args
    if isinstance(record, Rejection):
        return record
    try:
        return Molecule3DRecord(record.provenance, generate_conformer(record.smiles, config, where_of(record)), record.name)
    except StructureTokenError as error:
        return Rejection(record.provenance, "conformer: " + error.reason)


def _generated(records: Iterator, limit: Optional[int], workers: int, config: ConformerConfig) -> Iterator[Item]:
    """Conformers for SMILES records (the first `limit` of them), in input order, in worker processes."""
    jobs = ((record, config) for record in itertools.islice(records, limit))
    if workers <= 1:
        yield from map(_with_conformer, jobs)
        return
    with Pool(workers) as pool:
        yield from pool.imap(_with_conformer, jobs, chunksize=16)


def molecules(source: str, limit: Optional[int] = None, workers: int = 1,
              conformer: ConformerConfig = ConformerConfig()) -> Iterator[Item]:
    """Items of a named source (see the module docstring), at most `limit` input records."""
    name, _, argument = source.partition(":")
    if name == "qm9":
        yield from itertools.islice(_qm9(argument or None), limit)
    elif name == "ccd":
        yield from itertools.islice(read_ccd(packaged.ccd_bcif(), with_ideal_coordinates=True), limit)
    elif name == "moses":
        smiles = itertools.chain.from_iterable(read_smiles_table(p) for p in packaged.moses_csvs())
        yield from _generated(smiles, limit, workers, conformer)
    elif name == "chebi":
        yield from _generated(read_chebi_obo(packaged.chebi_obo()), limit, workers, conformer)
    elif name == "sdf":
        yield from itertools.islice(read_sdf(argument), limit)
    else:
        raise ValueError(f"unknown molecule source {source!r}: qm9[:train|test], ccd, moses, chebi, sdf:PATH")


def where_of(record: Union[MoleculeRecord, Molecule3DRecord]) -> str:
    p = record.provenance
    return f"{p.path}:{p.location} ({p.record_id})"
