"""Readers of DNA and RNA: GenBank and EMBL flat files (annotated genomes, genes, transcripts, read
with Biopython), nucleotide FASTA (genomes, contigs), and the named rRNA of NCBI's BLAST nucleotide
databases (Debian ncbi-data: 16S, organelle SSU/LSU). Each yields `NucleotideRecord`s and
`Rejection`s.

Letters. A sequence is upper case and every letter is one of `IUPAC_NUCLEOTIDES` (A C G T U, N, and
the ambiguity codes R Y S W K M B D H V), case-folded; anything else rejects the record, naming the
letter and its position: a gap ('-', '.': an alignment, not a sequence), 'X', '*', a digit.

Molecule. A record is DNA or RNA (GenBank/EMBL: their molecule type, "mRNA", "genomic DNA"...;
FASTA and the rRNA databases: as the caller declares) and is written in that molecule's alphabet:
T in DNA, U in RNA. The sources write RNA in the DNA alphabet (GenBank, EMBL, the 2-bit BLAST
encoding, which has no U), so an RNA record's T's are read as U; a sequence holding both T and U is
rejected, and so is a U in DNA (no source writes DNA with U: it is RNA declared as DNA).

Features (GenBank/EMBL). The kinds in `FEATURE_KINDS` are read (CDS, gene, RNA features); other
kinds (source, repeat_region, misc_feature...) are not read and not counted. A feature is kept in its
record or rejected alone, its record kept: one wrong annotation among a genome's thousands says
nothing about the genome's sequence, and rejecting the record would lose every good feature with it.
A feature is rejected when its location is unusable (uncertain or unparsed positions, beyond the
sequence, parts on both strands), and a CDS when its qualifiers or its translation are wrong:
- /transl_table must be an NCBI genetic code (INSDC's default 1 when absent), /codon_start 1, 2 or 3;
- a CDS with /translation must encode exactly it (`cds_translation`: Biopython's
  `translate(table=..., cds=True)` from /codon_start, alternative start codons read as M); a partial
  end ('<' or '>' in the location) has no start or stop to check. Where a CDS that disagrees carries
  /transl_except, /exception or /ribosomal_slippage (selenocysteine, frameshifts: a protein that is
  not the plain translation of its DNA), the reason names the qualifier;
- a pseudogene's CDS (/pseudo, /pseudogene) is kept without a translation, unchecked (a /translation
  on one is dropped): its DNA does not encode a product. A CDS without /translation is kept with none.

Accounting, two levels (as `structures.read_complexes` counts its ligands):
- records: each source entry (a flat-file entry up to its `//`, a FASTA record, a database
  sequence) is exactly one `NucleotideRecord` or one `Rejection` ("line 12", "record 5", "oid 7");
  an entry cut short (no `//` line: a file cut in the middle), whose sequence is not as long as
  its LOCUS/ID line declares, or that Biopython cannot parse is rejected alone, and the entries
  before and after it are read;
- features of kept records: each feature of a read kind is in the record's `features` or is a
  `Rejection` of its own, yielded before its record, whose record id is "<record id>:<kind>:<INSDC
  location>". A rejected record's features are not examined.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np

from biomatrix_io.config import ConfigError
from biomatrix_io.files import first_line, open_text, undecodable
from biomatrix_io.readers.entries import fasta_entries, terminated_entries
from biomatrix_io.readers.metastudent import NUCLEOTIDE, BlastDbError, blast_index, defline_title, mapped_part
from biomatrix_io.records import NucleotideFeature, NucleotideRecord, Provenance, Rejection

Read = Union[NucleotideRecord, Rejection]

IUPAC_NUCLEOTIDES = "ACGTUNRYSWKMBDHV"
MOLECULES = ("DNA", "RNA")
FEATURE_KINDS = frozenset({"CDS", "gene", "mRNA", "rRNA", "tRNA", "tmRNA", "ncRNA", "misc_RNA"})
# Qualifiers by which the annotated protein is knowingly not the plain translation of the DNA.
TRANSLATION_EXCEPTIONS = ("transl_except", "exception", "ribosomal_slippage")

_FOREIGN = re.compile(f"[^{IUPAC_NUCLEOTIDES}]")
_GAPS = frozenset("-.")


class NucleotideError(ValueError):
    """A sequence, feature or database entry that cannot be read; the message is the rejection reason."""


def nucleotide_sequence(raw: str, molecule: str) -> str:
    """The sequence in upper case without whitespace, in `molecule`'s alphabet (module docstring),
    or `NucleotideError` naming why it is not one."""
    sequence = "".join(raw.split()).upper()
    if not sequence:
        raise NucleotideError("empty sequence")
    if undecodable(sequence):
        raise NucleotideError("invalid UTF-8 byte in the sequence")
    foreign = _FOREIGN.search(sequence)
    if foreign:
        letter = foreign.group()
        raise NucleotideError(f"not a nucleotide letter: {letter!r} at base {foreign.start() + 1}"
                              + (" (a gap: an alignment, not a sequence)" if letter in _GAPS else ""))
    u = sequence.find("U")
    if u >= 0 and molecule == "DNA":
        raise NucleotideError(f"U in a DNA sequence at base {u + 1} (RNA declared as DNA?)")
    if molecule == "RNA" and "T" in sequence:
        if u >= 0:
            raise NucleotideError(f"both T and U in an RNA sequence (U at base {u + 1}, T at base {sequence.find('T') + 1})")
        sequence = sequence.replace("T", "U")
    return sequence


def _molecule(declared: str) -> str:
    if declared not in MOLECULES:
        raise ConfigError(f"molecule must be one of {list(MOLECULES)}, not {declared!r}", ["molecule"])
    return declared


def cds_translation(dna: str, table: int, five_prime_partial: bool = False, three_prime_partial: bool = False) -> str:
    """The protein that a CDS's sequence, from its /codon_start, encodes under NCBI genetic code
    `table`: Biopython's `Seq.translate(table=table, cds=True)` for a complete CDS (the first codon a
    start codon of the table, read as M; one stop, last, not included; whole codons). A partial end
    is exempt from its check: a 5'-partial CDS's first codon is translated as what it codes; a
    3'-partial one needs no stop, and its trailing incomplete codon gives the amino acid its bases
    determine ("CG" -> R, as INSDC translations do) or nothing ("A"). Raises Biopython's
    `TranslationError`, its message saying what failed."""
    from Bio.Data.CodonTable import TranslationError, ambiguous_generic_by_id
    from Bio.Seq import Seq

    if not (five_prime_partial or three_prime_partial):
        return str(Seq(dna).translate(table=table, cds=True))
    cut = len(dna) % 3
    if cut and not three_prime_partial:
        raise TranslationError(f"Sequence length {len(dna)} is not a multiple of three")
    codons = dna[:len(dna) - cut]
    protein = str(Seq(codons).translate(table=table))
    if not three_prime_partial:
        if not protein.endswith("*"):
            raise TranslationError(f"Final codon {codons[-3:]!r} is not a stop codon")
        protein = protein[:-1]
    if "*" in protein:
        stop = 3 * protein.index("*")
        raise TranslationError(f"Extra in frame stop codon {codons[stop:stop + 3]!r} found.")
    if not five_prime_partial:
        if codons[:3].upper() not in ambiguous_generic_by_id[table].start_codons:
            raise TranslationError(f"First codon {codons[:3]!r} is not a start codon")
        protein = "M" + protein[1:]
    tail = str(Seq(dna[len(dna) - cut:] + "N" * (3 - cut)).translate(table=table)) if cut else ""
    return protein + (tail if tail not in ("X", "*") else "")


# Flat files: GenBank and EMBL --------------------------------------------------------------------
_ENTRY_NAME = {"genbank": re.compile(r"^(?:LOCUS|VERSION)\s+(\S+)", re.M), "embl": re.compile(r"^(?:ID|AC)\s+(\w+)", re.M)}
_DECLARED_LENGTH = {"genbank": re.compile(r"^LOCUS.*?\s(\d+) bp\b", re.M), "embl": re.compile(r"^ID .*?(\d+) BP\.", re.M)}


def read_genbank(path: str | Path) -> Iterator[Read]:
    """GenBank flat-file entries (optionally gzipped), each parsed alone (module docstring)."""
    yield from _read_flat(Path(path), "genbank")


def read_embl(path: str | Path) -> Iterator[Read]:
    """EMBL flat-file entries (optionally gzipped), each parsed alone (module docstring)."""
    yield from _read_flat(Path(path), "embl")


def _read_flat(path: Path, form: str) -> Iterator[Read]:
    from Bio import BiopythonParserWarning, SeqIO

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with open_text(path) as handle:
            for line, lines in terminated_entries(handle, "//"):
                text = "".join(lines)
                name = _ENTRY_NAME[form].search(text)
                provenance = Provenance(str(path), f"line {line}", name.group(1) if name else f"{path.name}:{line}")
                if undecodable(text):
                    yield Rejection(provenance, "invalid UTF-8 byte in the entry")
                    continue
                if not lines[-1].startswith("//"):
                    yield Rejection(provenance, "entry cut short: no '//' line ends it")
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", BiopythonParserWarning)  # a cut or short sequence is checked here
                        entry = SeqIO.read(io.StringIO(text), form)
                        raw = str(entry.seq)  # a CON entry's sequence is undefined: an error here
                except Exception as error:  # Biopython raises many unrelated types for one malformed entry
                    yield Rejection(provenance, "unreadable entry: " + first_line(error))
                    continue
                provenance = Provenance(str(path), provenance.location, entry.id)
                declared = _DECLARED_LENGTH[form].search(text)
                if declared and int(declared.group(1)) != len(raw):
                    yield Rejection(provenance, f"sequence of {len(raw)} bases, {declared.group(1)} declared")
                    continue
                yield from _flat_record(provenance, entry, raw)
    except (OSError, EOFError) as error:  # truncated or corrupt gzip stream
        yield Rejection(Provenance(str(path), "file", path.name), f"unreadable file: {first_line(error)}")


def _flat_record(provenance: Provenance, entry, raw: str) -> Iterator[Read]:
    declared = entry.annotations.get("molecule_type") or ""
    molecule = "RNA" if "RNA" in declared else "DNA" if "DNA" in declared else None
    if molecule is None:
        yield Rejection(provenance, f"molecule type {declared!r} is neither DNA nor RNA")
        return
    try:
        sequence = nucleotide_sequence(raw, molecule)
    except NucleotideError as error:
        yield Rejection(provenance, str(error))
        return
    organism = (entry.annotations.get("organism") or "").strip().rstrip(".")
    record = NucleotideRecord(provenance, sequence, molecule, description=entry.description or None,
                              organism=organism if organism and organism.lower() != "unknown" else None,
                              taxonomy=tuple(entry.annotations.get("taxonomy") or ()),
                              circular=entry.annotations.get("topology") == "circular")
    features = []
    for number, source_feature in enumerate(entry.features, start=1):
        if source_feature.type not in FEATURE_KINDS:
            continue
        try:
            features.append(_feature(source_feature, record))
        except NucleotideError as error:
            locus = _written_location(source_feature)
            yield Rejection(Provenance(provenance.path, f"{provenance.location} feature {number}",
                                       f"{record.id}:{source_feature.type}:{locus}"), str(error))
    yield replace(record, features=tuple(features))


def _qualifier(feature, key: str) -> Optional[str]:
    values = feature.qualifiers.get(key)
    return values[0].strip() if values else None


def _shape(source) -> NucleotideFeature:
    """A feature's kind and location as Biopython parsed them, unchecked."""
    from Bio.SeqFeature import AfterPosition, BeforePosition

    parts = source.location.parts
    strand = -1 if parts[0].strand == -1 else 1
    five_end, three_end = (parts[0].start, parts[-1].end) if strand == 1 else (parts[0].end, parts[-1].start)
    return NucleotideFeature(source.type, tuple((int(p.start), int(p.end)) for p in parts), strand,
                             five_prime_partial=isinstance(five_end, (BeforePosition, AfterPosition)),
                             three_prime_partial=isinstance(three_end, (BeforePosition, AfterPosition)))


