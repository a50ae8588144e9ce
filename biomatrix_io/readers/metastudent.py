"""Reader of metastudent-data (Debian): UniProt sequences with their Gene Ontology annotations, one
BLAST v4 protein database per ontology (`dataset_201401/{MFO,BPO,CCO}/goasp.fasta.p*`), beside
`goasp_annot.dat` (accession, then its GO ids, one line per database sequence, in database order)
and `../nameMapping.txt` (GO id, name).

The BLAST files are decoded here, without BLAST:
- `.pin`: version 4, type 1 (protein), title and date strings, the number of sequences, then two
  arrays of (n + 1) big-endian offsets: headers into `.phr`, sequences into `.psq`.
- `.psq`: residues in NCBIstdaa (one byte each, 1 = A ... 27 = J), each sequence followed by a 0.
- `.phr`: per sequence an ASN.1 BER `Blast-def-line-set` (indefinite lengths); its first string is
  the defline title, here "ACCESSION|GO:...,GO:...". The accession is checked against the
  annotation line of the same ordinal: a disagreement rejects the record.

Entries of a database = its sequences (plus any surplus annotation lines): each is a
`ProteinRecord` or a `Rejection`. A record's name is the accession; its annotations are
"GO:0005524 F:ATP binding" (id, the aspect letter UniProt uses, the name), unique, sorted by id.
"""

from __future__ import annotations

import itertools
import mmap
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Union

import numpy as np

from biomatrix_io.files import first_line, open_text, undecodable
from biomatrix_io.readers.proteins import sequence_problem
from biomatrix_io.records import ProteinRecord, Provenance, Rejection

Read = Union[ProteinRecord, Rejection]

# Database folder -> the aspect letter of its GO terms (UniProt's DR GO convention).
ASPECTS = {"MFO": "F", "BPO": "P", "CCO": "C"}
GO_ANNOTATION = re.compile(r"^(GO:\d{7}) ([FPC]):(.+)$")  # how a record's annotations are written

_NCBISTDAA = "-ABCDEFGHIKLMNPQRSTVWXYZU*OJ"
_DECODE = bytes((ord(_NCBISTDAA[code]) if code < len(_NCBISTDAA) else ord("?")) for code in range(256))
_TITLE = b"\x30\x80\x30\x80\xa0\x80\x1a"  # Blast-def-line-set { Blast-def-line { title VisibleString


class BlastDbError(ValueError):
    """A database whose files cannot be decoded; the message is the rejection reason."""


@dataclass(frozen=True)
class BlastDb:
    """An opened BLAST v4 protein database: offsets from `.pin`, `.phr`/`.psq` mapped, not read."""

    path: Path
    headers: np.ndarray  # (n + 1,) offsets into .phr
    sequences: np.ndarray  # (n + 1,) offsets into .psq
    phr: mmap.mmap
    psq: mmap.mmap

    def __len__(self) -> int:
        return len(self.headers) - 1

    def sequence(self, oid: int) -> str:
        return self.psq[self.sequences[oid]:self.sequences[oid + 1] - 1].translate(_DECODE).decode("ascii")

    def title(self, oid: int) -> str:
        return defline_title(self.phr[self.headers[oid]:self.headers[oid + 1]])


def open_blast_db(pin: str | Path) -> BlastDb:
    """The database whose index file is `pin` (`X.pin` beside `X.phr`, `X.psq`)."""
    pin = Path(pin)
    headers, sequences = blast_index(pin, PROTEIN, 2)
    return BlastDb(pin, headers, sequences, mapped_part(pin.with_suffix(".phr"), headers),
                   mapped_part(pin.with_suffix(".psq"), sequences))


PROTEIN, NUCLEOTIDE = 1, 0  # the database type word of a BLAST v4 index file
_TYPES = {PROTEIN: "protein", NUCLEOTIDE: "nucleotide"}


def blast_index(index: Path, kind: int, arrays: int) -> list[np.ndarray]:
    """The first `arrays` offset arrays, each (n + 1,), of a BLAST v4 index file of this `kind`:
    version 4, the type, title and date strings, the number of sequences n, total residues (8
    bytes, little-endian), the longest sequence, then the big-endian offset arrays (headers,
    sequences, and for nucleotides the ambiguity data)."""
    data = index.read_bytes()
    version, found = struct.unpack_from(">II", data.ljust(8, b"\0"))  # checked first: garbage is not "truncated"
    if (version, found) != (4, kind):
        raise BlastDbError(f"not a BLAST version 4 {_TYPES[kind]} database (version {version}, type {found})")
    try:
        (title_length,) = struct.unpack_from(">I", data, 8)
        (date_length,) = struct.unpack_from(">I", data, 12 + title_length)
        at = 16 + title_length + date_length
        (count,) = struct.unpack_from(">I", data, at)
        at += 16  # count, total residues, longest sequence
        return [np.frombuffer(data, ">u4", count + 1, at + 4 * (count + 1) * k).astype(np.int64) for k in range(arrays)]
    except (struct.error, ValueError) as error:  # a file shorter than its own counts
        raise BlastDbError(f"truncated {index.name}: {first_line(error)}") from None


