"""Flat files whose entries end with a terminator line (SDF's `$$$$`, Swiss-Prot's `//`), split the
way their readers count them: an entry runs to its terminator, and text after the last terminator
(a truncated file, an SDF without its final `$$$$`) is an entry too, so that it is read or rejected
rather than lost. Blank runs between entries are not entries."""

from __future__ import annotations

from typing import Iterable, Iterator


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
