"""Molecule-output metrics (predicted molecule vs accepted references), each reproducing its named
reference script, plus the SMILES helpers every molecule metric shares (`distribution.py` too).

References (read from their code; ours is written from their definitions, never copied):
- LlaSMol / SMolInstruct (OSU-NLP-Group/LLM4Chem `utils/metrics.py`, `utils/smiles_canonicalization.py`,
  `compute_metrics.py`): `;` -> `.`; every `.`-fragment canonicalized on its own after a rebuild
  that keeps element, charge, bonds and stereo but NOT isotopes, radicals or the explicit hydrogens
  of non-aromatic atoms (its `copy_atom`), atom maps cleared; the molecule's identity is the SET of
  per-fragment standard InChIs as a sorted tuple (fragment order and duplicates do not count);
  gold = every accepted answer; EM over ALL samples; an empty answer is "no answer", an
  unparsable one "invalid", both misses. FTS: MACCS, RDK and Morgan r=2 COUNT fingerprints
  (`GetMorganFingerprint`), each the max over golds, averaged over VALID predictions only.
  Formulas: element counts (order-free, hydrogens included, a charge suffix counted).
- MolT5 / ChEBI-20 (blender-nlp/MolT5 `evaluation/mol_translation_metrics.py`,
  `fingerprint_metrics.py`): InChI of the whole molecule as RDKit parses it (isotopes kept,
  duplicated fragments count), over N. RDKit parses "" as an EMPTY molecule, so an empty answer
  is a valid miss there (validity and FTS count it, with similarity 0).
- BioT5+ (QizhiPei/BioT5 `biot5_plus/metrics/mol_translation_selfies_metrics`): canonical SMILES
  WITHOUT stereo or isotopes, then InChI equality; invalid predictions (and samples whose
  reference is invalid) leave the denominator. This inflates EM: a model that answers 50% of the
  samples correctly and leaves the rest unparsable scores 100%. Shown for comparison only.

Predictions may be SMILES or, with `notation="selfies"`, SELFIES (references likewise): decoded
with `selfies.decoder` before RDKit; one that fails to decode, or decodes to nothing, is invalid.
A prediction wrapped in its notation's wrapper tokens (`<|mol_smi_start|>...<|mol_smi_end|>`) is
unwrapped; otherwise it is used exactly as given (the references do not strip it).
Counts: `samples`, `empty` (""), `invalid` (non-empty, unparsable), `valid`, `bad_references`
(samples none of whose references parses: the reference scripts would crash or skip them).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Callable, Optional

import numpy as np
import selfies
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

from biomatrix_io.config import ConfigError
from megatron_bio.tokenizer.segments import WRAPPERS, Modality

from .registry import PAIRS, Metric

LLASMOL = "LlaSMol / SMolInstruct (OSU-NLP-Group/LLM4Chem utils/metrics.py)"
MOLT5 = "MolT5 / ChEBI-20 (blender-nlp/MolT5 evaluation/)"
BIOT5 = "BioT5+ (QizhiPei/BioT5 biot5_plus/metrics/mol_translation_selfies_metrics)"

NOTATIONS = {"smiles": Modality.SMILES, "selfies": Modality.SELFIES}
EMPTY, INVALID, VALID = "empty", "invalid", "valid"
_CACHE = 1 << 16  # distinct strings remembered per helper: a reference set repeats across samples

_MORGAN_COUNT = rdFingerprintGenerator.GetMorganGenerator(radius=2)  # == AllChem.GetMorganFingerprint(m, 2)
_RDKIT_PATHS = rdFingerprintGenerator.GetRDKitFPGenerator()  # == Chem.RDKFingerprint(m)
FINGERPRINTS: dict[str, Callable[[Chem.Mol], object]] = {
    "maccs": MACCSkeys.GenMACCSKeys,
    "rdk": _RDKIT_PATHS.GetFingerprint,
    "morgan": _MORGAN_COUNT.GetSparseCountFingerprint,
}


# Shared SMILES helpers ---------------------------------------------------------------------------
def check_notation(notation: str) -> None:
    if notation not in NOTATIONS:
        raise ConfigError(f"notation must be one of {', '.join(NOTATIONS)}, not {notation!r}", ["notation"])


def as_smiles(text: str, notation: str = "smiles") -> Optional[str]:
    """The SMILES `text` spells in `notation` (unwrapped from its wrapper tokens when it has both);
    None for a non-empty SELFIES that does not decode, or decodes to nothing."""
    start, end = WRAPPERS[NOTATIONS[notation]]
    body = text.strip()
    if body.startswith(start) and body.endswith(end):
        text = body[len(start):-len(end)].strip()
    if notation == "smiles" or not text:
        return text
    try:
        decoded = selfies.decoder(text)
    except selfies.DecoderError:
        return None
    return decoded or None


def parse(smiles: Optional[str]) -> Optional[Chem.Mol]:
    """RDKit's molecule, or None for an empty or unparsable SMILES (MOSES `get_mol`, GuacaMol
    `is_valid`, LlaSMol: "" is no molecule)."""
    if not smiles:
        return None
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles)


@functools.lru_cache(maxsize=_CACHE)
def canonical(smiles: Optional[str], isomeric: bool = True) -> Optional[str]:
    """RDKit canonical SMILES (stereo and isotopes kept unless `isomeric` is False), None when invalid."""
    mol = parse(smiles)
    return None if mol is None else Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def kind(smiles: Optional[str], accepted: bool) -> str:
    """Which count an answer goes to: EMPTY when there is nothing (after unwrapping), VALID when the
    metric's reading `accepted` it, INVALID otherwise (including an undecodable SELFIES)."""
    return EMPTY if smiles == "" else VALID if accepted else INVALID


