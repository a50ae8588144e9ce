"""The one walk over the records of an SDF file (optionally gzipped) that the SDF readers share.

A record is the text up to and including its `$$$$` line; text after the last `$$$$` (a record
without its terminator: a truncated file) is a record too, and blank text between records is not
one. Each record is parsed by RDKit on its own, so that one that holds a byte that is not UTF-8 or
that RDKit cannot read is one rejection and the records after it are still read."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterator, Union

from biomatrix_io.files import first_line, open_text, undecodable
from biomatrix_io.readers.entries import terminated_entries
from biomatrix_io.records import Provenance, Rejection


def sdf_molecules(path: Path, remove_hs: bool = True) -> Iterator[Union[tuple[Provenance, Any], Rejection]]:
    """(provenance `file:record`, sanitized RDKit molecule) for every record RDKit reads, a
    `Rejection` saying why for every other. `remove_hs` False keeps the file's hydrogens (and
    their coordinates) as atoms."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    with open_text(path) as handle:
        for index, (line, lines) in enumerate(terminated_entries(handle, "$$$$"), start=1):
            provenance = Provenance(str(path), f"record {index} (line {line})", f"{path.name}:{index}")
            bad = next((k for k, text in enumerate(lines) if undecodable(text)), None)
            if bad is not None:
                where = "the name line" if bad == 0 else f"line {bad + 1} of the record"
                yield Rejection(provenance, f"invalid UTF-8 byte in {where}")
                continue
            block = io.BytesIO("".join(lines).encode("utf-8"))
            try:
                mol = next(Chem.ForwardSDMolSupplier(block, removeHs=remove_hs, sanitize=True), None)
            except Exception as error:  # RDKit raises several unrelated types; the next record is readable
                yield Rejection(provenance, "RDKit: " + first_line(error))
                continue
            if mol is None:
                yield Rejection(provenance, "RDKit cannot parse the record")
                continue
            yield provenance, mol