def mapped_part(part: Path, offsets: np.ndarray) -> mmap.mmap:
    """A database file (headers or sequences) mapped, not read, once the offsets into it are checked."""
    if not part.is_file() or part.stat().st_size == 0:
        raise BlastDbError(f"missing or empty {part.name}")
    with open(part, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if np.any(np.diff(offsets) < 0):
        raise BlastDbError(f"offsets into {part.name} decrease")
    if offsets[-1] > len(mapped):
        raise BlastDbError(f"{part.name} is shorter than its offsets say ({len(mapped)} < {offsets[-1]} bytes)")
    return mapped


def defline_title(header: bytes) -> str:
    """The title string of a BER `Blast-def-line-set` (short or long definite length)."""
    if not header.startswith(_TITLE):
        raise BlastDbError("header is not a BLAST defline set opening with a title")
    at = len(_TITLE)
    if len(header) <= at:
        raise BlastDbError("header title cut short")
    length = header[at]
    if length & 0x80:
        width = length & 0x7F
        length = int.from_bytes(header[at + 1:at + 1 + width], "big")
        at += width
    title = header[at + 1:at + 1 + length]
    if len(title) != length:
        raise BlastDbError("header title cut short")
    return title.decode("ascii", errors="replace")


@lru_cache(maxsize=4)
def go_names(path: Path) -> dict[str, str]:
    """GO id -> name from metastudent's `nameMapping.txt` (tab-separated)."""
    names = {}
    with open_text(path) as handle:
        for line in handle:
            go_id, _, name = line.rstrip("\n").partition("\t")
            if name.strip():
                names[go_id] = name.strip()
    return names


def read_metastudent(path: str | Path) -> Iterator[Read]:
    """The records of one ontology's database, `path` its `goasp.fasta.pin` (module docstring)."""
    path = Path(path)
    where = Provenance(str(path), "file", path.name)
    aspect = ASPECTS.get(path.parent.name)
    if aspect is None:
        yield Rejection(where, f"folder {path.parent.name!r} is none of the ontologies {sorted(ASPECTS)}")
        return
    annotations, names = path.parent / "goasp_annot.dat", path.parent.parent / "nameMapping.txt"
    try:
        db = open_blast_db(path)
        missing = [p.name for p in (annotations, names) if not p.is_file()]
        if missing:
            raise BlastDbError(f"missing {', '.join(missing)}")
        names_of = go_names(names)
    except (BlastDbError, OSError) as error:
        yield Rejection(where, f"unreadable database: {first_line(error)}")
        return
    with open_text(annotations) as lines:
        for oid, line in itertools.zip_longest(range(len(db)), lines):
            yield _record(db, oid, line, aspect, names_of)


def _record(db: BlastDb, oid, line, aspect: str, names_of: dict[str, str]) -> Read:
    fields = line.split() if line is not None else []
    if oid is None:
        return Rejection(Provenance(str(db.path), "annotation line beyond the database", fields[0] if fields else "?"),
                         "annotation line without a database sequence")
    provenance = Provenance(str(db.path), f"oid {oid}", f"{db.path.parent.name}:{oid}")
    try:
        accession = db.title(oid).split("|", 1)[0]
    except BlastDbError as error:
        return Rejection(provenance, str(error))
    if not accession:
        return Rejection(provenance, "header title has no accession")
    provenance = Provenance(provenance.path, provenance.location, accession)
    if line is not None and undecodable(line):
        return Rejection(provenance, "invalid UTF-8 byte in the annotation line")
    if not fields:
        return Rejection(provenance, "no annotation line")
    if fields[0] != accession:
        return Rejection(provenance, f"annotation line names {fields[0]!r}, the database {accession!r}")
    terms = sorted(set(fields[1:]))
    unnamed = [t for t in terms if t not in names_of]
    if not terms or unnamed:
        return Rejection(provenance, f"GO id {unnamed[0]!r} has no name" if unnamed else "no GO annotation")
    sequence = db.sequence(oid)
    problem = sequence_problem(sequence)
    if problem:
        return Rejection(provenance, problem)
    return ProteinRecord(provenance, sequence, name=accession,
                         annotations=tuple(f"{t} {aspect}:{names_of[t]}" for t in terms))


def sequences_by_accession(accessions: Iterable[str], pins: Iterable[str | Path]) -> dict[str, str]:
    """UniProt accession -> sequence for those of `accessions` the databases hold, found by scanning
    the headers (`.phr`) only, so that a handful of look-ups costs one pass over ~60 MB per
    database, not a decode of every record. The first database that holds an accession gives it."""
    wanted = sorted(set(accessions))
    found: dict[str, str] = {}
    for pin in pins:
        missing = [a for a in wanted if a not in found]
        if not missing:
            break
        db = open_blast_db(pin)
        titles = re.compile(rb"\x1a(?:[\x00-\x7f]|\x81.|\x82..)(" + b"|".join(re.escape(a.encode()) for a in missing) + rb")\|",
                            re.DOTALL)
        for match in titles.finditer(db.phr):
            oid = int(np.searchsorted(db.headers, match.start(), side="right")) - 1
            accession = match.group(1).decode()
            if accession not in found and db.title(oid).split("|", 1)[0] == accession:
                found[accession] = db.sequence(oid)
    return found
