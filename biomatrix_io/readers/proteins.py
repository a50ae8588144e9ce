"""Readers of protein sequence corpora and their annotation: FASTA, Swiss-Prot flat files, and the
Gene Ontology (its term definitions are scientific text; its names label GO annotations).

Each yields records or `Rejection`s, one per source entry, so that callers can account for every
entry. Sequences are checked here (`sequence_problem`), as the tokenizer knows only the 26
one-letter residue codes: an empty sequence, a foreign character or a nucleotide sequence in a
protein file is rejected with its reason.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterator, Union

from biomatrix_io.files import first_line, open_text, undecodable
from biomatrix_io.readers.entries import fasta_entries, terminated_entries
from biomatrix_io.readers.obo import QUOTED, malformed_reason, term_stanzas
from biomatrix_io.records import ProteinRecord, Provenance, Rejection, TextRecord

Read = Union[ProteinRecord, Rejection]
ReadText = Union[TextRecord, Rejection]

_RESIDUES = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NUCLEOTIDES = frozenset("ACGTUN")
NUCLEOTIDE_FRACTION = 0.9  # at least this share of ACGTUN ...
NUCLEOTIDE_MIN_LENGTH = 20  # ... over at least this many letters: a nucleotide sequence


def _require(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return path


def _file_rejection(path: Path, error: BaseException) -> Rejection:
    return Rejection(Provenance(str(path), "file", path.name), f"unreadable file: {first_line(error)}")


def normalized_sequence(raw: str) -> str:
    """Upper case, without whitespace and without the one stop '*' that gene callers append."""
    sequence = "".join(raw.split()).upper()
    return sequence[:-1] if sequence.endswith("*") else sequence


def sequence_problem(sequence: str) -> str | None:
    """Why a (normalized) sequence is not a protein sequence the tokenizer can take, or None."""
    if not sequence:
        return "empty sequence"
    if undecodable(sequence):
        return "invalid UTF-8 byte in the sequence"
    foreign = sorted(set(sequence) - _RESIDUES)
    if foreign:
        return f"not a residue letter: {foreign[0]!r}"
    if len(sequence) >= NUCLEOTIDE_MIN_LENGTH:
        share = sum(map(sequence.count, _NUCLEOTIDES)) / len(sequence)  # str.count: no per-letter Python loop
        if share >= NUCLEOTIDE_FRACTION:
            return f"nucleotide sequence ({share:.0%} ACGTUN)"
    return None


_UNIPROT_HEADER = re.compile(r"^(?:sp|tr)\|[^|]+\|\S+ (.+?)(?: OS=.*)?$")


def read_fasta(path: str | Path) -> Iterator[Read]:
    """Protein FASTA (optionally gzipped). The record id is the header's first word; a UniProt
    header (`>sp|P12345|NAME_HUMAN Protein name OS=...`) also gives the protein's name. Other header
    text (gene callers' coordinates) is not a name and is dropped. Entries: `entries.fasta_entries`."""
    path = _require(path)
    for entry in fasta_entries(path):
        if isinstance(entry, Rejection):
            yield entry
            continue
        index, header, raw = entry
        record_id = header.split(maxsplit=1)[0] if header.strip() else f"{path.name}:{index}"
        yield _fasta_record(Provenance(str(path), f"record {index}", record_id), header, raw)


def _fasta_record(provenance: Provenance, header: str, raw: str) -> Read:
    if undecodable(header):
        return Rejection(provenance, "invalid UTF-8 byte in the header")
    sequence = normalized_sequence(raw)
    problem = sequence_problem(sequence)
    if problem:
        return Rejection(provenance, problem)
    name = _UNIPROT_HEADER.match(header)
    return ProteinRecord(provenance, sequence, name.group(1) if name else None)


# Keywords that describe the UniProt entry (how it was made), not the protein.
_ENTRY_KEYWORDS = frozenset({"Complete proteome", "Reference proteome", "3D-structure", "Direct protein sequencing"})
_EVIDENCE = re.compile(r"\s*\{[^}]*\}")  # evidence tags, "{ECO:0000269|PubMed:123}"
_RECOMMENDED_NAME = re.compile(r"RecName: Full=([^;]+);")
_ACCESSION = re.compile(r"^AC   (\w+);", re.MULTILINE)


def read_swissprot(path: str | Path) -> Iterator[Read]:
    """Swiss-Prot/UniProt flat-file entries (optionally gzipped), parsed one by one with Biopython's
    SwissProt parser (the one `SeqIO`'s "swiss" format wraps: it keeps the GO term names that
    `SeqIO` drops), so that a malformed entry is rejected alone.

    Record id: the primary accession. name: the recommended name (DE RecName). description: the
    FUNCTION comment. annotations: the GO term names of the DR GO lines ("C:cytoplasm" -> "cytoplasm"),
    then the keywords that describe the protein.
    """
    from Bio import SwissProt

    path = _require(path)
    try:
        with open_text(path) as handle:
            for start, lines in terminated_entries(handle, "//"):
                text = "".join(lines)
                accession = _ACCESSION.search(text)
                provenance = Provenance(str(path), f"line {start}", accession.group(1) if accession else f"{path.name}:{start}")
                if undecodable(text):
                    yield Rejection(provenance, "invalid UTF-8 byte in the entry")
                    continue
                try:
                    entry = SwissProt.read(io.StringIO(text))
                except Exception as error:  # Biopython raises several unrelated types (ValueError, AssertionError, IndexError)
                    yield Rejection(provenance, "malformed entry: " + first_line(error))
                    continue
                yield _swissprot_record(provenance, entry)
    except (OSError, EOFError) as error:  # truncated or corrupt gzip stream
        yield _file_rejection(path, error)


def _swissprot_record(provenance: Provenance, entry) -> Read:
    provenance = Provenance(provenance.path, provenance.location, entry.accessions[0])
    sequence = normalized_sequence(entry.sequence)
    declared = entry.seqinfo[0] if entry.seqinfo else None
    if declared is not None and declared != len(sequence):
        return Rejection(provenance, f"sequence of {len(sequence)} residues, {declared} declared")
    problem = sequence_problem(sequence)
    if problem:
        return Rejection(provenance, problem)
    name = _RECOMMENDED_NAME.search(entry.description)
    function = [_EVIDENCE.sub("", c.removeprefix("FUNCTION:")).strip() for c in entry.comments if c.startswith("FUNCTION:")]
    go_names = [ref[2].split(":", 1)[-1] for ref in entry.cross_references if ref[0] == "GO" and len(ref) > 2]
    keywords = [k for k in entry.keywords if k not in _ENTRY_KEYWORDS]
    return ProteinRecord(
        provenance,
        sequence,
        name=_EVIDENCE.sub("", name.group(1)).strip() if name else entry.description.rstrip(".") or None,
        description=" ".join(function) or None,
        annotations=tuple(dict.fromkeys(go_names + keywords)),
    )


def read_go_terms(path: str | Path) -> Iterator[ReadText]:
    """Gene Ontology terms (OBO, optionally gzipped) as scientific text, "name: definition"; every
    [Term] stanza (`biomatrix_io.readers.obo`) is a `TextRecord` or a `Rejection` (obsolete, no name,
    no definition, a malformed stanza header)."""
    path = _require(path)
    try:
        with open_text(path) as handle:
            for stanza in term_stanzas(handle):
                term = stanza.tags
                term_id = term.get("id", [f"{path.name}:{stanza.line}"])[0]
                provenance = Provenance(str(path), f"line {stanza.line}", term_id)
                if not stanza.well_formed:
                    yield Rejection(provenance, malformed_reason(stanza))
                    continue
                definition = QUOTED.match(term.get("def", [""])[0])
                name = term.get("name", [""])[0].strip()
                if term.get("is_obsolete") == ["true"]:
                    yield Rejection(provenance, "obsolete term")
                elif undecodable(name) or (definition and undecodable(definition.group(1))):
                    yield Rejection(provenance, "invalid UTF-8 byte in the term")
                elif not name:
                    yield Rejection(provenance, "no name")
                elif not definition or not definition.group(1).strip():
                    yield Rejection(provenance, "no definition")
                else:
                    text = definition.group(1).replace('\\"', '"').strip()
                    yield TextRecord(provenance, f"{name}: {text}", title=name)
    except (OSError, EOFError) as error:  # truncated or corrupt gzip stream
        yield _file_rejection(path, error)


def go_term_names(path: str | Path) -> dict[str, str]:
    """GO id -> term name, for every term (obsolete ones too: old annotations cite them) and each
    of its alternative ids."""
    names: dict[str, str] = {}
    with open_text(_require(path)) as handle:
        for stanza in term_stanzas(handle):
            term = stanza.tags
            if "id" in term and "name" in term:
                for term_id in term["id"] + term.get("alt_id", []):
                    names[term_id] = term["name"][0]
    return names
