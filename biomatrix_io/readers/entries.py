"""Flat files whose entries end with a terminator line (SDF's `$$$$`, Swiss-Prot's `//`), split the
way their readers count them: an entry runs to its terminator, and text after the last terminator
(a truncated file, an SDF without its final `$$$$`) is an entry too, so that it is read or rejected
rather than lost. Blank runs between entries are not entries. FASTA files, whose entries start with
a `>` header instead, are split here too, for the protein and nucleotide readers alike."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Iterator, Union

from biomatrix_io.files import first_line, open_text
from biomatrix_io.records import Provenance, Rejection


def terminated_entries(lines: Iterable[str], terminator: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines, terminator included) of each entry."""
    entry: list[str] = []
    start = 1
    for number, line in enumerate(lines, start=1):
        if not entry:
            start = number
        entry.append(line)
        if line.startswith(terminator):
            if any(text.strip() for text in entry[:-1]):
                yield start, entry
            entry = []
    if any(text.strip() for text in entry):
        yield start, entry


def fasta_entries(path: Path) -> Iterator[Union[tuple[int, str, str], Rejection]]:
    """(entry number, header without '>', sequence text) of each FASTA entry, parsed by Biopython's
    `SimpleFastaParser` (strings, not `Seq`s, so that a bad byte rejects its record alone). A file of
    blank lines holds no entry; text before the first header, or a stream that breaks (a truncated
    gzip), is one file rejection after the entries read before it."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    try:
        with open_text(path) as handle:
            first = next((line for line in handle if line.strip()), "")
            if not first:
                return
            if not first.startswith(">"):
                yield Rejection(Provenance(str(path), "file", path.name), "not FASTA: text before the first '>' header")
                return
            yield from ((index, header, raw) for index, (header, raw)
                        in enumerate(SimpleFastaParser(itertools.chain([first], handle)), start=1))
    except (OSError, EOFError) as error:  # truncated or corrupt gzip stream
        yield Rejection(Provenance(str(path), "file", path.name), f"unreadable file: {first_line(error)}")
