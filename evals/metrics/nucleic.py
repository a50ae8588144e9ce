"""Metrics of the DNA and RNA tasks (issue 25), each following a named definition:

- Translation: exact match of the residue sequence (one-letter codes or `<A_X>` tokens) with the
  annotated protein, over all samples; and sequence identity as EMBOSS needle reports it: a global
  Needleman-Wunsch alignment (EBLOSUM62, gap open 10, gap extend 0.5, end gaps free: needle's
  defaults, here Biopython's `PairwiseAligner`), identity = identical columns / alignment length,
  end gaps included (so a truncated or padded answer cannot reach 100%). A residue outside
  BLOSUM62's alphabet (U, O, J) is aligned as X. Every sample in the mean; an empty or unreadable
  answer scores 0 and is counted.
- Back-translation validity (no published reference script; the definition is the task's): an
  answer is valid when Biopython translates it, under the prompt's NCBI genetic code with
  `cds=True`, to exactly the prompt's protein. `cds=True` reads a complete CDS: its first codon a
  start codon of that table (read as M), its last codon a stop, no other stop. The stop codon
  COUNTS: a valid answer holds 3 x (residues + 1) bases, the length the suite's constraint gives.
  An answer mixing T and U is no sequence of one molecule: invalid (Biopython would read it).
  Share of all samples; the rest counted by why (empty, not nucleotides, wrong length, not a CDS
  under the table, another protein).
- Nucleotide exact match (reverse complement): the answer's letters (plain or `<N_X>` tokens) equal
  the reference's, over all samples.
- Location match (CDS boundaries): the answer is an INSDC location of one range on one strand,
  `a..b` or `complement(a..b)` (1-based, inclusive; surrounding whitespace ignored), equal to the
  reference's strand, start and end; anything else is invalid, counted. Over all samples.

Several references per sample: any one matching counts (exact matches); identity takes the best.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Optional

from biomatrix_io.config import ConfigError

from .registry import PAIRS, Metric
from .structures import Unscorable, residue_letters

EMBOSS_NEEDLE = "EMBOSS needle (identity over the global alignment, EBLOSUM62, gap open 10 / extend 0.5, end gaps free)"
RETRANSLATION = "Back-translation by re-translation (Biopython Seq.translate(table, cds=True); the task's own definition)"
SEQUENCE_MATCH = "Exact match of nucleotide letters (the task's own definition)"
INSDC_LOCATION = "INSDC feature location (start..end / complement(start..end)), exact match"

_NUCLEOTIDE_TOKEN = re.compile(r"<N_([A-Z])>")
_NUCLEOTIDE_LETTERS = re.compile(r"[ACGTUNRYSWKMBDHV]+")
_LOCATION = re.compile(r"(complement\()?(\d+)\.\.(\d+)(\))?")
_BLOSUM_UNKNOWN = "X"


def _mean(values: list[float]) -> Optional[float]:
    return math.fsum(values) / len(values) if values else None


def nucleotide_letters(text: str) -> Optional[str]:
    """The letters of plain IUPAC nucleotides or `<N_X>` tokens (whitespace ignored); None when the
    text is neither."""
    body = "".join(text.split())
    if _NUCLEOTIDE_LETTERS.fullmatch(body):
        return body
    if body and not _NUCLEOTIDE_TOKEN.sub("", body):
        letters = "".join(_NUCLEOTIDE_TOKEN.findall(body))
        return letters if _NUCLEOTIDE_LETTERS.fullmatch(letters) else None
    return None


def _residues(text: str) -> Optional[str]:
    if not text.strip():
        return None
    try:
        return residue_letters(text)
    except Unscorable:
        return None


# --- translation ---------------------------------------------------------------------------------
def protein_exact_match(predictions: list[str], references: list[list[str]]) -> dict:
    """The predicted residues equal a reference's, over all samples."""
    counts = {"samples": len(predictions), "correct": 0, "empty": 0, "invalid": 0}
    for prediction, refs in zip(predictions, references, strict=True):
        letters = _residues(prediction)
        if letters is None:
            counts["empty" if not prediction.strip() else "invalid"] += 1
            continue
        counts["correct"] += any(letters == _residues(ref) for ref in refs)
    return {"value": counts["correct"] / len(predictions) if predictions else None, "counts": counts}


@functools.lru_cache(maxsize=1)
def _needle():
    from Bio.Align import PairwiseAligner, substitution_matrices

    matrix = substitution_matrices.load("BLOSUM62")
    return PairwiseAligner(mode="global", substitution_matrix=matrix, open_gap_score=-10, extend_gap_score=-0.5,
                           end_gap_score=0), frozenset(matrix.alphabet)


def needle_identity(first: str, second: str) -> float:
    """Identical columns / alignment length of needle's global alignment (module docstring)."""
    aligner, alphabet = _needle()
    first, second = ("".join(c if c in alphabet else _BLOSUM_UNKNOWN for c in s) for s in (first, second))
    alignment = aligner.align(first, second)[0]
    return alignment.counts().identities / alignment.length


def protein_identity(predictions: list[str], references: list[list[str]]) -> dict:
    """Mean needle identity of the predicted protein to its best reference; 0 for no readable answer."""
    counts = {"samples": len(predictions), "empty": 0, "invalid": 0}
    scores = []
    for prediction, refs in zip(predictions, references, strict=True):
        letters = _residues(prediction)
        if letters is None:
            counts["empty" if not prediction.strip() else "invalid"] += 1
            scores.append(0.0)
            continue
        targets = [r for r in map(_residues, refs) if r]
        if not targets:
            raise ConfigError(f"reference {refs[0][:40]!r} is not a residue sequence", ["references"])
        scores.append(max(needle_identity(letters, target) for target in targets))
    return {"value": _mean(scores), "counts": counts}


