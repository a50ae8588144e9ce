"""The record boundary: the one place where whatever a reader meets becomes a record or a counted
rejection with its reason, so that records in = written + rejected holds for every file.

`guarded(read)` wraps any reader (`read(path) -> records and Rejections`):
- a record holding bytes that were not UTF-8 (the decode policy of `files` lets them through as
  lone surrogates) is rejected, naming the field;
- an exception out of the stream (a truncated gzip, a library's parser giving up: RDKit, Biopython,
  biotite, json, csv) ends the file with one stream-level rejection that says where it broke and
  how many entries were read before; no library exception is caught by name in the readers;
- a file that yields no entry at all (empty, or not of the reader's format: a table without its
  column) is one file-level rejection, so a file never vanishes from the counts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

from .files import first_line, undecodable
from .records import Provenance, Rejection

Reader = Callable[[Path], Iterable]


def undecodable_field(record: object) -> Union[str, None]:
    """The first text field of a record (nested records, tuples and dicts included) that holds a
    byte that was not UTF-8, by name; None when it has none. Provenance is not checked: odd file
    names and ids are carried, escaped where they are written."""
    for field in dataclasses.fields(record):
        if field.name == "provenance":
            continue
        if _holds_undecodable(getattr(record, field.name)):
            return field.name
    return None


def _holds_undecodable(value: object) -> bool:
    if isinstance(value, str):
        return undecodable(value)
    if isinstance(value, (tuple, list)):
        return any(_holds_undecodable(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_undecodable(k) or _holds_undecodable(v) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return undecodable_field(value) is not None
    return False


def guarded(read: Reader) -> Callable[[Path], Iterator]:
    """`read` with the record boundary around every entry it yields (module docstring)."""

    def read_guarded(path: Path) -> Iterator:
        path = Path(path)
        entries = 0
        try:
            for item in read(path):
                entries += 1
                field = None if isinstance(item, Rejection) else undecodable_field(item)
                yield item if field is None else Rejection(item.provenance, f"bad UTF-8 in the {field}")
        except Exception as error:  # the boundary: any library's failure becomes the file's last rejection
            where = "file" if entries == 0 else f"after entry {entries}"
            yield Rejection(Provenance(str(path), where, path.name),
                            f"unreadable from here ({entries} entries read before): {first_line(error)}")
            return
        if entries == 0:
            yield Rejection(Provenance(str(path), "file", path.name), "no entries (empty, or not this reader's format)")

    return read_guarded
