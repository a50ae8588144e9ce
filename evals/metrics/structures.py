"""Structure metrics, scored after decoding model outputs with the project's own structure
tokenizers (`megatron_bio.structure`), each reproducing its named reference:

- DPLM-2 (bytedance/dplm: `src/byprot/utils/protein/utils.py` process_folded_outputs and
  calc_tm_score, `evaluator_dplm2.py`): folding TM-score and backbone RMSD, inverse-folding AAR.
- EDM (Hoogeboom et al. 2022, e3_diffusion_for_molecules: `qm9/analyze.py` check_stability,
  `qm9/rdkit_functions.py` build_molecule and BasicMolecularMetrics): QM9 atom and molecule
  stability, validity, uniqueness, novelty.
- Metrics that need a model this machine cannot have (ESMFold, ProteinMPNN, EDM's EGNN property
  classifier) are listed with `comparable=False` and a named stand-in that runs here.

Predictions
- protein structure: `<S_k>` tokens, optionally wrapped in `<|prot_3d_start|>...<|prot_3d_end|>`,
  whitespace ignored; decoded by the protein structure tokenizer named by the `tokenizer` option
  (default `torsion`, `megatron_bio.structure.protein.codec`) to an N/CA/C backbone.
- residue sequence: one-letter codes (`MKV...`) or `<A_X>` tokens, optionally wrapped in
  `<|prot_aa_start|>...<|prot_aa_end|>`, whitespace ignored; upper case only.
- molecule 3D: `[SYMBOL CODE]` tokens, optionally wrapped in `<|mol_3d_start|>...<|mol_3d_end|>`,
  decoded by the molecule structure tokenizer named by `checkpoint` (default `released`, the tokens
  BioMatrix was trained on); or, with `notation="xyz"`, an XYZ block (atom count, comment line,
  `El x y z` lines in angstroms), e.g. another generator's output.
Anything else is counted as `invalid`, a blank answer as `empty`; neither is ever dropped silently.

Protein references: a `<S_k>` string (decoded like the prediction), or a real structure, written
`path/to/file.pdb[.gz]:CHAIN` (PDB, mmCIF or BinaryCIF, gzipped or not; `:CHAIN` may be left out
when the file holds one protein chain), read by `biomatrix_io.readers.chains` (first model,
observed residues, NaN for atoms missing from the file). A relative path is taken from the
`structure_root` option (default: the working directory). A reference that cannot be read is the
caller's mistake: ConfigError. For AAR the reference is a sequence (letters, `<A_X>` tokens, or a
structure file's chain, whose residue letters are used).

Several references per sample: each is scored and the best kept (highest TM or AAR, lowest RMSD),
right-length ones first.

EDM's QM9 bond table (typical lengths of single/double/triple bonds between H, C, N, O, F, margins
10/5/3 pm) and valences are `megatron_bio.structure.molecule.evaluate`'s (`stable_atoms`,
`bond_order`), which the tokenizer's own evaluation uses: the same numbers as EDM's published
tables, in angstroms (1.54 + 0.10 instead of 154 + 10 pm: equal but at exact float ties).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from biomatrix_io.config import ConfigError
from megatron_bio.structure.geometry import kabsch_rmsd
from megatron_bio.structure.molecule.evaluate import VALENCE, bond_order, stable_atoms
from megatron_bio.tokenizer.segments import WRAPPERS, Modality

from .registry import DISTRIBUTION, PAIRS, Metric

CA = 1  # atom index in an N/CA/C backbone
EMPTY, INVALID, LENGTH_MISMATCH, TOO_SHORT = "empty", "invalid", "length_mismatch", "too_short"
TM_ALIGN_MIN = 3  # residues TM-align needs in each chain
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif")
STANDARD_RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWY")

_STRUCTURE_TOKEN = re.compile(r"<S_(\d+)>")
_RESIDUE_TOKEN = re.compile(r"<A_([A-Z])>")
_LETTERS = re.compile(r"[A-Z]+")


class Unscorable(ValueError):
    """A prediction that cannot be scored; `problem` is the count it goes to."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def _mean(values: Sequence[float]) -> Optional[float]:
    return float(np.mean(values)) if len(values) else None


def _body(text: str, modality: Modality, squeeze: bool) -> str:
    """`text` without surrounding whitespace and its modality's wrapper tokens (when both are
    there); with `squeeze`, without any whitespace."""
    start, end = WRAPPERS[modality]
    body = text.strip()
    if body.startswith(start) and body.endswith(end):
        body = body[len(start):len(body) - len(end)].strip()
    if not body:
        raise Unscorable(EMPTY)
    return "".join(body.split()) if squeeze else body


# Parsing ----------------------------------------------------------------------------------------
def structure_codes(text: str) -> np.ndarray:
    """The codes of a `<S_k>` string; Unscorable when it is blank or holds anything else."""
    body = _body(text, Modality.PROTEIN_3D, squeeze=True)
    if _STRUCTURE_TOKEN.sub("", body):
        raise Unscorable(INVALID)
    return np.array([int(code) for code in _STRUCTURE_TOKEN.findall(body)])