def _feature(source, record: NucleotideRecord) -> NucleotideFeature:
    """A feature of a read kind (a Biopython `SeqFeature`) checked against its record, or `NucleotideError`."""
    from Bio.SeqFeature import AfterPosition, BeforePosition, ExactPosition

    if source.location is None:
        raise NucleotideError("location not parsed")
    parts = source.location.parts
    strands = {part.strand for part in parts}
    if len(strands) > 1:
        raise NucleotideError("parts on both strands (trans-splicing)")
    if strands.pop() not in (1, -1):
        raise NucleotideError("no strand")
    for part in parts:
        if part.ref:
            raise NucleotideError(f"part '{part.ref}:{int(part.start) + 1}..{int(part.end)}' is in another entry")
        for position in (part.start, part.end):
            if type(position) not in (ExactPosition, BeforePosition, AfterPosition):
                raise NucleotideError(f"uncertain position {position!r}")
        if not 0 <= part.start < part.end <= len(record.sequence):
            raise NucleotideError(f"part {int(part.start) + 1}..{int(part.end)} is empty or beyond the sequence "
                                  f"({len(record.sequence)} bases)")
    feature = replace(_shape(source), gene=_qualifier(source, "gene"), locus_tag=_qualifier(source, "locus_tag"),
                      product=_qualifier(source, "product"), protein_id=_qualifier(source, "protein_id"))
    return _cds(source, feature, record) if source.type == "CDS" else feature