def _inchi(mol: Optional[Chem.Mol]) -> Optional[str]:
    """Standard InChI; None when there is no molecule (the references' MolToInchi(None) raises)."""
    if mol is None:
        return None
    with rdBase.BlockLogs():
        return Chem.MolToInchi(mol)


# LlaSMol's canonical form ------------------------------------------------------------------------
def _llasmol_fragment(smiles: str) -> Optional[str]:
    """One fragment as LlaSMol's canonicalization leaves it: atom maps cleared, written, and the
    written SMILES rebuilt from element, formal charge, bonds and stereo only, so isotopes and
    radicals are dropped and every atom takes its default hydrogen count except the aromatic
    atoms the SMILES writes with hydrogens (`[nH]`), and a stereocentre with under three
    neighbours or a non-single bond among three (a sulfoxide's `[S@]`) loses its tag (the
    rdchiral chirality copy it uses skips those); None when it does not parse before or after."""
    mol = parse(smiles)
    if mol is None:
        return None
    for atom in mol.GetAtoms():
        atom.SetAtomMapNum(0)
    with rdBase.BlockLogs():
        rebuilt = Chem.MolFromSmiles(Chem.MolToSmiles(mol), sanitize=False)  # bracket atoms: NoImplicit
        for atom in rebuilt.GetAtoms():
            atom.SetIsotope(0)
            atom.SetNumRadicalElectrons(0)
            if atom.GetDegree() < 3 or (atom.GetDegree() == 3 and any(
                    bond.GetBondType() != Chem.BondType.SINGLE for bond in atom.GetBonds())):
                atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
            if not (atom.GetIsAromatic() and atom.GetNoImplicit()):
                atom.SetNumExplicitHs(0)
                atom.SetNoImplicit(False)
        try:
            Chem.SanitizeMol(rebuilt)
        except Exception:  # RDKit raises several exception types for one bad valence
            return None
        written = Chem.MolToSmiles(rebuilt)
    return written if parse(written) is not None else None


