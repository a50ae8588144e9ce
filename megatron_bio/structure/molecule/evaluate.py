"""Reconstruction quality of a molecule structure tokenizer on held-out molecules.

Every figure compares the decoded molecule with the input, atoms matched by token order:
- per-component error: |dr| (A), |dtheta| and |dphi| (degrees, phi signed and wrapped) between the
  descriptors of the reconstruction and those of the input;
- RMSD after optimal superposition, over all atoms and over heavy atoms; bond-length error;
- 3D atom and molecule stability, EDM-style: bond orders from interatomic distances (typical lengths
  plus EDM's margins), an atom is stable when their sum equals its valence; with and without one
  MMFF optimization; the input geometries' own stability is reported as the reference;
- codebook usage (used codes, perplexity) and the joint inventory's fallback rate, with the RMSD
  the fallback costs.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from megatron_bio.structure.geometry import kabsch_rmsd

from .codec import EncodedMolecule, MoleculeStructureTokenizer, atom_contexts, with_conformer
from .descriptors import ABS_PHI, R, SIGN, THETA, describe, rebuild

# Typical bond lengths (A) by order for QM9's elements; EDM adds margins of 0.10 / 0.05 / 0.03 A.
BOND_LENGTHS = {
    1: {"HH": 0.74, "CH": 1.09, "HN": 1.01, "HO": 0.96, "FH": 0.92, "CC": 1.54, "CN": 1.47, "CO": 1.43, "CF": 1.35,
        "NN": 1.45, "NO": 1.40, "FN": 1.36, "OO": 1.48, "FO": 1.42, "FF": 1.42},
    2: {"CC": 1.34, "CN": 1.29, "CO": 1.20, "NN": 1.25, "NO": 1.21, "OO": 1.21},
    3: {"CC": 1.20, "CN": 1.16, "NN": 1.10, "CO": 1.13},
}
MARGINS = {1: 0.10, 2: 0.05, 3: 0.03}
VALENCE = {"H": 1, "C": 4, "N": 3, "O": 2, "F": 1}


def bond_order(a: str, b: str, distance: float) -> int:
    pair = "".join(sorted((a, b)))
    order = 0
    for k in (1, 2, 3):
        if pair in BOND_LENGTHS[k] and distance < BOND_LENGTHS[k][pair] + MARGINS[k]:
            order = k
    return order


def stable_atoms(elements: Sequence[str], xyz: np.ndarray) -> Optional[np.ndarray]:
    """Per-atom EDM stability, or None when an element is outside the table (only H C N O F)."""
    if any(e not in VALENCE for e in elements):
        return None
    distance = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    total = np.zeros(len(elements), dtype=int)
    for i in range(len(elements)):
        for j in range(i + 1, len(elements)):
            order = bond_order(elements[i], elements[j], distance[i, j])
            total[i] += order
            total[j] += order
    return total == np.array([VALENCE[e] for e in elements])


def _wrapped_degrees(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.abs((a - b + np.pi) % (2 * np.pi) - np.pi))


@dataclass
class Evaluation:
    label: str
    figures: dict

    def row(self, keys: Sequence[str]) -> list[str]:
        return [self.label] + [_format(self.figures.get(k)) for k in keys]


def _format(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def evaluate(
    tokenizer: MoleculeStructureTokenizer,
    mols: Sequence,
    wheres: Sequence[str],
    label: str,
    inventory: Optional[dict[str, list[int]]] = None,
    fallback=None,
) -> Evaluation:
    started = time.perf_counter()
    encoded = [e for e in tokenizer.encode_many(mols, wheres) if isinstance(e, EncodedMolecule)]
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = tokenizer.decode_many([e.tokens for e in encoded])
    decode_s = time.perf_counter() - started
    truth = [e.coordinates for e in encoded]
    rebuilt = [d.GetConformer().GetPositions() for d in decoded]
    refs = [e.layout.references for e in encoded]
    true_raw, rebuilt_raw = np.concatenate(describe(truth, refs)), np.concatenate(describe(rebuilt, refs))
    place = np.concatenate([np.minimum(np.arange(len(t)), 3) for t in truth])
    signed = lambda raw: raw[:, ABS_PHI] * np.where(raw[:, SIGN] == 0, 1, raw[:, SIGN])
    elements = [[a.GetSymbol() for a in e.layout.mol.GetAtoms()] for e in encoded]
    heavy = [np.array([s != "H" for s in el]) for el in elements]
    rmsd = np.array([kabsch_rmsd(t, r) for t, r in zip(truth, rebuilt)])
    heavy_rmsd = np.array([kabsch_rmsd(t[h], r[h]) for t, r, h in zip(truth, rebuilt, heavy) if h.sum() >= 2])
    bond_errors = np.concatenate([_bond_length_errors(e.layout.mol, t, r) for e, t, r in zip(encoded, truth, rebuilt)])
    codes = np.concatenate([e.atom_codes for e in encoded])
    counts = np.bincount(codes, minlength=tokenizer.codebook_size)
    p = counts[counts > 0] / counts.sum()
    figures = {
        "molecules": len(encoded),
        "rejected": len(mols) - len(encoded),
        "dr_A": float(np.abs(true_raw[place >= 1, R] - rebuilt_raw[place >= 1, R]).mean()),
        "dtheta_deg": float(np.degrees(np.abs(true_raw[place >= 3, THETA] - rebuilt_raw[place >= 3, THETA])).mean()),
        "dphi_deg": float(_wrapped_degrees(signed(true_raw[place >= 2]), signed(rebuilt_raw[place >= 2])).mean()),
        "rmsd_median_A": float(np.median(rmsd)),
        "rmsd_mean_A": float(rmsd.mean()),
        "rmsd_max_A": float(rmsd.max()),
        "heavy_rmsd_median_A": float(np.median(heavy_rmsd)),
        "heavy_rmsd_mean_A": float(heavy_rmsd.mean()),
        "bond_length_mae_A": float(np.abs(bond_errors).mean()),
        "used_codes": int((counts > 0).sum()),
        "perplexity": float(np.exp(-(p * np.log(p)).sum())),
        "encode_per_s": len(encoded) / encode_s,
        "decode_per_s": len(encoded) / decode_s,
    }
    figures.update(_stability("input", elements, truth))
    figures.update(_stability("raw", elements, rebuilt))
    refined = [with_conformer(d, xyz, refine=True).GetConformer().GetPositions() for d, xyz in zip(decoded, rebuilt)]
    figures.update(_stability("mmff", elements, refined))
    if inventory is not None:
        figures.update(_fallback_cost(tokenizer, encoded, inventory, fallback, rmsd))
    return Evaluation(label, figures)


def _bond_length_errors(mol, truth: np.ndarray, rebuilt: np.ndarray) -> np.ndarray:
    pairs = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]).reshape(-1, 2)
    length = lambda xyz: np.linalg.norm(xyz[pairs[:, 0]] - xyz[pairs[:, 1]], axis=1)
    return length(rebuilt) - length(truth)


def _stability(prefix: str, elements: list[list[str]], coordinates: list[np.ndarray]) -> dict:
    per_molecule = [stable_atoms(el, xyz) for el, xyz in zip(elements, coordinates)]
    judged = [s for s in per_molecule if s is not None]
    if not judged:
        return {f"{prefix}_atom_stability": None, f"{prefix}_molecule_stability": None}
    return {
        f"{prefix}_atom_stability": float(np.concatenate(judged).mean()),
        f"{prefix}_molecule_stability": float(np.mean([s.all() for s in judged])),
    }


def _fallback_cost(tokenizer, encoded: list[EncodedMolecule], inventory: dict[str, list[int]], fallback, rmsd: np.ndarray) -> dict:
    """How many atom tokens fall outside the joint inventory (symbol -> retained codes), and the
    RMSD once they fall back."""
    outside = Counter()
    substituted = []
    for e in encoded:
        codes = list(e.codes)
        for k in e.layout.atom_symbols:
            symbol = e.layout.symbols[k]
            retained = inventory.get(symbol, [])
            if codes[k] not in retained:
                outside[symbol] += 1
                codes[k] = fallback(symbol, codes[k], retained) if retained else codes[k]
        substituted.append(codes)
    atoms = sum(len(e.layout.atom_symbols) for e in encoded)
    changed = [i for i, (e, c) in enumerate(zip(encoded, substituted)) if tuple(c) != e.codes]
    after = rmsd.copy()
    if changed:
        raw = [tokenizer.decoded_descriptors(np.asarray(substituted[i])[encoded[i].layout.atom_symbols],
                                             atom_contexts(encoded[i].layout)) for i in changed]
        coordinates = rebuild(raw, [encoded[i].layout.references for i in changed])
        for i, xyz in zip(changed, coordinates):
            after[i] = kabsch_rmsd(encoded[i].coordinates, xyz)
    return {
        "fallback_rate": sum(outside.values()) / atoms,
        "fallback_molecules": len(changed) / len(encoded),
        "rmsd_mean_with_fallback_A": float(after.mean()),
    }
