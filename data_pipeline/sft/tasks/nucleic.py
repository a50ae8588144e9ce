"""Task families: DNA and RNA (issue 25). What a gene encodes and what encodes a protein, what a
gene's product is called, where a gene lies in a stretch of genome, which genus a 16S rRNA comes
from, and sequence arithmetic (reverse complement, GC content).

Sources: `nucleotide` entities (`data_pipeline.normalize`: a GenBank/EMBL record whole, its
features as `NucleotideFeature` fields, every kept CDS's /translation already checked by its
reader; or a named rRNA of NCBI's BLAST databases, with its organism). One record gives one example
per CDS (gene tasks) or per window (sequence tasks); a candidate a family cannot use is yielded as a
`Skip` and counted per reason (`base.Skip`), the record's other examples kept.

Genes. A CDS serves when it is complete (no partial end, /codon_start 1, not a pseudogene, a
/translation), at most `MAX_CDS_BASES` long (the evaluation's generation budget), and when Biopython,
translating its DNA under its /transl_table with `cds=True` (first codon a start of that table, read
as M; one final stop, not included), gives exactly its /translation: the label is the annotation,
and the re-derivation is what proves it (a disagreement is dropped, counted, never trained). Its
DNA is written from the start codon to the stop codon included, in the record's molecule (an mRNA
record's CDS is RNA). Back-translation answers are that DNA, stop codon included: an answer is right
when it translates back to the protein under the stated table with `cds=True`, which needs the
stop, so its length is 3 x (residues + 1).

Split entities. A gene example holds its CDS's DNA and protein, linked (`Example.encodes`), and a
window example its window; the split groups them by sequence identity (`data_pipeline.sft.splits`).
A 16S example holds its organism only: rRNA is held out by organism. The question is then the
genus, not the species: a held-out species' name never trains, so asking it would ask a name the
model cannot have learnt, while its genus usually has other species in training. (Phylum: the 16S
database's headers name only the organism, and ncbi-data's `lineages.txt` covers 29 of its 1,921
genera: no phylum label can be had offline.)

Formats the answers use. A location is INSDC's, 1-based and inclusive, counted on the window given:
`120..989` on the strand given, `complement(120..989)` on the other. A reading frame is +1, +2, +3
(starting at the window's first, second, third base) or -1, -2, -3 (the same counted from the
window's last base on the reverse strand). GC content is the percentage of G, C and S among the
bases whose strength is known (A, C, G, T/U, S, W), one decimal.
"""

from __future__ import annotations

import random
import re
from typing import Iterator, Optional, Union

from biomatrix_io.records import NucleotideFeature, NucleotideRecord, Provenance

from .base import Example, Skip, TaskFamily, nucleic, number, protein, require, text

MAX_CDS_BASES = 3000  # 999 residues and a stop: a back-translation answer fits 3,100 generated tokens
MAX_WINDOW_BASES = 1500  # a gene window: a sample of its DNA and answer fits a 2,048-token pack
WINDOW_FLANK = 150  # at most this many bases each side of a gene in its window
SEQUENCE_STRETCH = 10_000  # reverse complement and GC content: one window per started stretch of a record
SEQUENCE_WINDOW_BASES = (60, 400)  # their length range
# Product names that say a protein has none.
NO_NAME = frozenset({"hypothetical protein", "uncharacterized protein", "putative uncharacterized protein",
                     "conserved hypothetical protein", "predicted protein", "unknown"})

Made = Iterator[Union[Example, Skip]]
_COMPLEMENT = {"DNA": str.maketrans("ACGTRYKMBVDHSWN", "TGCAYRMKVBHDSWN"),
               "RNA": str.maketrans("ACGURYKMBVDHSWN", "UGCAYRMKVBHDSWN")}
_STRONG, _WEAK = frozenset("GCS"), frozenset("ATUW")


def reverse_complement(sequence: str, molecule: str = "DNA") -> str:
    """The reverse complement in the molecule's alphabet, IUPAC codes to their complementary sets."""
    return sequence.translate(_COMPLEMENT[molecule])[::-1]