@functools.lru_cache(maxsize=_CACHE)
def llasmol_canonical(smiles: Optional[str]) -> Optional[str]:
    """LlaSMol's canonical molecule: `;` read as `.`, each fragment canonicalized alone, fragments
    sorted; None when the string is empty, has an empty fragment (`C.`, `C..C`) or any fragment
    does not parse."""
    if not smiles:
        return None
    fragments = [_llasmol_fragment(part) if part else None for part in smiles.replace(";", ".").split(".")]
    return None if None in fragments else ".".join(sorted(fragments))


@functools.lru_cache(maxsize=_CACHE)
def llasmol_identity(smiles: Optional[str]) -> Optional[tuple[str, ...]]:
    """The sorted SET of the fragments' standard InChIs of LlaSMol's canonical molecule."""
    written = llasmol_canonical(smiles)
    if written is None:
        return None
    return tuple(sorted({_inchi(parse(part)) for part in written.split(".")}))


@functools.lru_cache(maxsize=_CACHE)
def whole_inchi(smiles: Optional[str]) -> Optional[str]:
    """MolT5: the InChI of the molecule exactly as RDKit parses it ("" parses to an empty
    molecule, whose InChI is ""); None when it does not parse."""
    if smiles is None:
        return None
    with rdBase.BlockLogs():
        return _inchi(Chem.MolFromSmiles(smiles))


@functools.lru_cache(maxsize=_CACHE)
def stereo_free_inchi(smiles: Optional[str]) -> Optional[str]:
    """BioT5+: the InChI of the canonical SMILES written without stereo or isotopes."""
    if smiles is None:
        return None
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
        return None if mol is None else whole_inchi(Chem.MolToSmiles(mol, isomericSmiles=False))


# Exact match ------------------------------------------------------------------------------------
def _prepared(predictions: list[str], references: list[list[str]], notation: str) -> tuple[list, list]:
    check_notation(notation)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} reference lists")
    return [as_smiles(p, notation) for p in predictions], [[as_smiles(r, notation) for r in refs] for refs in references]


def _exact_match(identity: Callable[[Optional[str]], object], predictions: list[str], references: list[list[str]],
                 notation: str, valid_only: bool) -> dict:
    smiles, golds = _prepared(predictions, references, notation)
    counts = Counter(samples=len(predictions), empty=0, invalid=0, valid=0, bad_references=0, matches=0)
    denominator = 0
    for pred, refs in zip(smiles, golds):
        pred_id = identity(pred)
        counts[kind(pred, pred_id is not None)] += 1
        ref_ids = {identity(ref) for ref in refs} - {None}
        counts["bad_references"] += not ref_ids
        if valid_only and (pred_id is None or not ref_ids):
            continue
        denominator += 1
        counts["matches"] += pred_id is not None and pred_id in ref_ids
    matches = counts.pop("matches")
    value = matches / denominator if denominator else None
    return {"value": value, "matches": matches, "denominator": denominator, "counts": dict(counts)}


def llasmol_exact_match(predictions: list[str], references: list[list[str]], notation: str = "smiles") -> dict:
    """LlaSMol: the set of per-fragment InChIs equals any reference's; denominator all samples."""
    return _exact_match(llasmol_identity, predictions, references, notation, valid_only=False)


def molt5_exact_match(predictions: list[str], references: list[list[str]], notation: str = "smiles") -> dict:
    """MolT5: whole-molecule InChI equality (any reference); denominator all samples."""
    return _exact_match(whole_inchi, predictions, references, notation, valid_only=False)


def biot5_exact_match(predictions: list[str], references: list[list[str]], notation: str = "smiles") -> dict:
    """BioT5+: stereo-free InChI equality over the samples whose prediction and reference parse
    (an empty answer parses in RDKit, so it stays in the denominator as a miss)."""
    return _exact_match(stereo_free_inchi, predictions, references, notation, valid_only=True)


