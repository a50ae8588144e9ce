"""Records every reader yields: the payload plus where it came from, so a rejected record can be
named (file, line or offset, id) and counted. Readers parse; they compute nothing expensive
(canonical forms, conformers, structure codes are stage 1's work, `data_pipeline.normalize`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass(frozen=True)
class Provenance:
    path: str
    location: str  # "line 12", "record 5", "offset 4096": whatever locates it in that format
    record_id: str


@dataclass(frozen=True)
class MoleculeRecord:
    provenance: Provenance
    smiles: str
    name: Optional[str] = None
    properties: dict = field(default_factory=dict)  # "definition" (a description) and measured values


@dataclass(frozen=True)
class Molecule3DRecord:
    """A molecule with explicit hydrogens and one 3D conformer (an RDKit `Mol`), atoms in source order."""

    provenance: Provenance
    mol: object
    name: Optional[str] = None
    properties: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProteinRecord:
    """A protein chain or sequence entry. `backbone` is (residues, 3 atoms N/CA/C, 3) in Angstrom
    with NaN for missing atoms, present when the source is a structure."""

    provenance: Provenance
    sequence: str
    name: Optional[str] = None
    description: Optional[str] = None
    annotations: tuple[str, ...] = ()  # GO term names, keywords, function comments
    backbone: Optional[np.ndarray] = None


@dataclass(frozen=True)
class TextRecord:
    provenance: Provenance
    text: str
    title: Optional[str] = None


@dataclass(frozen=True)
class AffinityRecord:
    """A measured molecule-protein interaction. `sequence` may be None when the source names the
    target but the sequence is not known."""

    provenance: Provenance
    smiles: str
    sequence: Optional[str]
    value: float
    unit: str  # "nM", "kcal/mol", ...
    measure: str  # "Ki", "EC50", "IC50", "dG"
    target: Optional[str] = None


@dataclass(frozen=True)
class ComplexRecord:
    """Entities observed together in one structure (a PDB entry): protein chains and small-molecule
    ligands, with their 3D coordinates where the source has them."""

    provenance: Provenance
    proteins: tuple[ProteinRecord, ...]
    ligands: tuple[Molecule3DRecord, ...] = ()
    # (i, j, n) for every pair of proteins i < j: n residue pairs with heavy atoms within the
    # reader's contact distance (0: the two chains do not touch in this structure).
    contacts: tuple[tuple[int, int, int], ...] = ()


# Reverse complement of IUPAC nucleotide codes (ambiguity codes to their complementary sets: R=A|G
# <-> Y=C|T, K <-> M, B <-> V, D <-> H; S, W, N are their own), into each molecule's alphabet.
_COMPLEMENT = {"DNA": str.maketrans("ACGTURYKMBVDHSWN", "TGCAAYRMKVBHDSWN"),
               "RNA": str.maketrans("ACGUTRYKMBVDHSWN", "UGCAAYRMKVBHDSWN")}


@dataclass(frozen=True)
class NucleotideFeature:
    """An annotated region of a nucleotide record (an INSDC feature: CDS, gene, rRNA, tRNA...).

    `parts` are 0-based half-open (start, end) intervals of the record's sequence in the order they
    are joined (a spliced gene, or a feature across the origin of a circular genome), all on
    `strand` (+1 or -1); on -1 the first part is the 5'-most one, so that `extract` reads the
    feature 5' to 3'. The qualifiers kept are those that name or define the product. A CDS's
    `translation` is the annotated protein, checked by its reader against the DNA under
    `transl_table` from `codon_start`; it is None for a pseudogene or where the annotation gives
    none. A partial end ('<'/'>' in the location) has no start or stop codon to expect."""

    kind: str
    parts: tuple[tuple[int, int], ...]
    strand: int
    gene: Optional[str] = None
    locus_tag: Optional[str] = None
    product: Optional[str] = None
    protein_id: Optional[str] = None
    translation: Optional[str] = None
    transl_table: Optional[int] = None  # CDS only: the NCBI genetic code (INSDC's default 1 when not given)
    codon_start: int = 1  # 1, 2 or 3: where the first full codon starts in the extracted sequence
    pseudo: bool = False
    five_prime_partial: bool = False
    three_prime_partial: bool = False

    @property
    def start(self) -> int:
        """The lowest position covered (0-based)."""
        return min(s for s, _ in self.parts)

    @property
    def end(self) -> int:
        """One past the highest position covered."""
        return max(e for _, e in self.parts)

    @property
    def locus(self) -> str:
        """The location as INSDC writes it (1-based, inclusive): `complement(join(<1..200,300..>410))`."""
        written = self.parts if self.strand == 1 else self.parts[::-1]  # INSDC writes a complement's parts 3' first
        ranges = [f"{'<' if k == 0 and self._partial_low else ''}{s + 1}..{'>' if k == len(written) - 1 and self._partial_high else ''}{e}"
                  for k, (s, e) in enumerate(written)]
        text = ranges[0] if len(ranges) == 1 else f"join({','.join(ranges)})"
        return text if self.strand == 1 else f"complement({text})"

    @property
    def _partial_low(self) -> bool:
        return self.five_prime_partial if self.strand == 1 else self.three_prime_partial

    @property
    def _partial_high(self) -> bool:
        return self.three_prime_partial if self.strand == 1 else self.five_prime_partial

    def extract(self, record: "NucleotideRecord") -> str:
        """The feature's sequence, 5' to 3' (reverse-complemented on strand -1), in the record's alphabet."""
        pieces = (record.sequence[s:e] for s, e in self.parts)
        if self.strand == 1:
            return "".join(pieces)
        return "".join(p.translate(_COMPLEMENT[record.molecule])[::-1] for p in pieces)


@dataclass(frozen=True)
class NucleotideRecord:
    """A DNA or RNA sequence: a genome, contig, gene, transcript or rRNA. `sequence` is upper-case
    IUPAC (A C G T/U and the ambiguity codes R Y S W K M B D H V N) in the alphabet of `molecule`:
    T in DNA, U in RNA, never both. The id is the provenance's record id (accession.version where
    the source has one)."""

    provenance: Provenance
    sequence: str
    molecule: str  # "DNA" or "RNA"
    description: Optional[str] = None
    organism: Optional[str] = None
    taxonomy: tuple[str, ...] = ()  # lineage, root first (GenBank ORGANISM / EMBL OC lines)
    features: tuple[NucleotideFeature, ...] = ()
    circular: bool = False

    @property
    def id(self) -> str:
        return self.provenance.record_id


@dataclass(frozen=True)
class Rejection:
    """A source record that could not be read into a record, and why."""

    provenance: Provenance
    reason: str


_PARTICULARS = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d+(?:\.\d+)?\b")


def reason_group(reason: str) -> str:
    """A rejection reason without its particulars (quoted values, numbers), so that reasons from
    many records can be counted together."""
    return " ".join(_PARTICULARS.sub("_", reason).split())[:120]