def gc_percent(sequence: str) -> Optional[float]:
    """Percentage of G, C and S among A, C, G, T/U, S, W (other ambiguity codes left out); None
    when no base's strength is known."""
    strong = sum(sequence.count(letter) for letter in _STRONG)
    known = strong + sum(sequence.count(letter) for letter in _WEAK)
    return 100 * strong / known if known else None


def translate_cds(dna: str, table: int) -> str:
    """Biopython's translation of a complete CDS (start codon read as M, the final stop required
    and left out, no internal stop); `Bio.Data.CodonTable.TranslationError` when it is not one."""
    from Bio.Seq import Seq

    return str(Seq(dna).translate(table=table, cds=True))


def location(strand: int, start: int, end: int) -> str:
    """INSDC location of 0-based half-open [start, end) on `strand`, 1-based inclusive."""
    span = f"{start + 1}..{end}"
    return span if strand == 1 else f"complement({span})"


def reading_frame(strand: int, start: int, end: int, length: int) -> str:
    """Frame of a gene at [start, end) in a window of `length` bases (module docstring)."""
    return f"+{start % 3 + 1}" if strand == 1 else f"-{(length - end) % 3 + 1}"


def _record(entity: dict) -> NucleotideRecord:
    return NucleotideRecord(Provenance("", "", entity.get("id", "")), entity["sequence"], entity["molecule"])


def _features(entity: dict) -> list[NucleotideFeature]:
    return [NucleotideFeature(**{**raw, "parts": tuple(tuple(part) for part in raw["parts"])})
            for raw in entity.get("features") or ()]


class Gene:
    """A complete CDS of a record whose translation Biopython re-derives (module docstring)."""

    def __init__(self, index: int, feature: NucleotideFeature, dna: str, record: NucleotideRecord):
        self.index, self.feature, self.dna, self.record = index, feature, dna, record
        self.protein = feature.translation
        self.table = feature.transl_table

    @property
    def suffix(self) -> str:
        return f":cds{self.index}"

    def entities(self) -> dict:
        """What an example about this gene holds for the split: its DNA and protein, linked."""
        return {"nucleotides": (self.dna,), "proteins": (self.protein,), "encodes": ((self.dna, self.protein),)}


def genes(entity: dict) -> list[Union[Gene, Skip]]:
    """Every CDS of a record: a `Gene`, or a `Skip` saying why it cannot serve."""
    (sequence,) = require(entity, "sequence")
    record = _record(entity)
    found: list[Union[Gene, Skip]] = []
    for index, feature in enumerate(_features(entity)):
        if feature.kind != "CDS":
            continue
        if feature.pseudo:
            found.append(Skip("a pseudogene CDS"))
        elif feature.five_prime_partial or feature.three_prime_partial or feature.codon_start != 1:
            found.append(Skip("a partial CDS (no start or stop codon to translate from)"))
        elif not feature.translation:
            found.append(Skip("a CDS without /translation"))
        else:
            found.append(_checked(index, feature, record))
    return found


def _checked(index: int, feature: NucleotideFeature, record: NucleotideRecord) -> Union[Gene, Skip]:
    from Bio.Data.CodonTable import TranslationError

    dna = feature.extract(record)
    if len(dna) > MAX_CDS_BASES:
        return Skip(f"a CDS longer than {MAX_CDS_BASES} bases")
    try:
        derived = translate_cds(dna, feature.transl_table)
    except TranslationError as error:
        return Skip(f"Biopython does not read it as a CDS under table {feature.transl_table}: {error}")
    if derived != feature.translation:
        return Skip(f"Biopython's translation under table {feature.transl_table} differs from /translation")
    return Gene(index, feature, dna, record)


def _each_gene(build):
    """A family's `make` that applies `build(gene, all genes, rng)` to every usable gene."""
    def make(entity: dict, rng: random.Random) -> Made:
        found = genes(entity)
        usable = [g for g in found if isinstance(g, Gene)]
        for gene in found:
            yield gene if isinstance(gene, Skip) else build(gene, usable, rng)

    return make