# Validity ---------------------------------------------------------------------------------------
def _validity(predictions: list[str], notation: str, read: Callable[[Optional[str]], Optional[str]],
              empty_is_molecule: bool) -> dict:
    check_notation(notation)
    counts = Counter(samples=len(predictions), empty=0, invalid=0, valid=0)
    for raw in predictions:
        smiles = as_smiles(raw, notation)
        counts[kind(smiles, smiles is not None and read(smiles) is not None)] += 1
    accepted = counts[VALID] + (counts[EMPTY] if empty_is_molecule else 0)
    return {"value": accepted / len(predictions) if predictions else None, "counts": dict(counts)}


def llasmol_validity(predictions: list[str], references: Optional[list[list[str]]] = None, notation: str = "smiles") -> dict:
    """LlaSMol: valid when its canonicalization succeeds; "" (no answer) and unparsable answers
    are both not valid, counted apart; over all samples."""
    return _validity(predictions, notation, llasmol_canonical, empty_is_molecule=False)


def molt5_validity(predictions: list[str], references: Optional[list[list[str]]] = None, notation: str = "smiles") -> dict:
    """MolT5: valid when RDKit parses it, and RDKit parses "" as an empty molecule: an empty
    answer counts as valid in the value (it is still shown in `empty`)."""
    return _validity(predictions, notation, whole_inchi, empty_is_molecule=True)


# Fingerprint similarity -------------------------------------------------------------------------
@functools.lru_cache(maxsize=_CACHE)
def fingerprints(smiles: str) -> Optional[dict]:
    """MACCS, RDK and Morgan r=2 count fingerprints of RDKit's reading of `smiles` (None if invalid)."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else {name: make(mol) for name, make in FINGERPRINTS.items()}


def _similarity(predictions: list[str], references: list[list[str]], notation: str,
                form: Callable[[Optional[str]], Optional[str]], empty_is_molecule: bool) -> dict:
    smiles, golds = _prepared(predictions, references, notation)
    counts = Counter(samples=len(predictions), empty=0, invalid=0, valid=0, bad_references=0)
    best: dict[str, list[float]] = {name: [] for name in FINGERPRINTS}
    for pred, refs in zip(smiles, golds):
        written = pred if (pred == "" and empty_is_molecule) else form(pred)
        pred_fps = fingerprints(written) if written is not None else None
        counts[kind(pred, pred_fps is not None)] += 1
        ref_fps = [fps for fps in (fingerprints(w) for w in map(form, refs) if w is not None) if fps is not None]
        counts["bad_references"] += not ref_fps
        if pred_fps is None or not ref_fps:
            continue
        for name in FINGERPRINTS:
            best[name].append(max(DataStructs.BulkTanimotoSimilarity(pred_fps[name], [f[name] for f in ref_fps])))
    figures = {name: float(np.mean(values)) if values else None for name, values in best.items()}
    return {"value": figures["morgan"], **figures, "scored": len(best["morgan"]), "counts": dict(counts)}


def llasmol_similarity(predictions: list[str], references: list[list[str]], notation: str = "smiles") -> dict:
    """LlaSMol FTS on its canonical molecules, max over references, mean over valid predictions."""
    return _similarity(predictions, references, notation, llasmol_canonical, empty_is_molecule=False)


def molt5_similarity(predictions: list[str], references: list[list[str]], notation: str = "smiles") -> dict:
    """MolT5 FTS on RDKit's reading as given; an empty answer is an empty molecule (similarity 0)."""
    return _similarity(predictions, references, notation, lambda s: s, empty_is_molecule=True)


# Formula element match --------------------------------------------------------------------------
_FORMULA = re.compile(r"(?:[A-Za-z]\d*)+(?:[+-]\d*)*$")  # what LlaSMol accepts as a formula at all
_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*)")
_CHARGE = re.compile(r"[+-]\d*")


