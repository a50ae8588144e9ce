"""Distribution metrics of generated molecules (unconditional generation), each reproducing its
named benchmark's definition:

- MOSES (molecularsets/moses `moses/metrics/metrics.py`, `utils.py`; molsets 0.3.1, whose own
  code breaks on pandas >= 2, so only its definitions are used):
  valid = 1 - invalid / N (an empty string is invalid); unique@k = distinct canonical SMILES among
  the first k VALID ones / k; novelty = distinct valid canonical SMILES not in the training set /
  distinct valid canonical SMILES (the training set is NOT re-canonicalized: it is compared as
  written, MOSES's train split being canonical already); IntDiv_p over the valid canonical SMILES
  (duplicates kept) with Morgan r=2 1,024-bit fingerprints and ALL ordered pairs, self pairs
  included (so n identical molecules give IntDiv 0); FCD against a reference set.
- GuacaMol (BenevolentAI/guacamol `distribution_learning_benchmark.py`, `utils/chemistry.py`):
  validity, uniqueness and novelty all divided by the number of samples ASKED for; uniqueness and
  novelty on canonical SMILES with stereo (and isotopes) stripped, the training set canonicalized
  the same way. GuacaMol re-samples a model until it has enough valid (or unique) molecules; a
  file of samples cannot be re-sampled, so invalid samples simply count against the figures.

Two IntDiv definitions disagree for p = 2: the MOSES paper writes 1 - (mean over pairs of T^p)^(1/p);
the molsets code takes, per generated molecule, (mean over the set of T^p)^(1/p) and averages those.
The published MOSES tables (and the BioMatrix report's baselines) come from the code: variant
`moses` (default); the paper's formula is variant `moses_paper`. Both agree for p = 1.

Pairwise similarities are computed in bulk: fingerprints as a 0/1 matrix, intersections by a
matrix product in row chunks (exact in float32 for 1,024 bits), duplicates folded into weights.
Samples may be SELFIES (`notation="selfies"`, decoded first; the training set stays SMILES).
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Optional

import numpy as np
from rdkit.Chem import rdFingerprintGenerator

from biomatrix_io.config import ConfigError

from .molecules import as_smiles, canonical, check_notation, kind, parse
from .registry import DISTRIBUTION, Metric

MOSES = "MOSES (molecularsets/moses moses/metrics/metrics.py, molsets 0.3.1)"
GUACAMOL = "GuacaMol (BenevolentAI/guacamol distribution_learning_benchmark.py)"
FCD_VERSION = "fcd_torch 1.0.7"  # pinned in setup.py: see frechet_chemnet_distance
UNIQUE_AT = (1000, 10000)
MORGAN_BITS = 1024
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=MORGAN_BITS)  # == GetMorganFingerprintAsBitVect(m, 2, 1024)
_ROWS = 1024  # rows of the similarity matrix computed at once (1,024 x N float32 temporaries)


def _readings(predictions: list[str], notation: str) -> tuple[list[Optional[str]], Counter]:
    """Each sample's canonical SMILES (None when empty or invalid) and the counts."""
    check_notation(notation)
    counts = Counter(samples=len(predictions), empty=0, invalid=0, valid=0)
    written = []
    for raw in predictions:
        smiles = as_smiles(raw, notation)
        written.append(canonical(smiles))
        counts[kind(smiles, written[-1] is not None)] += 1
    return written, counts


def _valid(predictions: list[str], notation: str) -> tuple[list[str], dict]:
    written, counts = _readings(predictions, notation)
    return [w for w in written if w is not None], dict(counts)


def _need_train(train: Optional[list[str]], metric: str) -> list[str]:
    if not train:
        raise ConfigError(f"{metric} needs the training set: --train FILE (one SMILES per line)", ["train"])
    return train