def residue_letters(text: str) -> str:
    """The one-letter sequence of plain letters or `<A_X>` tokens; Unscorable otherwise."""
    body = _body(text, Modality.PROTEIN, squeeze=True)
    if _LETTERS.fullmatch(body):
        return body
    if not _RESIDUE_TOKEN.sub("", body):
        return "".join(_RESIDUE_TOKEN.findall(body))
    raise Unscorable(INVALID)


@functools.lru_cache(maxsize=4)
def protein_codec(name: str):
    from megatron_bio.structure.protein.codec import load

    return load(name)


def decoded_backbone(text: str, tokenizer: str) -> np.ndarray:
    """(residues, 3, 3) N/CA/C of a `<S_k>` prediction; Unscorable for codes outside the codebook."""
    codec = protein_codec(tokenizer)
    codes = structure_codes(text)
    if codes.max() >= codec.size:
        raise Unscorable(INVALID)
    return codec.decode(codes)


# References -------------------------------------------------------------------------------------
def _structure_path(text: str) -> bool:
    return text.lower().removesuffix(".gz").endswith(STRUCTURE_SUFFIXES)


def _file_reference(text: str) -> Optional[tuple[str, Optional[str]]]:
    """(path, chain or None) of a `path[:CHAIN]` reference; None when it names no structure file."""
    text = text.strip()
    path, colon, chain = text.rpartition(":")
    if colon and _structure_path(path):
        return path, chain
    return (text, None) if _structure_path(text) else None


@functools.lru_cache(maxsize=64)
def _chains(path: str) -> dict:
    """Chain id -> (sequence, backbone) or the reason the chain is unusable, for every chain of the
    file. Any chain with an amino-acid residue is accepted: a reference is scored as it is."""
    from biomatrix_io.readers.chains import ChainFilter, read_chains

    everything = ChainFilter(min_residues=1, max_missing_backbone=1.0, max_gap=10 ** 9)
    try:
        reads = list(read_chains(path, everything))
    except FileNotFoundError:
        raise ConfigError(f"reference structure {path}: no such file", ["references"]) from None
    chains = {}
    for read in reads:
        if read.provenance.location == "file":
            raise ConfigError(f"reference structure {path}: {read.reason}", ["references"])
        chain_id = read.provenance.location.rpartition(" chain ")[2]
        chains[chain_id] = ((read.sequence, np.asarray(read.backbone, dtype=np.float64))
                            if hasattr(read, "backbone") else read.reason)
    return chains


def reference_chain(path: str, chain: Optional[str], root: Optional[str]) -> tuple[str, np.ndarray]:
    """(sequence, (residues, 3, 3) backbone with NaN for missing atoms) of a file's chain."""
    full = str(Path(root, path) if root else Path(path))
    chains = _chains(full)
    usable = [c for c, value in chains.items() if isinstance(value, tuple)]
    if chain is None:
        if len(usable) != 1:
            raise ConfigError(f"reference {path}: name the chain as {path}:CHAIN (protein chains: "
                              f"{', '.join(usable) or 'none'})", ["references"])
        chain = usable[0]
    found = chains.get(chain)
    if found is None:
        raise ConfigError(f"reference {path}: no chain {chain!r} (protein chains: {', '.join(usable) or 'none'})",
                          ["references"])
    if isinstance(found, str):
        raise ConfigError(f"reference {path}:{chain}: {found}", ["references"])
    return found


def reference_backbone(text: str, tokenizer: str, root: Optional[str]) -> np.ndarray:
    spec = _file_reference(text)
    if spec:
        return reference_chain(*spec, root)[1]
    try:
        return decoded_backbone(text, tokenizer)
    except Unscorable:
        raise ConfigError(f"reference {text[:60]!r} is neither <S_k> structure tokens nor a structure file "
                          "path[:CHAIN]", ["references"]) from None


def reference_sequence(text: str, root: Optional[str]) -> str:
    spec = _file_reference(text)
    if spec:
        return reference_chain(*spec, root)[0]
    try:
        return residue_letters(text)
    except Unscorable:
        raise ConfigError(f"reference {text[:60]!r} is neither a residue sequence nor a structure file "
                          "path[:CHAIN]", ["references"]) from None


# Protein pairs ----------------------------------------------------------------------------------
Outcome = tuple[Optional[float], Optional[str]]  # (score or None, problem or None)


def _tm_align(model_ca: np.ndarray, reference_ca: np.ndarray, problem: Optional[str]) -> Outcome:
    """TM-align's own alignment (no residue pairing imposed), normalized by the reference (chain 2).
    TM-align needs 3 residues a chain: a shorter prediction scores 0 (counted), a shorter reference
    is the caller's mistake."""
    from tmtools import tm_align

    if len(reference_ca) < TM_ALIGN_MIN:
        raise ConfigError(f"reference with {len(reference_ca)} residues: TM-align needs {TM_ALIGN_MIN}", ["references"])
    if len(model_ca) < TM_ALIGN_MIN:
        return 0.0, TOO_SHORT
    model_ca = np.ascontiguousarray(model_ca, dtype=np.float64)
    reference_ca = np.ascontiguousarray(reference_ca, dtype=np.float64)
    return float(tm_align(model_ca, reference_ca, "A" * len(model_ca), "A" * len(reference_ca)).tm_norm_chain2), problem


