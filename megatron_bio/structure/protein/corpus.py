"""Protein chains for training and evaluating the structure tokenizers.

- `packages`: every chain of the structure files the installed Debian packages hold (read by
  `chains.read_chains`, filtered with reasons), deduplicated by sequence, and split so that held-out
  chains are not near-copies of training chains: chains are grouped by sequence identity
  (Biopython's global aligner, over pairs that share enough 3-mers to possibly reach the
  threshold), and whole groups go to the held-out side by a hash of their first sequence.
- `promod3`: the 21,119 PDB chains of promod3-data (`make protein-data`), decoded once by Debian's
  python3-promod3 into a NumPy archive. They train, except the short held-out split: a quarter of
  the chains under 50 residues (chosen by a hash of the sequence), because the packages' held-out
  side has almost none and short chains are where TM-score is least forgiving. A training chain is
  dropped when its sequence is already in the corpus or when it is similar to a held-out chain of
  either split (the same identity rule, checked against the five held-out chains sharing the most
  3-mers with it, aligned when their alignment score is positive: unrelated pairs score below ~70,
  homologs above ~1,000).
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from biomatrix_io.config import ConfigError
from biomatrix_io.readers.chains import ChainFilter, read_chains

THESEUS = Path("/usr/share/doc/theseus/examples")  # Debian theseus-examples: LDH, trypsin, cytochrome families
EMBOSS = Path("/usr/share/EMBOSS/test/data/structure")  # Debian emboss-test
PROMOD3_DATABASE = Path("/usr/share/promod3/loop_data/structure_db.dat")  # Debian promod3-data
PROMOD3_ARCHIVE = Path(__file__).resolve().parents[3] / "out" / "protein_data" / "promod3_chains.npz"
SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter Debian's python3-promod3 installs into
# Pairs sharing fewer 3-mers than this (over the shorter sequence's) are not aligned: random
# sequences share ~1%, homologs at 30% identity typically well above 5%.
PREFILTER = 0.05
FRAGMENT_IDENTITY = 0.9
SHORT_RESIDUES = 50  # promod3 chains below this length may go to the short held-out split
SHORT_HELD_OUT = 0.25  # share of them that does


@dataclass(frozen=True)
class ProteinChain:
    name: str
    sequence: str
    backbone: np.ndarray  # (residues, 3, 3) N, CA, C


def structure_files() -> list[Path]:
    patterns = ("*.pdb", "*.pdb.gz", "*.ent", "*.cif", "*.cif.gz")
    files = sorted({p for root in (THESEUS, EMBOSS) if root.exists() for pattern in patterns for p in root.rglob(pattern)})
    if not files:
        raise ConfigError(f"no structure files under {THESEUS} or {EMBOSS}: install theseus-examples (`make install`)")
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


@functools.lru_cache(maxsize=1)
def aligner():
    """Biopython's global aligner with BLOSUM62 (built once: loading the matrix costs more than
    aligning two chains)."""
    from Bio import Align
    from Bio.Align import substitution_matrices

    built = Align.PairwiseAligner(mode="global", open_gap_score=-10, extend_gap_score=-0.5)
    built.substitution_matrix = substitution_matrices.load("BLOSUM62")
    return built


def identities(a: str, b: str) -> tuple[float, float]:
    """Identical aligned positions (global alignment, BLOSUM62) over the longer and over the shorter
    sequence's length. Over the shorter alone, a short chain aligned against a long unrelated one
    reaches 0.3-0.4 by spreading itself along it; over the longer, fragments of one protein look
    unrelated: `similar` uses both."""
    alignment = aligner().align(a, b)[0]
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


def _drawn(sequence: str, share: float) -> bool:
    """Whether a sequence falls in the `share` of sequences that a hash of it picks (reproducible)."""
    return int(hashlib.sha256(sequence.encode()).hexdigest(), 16) % 1000 < share * 1000


def split(chains: list[ProteinChain], held_out: float = 0.2, threshold: float = 0.3) -> tuple[list, list]:
    """(train, held-out): whole similarity groups, chosen by a hash of the group's first sequence."""
    groups = similarity_groups([c.sequence for c in chains], threshold)
    first: dict[int, str] = {}
    for chain, group in zip(chains, groups):
        first.setdefault(group, chain.sequence)
    chosen = {g for g, s in first.items() if _drawn(s, held_out)}
    train = [c for c, g in zip(chains, groups) if g not in chosen]
    test = [c for c, g in zip(chains, groups) if g in chosen]
    return train, test


