"""OBO flat files (ChEBI, the Gene Ontology) as their readers count them: one entry per [Term] stanza.

A stanza runs from its header line to the next header (or the end of the file, with or without a
final newline). [Typedef] and [Instance] stanzas define relations and individuals: they are not
entries. A line that opens a stanza but is none of those three headers ("[Term" without its
bracket, "[Trem]") is a stanza that cannot be read: it is an entry too, yielded with that header so
that the reader rejects it, and its lines are not read as a term. Lines before the first stanza
(the file header) are not an entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

TERM = "[Term]"
NOT_ENTRIES = frozenset({"[Typedef]", "[Instance]"})
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')  # the quoted text of a def, synonym or property_value


@dataclass
class Stanza:
    line: int  # line number of its header
    header: str  # "[Term]", or the malformed header line
    tags: dict[str, list[str]] = field(default_factory=dict)  # tag -> values, in file order

    @property
    def well_formed(self) -> bool:
        return self.header == TERM

    def first(self, tag: str) -> str:
        """The first value of a tag, "" when the stanza has none."""
        return (self.tags.get(tag) or [""])[0]


def term_stanzas(lines: Iterable[str]) -> Iterator[Stanza]:
    """Every [Term] stanza and every malformed stanza header of an OBO text, in file order."""
    stanza: Stanza | None = None
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if line.startswith("["):
            if stanza is not None:
                yield stanza
            header = line.strip()
            stanza = None if header in NOT_ENTRIES else Stanza(number, header)
        elif stanza is not None and stanza.well_formed and ": " in line:
            tag, _, value = line.partition(": ")
            stanza.tags.setdefault(tag, []).append(value)
    if stanza is not None:
        yield stanza


def malformed_reason(stanza: Stanza) -> str:
    return f"stanza header {stanza.header[:40]!r} is not [Term], [Typedef] or [Instance]"