def _ca_present(reference: np.ndarray) -> np.ndarray:
    return ~np.isnan(reference[:, CA]).any(axis=-1)


def tm_standard(model: np.ndarray, reference: np.ndarray) -> Outcome:
    """TM-align on CA atoms, normalized by the reference chain (DPLM-2's intent), over the residues
    whose reference CA is present. A prediction of the wrong length is still aligned (TM-align
    needs no residue pairing; normalizing by the reference keeps a short one from scoring high),
    and counted."""
    present = _ca_present(reference)
    if len(model) != len(reference):
        return _tm_align(model[:, CA], reference[present, CA], LENGTH_MISMATCH)
    return _tm_align(model[present, CA], reference[present, CA], None)


def tm_dplm2(model: np.ndarray, reference: np.ndarray) -> Outcome:
    """DPLM-2's call, bug included: it hands tmtools (L, 3, 3) N/CA/C arrays with an "A" * L
    sequence, and tmtools reads the first L rows of the flattened (3L, 3) atoms (N, CA, C of the
    first L/3 residues) as if they were L CA atoms, normalized by chain 2 (the reference). Atoms
    missing from the reference sit at the origin, as in DPLM-2's atom37 arrays. DPLM-2 indexes both
    chains with one residue mask, so a wrong-length prediction cannot be scored: 0, counted."""
    if len(model) != len(reference):
        return 0.0, LENGTH_MISMATCH
    present = _ca_present(reference)
    count = int(present.sum())
    model_atoms = model[present].reshape(-1, 3)[:count]
    reference_atoms = np.nan_to_num(reference[present], nan=0.0).reshape(-1, 3)[:count]
    return _tm_align(model_atoms, reference_atoms, None)


def backbone_rmsd(model: np.ndarray, reference: np.ndarray) -> Outcome:
    """Kabsch RMSD over N, CA and C of the residues whose reference CA is present (DPLM-2's mask).
    An N or C missing under a present CA is left out (DPLM-2 would count it at the origin). No
    residue pairing exists for a wrong-length prediction: no score, counted."""
    if len(model) != len(reference):
        return None, LENGTH_MISMATCH
    atoms = (_ca_present(reference)[:, None] & ~np.isnan(reference).any(axis=-1)).reshape(-1)
    return kabsch_rmsd(model.reshape(-1, 3)[atoms], reference.reshape(-1, 3)[atoms]), None


def _best(outcomes: list[Outcome], higher_is_better: bool) -> Outcome:
    """The best outcome over a sample's references, right-length ones first."""
    sign = 1.0 if higher_is_better else -1.0
    return max(outcomes, key=lambda o: (o[1] is None, o[0] is not None, sign * (o[0] or 0.0)))


def _summary(outcomes: list[Outcome], worst: Optional[float]) -> dict:
    """`value`: mean over all samples, unscored ones at `worst` (when the metric has a worst value)
    or left out (when it has none: RMSD); `right_length_mean`: mean over the samples of the right
    length only (what DPLM-2, which keeps only right-length samples, averages)."""
    problems = Counter(problem for _, problem in outcomes if problem)
    right = [score for score, problem in outcomes if problem is None]
    if worst is None:
        values = [score for score, _ in outcomes if score is not None]
    else:
        values = [worst if score is None else score for score, _ in outcomes]
    return {"value": _mean(values), "right_length_mean": _mean(right),
            "counts": {"samples": len(outcomes), "scored": sum(score is not None for score, _ in outcomes),
                       **{key: problems[key] for key in (EMPTY, INVALID, LENGTH_MISMATCH)},
                       **({TOO_SHORT: problems[TOO_SHORT]} if problems[TOO_SHORT] else {})}}


def _structure_pairs(measure: Callable[[np.ndarray, np.ndarray], Outcome], higher_is_better: bool,
                     worst: Optional[float]):
    def score(predictions: list[str], references: list[list[str]], tokenizer: str = "torsion",
              structure_root: Optional[str] = None) -> dict:
        outcomes = []
        for prediction, refs in zip(predictions, references, strict=True):
            try:
                model = decoded_backbone(prediction, tokenizer)
            except Unscorable as unscorable:
                outcomes.append((None, unscorable.problem))
                continue
            outcomes.append(_best([measure(model, reference_backbone(r, tokenizer, structure_root)) for r in refs],
                                  higher_is_better))
        return _summary(outcomes, worst)

    score.__doc__ = measure.__doc__
    return score


def _identity(predicted: str, reference: str) -> Outcome:
    if len(predicted) != len(reference):
        return None, LENGTH_MISMATCH
    same = np.frombuffer(predicted.encode(), np.uint8) == np.frombuffer(reference.encode(), np.uint8)
    return float(same.mean()), None