def promod3_chains(archive: Path = PROMOD3_ARCHIVE) -> list[ProteinChain]:
    """promod3-data's chains (continuous stretches of N, CA, C), exported on first use."""
    if not archive.exists():
        if not PROMOD3_DATABASE.exists() or not shutil.which(SYSTEM_PYTHON):
            raise ConfigError(f"{PROMOD3_DATABASE} is missing: `make protein-data` installs promod3-data "
                                    "and python3-promod3 (Debian)")
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(".partial.npz")
        subprocess.run([SYSTEM_PYTHON, str(Path(__file__).with_name("promod3_export.py")), str(partial)], check=True)
        partial.rename(archive)
    data = np.load(archive)
    bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
    coordinates = data["coordinates"]
    return [ProteinChain(str(name), str(sequence), coordinates[start:stop].astype(np.float64))
            for name, sequence, start, stop in zip(data["names"], data["sequences"], bounds[:-1], bounds[1:])]


def _kmer_matrix(sequences: list[str], vocabulary: dict[str, int]):
    from scipy import sparse

    rows, columns = [], []
    for row, sequence in enumerate(sequences):
        present = {vocabulary.setdefault(k, len(vocabulary)) for k in _kmers(sequence)}
        rows.extend([row] * len(present))
        columns.extend(present)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(sequences), 20 ** 3 + 1000))


def screen(candidates: list[ProteinChain], held_out: list[ProteinChain], threshold: float = 0.3,
           top: int = 5) -> tuple[list[ProteinChain], dict[str, int]]:
    """Candidates that are neither a held-out chain's sequence nor similar to one (see the module
    docstring), and the dropped ones counted by reason."""
    vocabulary: dict[str, int] = {}
    held_matrix = _kmer_matrix([c.sequence for c in held_out], vocabulary)
    candidate_matrix = _kmer_matrix([c.sequence for c in candidates], vocabulary)
    shared = (held_matrix @ candidate_matrix.T).toarray()
    nearest = np.argsort(-shared, axis=0)[:top]
    kept, dropped = [], {}
    for j, chain in enumerate(candidates):
        near = [held_out[i] for i in nearest[:, j]]
        if any(aligner().score(h.sequence, chain.sequence) > 0 and similar(h.sequence, chain.sequence, threshold) for h in near):
            dropped["similar to a held-out chain"] = dropped.get("similar to a held-out chain", 0) + 1
        else:
            kept.append(chain)
    return kept, dropped


SOURCES = ("packages", "promod3")


def training_corpus(sources: Iterable[str], held_out_share: float = 0.2) -> tuple[list, list, dict]:
    """(train, held-out, report): held-out chains always come from the packages' split; other
    sources only add training chains, screened against them."""
    sources = list(sources)
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown or "packages" not in sources:
        raise ValueError(f"sources {sources}: choose from {list(SOURCES)}, `packages` included (the held-out chains)")
    chains, rejected = read_corpus(structure_files())
    train, held_out = split(chains, held_out_share)
    report = {"packages": {"chains": len(chains), "train": len(train), "held_out": len(held_out), "rejected": rejected}}
    if "promod3" in sources:
        extra, short, duplicates = promod3_split({c.sequence for c in chains})
        kept, dropped = screen(extra, held_out + short)
        train = train + kept
        report["promod3"] = {"train": len(kept), "short_held_out": len(short),
                             "rejected": {"duplicate sequence or too short": duplicates, **dropped}}
    return train, held_out, report


def promod3_split(known: set[str]) -> tuple[list[ProteinChain], list[ProteinChain], int]:
    """promod3-data's chains as (training candidates, short held-out chains, count of the others): a
    chain whose sequence is in `known` (the packages' chains) or seen before, or that is shorter than
    the reader's minimum, is neither; of those under SHORT_RESIDUES, the hash picks SHORT_HELD_OUT."""
    candidates, short, skipped = [], [], 0
    seen = set(known)
    for chain in promod3_chains():
        if chain.sequence in seen or len(chain.sequence) < ChainFilter().min_residues:
            skipped += 1
            continue
        seen.add(chain.sequence)
        held = len(chain.sequence) < SHORT_RESIDUES and _drawn(chain.sequence, SHORT_HELD_OUT)
        (short if held else candidates).append(chain)
    return candidates, short, skipped