# Gene families -----------------------------------------------------------------------------------
def _translation(gene: Gene, usable, rng) -> Example:
    return Example({"sequence": nucleic(gene.dna, gene.record.molecule), "table": text(str(gene.table))},
                   (protein(gene.protein),), suffix=gene.suffix, meta={"transl_table": gene.table}, **gene.entities())


def _back_translation(gene: Gene, usable, rng) -> Example:
    return Example({"protein": protein(gene.protein), "table": text(str(gene.table))},
                   (nucleic(gene.dna, gene.record.molecule),), suffix=gene.suffix,
                   meta={"protein": gene.protein, "transl_table": gene.table, "length": len(gene.dna),
                         "stop_codon": True}, **gene.entities())


def _product(gene: Gene, usable, rng) -> Union[Example, Skip]:
    product = " ".join((gene.feature.product or "").split())
    if not product:
        return Skip("a CDS without /product")
    if product.lower() in NO_NAME:
        return Skip(f"/product is {product!r} (no name to learn)")
    return Example({"sequence": nucleic(gene.dna, gene.record.molecule)}, (text(product),), suffix=gene.suffix,
                   **gene.entities())


def _match(gene: Gene, usable, rng) -> Example:
    """Half the pairs are the gene's own protein, half another gene's of the same record (whose
    protein differs); a record of one gene gives only true pairs."""
    others = [g for g in usable if g.protein != gene.protein]
    if not others or rng.random() < 0.5:
        return Example({"sequence": nucleic(gene.dna, gene.record.molecule), "protein": protein(gene.protein),
                        "table": text(str(gene.table))}, (text("yes"),), suffix=gene.suffix, **gene.entities())
    other = rng.choice(others)
    return Example({"sequence": nucleic(gene.dna, gene.record.molecule), "protein": protein(other.protein),
                    "table": text(str(gene.table))}, (text("no"),), suffix=gene.suffix,
                   nucleotides=(gene.dna, other.dna), proteins=(other.protein,), encodes=((other.dna, other.protein),))


def _window(gene: Gene, usable: list[Gene], rng: random.Random) -> Union[tuple[str, int, int], Skip]:
    """(window, gene start, gene end) in the window: the gene with up to `WINDOW_FLANK` random bases
    each side, no other whole CDS inside; a Skip when none can be cut."""
    feature = gene.feature
    if len(feature.parts) > 1:
        return Skip("a CDS in several parts (spliced or across the origin): no single window")
    if feature.end - feature.start > MAX_WINDOW_BASES:
        return Skip(f"a CDS longer than a {MAX_WINDOW_BASES}-base window")
    room = MAX_WINDOW_BASES - (feature.end - feature.start)
    left = min(rng.randint(0, WINDOW_FLANK), feature.start, room)
    right = min(rng.randint(0, WINDOW_FLANK), len(gene.record.sequence) - feature.end, room - left)
    start, end = feature.start - left, feature.end + right
    inside = [g for g in usable if g is not gene and start <= g.feature.start and g.feature.end <= end]
    if inside:
        return Skip("another whole CDS lies in the window")
    return gene.record.sequence[start:end], left, left + feature.end - feature.start


def _window_entities(gene: Gene, window: str) -> dict:
    return {"nucleotides": (window, gene.dna), "proteins": (gene.protein,),
            "encodes": ((gene.dna, gene.protein), (window, gene.protein))}


def _boundaries(gene: Gene, usable, rng) -> Union[Example, Skip]:
    cut = _window(gene, usable, rng)
    if isinstance(cut, Skip):
        return cut
    window, start, end = cut
    answer = location(gene.feature.strand, start, end)
    return Example({"sequence": nucleic(window, gene.record.molecule)}, (text(answer),), suffix=gene.suffix,
                   meta={"window_length": len(window)}, **_window_entities(gene, window))


def _frame(gene: Gene, usable, rng) -> Union[Example, Skip]:
    cut = _window(gene, usable, rng)
    if isinstance(cut, Skip):
        return cut
    window, start, end = cut
    answer = reading_frame(gene.feature.strand, start, end, len(window))
    return Example({"sequence": nucleic(window, gene.record.molecule), "protein": protein(gene.protein),
                    "table": text(str(gene.table))}, (text(answer),), suffix=gene.suffix,
                   **_window_entities(gene, window))