def amino_acid_recovery(predictions: list[str], references: list[list[str]],
                        structure_root: Optional[str] = None) -> dict:
    """AAR (DPLM-2 inverse folding): per protein, the fraction of positions where the predicted
    residue equals the true one (`X` equals `X`, as DPLM-2's residue indices do), averaged over
    proteins. Equal length is required: DPLM-2's model cannot produce another length (its
    elementwise comparison would fail) and the BioMatrix protocol redraws until the length is right.
    Here a wrong-length prediction scores 0 in `value` and is counted; `right_length_mean` leaves
    it out."""
    outcomes = []
    for prediction, refs in zip(predictions, references, strict=True):
        try:
            predicted = residue_letters(prediction)
        except Unscorable as unscorable:
            outcomes.append((None, unscorable.problem))
            continue
        outcomes.append(_best([_identity(predicted, reference_sequence(r, structure_root)) for r in refs], True))
    return _summary(outcomes, worst=0.0)


# Protein stand-ins ------------------------------------------------------------------------------
CA_CA = 3.80209737096  # ideal consecutive CA-CA distance (AlphaFold/OpenFold residue_constants.ca_ca)


def ca_geometry(ca: np.ndarray, bond_tolerance: float = 0.1, clash_tolerance: float = 1.0) -> dict:
    """MultiFlow/FrameFlow `calc_ca_ca_metrics`: mean |consecutive CA-CA - 3.80 A|, the fraction of
    consecutive CA-CA distances under 3.80 + 0.1 A, and the CA pairs closer than 1.0 A."""
    steps = np.linalg.norm(np.diff(ca, axis=0), axis=-1)
    distances = np.linalg.norm(ca[:, None] - ca[None], axis=-1)[np.triu_indices(len(ca), k=1)]
    return {"ca_ca_deviation": float(np.mean(np.abs(steps - CA_CA))) if len(steps) else 0.0,
            "ca_ca_valid": float(np.mean(steps < CA_CA + bond_tolerance)) if len(steps) else 1.0,
            "clashes": int(np.sum(distances < clash_tolerance))}


def backbone_geometry(predictions: list[str], train: Optional[list[str]] = None, tokenizer: str = "torsion") -> dict:
    """Stand-in for scTM / scRMSD: geometry validity of the decoded backbones (MultiFlow's CA-CA
    metrics). `value` = fraction of all samples that decode to a backbone without CA-CA clash and
    with every consecutive CA-CA distance valid."""
    counts, figures, good = Counter(), [], 0
    for prediction in predictions:
        try:
            model = decoded_backbone(prediction, tokenizer)
        except Unscorable as unscorable:
            counts[unscorable.problem] += 1
            continue
        geometry = ca_geometry(model[:, CA])
        figures.append(geometry)
        good += geometry["clashes"] == 0 and geometry["ca_ca_valid"] == 1.0
    mean = lambda key: _mean([f[key] for f in figures])
    return {"value": good / len(predictions) if predictions else None, "ca_ca_deviation": mean("ca_ca_deviation"),
            "ca_ca_valid": mean("ca_ca_valid"), "clashes_per_backbone": mean("clashes"),
            "counts": {"samples": len(predictions), "decoded": len(figures),
                       EMPTY: counts[EMPTY], INVALID: counts[INVALID]}}


def sequence_sanity(predictions: list[str], train: Optional[list[str]] = None) -> dict:
    """Stand-in for ESMFold pLDDT: `value` = fraction of samples that are sequences of the 20
    standard residues; `uniqueness` = distinct / such sequences; `distinct_3mers` = mean fraction of
    distinct 3-mers per sequence (low for the repetitive, low-complexity sequences ESMFold folds
    with low confidence)."""
    counts, sequences = Counter(), []
    for prediction in predictions:
        try:
            letters = residue_letters(prediction)
        except Unscorable as unscorable:
            counts[unscorable.problem] += 1
            continue
        if set(letters) <= STANDARD_RESIDUES:
            sequences.append(letters)
        else:
            counts["non_standard"] += 1
    ratios = [len({s[i:i + 3] for i in range(len(s) - 2)}) / (len(s) - 2) for s in sequences if len(s) >= 3]
    return {"value": len(sequences) / len(predictions) if predictions else None,
            "uniqueness": len(set(sequences)) / len(sequences) if sequences else None,
            "distinct_3mers": _mean(ratios),
            "counts": {"samples": len(predictions), "standard": len(sequences), EMPTY: counts[EMPTY],
                       INVALID: counts[INVALID], "non_standard": counts["non_standard"]}}


# Molecules 3D -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Molecule3D:
    elements: tuple[str, ...]
    xyz: np.ndarray  # (atoms, 3) angstroms
    mol: object  # the RDKit molecule the tokens describe (bonds from the SELFIES); None for XYZ input


@functools.lru_cache(maxsize=2)
def molecule_codec(checkpoint: str):
    from megatron_bio.structure.molecule.config import MoleculeStructureConfig

    return MoleculeStructureConfig(checkpoint=checkpoint).tokenizer()


def _molecule(mol) -> Molecule3D:
    return Molecule3D(tuple(atom.GetSymbol() for atom in mol.GetAtoms()), mol.GetConformer().GetPositions(), mol)


