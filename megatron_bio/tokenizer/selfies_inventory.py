"""Build the SELFIES symbol inventory (token family 3) from real molecule corpora.

Every molecule is parsed by RDKit, written as its canonical isomeric SMILES (the form the data
pipeline feeds to SELFIES) and encoded with `selfies`; each symbol is counted. The inventory is the
set of symbols seen, plus SELFIES' semantic-robust alphabet (so every symbol `selfies` emits for
the common valences exists even when the corpora lack it), most frequent first. Every input record
is accounted for: counted, or rejected with a reason.
"""

from __future__ import annotations

import datetime
import itertools
import multiprocessing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from megatron_bio.tokenizer.molecule_forms import MoleculeFormError, canonical_selfies
from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_ccd, read_chebi_obo, read_smiles_table
from biomatrix_io.records import MoleculeRecord, Rejection

from .ranked_file import write_ranked_tokens

PAPER_SELFIES_COUNT = 925

SOURCES: dict[str, Callable[[], Iterable[Union[MoleculeRecord, Rejection]]]] = {
    "moses": lambda: itertools.chain.from_iterable(read_smiles_table(p) for p in packaged.moses_csvs()),
    "qm9": lambda: itertools.chain.from_iterable(
        read_smiles_table(p, id_column="XYZ_file") for p in packaged.qm9_csvs()
    ),
    "ccd": lambda: read_ccd(packaged.ccd_bcif()),
    "chebi": lambda: read_chebi_obo(packaged.chebi_obo()),
}


def selfies_symbols(smiles: str) -> Union[list[str], str]:
    """The SELFIES symbols of a SMILES, or the reason it has none."""
    import selfies as sf

    try:
        _, encoded = canonical_selfies(smiles)
    except MoleculeFormError as error:
        return str(error)
    return list(sf.split_selfies(encoded))


@dataclass
class SourceTally:
    records: int = 0
    encoded: int = 0
    rejected: Counter = field(default_factory=Counter)


def _smiles_stream(
    records: Iterable[Union[MoleculeRecord, Rejection]], tally: SourceTally, limit: Optional[int]
) -> Iterator[str]:
    for record in itertools.islice(records, limit):
        tally.records += 1
        if isinstance(record, Rejection):
            tally.rejected[record.reason] += 1
        else:
            yield record.smiles


def count_symbols(
    sources: Iterable[str], limit: Optional[int] = None, workers: int = 1
) -> tuple[Counter, dict[str, SourceTally]]:
    """Symbol counts over the named sources (at most `limit` records each)."""
    counts: Counter = Counter()
    tallies: dict[str, SourceTally] = {}
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # rejected SMILES are counted with their reason instead
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for name in sources:
            if name not in SOURCES:
                raise ValueError(f"unknown source {name!r}; known: {sorted(SOURCES)}")
            tally = tallies[name] = SourceTally()
            for result in pool.imap(selfies_symbols, _smiles_stream(SOURCES[name](), tally, limit), chunksize=512):
                if isinstance(result, str):
                    tally.rejected[result] += 1
                else:
                    tally.encoded += 1
                    counts.update(result)
    return counts, tallies


def build_inventory(
    out: str | Path, sources: Iterable[str], limit: Optional[int] = None, workers: int = 1
) -> tuple[list[tuple[str, int]], dict[str, SourceTally]]:
    from importlib.metadata import version

    import selfies as sf

    sources = list(sources)
    counts, tallies = count_symbols(sources, limit, workers)
    counts.pop(".", None)  # the fragment separator is the base vocabulary's "." token, not a symbol
    for symbol in sf.get_semantic_robust_alphabet():
        counts.setdefault(symbol, 0)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    header = [
        f"SELFIES symbol inventory: {len(rows)} symbols (the BioMatrix report found {PAPER_SELFIES_COUNT} in its corpus)",
        f"built {datetime.date.today().isoformat()} with selfies {version('selfies')}, RDKit {version('rdkit')}"
        + (f", at most {limit} records per source" if limit else ""),
        "symbol<TAB>occurrences, most frequent first; count 0 = from selfies' semantic-robust alphabet only",
    ]
    for name, tally in tallies.items():
        rejected = sum(tally.rejected.values())
        header.append(f"source {name}: {tally.records} records, {tally.encoded} encoded, {rejected} rejected")
        header += [f"  rejected {n}: {reason}" for reason, n in tally.rejected.most_common(5)]
    write_ranked_tokens(out, rows, header)
    return rows, tallies
