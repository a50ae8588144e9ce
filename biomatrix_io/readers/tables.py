"""The one walk over the rows of a CSV/TSV table (optionally gzipped) that the table readers share,
so that they count entries alike: a table without the columns a reader needs is one file-level
rejection; every other line is a data row, or a rejection naming its line (CSV syntax, a byte that
is not UTF-8, a field count the header does not allow); a blank line is not an entry."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

from biomatrix_io.files import open_text, undecodable
from biomatrix_io.records import Provenance, Rejection

Row = tuple[Provenance, dict[str, str]]


def table_rows(
    path: Path,
    required: Iterable[str],
    delimiter: str = ",",
    quoting: int = csv.QUOTE_MINIMAL,
    header: Optional[Sequence[str]] = None,
    extra_columns: bool = False,
) -> Iterator[Union[Row, Rejection]]:
    """(provenance `file:line`, column -> field) for every well-formed data row, a `Rejection` for
    every malformed one, or a single file-level `Rejection` (a header the csv module cannot read, a
    `required` column it lacks). `header` None: the first line is the header; otherwise the table
    has no header line and these are its leading columns. `extra_columns`: a row may hold more
    fields than the header names (they are not read), as PubChem's trailing synonyms."""
    file = Provenance(str(path), "file", path.name)
    with open_text(path, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        if header is None:
            try:
                header = next(reader, [])
            except csv.Error as error:
                yield Rejection(file, f"CSV header: {error}")
                return
        header = list(header)
        missing = [column for column in required if column not in header]
        if missing:
            yield Rejection(file, f"no column {missing} (columns: {str(header)[:200]})")
            return
        while True:
            line = reader.line_num + 1  # where the row starts (a quoted field may span lines)
            provenance = Provenance(str(path), f"line {line}", f"{path.name}:{line}")
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield Rejection(provenance, f"CSV: {error}")
                continue
            if not fields:  # a blank line is not an entry
                continue
            if any(undecodable(cell) for cell in fields):
                yield Rejection(provenance, "bad UTF-8")
            elif len(fields) < len(header) or (len(fields) > len(header) and not extra_columns):
                yield Rejection(provenance, f"{len(fields)} fields where the header has {len(header)}")
            else:
                yield provenance, dict(zip(header, fields))