def _from_xyz(text: str):
    from rdkit import Chem

    if not text.strip():
        return EMPTY
    mol = Chem.MolFromXYZBlock(text.strip() + "\n")
    if mol is None or mol.GetNumAtoms() == 0:
        return INVALID
    return Molecule3D(tuple(atom.GetSymbol() for atom in mol.GetAtoms()), mol.GetConformer().GetPositions(), None)


def decoded_molecules(predictions: list[str], notation: str = "tokens", checkpoint: str = "released") -> list:
    """Per prediction, a Molecule3D or the problem ("empty", "invalid")."""
    from rdkit import RDLogger

    from megatron_bio.structure.molecule.errors import StructureTokenError

    RDLogger.DisableLog("rdApp.*")
    if notation == "xyz":
        return [_from_xyz(p) for p in predictions]
    if notation != "tokens":
        raise ConfigError(f"notation {notation!r}: molecule 3D predictions are 'tokens' or 'xyz'", ["notation"])
    found: list = [EMPTY] * len(predictions)
    bodies = {}
    for k, prediction in enumerate(predictions):
        try:
            bodies[k] = _body(prediction, Modality.MOLECULE_3D, squeeze=False)
        except Unscorable:
            pass
    decoded = molecule_codec(checkpoint).decode_many(list(bodies.values()), wheres=[f"prediction {k}" for k in bodies])
    for k, mol in zip(bodies, decoded):
        found[k] = INVALID if isinstance(mol, StructureTokenError) else _molecule(mol)
    return found


def relaxed(molecule: Molecule3D) -> tuple[Molecule3D, Optional[str]]:
    """The molecule after one MMFF94 optimization (the released MolStrucTok pipeline's refinement,
    `with_conformer(refine=True)`), or as it is with the reason when MMFF cannot run."""
    from megatron_bio.structure.molecule.codec import with_conformer

    try:
        result = with_conformer(molecule.mol, molecule.xyz, refine=True)
    except (ValueError, RuntimeError):  # RDKit sanitization errors
        return molecule, "mmff_failed"
    if result.GetProp("refinement") != "mmff":
        return molecule, "mmff_not_applied"
    return _molecule(result), None


def _stability(predictions: list[str], mmff: bool, notation: str, checkpoint: str) -> dict:
    if mmff and notation != "tokens":
        raise ConfigError("MMFF relaxation needs the bonds the molecule-3D tokens carry: notation must be 'tokens'",
                          ["notation"])
    molecules = decoded_molecules(predictions, notation, checkpoint)
    counts = Counter(m for m in molecules if isinstance(m, str))
    atoms = stable = stable_molecules = 0
    for molecule in molecules:
        if isinstance(molecule, str):
            continue
        if mmff:
            molecule, problem = relaxed(molecule)
            if problem:
                counts[problem] += 1
        per_atom = stable_atoms(molecule.elements, molecule.xyz)
        atoms += len(molecule.elements)
        if per_atom is None:
            counts["outside_qm9_elements"] += 1
            continue
        stable += int(per_atom.sum())
        stable_molecules += bool(per_atom.all())
    keys = (EMPTY, INVALID, "outside_qm9_elements") + (("mmff_failed", "mmff_not_applied") if mmff else ())
    return {"value": stable / atoms if atoms else None, "atom_stability": stable / atoms if atoms else None,
            "molecule_stability": stable_molecules / len(predictions) if predictions else None,
            "counts": {"samples": len(predictions), "atoms": atoms, **{k: counts[k] for k in keys}}}


def edm_stability(predictions: list[str], train: Optional[list[str]] = None, notation: str = "tokens",
                  checkpoint: str = "released") -> dict:
    """EDM's QM9 stability of the decoded geometry, as decoded: bond orders from interatomic
    distances (EDM's typical bond lengths plus margins of 10/5/3 pm for single/double/triple),
    an atom is stable when its summed bond order equals its valence (H 1, C 4, N 3, O 2, F 1),
    hydrogens explicit; a molecule is stable when all its atoms are. `value` = atom stability
    (stable atoms / atoms of decoded molecules); `molecule_stability` over all samples (EDM divides
    by the samples drawn), undecodable ones unstable. A molecule with an element outside QM9's five
    has no EDM bond table: unstable, its atoms unstable, counted."""
    return _stability(predictions, False, notation, checkpoint)


def edm_stability_mmff(predictions: list[str], train: Optional[list[str]] = None, notation: str = "tokens",
                       checkpoint: str = "released") -> dict:
    """`edm_stability` after one MMFF94 optimization of each decoded molecule (RDKit; the released
    pipeline's refinement); molecules MMFF cannot handle are scored as decoded and counted. Only
    token input: MMFF needs the bonds the tokens carry."""
    return _stability(predictions, True, notation, checkpoint)