def _cds(source, feature: NucleotideFeature, record: NucleotideRecord) -> NucleotideFeature:
    from Bio.Data.CodonTable import TranslationError, ambiguous_generic_by_id

    table, codon_start = _qualifier(source, "transl_table") or "1", _qualifier(source, "codon_start") or "1"
    if not table.isdigit() or int(table) not in ambiguous_generic_by_id:
        raise NucleotideError(f"/transl_table {table!r} is not an NCBI genetic code")
    if codon_start not in ("1", "2", "3"):
        raise NucleotideError(f"/codon_start {codon_start!r} is not 1, 2 or 3")
    pseudo = "pseudo" in source.qualifiers or "pseudogene" in source.qualifiers
    annotated = None if pseudo else _qualifier(source, "translation")
    feature = replace(feature, transl_table=int(table), codon_start=int(codon_start), pseudo=pseudo,
                      translation="".join(annotated.split()).upper() if annotated else None)
    if feature.translation is None:
        return feature
    exception = next((key for key in TRANSLATION_EXCEPTIONS if key in source.qualifiers), None)
    why = f" (it carries /{exception}: not the plain translation of its DNA)" if exception else ""
    try:
        encoded = cds_translation(feature.extract(record)[feature.codon_start - 1:], feature.transl_table,
                                  feature.five_prime_partial, feature.three_prime_partial)
    except TranslationError as error:
        raise NucleotideError(f"not a CDS under table {table}{why}: {first_line(error)}") from None
    if encoded != feature.translation:
        at = next((k for k, (a, b) in enumerate(zip(feature.translation, encoded)) if a != b), min(len(encoded), len(feature.translation)))
        raise NucleotideError(f"/translation disagrees with its DNA under table {table}{why}: residue {at + 1} annotated "
                              f"{feature.translation[at:at + 1]!r}, encoded {encoded[at:at + 1]!r} "
                              f"({len(feature.translation)} residues annotated, {len(encoded)} encoded)")
    return feature