# --- back-translation ----------------------------------------------------------------------------
def _instruction(reference: str) -> tuple[str, int]:
    """(protein, genetic code) of a back-translation record's instruction reference (meta as JSON)."""
    try:
        meta = json.loads(reference)["meta"]
        return str(meta["protein"]), int(meta["transl_table"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"reference {reference[:60]!r} holds no meta.protein and meta.transl_table "
                          "(a back-translation record's instruction)", ["references"]) from None


def back_translation_validity(predictions: list[str], references: list[list[str]]) -> dict:
    """Share of answers that Biopython translates (cds=True, the stated table) to the prompt's protein."""
    from Bio.Data.CodonTable import TranslationError
    from Bio.Seq import Seq

    counts = {"samples": len(predictions), "valid": 0, "empty": 0, "invalid": 0, "length_mismatch": 0,
              "not_a_cds": 0, "other_protein": 0}
    for prediction, refs in zip(predictions, references, strict=True):
        protein, table = _instruction(refs[0])
        letters = nucleotide_letters(prediction)
        if not prediction.strip():
            counts["empty"] += 1
        elif letters is None or ("T" in letters and "U" in letters):
            counts["invalid"] += 1
        elif len(letters) != 3 * (len(protein) + 1):
            counts["length_mismatch"] += 1
        else:
            try:
                translated = str(Seq(letters).translate(table=table, cds=True))
            except TranslationError:
                counts["not_a_cds"] += 1
                continue
            counts["valid" if translated == protein else "other_protein"] += 1
    return {"value": counts["valid"] / len(predictions) if predictions else None, "counts": counts}


# --- nucleotide sequences and locations ------------------------------------------------------------
def nucleotide_exact_match(predictions: list[str], references: list[list[str]]) -> dict:
    """The answer's nucleotide letters equal a reference's, over all samples."""
    counts = {"samples": len(predictions), "correct": 0, "empty": 0, "invalid": 0}
    for prediction, refs in zip(predictions, references, strict=True):
        letters = nucleotide_letters(prediction)
        if letters is None:
            counts["empty" if not prediction.strip() else "invalid"] += 1
            continue
        counts["correct"] += any(letters == nucleotide_letters(ref) for ref in refs)
    return {"value": counts["correct"] / len(predictions) if predictions else None, "counts": counts}


def parse_location(text: str) -> Optional[tuple[int, int, int]]:
    """(strand, start, end) of `a..b` / `complement(a..b)` with 1 <= a <= b; None otherwise."""
    match = _LOCATION.fullmatch(text.strip())
    if not match or bool(match.group(1)) != bool(match.group(4)):
        return None
    start, end = int(match.group(2)), int(match.group(3))
    if not 1 <= start <= end:
        return None
    return (-1 if match.group(1) else 1), start, end


def location_match(predictions: list[str], references: list[list[str]]) -> dict:
    """The answer's strand, start and end equal a reference location's, over all samples."""
    counts = {"samples": len(predictions), "correct": 0, "empty": 0, "invalid": 0, "strand_correct": 0}
    for prediction, refs in zip(predictions, references, strict=True):
        wanted = [parse_location(ref) for ref in refs]
        if None in wanted:
            raise ConfigError(f"reference {refs[wanted.index(None)]!r} is not an INSDC location", ["references"])
        found = parse_location(prediction)
        if found is None:
            counts["empty" if not prediction.strip() else "invalid"] += 1
            continue
        counts["correct"] += found in wanted
        counts["strand_correct"] += any(found[0] == w[0] for w in wanted)
    return {"value": counts["correct"] / len(predictions) if predictions else None, "counts": counts}


METRICS = [
    Metric("protein_exact_match", "residues", "Exact match of residue sequences (the task's own definition)", PAIRS,
           protein_exact_match, default=True,
           description="Translation: the predicted residues (one-letter codes or <A_X> tokens) equal the reference "
                       "protein, over all samples; empty and unreadable answers are wrong and counted."),
    Metric("protein_identity", "needle", EMBOSS_NEEDLE, PAIRS, protein_identity, default=True,
           description="Translation: identity of the predicted protein to the reference as EMBOSS needle reports it "
                       "(global alignment, EBLOSUM62, gap open 10 / extend 0.5, end gaps free; identical columns / "
                       "alignment length, end gaps included), mean over all samples; no answer scores 0."),
    Metric("back_translation_validity", "retranslation", RETRANSLATION, PAIRS, back_translation_validity, default=True,
           description="Back-translation: share of answers that Biopython translates with cds=True under the "
                       "prompt's genetic code to exactly the prompt's protein (start codon read as M, the stop codon "
                       "required and counted: 3 x (residues + 1) bases). Reference: the record's instruction "
                       "(meta.protein, meta.transl_table). Failures counted by why."),
    Metric("nucleotide_exact_match", "letters", SEQUENCE_MATCH, PAIRS, nucleotide_exact_match, default=True,
           description="Reverse complement: the answer's nucleotide letters (plain or <N_X> tokens) equal the "
                       "reference's, over all samples; empty and unreadable answers are wrong and counted."),
    Metric("location_match", "insdc", INSDC_LOCATION, PAIRS, location_match, default=True,
           description="CDS boundaries: the answer, an INSDC location a..b or complement(a..b) (1-based, inclusive), "
                       "equals the reference's strand, start and end; over all samples; unreadable answers counted "
                       "as invalid; strand_correct counts answers on the right strand."),
]