# MOSES -------------------------------------------------------------------------------------------
def moses_validity(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles") -> dict:
    valid, counts = _valid(predictions, notation)
    return {"value": len(valid) / len(predictions) if predictions else None, "counts": counts}


def moses_uniqueness(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles",
                     k: tuple[int, ...] = UNIQUE_AT) -> dict:
    """unique@k for each k (None when fewer than k samples are valid: molsets then warns and
    divides by the valid ones instead, which `unique_among_valid` shows); value = the last k's."""
    valid, counts = _valid(predictions, notation)
    figures = {f"unique@{n}": len(set(valid[:n])) / n if len(valid) >= n else None for n in k}
    return {"value": figures[f"unique@{k[-1]}"], **figures,
            "unique_among_valid": len(set(valid)) / len(valid) if valid else None,
            "counts": {**counts, "unique": len(set(valid))}}


def moses_novelty(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles") -> dict:
    """Distinct valid canonical samples absent from `train` (compared as written) / distinct valid."""
    valid, counts = _valid(predictions, notation)
    unique = set(valid)
    novel = unique - set(_need_train(train, "novelty"))
    return {"value": len(novel) / len(unique) if unique else None,
            "counts": {**counts, "unique": len(unique), "novel": len(novel), "train": len(train)}}


def morgan_bit_matrix(smiles: list[str]) -> np.ndarray:
    """(n, 1024) uint8 Morgan r=2 bits of valid SMILES, as MOSES's `fingerprints(..., 'morgan')`."""
    matrix = np.zeros((len(smiles), MORGAN_BITS), dtype=np.uint8)
    for row, written in enumerate(smiles):
        matrix[row] = _MORGAN.GetFingerprintAsNumPy(parse(written))
    return matrix


def tanimoto_power_means(bits: np.ndarray, weights: np.ndarray, powers: tuple[int, ...]) -> dict[int, np.ndarray]:
    """For each row i and power p: sum_j w_j T(i, j)^p / sum_j w_j over ALL rows j (i included),
    T the Tanimoto similarity of bit rows (0/0 -> 1, as MOSES). Row chunks of a matrix product:
    never a Python loop over pairs."""
    x = bits.astype(np.float32)
    on = x.sum(axis=1)
    w = weights.astype(np.float64) / weights.sum()
    means = {p: np.empty(len(x)) for p in powers}
    for start in range(0, len(x), _ROWS):
        both = x[start:start + _ROWS] @ x.T
        either = on[start:start + _ROWS, None] + on[None, :] - both
        similarity = np.divide(both, either, out=np.ones_like(both), where=either > 0)
        for p in powers:
            means[p][start:start + _ROWS] = (similarity ** p) @ w
    return means


def _internal_diversity(predictions: list[str], notation: str, per_molecule: bool) -> dict:
    valid, counts = _valid(predictions, notation)
    if not valid:
        return {"value": None, "intdiv1": None, "intdiv2": None, "counts": counts}
    tally = Counter(valid)  # duplicates become weights: one row per distinct molecule
    distinct, weights = list(tally), np.array(list(tally.values()))
    means = tanimoto_power_means(morgan_bit_matrix(distinct), weights, (1, 2))
    share = weights / weights.sum()
    if per_molecule:  # molsets: the 1/p power per generated molecule, then the mean
        figures = {p: 1 - float(share @ means[p] ** (1 / p)) for p in means}
    else:  # the paper: one p-mean over all pairs
        figures = {p: 1 - float(share @ means[p]) ** (1 / p) for p in means}
    return {"value": figures[1], "intdiv1": figures[1], "intdiv2": figures[2], "counts": {**counts, "unique": len(distinct)}}


def moses_internal_diversity(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles") -> dict:
    """IntDiv1 (value) and IntDiv2 as the molsets code computes them."""
    return _internal_diversity(predictions, notation, per_molecule=True)


def moses_paper_internal_diversity(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles") -> dict:
    """IntDiv1 (value) and IntDiv2 as the MOSES paper writes them."""
    return _internal_diversity(predictions, notation, per_molecule=False)


@functools.lru_cache(maxsize=1)
def _chemnet():
    from fcd_torch import FCD  # imported here: it loads torch and ChemNet

    return FCD(device="cpu", n_jobs=1)


def frechet_chemnet_distance(smiles: list[str], reference: list[str]) -> Optional[float]:
    """FCD between two lists of valid SMILES with fcd_torch's ChemNet (weights shipped in its
    wheel, loaded by torch.load, whose default is weights_only since torch 2.6), on CPU; None with
    fewer than 2 molecules on a side.

    Version-sensitive: fcd_torch canonicalizes its input and reads only up to the first `.`; the
    `fcd` package (>= 1.2, also torch) does not canonicalize, so the same raw SMILES give other
    values there (measured here: 3.82 vs 4.44 on one pair of 6-molecule sets, equal once
    canonicalized); fcd 1.1 (Keras, used by MolT5) needs TensorFlow. Hence the pin. fcd_torch
    1.0.7 calls `scipy.linalg.sqrtm(..., disp=False)` and `np.row_stack`, both deprecated (SciPy
    drops `disp` in 1.18): it breaks on the SciPy or NumPy release that removes them."""
    if len(smiles) < 2 or len(reference) < 2:
        return None
    return float(_chemnet()(gen=smiles, ref=reference))


def moses_fcd(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles") -> dict:
    """FCD of the valid canonical samples (duplicates kept) against the reference set given as
    `train` (MOSES: its test split); reference lines RDKit cannot parse are dropped and counted."""
    valid, counts = _valid(predictions, notation)
    reference = [c for c in map(canonical, _need_train(train, "fcd")) if c is not None]
    return {"value": frechet_chemnet_distance(valid, reference), "implementation": FCD_VERSION,
            "counts": {**counts, "reference": len(reference), "bad_reference": len(train) - len(reference)}}


# GuacaMol ----------------------------------------------------------------------------------------
def _asked(predictions: list[str], asked: Optional[int]) -> int:
    asked = len(predictions) if asked is None else asked
    if asked < len(predictions) or asked <= 0:
        raise ConfigError(f"asked={asked}: the number of samples asked for must be positive and at least "
                          f"the {len(predictions)} given", ["asked"])
    return asked


def _stereo_free(predictions: list[str], notation: str) -> tuple[set[str], dict]:
    valid, counts = _valid(predictions, notation)
    return {canonical(v, isomeric=False) for v in valid}, counts


def guacamol_validity(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles",
                      asked: Optional[int] = None) -> dict:
    valid, counts = _valid(predictions, notation)
    n = _asked(predictions, asked)
    return {"value": len(valid) / n, "counts": {**counts, "asked": n}}


def guacamol_uniqueness(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles",
                        asked: Optional[int] = None) -> dict:
    unique, counts = _stereo_free(predictions, notation)
    n = _asked(predictions, asked)
    return {"value": len(unique) / n, "counts": {**counts, "asked": n, "unique": len(unique)}}


def guacamol_novelty(predictions: list[str], train: Optional[list[str]] = None, notation: str = "smiles",
                     asked: Optional[int] = None) -> dict:
    unique, counts = _stereo_free(predictions, notation)
    known = {canonical(t, isomeric=False) for t in _need_train(train, "novelty")} - {None}
    n = _asked(predictions, asked)
    novel = unique - known
    return {"value": len(novel) / n, "counts": {**counts, "asked": n, "unique": len(unique), "novel": len(novel), "train": len(train)}}


_NOTATION = "Option notation='smiles' (default) or 'selfies' (samples decoded with selfies.decoder)."
_ASKED = " Option asked=N: the number of samples asked for (default: the number given)."

METRICS = [
    Metric("generation_validity", "moses", MOSES + " fraction_valid", DISTRIBUTION, moses_validity, default=True,
           description="1 - invalid / N; empty samples are invalid (counted apart). " + _NOTATION),
    Metric("generation_validity", "guacamol", GUACAMOL + " ValidityBenchmark", DISTRIBUTION, guacamol_validity,
           description="Valid non-empty samples / samples asked for. " + _NOTATION + _ASKED),
    Metric("generation_uniqueness", "moses", MOSES + " fraction_unique", DISTRIBUTION, moses_uniqueness, default=True,
           description="unique@1000 and unique@10000 over the first k VALID canonical SMILES / k (value: unique@10000); "
                       "None when fewer than k are valid (molsets' fallback shown as unique_among_valid). "
                       "Option k=(1000, 10000). " + _NOTATION),
    Metric("generation_uniqueness", "guacamol", GUACAMOL + " UniquenessBenchmark", DISTRIBUTION, guacamol_uniqueness,
           description="Distinct stereo-free canonical SMILES of valid samples / samples asked for. " + _NOTATION + _ASKED),
    Metric("generation_novelty", "moses", MOSES + " novelty", DISTRIBUTION, moses_novelty, default=True, needs=("train",),
           description="Distinct valid canonical SMILES not in the training set (as written) / distinct valid. "
                       + _NOTATION),
    Metric("generation_novelty", "guacamol", GUACAMOL + " NoveltyBenchmark", DISTRIBUTION, guacamol_novelty,
           needs=("train",),
           description="Distinct stereo-free canonical SMILES of valid samples not in the (stereo-free canonical) "
                       "training set / samples asked for. " + _NOTATION + _ASKED),
    Metric("internal_diversity", "moses", MOSES + " internal_diversity (code)", DISTRIBUTION, moses_internal_diversity,
           default=True,
           description="IntDiv1 (value) and IntDiv2, Morgan r=2 1024-bit Tanimoto over all pairs of valid samples "
                       "including self pairs; IntDiv2 as molsets computes it (per-molecule 1/p power). " + _NOTATION),
    Metric("internal_diversity", "moses_paper", "MOSES paper (Polykovskiy et al. 2020), IntDiv_p formula",
           DISTRIBUTION, moses_paper_internal_diversity,
           description="IntDiv1 (value) and IntDiv2 = 1 - (mean over all pairs, self pairs included, of T^2)^(1/2). "
                       + _NOTATION),
    Metric("fcd", "moses", MOSES + " FCDMetric, " + FCD_VERSION, DISTRIBUTION, moses_fcd, default=True,
           needs=("train",),
           description="Frechet ChemNet Distance of the valid samples to a REFERENCE set given as --train FILE "
                       "(MOSES: its test split); ChemNet on CPU, tens of molecules per second here. " + _NOTATION),
]
