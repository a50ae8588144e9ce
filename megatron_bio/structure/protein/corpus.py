"""Protein chains for training and evaluating the structure tokenizers: every chain the installed
registries hold (read by `chains.read_chains`, filtered with reasons), deduplicated by sequence,
and split so that held-out chains are not near-copies of training chains: chains are grouped by
sequence identity (Biopython's global aligner, over pairs that share enough 3-mers to possibly
reach the threshold), and whole groups go to the held-out side by a hash of their first sequence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .chains import ChainFilter, read_chains

THESEUS = Path("/usr/share/doc/theseus/examples")  # Debian theseus-examples: LDH, trypsin, cytochrome families
EMBOSS = Path("/usr/share/EMBOSS/test/data/structure")  # Debian emboss-test
# Pairs sharing fewer 3-mers than this (over the shorter sequence's) are not aligned: random
# sequences share ~1%, homologs at 30% identity typically well above 5%.
PREFILTER = 0.05
FRAGMENT_IDENTITY = 0.9


@dataclass(frozen=True)
class ProteinChain:
    name: str
    sequence: str
    backbone: np.ndarray  # (residues, 3, 3) N, CA, C


def structure_files() -> list[Path]:
    patterns = ("*.pdb", "*.pdb.gz", "*.ent", "*.cif", "*.cif.gz")
    files = sorted({p for root in (THESEUS, EMBOSS) if root.exists() for pattern in patterns for p in root.rglob(pattern)})
    if not files:
        raise FileNotFoundError(f"no structure files under {THESEUS} or {EMBOSS}: install theseus-examples (`make install`)")
    return files


def read_corpus(files: Iterable[Path], config: ChainFilter = ChainFilter()) -> tuple[list[ProteinChain], dict[str, int]]:
    """Kept chains (first of each sequence) and rejections counted by reason."""
    kept: dict[str, ProteinChain] = {}
    rejected: dict[str, int] = {}
    for path in files:
        for read in read_chains(path, config):
            if not hasattr(read, "backbone"):
                rejected[read.reason] = rejected.get(read.reason, 0) + 1
            elif read.sequence in kept:
                rejected["duplicate sequence"] = rejected.get("duplicate sequence", 0) + 1
            else:
                kept[read.sequence] = ProteinChain(read.provenance.record_id, read.sequence,
                                                   np.asarray(read.backbone, dtype=np.float64))
    return list(kept.values()), rejected


def _kmers(sequence: str, k: int = 3) -> set[str]:
    return {sequence[i:i + k] for i in range(len(sequence) - k + 1)}


def identities(a: str, b: str) -> tuple[float, float]:
    """Identical aligned positions (global alignment, BLOSUM62) over the longer and over the shorter
    sequence's length. Over the shorter alone, a short chain aligned against a long unrelated one
    reaches 0.3-0.4 by spreading itself along it; over the longer, fragments of one protein look
    unrelated: `similar` uses both."""
    from Bio import Align
    from Bio.Align import substitution_matrices

    aligner = Align.PairwiseAligner(mode="global", open_gap_score=-10, extend_gap_score=-0.5)
    aligner.substitution_matrix = substitution_matrices.load("BLOSUM62")
    alignment = aligner.align(a, b)[0]
    same = sum(x == y for x, y in zip(*alignment) if x != "-" and y != "-")
    return same / max(len(a), len(b)), same / min(len(a), len(b))


def similar(a: str, b: str, threshold: float) -> bool:
    """Homologs (identity >= threshold over the longer chain) or a fragment of the other (>= 0.9 over the shorter)."""
    over_longer, over_shorter = identities(a, b)
    return over_longer >= threshold or over_shorter >= FRAGMENT_IDENTITY


def similarity_groups(sequences: list[str], threshold: float = 0.3) -> list[int]:
    """Group index per sequence: connected components of pairs at >= threshold identity."""
    parent = list(range(len(sequences)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    kmers = [_kmers(s) for s in sequences]
    for i in range(len(sequences)):
        for j in range(i + 1, len(sequences)):
            if root(i) == root(j):
                continue
            shared = len(kmers[i] & kmers[j]) / max(1, min(len(kmers[i]), len(kmers[j])))
            if shared >= PREFILTER and similar(sequences[i], sequences[j], threshold):
                parent[root(j)] = root(i)
    return [root(i) for i in range(len(sequences))]


def split(chains: list[ProteinChain], held_out: float = 0.2, threshold: float = 0.3) -> tuple[list, list]:
    """(train, held-out): whole similarity groups, chosen by a hash of the group's first sequence."""
    groups = similarity_groups([c.sequence for c in chains], threshold)
    first: dict[int, str] = {}
    for chain, group in zip(chains, groups):
        first.setdefault(group, chain.sequence)
    chosen = {g for g, s in first.items() if int(hashlib.sha256(s.encode()).hexdigest(), 16) % 1000 < held_out * 1000}
    train = [c for c, g in zip(chains, groups) if g not in chosen]
    test = [c for c, g in zip(chains, groups) if g in chosen]
    return train, test