def _written_location(source) -> str:
    """A feature's location for its rejection: as INSDC writes it, where Biopython could parse it."""
    try:
        return _shape(source).locus
    except (AttributeError, TypeError, ValueError):  # no location, or positions without a number
        return "unparsed-location"


# FASTA ------------------------------------------------------------------------------------------
def read_nucleotide_fasta(path: str | Path, molecule: str = "DNA") -> Iterator[Read]:
    """Nucleotide FASTA (optionally gzipped: genomes, contigs, genes) of one declared molecule. The
    record id is the header's first word, the description the rest; the organism is what
    `header_organism` finds in it (NCBI headers: "Corynebacterium diphtheriae strain NCTC11397
    chromosome 1, complete sequence"), else None."""
    molecule, path = _molecule(molecule), Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    for entry in fasta_entries(path):
        if isinstance(entry, Rejection):
            yield entry
            continue
        index, header, raw = entry
        record_id, _, description = header.strip().partition(" ")
        provenance = Provenance(str(path), f"record {index}", record_id or f"{path.name}:{index}")
        yield _sequence_record(provenance, raw, molecule, description.strip(), header_organism(description))


def _sequence_record(provenance: Provenance, raw: str, molecule: str, description: str, organism: Optional[str]) -> Read:
    if undecodable(description):
        return Rejection(provenance, "invalid UTF-8 byte in the header")
    try:
        sequence = nucleotide_sequence(raw, molecule)
    except NucleotideError as error:
        return Rejection(provenance, str(error))
    return NucleotideRecord(provenance, sequence, molecule, description=description or None, organism=organism)


# Where a sequence header stops naming the organism: the first word that describes the sequence
# (strain, gene, rRNA, chromosome, "16S", ...) or punctuation that opens a qualification.
_NOT_ORGANISM = re.compile(
    r"[,;(\[]|\sstr\.|\s(?:strain|isolate|clone|serotype|chromosome|plasmid|genomic|genome|complete|partial|genes?|"
    r"DNA|rDNA|RNA|rRNA|mRNA|rrn\w*|\d+S|small|large|ribosomal|contig|scaffold|whole|sequence|"
    r"mitochondri\w*|chloroplast|plastid)\b")


def header_organism(description: str, bare: bool = False) -> Optional[str]:
    """The organism an NCBI-style sequence description starts with ("Roseomonas mucosa strain MDA5527
    16S ribosomal RNA gene" -> "Roseomonas mucosa"). Without a word that describes the sequence
    nothing says where the name ends: then the whole description is the organism when the source's
    descriptions may be a bare name (`bare`: a database of one kind of sequence), else None."""
    text = " ".join(description.split())
    end = _NOT_ORGANISM.search(text)
    organism = text[:end.start()].strip() if end else text if bare else ""
    return organism if organism[:1].isalpha() else None


