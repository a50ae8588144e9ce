"""Geometry shared by the molecule and protein structure tokenizers: local orthonormal frames,
internal <-> Cartesian coordinates, and superposition (Kabsch) RMSD.

Every function works on batches (leading dimensions) so that callers place or describe the atoms of
many molecules or residues in one numpy call instead of a Python loop over atoms.
"""

from __future__ import annotations

import numpy as np

# Below this |sin| of the angle between the frame's two defining directions, the frame is
# considered degenerate (collinear reference atoms): v is then undefined.
COLLINEAR_SIN = 1e-3


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.cross for (..., 3) arrays, without its axis bookkeeping (several times faster on small batches)."""
    return np.stack(
        [a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
         a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
         a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]],
        axis=-1,
    )


def any_perpendicular(u: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to each unit vector u, built from u alone (so it turns with u):
    the cross product with the coordinate axis least aligned with u."""
    axis = np.zeros_like(u)
    np.put_along_axis(axis, np.argmin(np.abs(u), axis=-1)[..., None], 1.0, axis=-1)
    return _unit(cross(u, axis))


def frames(origin: np.ndarray, toward: np.ndarray, plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-handed frames (..., 3, 3) whose rows are u = unit(toward - origin), v = the unit part of
    (plane - origin) orthogonal to u, w = u x v; and a mask of degenerate frames (plane point on the
    u axis), where v falls back to `any_perpendicular(u)`.
    """
    u = _unit(toward - origin)
    p = plane - origin
    v_raw = p - np.sum(p * u, axis=-1, keepdims=True) * u
    v_norm = np.linalg.norm(v_raw, axis=-1)
    degenerate = v_norm <= COLLINEAR_SIN * np.linalg.norm(p, axis=-1)
    v = v_raw / np.where(degenerate, 1.0, v_norm)[..., None]
    if np.any(degenerate):
        v = np.where(degenerate[..., None], any_perpendicular(u), v)
    w = cross(u, v)
    return np.stack([u, v, w], axis=-2), degenerate


def to_spherical(local: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r, theta, phi) of local Cartesian points: theta from the w axis, phi in the u-v plane."""
    r = np.linalg.norm(local, axis=-1)
    theta = np.arccos(np.clip(local[..., 2] / np.where(r > 0, r, 1.0), -1.0, 1.0))
    phi = np.arctan2(local[..., 1], local[..., 0])
    return r, theta, phi


def from_spherical(r: np.ndarray, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    sin_theta = np.sin(theta)
    return np.stack([r * sin_theta * np.cos(phi), r * sin_theta * np.sin(phi), r * np.cos(theta)], axis=-1)


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """RMSD between two (N, 3) point sets after the optimal rotation and translation (no reflection)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    h = a.T @ b
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    squared = max(float((a * a).sum() + (b * b).sum() - 2.0 * s.sum()), 0.0)
    return float(np.sqrt(squared / len(a)))


def kabsch(mobile: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The proper rotation R and translation t minimizing |mobile @ R.T + t - target| ((N, 3) each)."""
    mobile_centre, target_centre = mobile.mean(axis=0), target.mean(axis=0)
    u, _, vt = np.linalg.svd((mobile - mobile_centre).T @ (target - target_centre))
    d = np.sign(np.linalg.det(u @ vt))
    rotation = (u @ np.diag([1.0, 1.0, d]) @ vt).T
    return rotation, target_centre - mobile_centre @ rotation.T


def random_rigid_motion(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly random rotation (QR of a Gaussian matrix, sign-fixed to det +1) and a translation."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q, rng.normal(scale=10.0, size=3)
