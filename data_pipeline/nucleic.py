"""Stage 2 for nucleotide entities: DNA and RNA records -> documents in BSM's three families
(annotated reference sequences, gene-related pairs, interleaved text), one prefix each; RNA
records get their own prefix for their windows. The formats, with an example of each, are in
`data_pipeline/README.md` ("Nucleic-acid documents").

- Windows (`nucleic/genome` for DNA, `nucleic/rna` for RNA): the record cut into consecutive
  windows of `window_bases` from its first base (the last one holds what remains, so every base is
  in exactly one window), each with an annotation: organism, lineage, description, where the
  window lies, and every feature that overlaps it, positions counted from the window's first base.
  The annotation goes before or after the sequence (`annotation_first`), so both directions are
  learned: a sequence from its description, and the description of a sequence.
- Gene-protein pairs (`nucleic/gene_protein`): every CDS with a checked `/translation`, its
  coding sequence (5' to 3', as the feature is joined) and its protein, in both orders (two
  documents), headed by its gene, product, organism and genetic code.
- Interleaved (`nucleic/interleaved`): the record's description, organism and lineage, then one
  sentence per named feature, in record order, with the feature's sequence (and a CDS's protein,
  an RNA feature's transcript) embedded where the sentence names it, each with probability
  `embed_probability`; a new document (same opening) starts when the embedded letters would pass
  `interleave_letters`.

Cut rule: a pair's or an interleaved mention's nucleotide sequence holds at most
`sequence_bases` bases; a longer one keeps its first bases (a CDS: its first whole codons from
/codon_start, its protein cut to the same codons), and the text says so. Windows need no cut.

Random choices come from the caller's generator, seeded by (seed, entity key), as for every kind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional, Union

from biomatrix_io.config import ConfigError
from biomatrix_io.records import NucleotideFeature, NucleotideRecord, Provenance

from megatron_bio.tokenizer.segments import Document, Modality, Segment

GENOME, RNA, PAIRS, INTERLEAVED = "nucleic/genome", "nucleic/rna", "nucleic/gene_protein", "nucleic/interleaved"
WINDOW_PREFIX = {"DNA": GENOME, "RNA": RNA}
MODALITY = {"DNA": Modality.DNA, "RNA": Modality.RNA}
RNA_KINDS = frozenset({"mRNA", "rRNA", "tRNA", "tmRNA", "ncRNA", "misc_RNA"})


@dataclass
class NucleicConfig:
    """How nucleotide records become documents (module docstring). The defaults keep a document
    within an 8,192-token training sequence: one token per base or residue, a window of 4,096
    bases plus its annotation, a pair of at most 6,000 bases and 2,000 residues."""

    window_bases: int = 4096
    annotation_first: float = 0.5  # probability that a window's annotation precedes its sequence
    sequence_bases: int = 6000  # longest sequence of a pair or an interleaved mention (cut rule)
    interleave_letters: int = 6000  # embedded sequence letters per interleaved document
    embed_probability: float = 0.5  # each of a named feature's sequences is embedded with it

    def __post_init__(self) -> None:
        for name in ("window_bases", "sequence_bases", "interleave_letters"):
            if getattr(self, name) < 3:
                raise ConfigError(f"compose.nucleic.{name} must be at least 3, not {getattr(self, name)}", [name])
        for name in ("annotation_first", "embed_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"compose.nucleic.{name} is a probability, not {getattr(self, name)}", [name])


Part = Union[str, Segment]


def _document(parts: list[Part]) -> Document:
    """Strings become text segments, neighbouring strings one segment."""
    document: Document = []
    for part in parts:
        if isinstance(part, str):
            if document and document[-1].modality is Modality.TEXT:
                document[-1] = Segment(Modality.TEXT, document[-1].value + part)
            elif part:
                document.append(Segment(Modality.TEXT, part))
        else:
            document.append(part)
    return document


class NucleotideEntity:
    """A stage-1 nucleotide entity with its features back as `NucleotideFeature`s; `gene`
    features that span exactly another feature's parts are left out (they repeat its CDS or RNA)."""

    def __init__(self, entity: dict) -> None:
        self.entity = entity
        self.record = NucleotideRecord(Provenance(entity["where"], "", entity["id"]), entity["sequence"], entity["molecule"])
        features = [NucleotideFeature(**{**f, "parts": tuple(tuple(p) for p in f["parts"])}) for f in entity["features"]]
        spans = {(f.parts, f.strand) for f in features if f.kind != "gene"}
        self.features = [f for f in features if f.kind != "gene" or (f.parts, f.strand) not in spans]
        self.modality = MODALITY[entity["molecule"]]

    def header(self) -> list[str]:
        e = self.entity
        lines = [f"Organism: {e['organism']}"] if e.get("organism") else []
        lines += [f"Lineage: {'; '.join(e['taxonomy'])}"] if e.get("taxonomy") else []
        return lines + ([f"Description: {e['description']}"] if e.get("description") else [])

    def topology(self) -> str:
        return f"{'circular ' if self.entity['circular'] else ''}{self.entity['molecule']}"