def edm_smiles(molecule: Molecule3D) -> Optional[str]:
    """EDM's validity test: bonds from distances by the same tables, plain RDKit atoms, sanitized;
    the SMILES of the largest fragment (explicit hydrogens kept as atoms), None when sanitization
    fails. Elements outside QM9's five have no bond table: None."""
    from rdkit import Chem

    if any(e not in VALENCE for e in molecule.elements):
        return None
    bond_types = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for element in molecule.elements:
        mol.AddAtom(Chem.Atom(element))
    distance = np.linalg.norm(molecule.xyz[:, None] - molecule.xyz[None], axis=-1)
    for i in range(len(molecule.elements)):
        for j in range(i):
            order = bond_order(molecule.elements[i], molecule.elements[j], distance[i, j])
            if order:
                mol.AddBond(i, j, bond_types[order])
    try:
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError):  # RDKit's sanitization exceptions
        return None
    largest = max(Chem.GetMolFrags(mol, asMols=True), key=lambda fragment: fragment.GetNumAtoms())
    return Chem.MolToSmiles(largest)


def _valid_smiles(predictions: list[str], notation: str, checkpoint: str) -> tuple[list[str], Counter]:
    counts = Counter()
    valid = []
    for molecule in decoded_molecules(predictions, notation, checkpoint):
        if isinstance(molecule, str):
            counts[molecule] += 1
            continue
        smiles = edm_smiles(molecule)
        if smiles is None:
            outside = any(e not in VALENCE for e in molecule.elements)
            counts["outside_qm9_elements" if outside else "not_sanitizable"] += 1
        else:
            valid.append(smiles)
    return valid, counts


def _molecule_counts(predictions: list[str], valid: list[str], counts: Counter) -> dict:
    return {"samples": len(predictions), "valid": len(valid),
            **{k: counts[k] for k in (EMPTY, INVALID, "outside_qm9_elements", "not_sanitizable")}}


def edm_validity(predictions: list[str], train: Optional[list[str]] = None, notation: str = "tokens",
                 checkpoint: str = "released") -> dict:
    """EDM validity: valid (see `edm_smiles`) / samples."""
    valid, counts = _valid_smiles(predictions, notation, checkpoint)
    return {"value": len(valid) / len(predictions) if predictions else None,
            "counts": _molecule_counts(predictions, valid, counts)}


def edm_uniqueness(predictions: list[str], train: Optional[list[str]] = None, notation: str = "tokens",
                   checkpoint: str = "released") -> dict:
    """EDM uniqueness: distinct valid SMILES / valid."""
    valid, counts = _valid_smiles(predictions, notation, checkpoint)
    return {"value": len(set(valid)) / len(valid) if valid else None, "unique": len(set(valid)),
            "counts": _molecule_counts(predictions, valid, counts)}


def explicit_hydrogen_smiles(smiles: str) -> Optional[str]:
    """A training SMILES in the form EDM compares against (hydrogens as atoms, canonical), None
    when RDKit cannot read it."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else Chem.MolToSmiles(Chem.AddHs(mol))


def edm_novelty(predictions: list[str], train: Optional[list[str]] = None, notation: str = "tokens",
                checkpoint: str = "released") -> dict:
    """EDM novelty: distinct valid SMILES absent from the training set / distinct valid SMILES.
    `train` is a list of SMILES (e.g. QM9's), compared with hydrogens made explicit."""
    if train is None:
        raise ConfigError("novelty needs the training set: --train FILE (one SMILES per line)", ["train"])
    valid, counts = _valid_smiles(predictions, notation, checkpoint)
    known = [explicit_hydrogen_smiles(s) for s in train]
    unique = set(valid)
    novel = unique - set(known)
    return {"value": len(novel) / len(unique) if unique else None, "novel": len(novel),
            "counts": {**_molecule_counts(predictions, valid, counts), "unique": len(unique),
                       "train": len(train), "train_unreadable": known.count(None)}}


# The QM9 property stand-in ---------------------------------------------------------------------
HARTREE_MEV = 27211.386245988  # CODATA 2018
# EDM's property names -> (qm9pack column, factor to EDM's unit: D, bohr^3, meV, cal/(mol K)).
QM9_PROPERTIES = {
    "mu": ("Dipole_debye", 1.0),
    "alpha": ("Polarizability_bohr3", 1.0),
    "homo": ("HOMO_au", HARTREE_MEV),
    "lumo": ("LUMO_au", HARTREE_MEV),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_MEV),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", 1.0),
}
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)  # chosen per property by leave-one-out (RidgeCV)


def in_regressor_half(index: str) -> bool:
    """The QM9 half the stand-in regressor trains on: an even first byte of sha256("qm9:<index>")."""
    return hashlib.sha256(f"qm9:{index}".encode()).digest()[0] % 2 == 0


def graph_features(mol) -> np.ndarray:
    """Morgan count fingerprint (radius 2, 1,024 bins) of the heavy-atom graph."""
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return generator.GetCountFingerprintAsNumPy(mol).astype(np.float64)


