"""How close a rebuilt backbone is to the original: TM-score (TM-align through tmtools, on CA atoms,
residues paired one to one, normalized by the original's length) and the RMSD of all backbone
atoms after optimal superposition. The two numbers the structure tokenizers are compared on
(GCP-VQVAE, ESM3, FoldToken, DPLM-2 report the same pair)."""

from __future__ import annotations

import numpy as np

from megatron_bio.structure.geometry import kabsch_rmsd

CA = 1


def tm_score(reference: np.ndarray, model: np.ndarray, sequence: str) -> float:
    """TM-score of `model` against `reference` ((residues, 3, 3) backbones of the same residues)."""
    from tmtools import tm_align

    if len(reference) != len(model) or len(sequence) != len(reference):
        raise ValueError(f"{len(reference)} reference residues, {len(model)} model residues, {len(sequence)} letters")
    if np.isnan(reference).any() or np.isnan(model).any():
        raise ValueError("missing atoms (NaN): score the residues whose N, CA and C are all present")
    result = tm_align(np.ascontiguousarray(model[:, CA], dtype=np.float64),
                      np.ascontiguousarray(reference[:, CA], dtype=np.float64), sequence, sequence,
                      [sequence, sequence])
    return float(result.tm_norm_chain2)


def backbone_rmsd(reference: np.ndarray, model: np.ndarray) -> float:
    return kabsch_rmsd(np.asarray(reference, dtype=np.float64).reshape(-1, 3), np.asarray(model, dtype=np.float64).reshape(-1, 3))