# Sequence families -------------------------------------------------------------------------------
def _windows(entity: dict, rng: random.Random) -> list[tuple[int, str]]:
    """Random windows of a record, one in each started `SEQUENCE_STRETCH` (index, sequence): a
    genome gives windows along its length, an rRNA one."""
    (sequence,) = require(entity, "sequence")
    low, high = SEQUENCE_WINDOW_BASES
    if len(sequence) < low:
        raise Skip(f"a sequence shorter than {low} bases")
    found = []
    for index, stretch in enumerate(range(0, len(sequence), SEQUENCE_STRETCH)):
        room = min(len(sequence), stretch + SEQUENCE_STRETCH) - stretch
        if room < low:  # the record's short tail
            break
        length = rng.randint(low, min(high, room))
        start = stretch + rng.randint(0, room - length)
        found.append((index, sequence[start:start + length]))
    return found


def _reverse_complement(entity: dict, rng: random.Random) -> Made:
    if entity.get("molecule") != "DNA":
        raise Skip("an RNA record (the reverse complement is asked of DNA)")
    for index, window in _windows(entity, rng):
        yield Example({"sequence": nucleic(window, "DNA")}, (nucleic(reverse_complement(window), "DNA"),),
                      suffix=f":w{index}", nucleotides=(window,))


def _gc_content(entity: dict, rng: random.Random) -> Made:
    for index, window in _windows(entity, rng):
        value = gc_percent(window)
        if value is None:
            yield Skip("a window of ambiguous bases only")
            continue
        yield Example({"sequence": nucleic(window, entity["molecule"])}, (text(number(value, 1)),),
                      suffix=f":w{index}", nucleotides=(window,), meta={"unit": "%"})


# rRNA ---------------------------------------------------------------------------------------------
# A binomial name (optionally "Candidatus"-prefixed): its genus and its epithet or "sp.".
_BINOMIAL = re.compile(r"^(?:Candidatus )?([A-Z][a-z]+) (sp\.|[a-z][a-z-]+)(?:\s|$)")
NOT_A_GENUS = frozenset({"Uncultured", "Unidentified", "Unknown", "Unclassified", "Environmental"})
NOT_AN_EPITHET = frozenset({"bacterium", "proteobacterium", "eubacterium", "archaeon", "cyanobacterium",
                            "actinobacterium", "candidate", "division", "soil", "marine", "endosymbiont", "symbiont"})


def genus(organism: str) -> Optional[str]:
    """The genus of a binomial organism name ("Roseomonas mucosa" -> "Roseomonas"); None for names
    that are no binomial ("E.coli", "Uncultured soil bacterium", "Phototrophic bacterium")."""
    match = _BINOMIAL.match(" ".join(organism.split()))
    if not match or match.group(1) in NOT_A_GENUS or match.group(2) in NOT_AN_EPITHET:
        return None
    return match.group(1)


def _rrna_genus(entity: dict, rng: random.Random) -> Made:
    sequence, organism = require(entity, "sequence", "organism")
    name = genus(organism)
    if name is None:
        raise Skip("the organism is no binomial name (no genus to ask)")
    yield Example({"sequence": nucleic(sequence, entity["molecule"])}, (text(name),), organisms=(organism,),
                  meta={"organism": organism})


_GENES = ("nucleotide",)

