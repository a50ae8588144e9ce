"""Training losses of the backbone tokenizer. Both are unchanged by a rigid motion of either the
prediction or the truth, so the decoder is free to place the chain anywhere:

- frame-aligned point error (FAPE, AlphaFold 2): every backbone atom seen from every residue's
  frame, predicted vs true, distance clamped at 10 A;
- pairwise CA distance error, unclamped, which carries the global shape that TM-score rewards;
- pairwise relative orientation error (R_i^T R_j, predicted vs true), which, unlike distances,
  tells a structure from its mirror image and, unlike clamped FAPE, keeps its gradient when the
  prediction is far off: without it a decoder settles on the mirror image of the chain (distances
  right, FAPE stuck near its clamp).
"""

from __future__ import annotations

import torch

from .frames import in_frames

CLAMP = 10.0


def fape(predicted: tuple[torch.Tensor, torch.Tensor, torch.Tensor], true: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
         mask: torch.Tensor) -> torch.Tensor:
    """(rotations (B, L, 3, 3), origins (B, L, 3), atoms (B, L, 3, 3)) for both; mask (B, L) of scored residues."""
    seen = [in_frames(rotations, origins, atoms.flatten(-3, -2)) for rotations, origins, atoms in (predicted, true)]
    error = torch.sqrt(((seen[0] - seen[1]) ** 2).sum(-1) + 1e-4).clamp(max=CLAMP)
    pairs = (mask[:, :, None] & mask.repeat_interleave(3, dim=1)[:, None, :]).float()
    return (error * pairs).sum() / pairs.sum().clamp(min=1) / CLAMP


def distance_error(predicted_ca: torch.Tensor, true_ca: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |d_pred - d_true| over CA pairs, in units of 10 A."""
    pairs = (mask[:, :, None] & mask[:, None, :]).float()
    error = (torch.cdist(predicted_ca, predicted_ca) - torch.cdist(true_ca, true_ca)).abs()
    return (error * pairs).sum() / pairs.sum().clamp(min=1) / CLAMP


def orientation_error(predicted: torch.Tensor, true: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared Frobenius distance between predicted and true R_i^T R_j over residue pairs,
    divided by 8 (its largest value): rotations (B, L, 3, 3) each."""
    relative = [torch.einsum("bixy,bjxz->bijyz", r, r) for r in (predicted, true)]
    pairs = (mask[:, :, None] & mask[:, None, :]).float()
    error = ((relative[0] - relative[1]) ** 2).sum((-1, -2))
    return (error * pairs).sum() / pairs.sum().clamp(min=1) / 8