# BLAST v4 nucleotide databases: named rRNA --------------------------------------------------------
# .nsq: 4 bases a byte (2 bits each, A C G T, first base in the high bits), the last byte's low 2
# bits count the bases in it; then the ambiguity data: a count word (its high bit: 64-bit entries),
# entries of (NCBI4na code, run length - 1, offset) that overwrite runs of the 2-bit bases.
_PACKED = np.frombuffer(b"ACGT", np.uint8)[np.array([[b >> 6 & 3, b >> 4 & 3, b >> 2 & 3, b & 3] for b in range(256)])]
_NCBI4NA = b"-ACMGRSVTWYHKDBN"


def read_rrna_blast_db(path: str | Path, molecule: str = "RNA") -> Iterator[Read]:
    """The sequences of a BLAST v4 nucleotide database of named rRNA, `path` its `.nin` index (beside
    `.nhr` headers and `.nsq` sequences). A header title is "ID DESCRIPTION" ("gb|AF538712.1|
    Roseomonas mucosa strain MDA5527 16S ribosomal RNA gene, partial sequence"): the record id is ID
    (its trailing '|' removed), the organism `header_organism` of the description; a sequence whose
    header names no organism is rejected, as naming it is what this source is for. The databases
    hold rRNA written in DNA letters: `molecule` "RNA" (the default) reads their T as U."""
    molecule, path = _molecule(molecule), Path(path)
    try:
        headers, sequences, ambiguities = blast_index(path, NUCLEOTIDE, 3)
        nhr, nsq = mapped_part(path.with_suffix(".nhr"), headers), mapped_part(path.with_suffix(".nsq"), sequences)
    except (BlastDbError, OSError) as error:
        yield Rejection(Provenance(str(path), "file", path.name), f"unreadable database: {first_line(error)}")
        return
    for oid in range(len(headers) - 1):
        provenance = Provenance(str(path), f"oid {oid}", f"{path.stem}:{oid}")
        try:
            title = defline_title(nhr[headers[oid]:headers[oid + 1]])
            if not sequences[oid] <= ambiguities[oid] <= sequences[oid + 1]:
                raise NucleotideError(f"ambiguity offset {ambiguities[oid]} outside its sequence's bytes")
            raw = _unpacked(nsq[sequences[oid]:ambiguities[oid]], nsq[ambiguities[oid]:sequences[oid + 1]])
        except (BlastDbError, NucleotideError) as error:
            yield Rejection(provenance, str(error))
            continue
        record_id, _, description = title.strip().partition(" ")
        provenance = Provenance(provenance.path, provenance.location, record_id.rstrip("|") or provenance.record_id)
        organism = header_organism(description, bare=True)
        if organism is None:
            yield Rejection(provenance, "the header names no organism")
            continue
        yield _sequence_record(provenance, raw, molecule, description.strip(), organism)


def _unpacked(packed: bytes, ambiguity: bytes) -> str:
    """One database sequence as letters: its 2-bit bases with the ambiguity runs written over them."""
    if not packed:
        raise NucleotideError("no sequence bytes")
    codes = np.frombuffer(packed, np.uint8)
    letters = _PACKED[codes].reshape(-1)[:4 * (len(codes) - 1) + int(codes[-1] & 3)].copy()
    if len(ambiguity) % 4:
        raise NucleotideError(f"ambiguity data of {len(ambiguity)} bytes is not whole words")
    words = np.frombuffer(ambiguity, ">u4").astype(np.int64)
    if len(words):
        wide = bool(words[0] & 0x80000000)
        if (words[0] & 0x7FFFFFFF) != len(words) - 1:
            raise NucleotideError(f"ambiguity data declares {words[0] & 0x7FFFFFFF} words, holds {len(words) - 1}")
        if wide and len(words) % 2 == 0:
            raise NucleotideError(f"64-bit ambiguity entries in {len(words) - 1} words (an odd number)")
        entries = words[1:].reshape(-1, 2) if wide else words[1:, None]
        for entry in entries:
            code = int(entry[0]) >> 28
            run = (int(entry[0]) >> 16 & 0xFFF) + 1 if wide else (int(entry[0]) >> 24 & 0xF) + 1
            offset = int(entry[1]) if wide else int(entry[0]) & 0xFFFFFF
            if offset + run > len(letters):
                raise NucleotideError(f"ambiguity run {offset + 1}..{offset + run} beyond the sequence ({len(letters)} bases)")
            letters[offset:offset + run] = _NCBI4NA[code]
    return letters.tobytes().decode("ascii")