FAMILIES = (
    TaskFamily(
        name="dna_translation",
        category="nucleic",
        kinds=_GENES,
        make=_each_gene(_translation),
        metric="translation",
        description="a complete CDS (DNA or mRNA) and its genetic code -> its protein (the annotated /translation, "
                    "re-derived by Biopython)",
        templates=(
            "Translate this coding sequence into its protein using NCBI genetic code table {table}: {sequence}",
            "What protein does the following gene encode? It uses genetic code {table}.\n{sequence}",
            "{sequence}\nRead this open reading frame from its start codon to its stop codon under translation "
            "table {table} and give the amino-acid sequence.",
            "Under the genetic code with NCBI id {table}, which polypeptide is encoded by {sequence}?",
            "Give the protein product of this CDS (translation table {table}; the stop codon is not a residue): {sequence}",
            "Here is a protein-coding sequence: {sequence}. Write the protein it codes for, using code {table}.",
        ),
    ),
    TaskFamily(
        name="dna_back_translation",
        category="nucleic",
        kinds=_GENES,
        make=_each_gene(_back_translation),
        metric="back_translation",
        description="a protein and a genetic code -> a coding sequence for it, start to stop codon (any sequence that "
                    "translates back to the protein is right; the label is the natural gene)",
        templates=(
            "Write a coding sequence, from start codon to stop codon, that encodes this protein under NCBI genetic "
            "code table {table}: {protein}",
            "Back-translate the following protein into DNA using genetic code {table}, ending with a stop codon.\n{protein}",
            "{protein}\nDesign a gene for this amino-acid sequence under translation table {table}: start codon first, "
            "stop codon last.",
            "Which DNA sequence could encode {protein}? Use the genetic code with NCBI id {table} and include the stop codon.",
            "Give an open reading frame that translates to this protein with code {table}: {protein}",
            "Here is a protein: {protein}. Propose its coding sequence (genetic code {table}, stop codon included).",
        ),
    ),
    TaskFamily(
        name="gene_product",
        category="nucleic",
        kinds=_GENES,
        make=_each_gene(_product),
        metric="text_generation",
        description="a complete CDS -> the name of its product (/product)",
        templates=(
            "What is the product of this gene? {sequence}",
            "Name the protein encoded by the following coding sequence.\n{sequence}",
            "{sequence}\nWhich protein does this CDS make? Answer with its name.",
            "Annotate this gene with its product name: {sequence}",
            "Give the name a genome annotation would use for the product of {sequence}",
            "Here is a protein-coding gene: {sequence}. What is its product called?",
        ),
    ),
    TaskFamily(
        name="cds_boundaries",
        category="nucleic",
        kinds=_GENES,
        make=_each_gene(_boundaries),
        metric="location_match",
        description="a genome window holding one whole annotated CDS -> its location (INSDC, 1-based, on the window)",
        templates=(
            "Find the protein-coding gene in this DNA and give its location as start..end, or complement(start..end) "
            "on the reverse strand, counting from 1 at the first base shown: {sequence}",
            "Where does the coding sequence lie in the following stretch of genome? Answer in INSDC notation "
            "(start..end, complement(start..end) for the other strand; position 1 = first base).\n{sequence}",
            "{sequence}\nLocate the CDS, start codon to stop codon, in this window. Write it as start..end or "
            "complement(start..end), 1-based and inclusive.",
            "Give the coordinates of the annotated gene in {sequence} (1-based inclusive, INSDC style: a..b or complement(a..b)).",
            "This DNA window contains one complete gene: {sequence}. Report its location as a..b, or complement(a..b) "
            "if it is on the reverse strand, numbering the window's bases from 1.",
            "Annotate the open reading frame in the sequence below with its INSDC location relative to the first base "
            "(1): start..end or complement(start..end).\n{sequence}",
        ),
    ),
    TaskFamily(
        name="coding_frame",
        category="nucleic",
        kinds=_GENES,
        make=_each_gene(_frame),
        metric="classification",
        description="a genome window and a protein -> the strand and reading frame that encode it (+1..+3, -1..-3)",
        templates=(
            "Which reading frame of this DNA encodes the protein {protein}? Frames +1, +2, +3 start at the first, "
            "second, third base; -1, -2, -3 the same from the last base on the reverse strand. Genetic code {table}. "
            "DNA: {sequence}",
            "DNA: {sequence}\nProtein: {protein}\nIn which frame (+1, +2, +3 on this strand from its first base; -1, "
            "-2, -3 on the reverse strand from its last base) is the protein encoded? Use translation table {table}.",
            "{sequence}\nOne of the six reading frames of this sequence codes for {protein} under genetic code {table}. "
            "Name it: +1, +2 or +3 counting from the first base, -1, -2 or -3 counting from the last base on the "
            "complementary strand.",
            "Give the strand and frame (+1/+2/+3 forward from base 1, -1/-2/-3 reverse from the last base) in which "
            "{sequence} encodes {protein}, with NCBI code {table}.",
            "The protein {protein} is translated from part of {sequence} (genetic code {table}). Which frame: +1, +2, "
            "+3 (forward, from the first base) or -1, -2, -3 (reverse strand, from the last base)?",
            "Here is a genome window: {sequence}. And a protein: {protein}. Under code {table}, which of the frames "
            "+1, +2, +3 (forward, from base 1) and -1, -2, -3 (reverse, from the last base) encodes it?",
        ),
    ),
    TaskFamily(
        name="gene_protein_match",
        category="nucleic",
        kinds=_GENES,
        make=_each_gene(_match),
        metric="binary_classification",
        description="a complete CDS and a protein -> yes if the gene encodes exactly that protein, no if it is another "
                    "gene's of the same genome",
        templates=(
            "Does this gene encode this protein under genetic code {table}? Gene: {sequence} Protein: {protein} "
            "Answer yes or no.",
            "Gene: {sequence}\nProtein: {protein}\nIs the protein the translation of the gene (NCBI code {table})? "
            "Yes or no.",
            "{sequence}\nCould {protein} be the product of this coding sequence with translation table {table}? "
            "Reply yes or no.",
            "Answer yes or no: is {protein} encoded by {sequence} under genetic code {table}?",
            "Here is a protein, {protein}, and a gene, {sequence}. Does the gene code for exactly this protein "
            "(code {table})? Say yes or no.",
            "Check whether translating {sequence} with genetic code {table} gives {protein}. Answer yes or no.",
        ),
    ),
    TaskFamily(
        name="rrna_genus",
        category="nucleic",
        kinds=("nucleotide",),
        make=_rrna_genus,
        metric="classification",
        description="a 16S rRNA -> the genus of its organism (NCBI's 16S BLAST database; held out by organism)",
        templates=(
            "Which genus does this 16S ribosomal RNA come from? {sequence}",
            "Identify the bacterial or archaeal genus of the organism with the following 16S rRNA.\n{sequence}",
            "{sequence}\nTo which genus does the organism that carries this small-subunit rRNA belong? Give the genus name.",
            "Classify this 16S rRNA sequence to genus level: {sequence}",
            "Name the genus of the prokaryote whose 16S rRNA is {sequence}",
            "Here is a 16S ribosomal RNA: {sequence}. What genus is it from?",
        ),
    ),
    TaskFamily(
        name="dna_reverse_complement",
        category="nucleic",
        kinds=("nucleotide",),
        make=_reverse_complement,
        metric="sequence_match",
        description="a genome window -> its reverse complement (IUPAC codes to their complements)",
        templates=(
            "Give the reverse complement of this DNA sequence: {sequence}",
            "Write the complementary strand of the following DNA, read 5' to 3'.\n{sequence}",
            "{sequence}\nWhat is the reverse complement of this sequence?",
            "Reverse-complement {sequence}",
            "Here is a DNA strand: {sequence}. Write the other strand in the 5' to 3' direction.",
            "Produce the sequence that pairs with {sequence}, written 5' to 3'.",
        ),
    ),
    TaskFamily(
        name="gc_content",
        category="nucleic",
        kinds=("nucleotide",),
        make=_gc_content,
        metric="regression",
        description="a genome or transcript window -> its GC content in percent (G, C, S among A, C, G, T/U, S, W)",
        templates=(
            "What is the GC content of this sequence, in percent? {sequence}",
            "Compute the percentage of G and C bases in the following sequence (one decimal).\n{sequence}",
            "{sequence}\nGive the GC content of this sequence as a percentage.",
            "Calculate the G+C percentage of {sequence}",
            "Here is a nucleotide sequence: {sequence}. What share of its bases are G or C (percent)?",
            "Report the GC content (%) of {sequence}",
        ),
    ),
)