def _names(feature: NucleotideFeature) -> list[str]:
    named = [f"gene {feature.gene}"] if feature.gene else [f"locus tag {feature.locus_tag}"] if feature.locus_tag else []
    return named + ([f"product {feature.product}"] if feature.product else []) + (["pseudogene"] if feature.pseudo else [])


def _window_location(feature: NucleotideFeature, start: int, end: int) -> str:
    """The feature's parts inside [start, end), 1-based from the window's first base, lowest first;
    '<' / '>' where the feature goes on past the window or is partial at that end."""
    parts = sorted((max(s, start) - start, min(e, end) - start) for s, e in feature.parts if s < end and e > start)
    low_partial = feature.five_prime_partial if feature.strand == 1 else feature.three_prime_partial
    high_partial = feature.three_prime_partial if feature.strand == 1 else feature.five_prime_partial
    low = "<" if feature.start < start or low_partial else ""
    high = ">" if feature.end > end or high_partial else ""
    ranges = [f"{low if k == 0 else ''}{s + 1}..{high if k == len(parts) - 1 else ''}{e}" for k, (s, e) in enumerate(parts)]
    return ranges[0] if len(ranges) == 1 else f"join({','.join(ranges)})"


def windows(nucleotide: NucleotideEntity, config: NucleicConfig, rng: random.Random) -> list[tuple[str, Document]]:
    sequence = nucleotide.record.sequence
    length, size = len(sequence), config.window_bases
    overlapping: list[list[NucleotideFeature]] = [[] for _ in range(0, length, size)]
    for feature in nucleotide.features:  # each feature into the windows its parts reach, in record order
        for index in sorted({k for s, e in feature.parts for k in range(s // size, (e - 1) // size + 1)}):
            overlapping[index].append(feature)
    documents = []
    for start, features in zip(range(0, length, size), overlapping):
        end = min(start + size, length)
        place = (f"Sequence: bases {start + 1:,}..{end:,} of {length:,}" if size < length else f"Sequence: {length:,} bases")
        lines = nucleotide.header() + [f"{place} ({nucleotide.topology()})"]
        if features:
            lines.append("Features (positions in this sequence):")
            lines += [f"{f.kind} {_window_location(f, start, end)} ({'+' if f.strand == 1 else '-'})"
                      + (f" {'; '.join(_names(f))}" if _names(f) else "") for f in features]
        annotation, segment = "\n".join(lines), Segment(nucleotide.modality, sequence[start:end])
        first = rng.random() < config.annotation_first
        documents.append((WINDOW_PREFIX[nucleotide.record.molecule],
                          _document([annotation + "\n", segment] if first else [segment, "\n" + annotation])))
    return documents


@dataclass(frozen=True)
class CodingPair:
    """A CDS's coding sequence and protein under the cut rule; `codons` of `total_codons` kept."""

    dna: str
    protein: Optional[str]
    codons: int
    total_codons: int


def coding_pair(feature: NucleotideFeature, record: NucleotideRecord, max_bases: int) -> CodingPair:
    sequence = feature.extract(record)
    offset = feature.codon_start - 1
    total = (len(sequence) - offset) // 3
    if len(sequence) <= max_bases:
        return CodingPair(sequence, feature.translation, total, total)
    codons = (max_bases - offset) // 3
    protein = feature.translation[:codons] if feature.translation else None
    return CodingPair(sequence[:offset + 3 * codons], protein, codons, total)


def _pair_heading(feature: NucleotideFeature, nucleotide: NucleotideEntity, pair: CodingPair) -> str:
    name = f"Gene {feature.gene}" if feature.gene else f"Locus {feature.locus_tag}" if feature.locus_tag else "A coding sequence"
    notes = [feature.product] if feature.product else []
    notes += [nucleotide.entity["organism"]] if nucleotide.entity.get("organism") else []
    notes.append(f"genetic code {feature.transl_table}")
    notes += [f"reading frame from base {feature.codon_start}"] if feature.codon_start != 1 else []
    notes += ["5' partial"] if feature.five_prime_partial else []
    notes += ["3' partial"] if feature.three_prime_partial else []
    notes += [f"first {pair.codons:,} of {pair.total_codons:,} codons"] if pair.codons < pair.total_codons else []
    return f"{name}; {'; '.join(notes)}"


def gene_protein_pairs(nucleotide: NucleotideEntity, config: NucleicConfig) -> list[tuple[str, Document]]:
    documents = []
    for feature in nucleotide.features:
        if feature.kind != "CDS" or not feature.translation:
            continue
        pair = coding_pair(feature, nucleotide.record, config.sequence_bases)
        heading = _pair_heading(feature, nucleotide, pair)
        dna = ["Coding sequence: ", Segment(nucleotide.modality, pair.dna)]
        protein = ["Protein: ", Segment(Modality.PROTEIN, pair.protein)]
        documents += [(PAIRS, _document([heading, "\n", *dna, "\n", *protein])),
                      (PAIRS, _document([heading, "\n", *protein, "\n", *dna]))]
    return documents


def _cut(sequence: str, max_bases: int) -> tuple[str, str]:
    """The sequence under the cut rule, and what the text says about it."""
    if len(sequence) <= max_bases:
        return sequence, ""
    return sequence[:max_bases], f" (its first {max_bases:,} of {len(sequence):,} bases)"


def _mention(feature: NucleotideFeature, nucleotide: NucleotideEntity, config: NucleicConfig,
             rng: random.Random) -> tuple[list[Part], int]:
    """One feature's sentence with its embedded sequences, and how many letters they hold."""
    product = f" ({feature.product})" if feature.product and (feature.gene or feature.locus_tag) else ""
    name = feature.gene or feature.locus_tag or feature.product
    parts: list[Part] = [f"The {feature.kind}{' pseudogene' if feature.pseudo else ''} {name}{product} "
                         f"at {feature.locus}"]
    embed_dna, embed_product = rng.random() < config.embed_probability, rng.random() < config.embed_probability
    letters = 0
    if feature.kind == "CDS":
        pair = coding_pair(feature, nucleotide.record, config.sequence_bases)
        cut = f" (its first {pair.codons:,} of {pair.total_codons:,} codons)" if pair.codons < pair.total_codons else ""
        if embed_dna:
            parts += [f" has the sequence{cut} ", Segment(nucleotide.modality, pair.dna)]
            letters += len(pair.dna)
        if embed_product and pair.protein:
            parts += [" and" if embed_dna else "", f" encodes{'' if embed_dna else cut} ", Segment(Modality.PROTEIN, pair.protein)]
            letters += len(pair.protein)
    else:
        sequence, cut = _cut(feature.extract(nucleotide.record), config.sequence_bases)
        if embed_dna:
            parts += [f" has the sequence{cut} ", Segment(nucleotide.modality, sequence)]
            letters += len(sequence)
        if embed_product and feature.kind in RNA_KINDS and nucleotide.modality is Modality.DNA:
            parts += [" and" if embed_dna else "", f" is transcribed into{'' if embed_dna else cut} ",
                      Segment(Modality.RNA, sequence.replace("T", "U"))]
            letters += len(sequence)
    return parts + ["."], letters


def interleaved(nucleotide: NucleotideEntity, config: NucleicConfig, rng: random.Random) -> list[tuple[str, Document]]:
    named = [f for f in nucleotide.features if f.gene or f.locus_tag or f.product]
    if not named:
        return []
    e = nucleotide.entity
    opening = [f"{e['description'].rstrip('.')}." if e.get("description") else ""]
    opening += [f"Organism: {e['organism']}" + (f" ({'; '.join(e['taxonomy'])})." if e.get("taxonomy") else ".")] if e.get("organism") else []
    opening.append(f"A {nucleotide.topology()} sequence of {len(nucleotide.record.sequence):,} bases "
                   f"with {len(named):,} named features.")
    start = " ".join(p for p in opening if p)
    documents, current, letters = [], [], 0
    for feature in named:
        mention, size = _mention(feature, nucleotide, config, rng)
        if current and letters + size > config.interleave_letters:
            documents.append((INTERLEAVED, _document([start, *current])))
            current, letters = [], 0
        current += ["\n", *mention]
        letters += size
    documents.append((INTERLEAVED, _document([start, *current])))
    return documents


def nucleotide_documents(entity: dict, config: NucleicConfig, rng: random.Random) -> list[tuple[str, Document]]:
    """Every document of one nucleotide entity, in a fixed order: windows, pairs, interleaved."""
    nucleotide = NucleotideEntity(entity)
    return windows(nucleotide, config, rng) + gene_protein_pairs(nucleotide, config) + interleaved(nucleotide, config, rng)