def element_counts(formula: str) -> Optional[dict[str, int]]:
    """LlaSMol's reading of a formula: element -> count (repeated elements summed: `CH3CH3` is
    C2H6), read from the start up to the first character that does not begin an element, plus the
    first charge sign with its count (`+`/`-` -> n); None when it is not formula-shaped."""
    if not _FORMULA.match(formula):
        return None
    counts: dict[str, int] = {}
    position = 0
    while (token := _ELEMENT.match(formula, position)) is not None:
        counts[token.group(1)] = counts.get(token.group(1), 0) + int(token.group(2) or 1)
        position = token.end()
    charge = _CHARGE.search(formula)
    if charge is not None:
        counts[charge.group()[0]] = int(charge.group()[1:] or 1)
    return counts


def formula_element_match(predictions: list[str], references: list[list[str]]) -> dict:
    """LlaSMol I2F/S2F: the prediction's element counts equal any reference's (references
    stripped, the prediction as given); "" is no answer, a non-formula invalid; over all samples."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} reference lists")
    counts = Counter(samples=len(predictions), empty=0, invalid=0, valid=0, bad_references=0)
    matches = 0
    for raw, refs in zip(predictions, references):
        pred = element_counts(raw) if raw else None
        counts[kind(raw, pred is not None)] += 1
        golds = [g for g in (element_counts(r.strip()) for r in refs) if g is not None]
        counts["bad_references"] += not golds
        matches += pred is not None and pred in golds
    return {"value": matches / len(predictions) if predictions else None, "matches": matches, "counts": dict(counts)}


_NOTATION = "Option notation='smiles' (default) or 'selfies' (predictions and references decoded with selfies.decoder)."

METRICS = [
    Metric("molecule_exact_match", "llasmol", LLASMOL + " judge_exact_match", PAIRS, llasmol_exact_match, default=True,
           description="Set of per-fragment standard InChIs (';' -> '.', atom maps, isotopes and radicals dropped, "
                       "stereo kept) equal to any reference's; over all samples, empty and invalid answers are misses. "
                       + _NOTATION),
    Metric("molecule_exact_match", "molt5", MOLT5 + " mol_translation_metrics.py", PAIRS, molt5_exact_match,
           description="Whole-molecule standard InChI equality (isotopes, stereo and duplicated fragments count); "
                       "over all samples. " + _NOTATION),
    Metric("molecule_exact_match", "biot5", BIOT5, PAIRS, biot5_exact_match,
           description="InChI of the stereo- and isotope-free canonical SMILES; invalid predictions leave the "
                       "denominator, which INFLATES the figure (shown for comparison only). " + _NOTATION),
    Metric("molecule_validity", "llasmol", LLASMOL + " calculate_smiles_metrics", PAIRS, llasmol_validity, default=True,
           description="Share of answers LlaSMol's canonicalization accepts; empty answers are not valid and are "
                       "counted apart. " + _NOTATION),
    Metric("molecule_validity", "molt5", MOLT5 + " fingerprint_metrics.py", PAIRS, molt5_validity,
           description="Share of answers RDKit parses; RDKit reads an empty answer as an empty molecule, so it "
                       "counts as valid here. " + _NOTATION),
    Metric("molecule_fingerprint_similarity", "llasmol", LLASMOL + " calculate_fingerprint_similarity", PAIRS,
           llasmol_similarity, default=True,
           description="MACCS, RDK and Morgan r=2 count-fingerprint Tanimoto (value = Morgan), max over references, "
                       "mean over VALID predictions (`scored`), on LlaSMol's canonical molecules. " + _NOTATION),
    Metric("molecule_fingerprint_similarity", "molt5", MOLT5 + " fingerprint_metrics.py", PAIRS, molt5_similarity,
           description="MACCS, RDK and Morgan r=2 count-fingerprint Tanimoto (value = Morgan), max over references, "
                       "mean over predictions RDKit parses (an empty answer scores 0). " + _NOTATION),
    Metric("formula_element_match", "llasmol", LLASMOL + " count_element_match", PAIRS, formula_element_match,
           default=True,
           description="I2F/S2F: element counts (hydrogens and a charge suffix included, order-free) equal to any "
                       "reference's; over all samples, empty and non-formula answers are misses."),
]
