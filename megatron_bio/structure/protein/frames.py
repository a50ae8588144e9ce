"""Residue frames of a protein backbone, in torch: each residue's N, CA, C define a rigid frame
(rotation + origin at CA), and an ideal N-CA-C template placed by a frame gives the residue back.

The learned tokenizer reads the backbone through these frames (every feature is a neighbour seen
from a residue's own frame, so rigid motions of the input cannot change it) and its decoder writes
frames (a 6D rotation, orthonormalized by Gram-Schmidt, and a translation), so the rebuilt residues
always have ideal internal geometry.
"""

from __future__ import annotations

import math

import torch

from .backbone import IDEAL_ANGLES, IDEAL_BONDS

# The ideal residue in its own frame: CA at the origin, C on the x axis, N in the xy plane (y > 0).
TEMPLATE = torch.tensor([
    [IDEAL_BONDS["N-CA"] * math.cos(IDEAL_ANGLES["N-CA-C"]), IDEAL_BONDS["N-CA"] * math.sin(IDEAL_ANGLES["N-CA-C"]), 0.0],
    [0.0, 0.0, 0.0],
    [IDEAL_BONDS["CA-C"], 0.0, 0.0],
])


def gram_schmidt(x_axis: torch.Tensor, xy_plane: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) whose columns are the orthonormal axes built from two vectors."""
    e1 = x_axis / (x_axis.norm(dim=-1, keepdim=True) + eps)
    u2 = xy_plane - (e1 * xy_plane).sum(-1, keepdim=True) * e1
    e2 = u2 / (u2.norm(dim=-1, keepdim=True) + eps)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2)], dim=-1)


def backbone_frames(backbone: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., residues, 3, 3) N/CA/C -> rotations (..., residues, 3, 3) and origins (..., residues, 3)."""
    n, ca, c = backbone.unbind(-2)
    return gram_schmidt(c - ca, n - ca), ca


def rotation_from_6d(six: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3): the 6D rotation representation (Zhou et al. 2019), continuous for learning."""
    return gram_schmidt(six[..., :3], six[..., 3:])


def place_template(rotations: torch.Tensor, origins: torch.Tensor) -> torch.Tensor:
    """The ideal N, CA, C placed by each frame: (..., residues, 3, 3)."""
    return torch.einsum("...ij,aj->...ai", rotations, TEMPLATE.to(rotations)) + origins[..., None, :]


def in_frames(rotations: torch.Tensor, origins: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Every point seen from every frame: rotations (..., F, 3, 3), origins (..., F, 3), points
    (..., P, 3) -> (..., F, P, 3), the coordinates R_f^T (x_p - t_f)."""
    return torch.einsum("...fji,...fpj->...fpi", rotations, points[..., None, :, :] - origins[..., :, None, :])