@functools.lru_cache(maxsize=2)
def regressor_data(train_size: Optional[int] = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`graph_features` of the first `train_size` molecules (all when None) of the regressor's QM9
    half, read from the installed qm9pack, and every property of them in EDM's units: read once for
    all six properties."""
    import csv

    from rdkit import Chem

    from biomatrix_io.files import open_text
    from biomatrix_io.readers import packaged

    features, targets = [], {name: [] for name in QM9_PROPERTIES}
    for path in packaged.qm9_csvs():
        with open_text(path) as handle:
            for row in csv.DictReader(handle):
                if train_size is not None and len(features) >= train_size:
                    break
                mol = Chem.MolFromSmiles(row["SMILES"]) if in_regressor_half(row["Index"]) else None
                if mol is not None:
                    features.append(graph_features(mol))
                    for name, (column, factor) in QM9_PROPERTIES.items():
                        targets[name].append(float(row[column]) * factor)
    return np.stack(features), {name: np.array(values) for name, values in targets.items()}


@functools.lru_cache(maxsize=12)
def property_regressor(name: str, train_size: Optional[int] = None):
    """A ridge regressor of QM9 property `name` on `graph_features` (`regressor_data`)."""
    from sklearn.linear_model import RidgeCV

    features, targets = regressor_data(train_size)
    return RidgeCV(alphas=RIDGE_ALPHAS).fit(features, targets[name])


def _heavy_atom_graph(molecule: Molecule3D):
    """The molecule the tokens describe, hydrogens implicit, as QM9's SMILES would give it."""
    from rdkit import Chem

    try:
        return Chem.MolFromSmiles(Chem.MolToSmiles(Chem.RemoveHs(molecule.mol)))
    except (ValueError, RuntimeError):  # RDKit sanitization errors
        return None


def _target(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise ConfigError(f"reference {text[:40]!r}: a QM9 property target is a finite number", ["references"])
    return value


def property_mae_standin(predictions: list[str], references: list[list[str]], property: Optional[str] = None,
                         checkpoint: str = "released", train_size: Optional[int | str] = None) -> dict:
    """Stand-in for EDM's conditional-generation MAE: the property of each generated molecule is
    predicted by a ridge regressor on Morgan counts of its graph (`property_regressor`, trained on
    one QM9 half) instead of EDM's EGNN classifier on its geometry; MAE against the conditioning
    target (first reference), over the molecules that decode and parse (EDM scores every sample:
    its classifier reads any point cloud); the others are counted."""
    if property not in QM9_PROPERTIES:
        raise ConfigError(f"property {property!r}: one of {', '.join(QM9_PROPERTIES)} (EDM's units)", ["property"])
    if train_size is not None and not str(train_size).isdigit():
        raise ConfigError(f"train_size {train_size!r}: a number of training molecules", ["train_size"])
    targets = [_target(refs[0]) for refs in references]
    molecules = decoded_molecules(predictions, "tokens", checkpoint)
    counts = Counter(m for m in molecules if isinstance(m, str))
    rows, graphs = [], []
    for k, molecule in enumerate(molecules):
        graph = None if isinstance(molecule, str) else _heavy_atom_graph(molecule)
        counts["unparsable_graph"] += graph is None and not isinstance(molecule, str)
        if graph is not None:
            rows.append(k)
            graphs.append(graph_features(graph))
    errors = []
    if rows:
        size = None if train_size is None else int(train_size)  # command-line options arrive as text
        predicted = property_regressor(property, size).predict(np.stack(graphs))
        errors = np.abs(predicted - np.array(targets)[rows])
    return {"value": _mean(errors), "property": property,
            "counts": {"samples": len(predictions), "scored": len(rows),
                       **{k: counts[k] for k in (EMPTY, INVALID, "unparsable_graph")}}}


# The table --------------------------------------------------------------------------------------
_PROTEIN_OPTIONS = ("Options: tokenizer (protein structure tokenizer name or file, default 'torsion'), "
                    "structure_root (folder for relative reference paths).")
_MOLECULE_OPTIONS = ("Options: notation ('tokens': molecule-3D [SYMBOL CODE] tokens, default; 'xyz': XYZ blocks), "
                     "checkpoint (molecule structure tokenizer, default 'released').")
DPLM2 = "DPLM-2 (bytedance/dplm src/byprot/utils/protein/utils.py process_folded_outputs)"
EDM = "EDM (Hoogeboom et al. 2022; e3_diffusion_for_molecules qm9/analyze.py, qm9/rdkit_functions.py)"

METRICS = [
    Metric("protein_tm_score", "tmalign_ca", DPLM2 + ", TM-align on CA as intended", PAIRS,
           _structure_pairs(tm_standard, True, 0.0), default=True,
           description="Folding TM-score: TM-align (tmtools) on CA atoms, normalized by the reference chain, over "
                       "residues with a reference CA. Undecodable predictions score 0; wrong-length ones are aligned "
                       "as they are and counted; right_length_mean averages right-length samples only. "
                       "Reference: <S_k> tokens or path/to/file.pdb[.gz]:CHAIN. " + _PROTEIN_OPTIONS),
    Metric("protein_tm_score", "dplm2_compat", DPLM2 + ", calc_tm_score as called", PAIRS,
           _structure_pairs(tm_dplm2, True, 0.0),
           description="Reproduces DPLM-2's TM-score bug: (L,3,3) N/CA/C arrays passed to tmtools, which reads "
                       "the first L flattened atoms as CA atoms (dummy 'A'*L sequences), normalized by the "
                       "reference. Wrong-length predictions score 0 (DPLM-2 cannot score them), counted. "
                       + _PROTEIN_OPTIONS),
    Metric("protein_rmsd", "dplm2", DPLM2 + ", bb_rmsd_to_gt", PAIRS, _structure_pairs(backbone_rmsd, False, None),
           default=True,
           description="Backbone RMSD (angstroms) after Kabsch superposition over N, CA, C of residues with a "
                       "reference CA. Mean over right-length decodable predictions; undecodable and wrong-length "
                       "ones have no RMSD and are counted. " + _PROTEIN_OPTIONS),
    Metric("protein_aar", "dplm2", "DPLM-2 (bytedance/dplm evaluator_dplm2.py inv_fold_seq_recovery)", PAIRS,
           amino_acid_recovery, default=True,
           description="Inverse-folding amino acid recovery: per protein, the fraction of positions whose residue "
                       "equals the reference's, averaged over proteins. Prediction: one-letter sequence or <A_X> "
                       "tokens. Wrong-length predictions score 0 in value and are counted; right_length_mean leaves "
                       "them out. Reference: a sequence or path/to/file.pdb[.gz]:CHAIN. Option: structure_root."),
    Metric("protein_sc_tm", "esmfold_proteinmpnn", "DPLM-2 / MultiFlow self-consistency (ProteinMPNN + ESMFold)",
           DISTRIBUTION, backbone_geometry, default=True, comparable=False,
           description="No reference metric here: needs ProteinMPNN and ESMFold. Stand-in: geometry validity of "
                       "the decoded backbones (MultiFlow calc_ca_ca_metrics: CA-CA deviation, valid CA-CA steps, "
                       "CA clashes under 1 A); value = fraction of samples with no clash and all steps valid. "
                       "For inverse folding (sequence predictions) there is no stand-in: use protein_aar. "
                       "Option: tokenizer."),
    Metric("protein_sc_rmsd", "esmfold_proteinmpnn", "DPLM-2 / MultiFlow self-consistency (ProteinMPNN + ESMFold)",
           DISTRIBUTION, backbone_geometry, default=True, comparable=False,
           description="No reference metric here: needs ProteinMPNN and ESMFold. Stand-in: the same backbone "
                       "geometry validity as protein_sc_tm. Option: tokenizer."),
    Metric("protein_plddt", "esmfold", "ESMFold mean pLDDT (DPLM-2 / ProDVa protocol)", DISTRIBUTION,
           sequence_sanity, default=True, comparable=False,
           description="No reference metric here: needs ESMFold. Stand-in: sequence sanity; value = fraction of "
                       "samples made of the 20 standard residues, with uniqueness and the mean fraction of distinct "
                       "3-mers (repetition)."),
    Metric("molecule_3d_stability", "edm", EDM + ", check_stability", DISTRIBUTION, edm_stability, default=True,
           description="QM9 atom stability (value) and molecule stability of the decoded geometry as decoded. "
                       + _MOLECULE_OPTIONS),
    Metric("molecule_3d_stability", "edm_mmff", EDM + " check_stability, after the MolStrucTok MMFF refinement",
           DISTRIBUTION, edm_stability_mmff,
           description="As molecule_3d_stability:edm after one RDKit MMFF94 optimization per molecule; molecules "
                       "without MMFF parameters are scored as decoded and counted. Option: checkpoint."),
    Metric("molecule_3d_validity", "edm", EDM + ", BasicMolecularMetrics.compute_validity", DISTRIBUTION,
           edm_validity, default=True,
           description="Bonds from distances (EDM tables), RDKit sanitization, largest fragment; valid / samples. "
                       + _MOLECULE_OPTIONS),
    Metric("molecule_3d_uniqueness", "edm", EDM + ", BasicMolecularMetrics.compute_uniqueness", DISTRIBUTION,
           edm_uniqueness, default=True,
           description="Distinct valid SMILES (explicit hydrogens) / valid. " + _MOLECULE_OPTIONS),
    Metric("molecule_3d_novelty", "edm", EDM + ", BasicMolecularMetrics.compute_novelty", DISTRIBUTION,
           edm_novelty, default=True, needs=("train",),
           description="Distinct valid SMILES absent from the training SMILES / distinct valid. --train: one "
                       "SMILES per line (QM9). " + _MOLECULE_OPTIONS),
    Metric("qm9_property_mae", "edm_egnn", "EDM conditional generation protocol (EGNN property classifier)", PAIRS,
           property_mae_standin, default=True, comparable=False,
           description="No reference metric here: needs EDM's EGNN property classifiers (trained on the other QM9 "
                       "half). Stand-in: ridge regression on Morgan counts (radius 2) of the decoded molecule's graph, "
                       "trained on one QM9 half (qm9pack); MAE vs the target (reference) over decodable molecules. "
                       "Options: property (mu D, alpha bohr^3, homo/lumo/gap meV, Cv cal/mol/K; required), "
                       "train_size (default: the whole half), checkpoint."),
]
