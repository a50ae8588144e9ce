"""Per-atom internal coordinates g = (r, theta, |phi|, sign(phi)) and the atom-by-atom rebuild.

Definitions follow shared/notes/molstructok-compat.md exactly, so that the released checkpoint's
encoder sees the inputs it was trained on. Descriptors of a whole batch of molecules are computed
in one vectorized pass (every atom's references are known); the rebuild is sequential along the
atom order but vectorized across the molecules of a batch.

Collinear references (e.g. along a triple bond) leave the frame's second axis undefined. Ours
(`describe`): the second reference falls back to the latest earlier atom that is not on the axis;
if every earlier atom is on it, the placed atom itself defines the half-plane (phi = 0 by
construction), so the descriptor stays rotation-invariant.

The release's (`describe_released`, for its checkpoint): the frame is built from the references
as they are, on the coordinates as given (no canonical pose), in float64: NaN where they are exactly
collinear (0/0), and a torsion set by rounding noise where they are nearly so. Such atoms are
`degenerate`: their codes carry no geometry (a NaN descriptor always takes code 0, the quantizer's
argmin of all-NaN distances), but they are what the release emits, so its vocabulary keeps them.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from megatron_bio.structure.geometry import COLLINEAR_SIN, any_perpendicular, cross, frames, from_spherical, to_spherical

# Atom 0's fixed descriptor (r, theta, |phi|) in the released pipeline; only r matters for atom 1.
ATOM0_DESCRIPTOR = (1.2608129506349746, 1.593612854073428, 2.1366727766526967)
R, THETA, ABS_PHI, SIGN = range(4)


def normalize(raw: np.ndarray) -> np.ndarray:
    """The encoder's input: log(r + 1), theta / pi, |phi| / pi, sign. Computed as the release does,
    in float32 after the cast and with torch's kernels (numpy's float32 log differs in the last bit
    for ~9% of values, float64-then-cast for ~30%), so that its encoder sees bit-identical inputs."""
    import torch

    out = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float64)).float()
    out[..., R : R + 1] = torch.log(out[..., R : R + 1] + 1.0)
    out[..., THETA : ABS_PHI + 1] = out[..., THETA : ABS_PHI + 1] / torch.pi
    return out.numpy()


def denormalize(features: np.ndarray) -> np.ndarray:
    out = np.array(features, dtype=np.float64, copy=True)
    out[..., R] = np.expm1(features[..., R])
    out[..., THETA] = features[..., THETA] * np.pi
    out[..., ABS_PHI] = features[..., ABS_PHI] * np.pi
    return out


def local_position(raw: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Where a descriptor puts its atom in its frame: atom 1 on the x axis, atom 2 in the x-y plane
    at angle |phi| (its sign is always 0), later atoms by (r, theta, |phi| * sign)."""
    r, theta, abs_phi, sign = (raw[..., k] for k in range(4))
    index = np.broadcast_to(index, r.shape)
    phi = np.where(index == 2, abs_phi, abs_phi * sign)
    theta = np.where(index < 3, np.pi / 2, theta)
    local = from_spherical(r, theta, phi)
    return np.where((index == 0)[..., None], 0.0, local)


class Walk:
    """Frames of the atoms of a padded batch (M molecules, up to N atoms), in token order."""

    def __init__(self, references: Sequence[np.ndarray]) -> None:
        self.count = np.array([len(r) for r in references])
        self.references = np.full((len(references), int(self.count.max()), 3), -1, dtype=np.int64)
        for m, refs in enumerate(references):
            self.references[m, : len(refs)] = refs

    def frame(self, positions: np.ndarray, i: int, rows: np.ndarray, target: Optional[np.ndarray] = None):
        """Origin (k, 3) and axes (k, 3, 3) of atom i's frame in molecules `rows`, from `positions`
        (M, N, 3) of the atoms before i. `target` (k, 3), the true atom positions, is needed only
        to orient a frame whose every earlier atom is collinear (encoding)."""
        k = len(rows)
        if i < 3:
            return np.zeros((k, 3)), np.broadcast_to(np.eye(3), (k, 3, 3)).copy()
        refs = self.references[rows, i]
        a, b, c = (positions[rows, refs[:, j]] for j in range(3))
        axes, degenerate = frames(a, b, c)
        for row in np.flatnonzero(degenerate):
            axes[row] = self._refit(positions[rows[row], :i], a[row], b[row], None if target is None else target[row])
        return a, axes

    @staticmethod
    def _refit(earlier: np.ndarray, a: np.ndarray, b: np.ndarray, target: Optional[np.ndarray]) -> np.ndarray:
        u = (b - a) / np.linalg.norm(b - a)
        for point in earlier[::-1]:
            p = point - a
            off_axis = p - (p @ u) * u
            if np.linalg.norm(off_axis) > COLLINEAR_SIN * np.linalg.norm(p):
                v = off_axis / np.linalg.norm(off_axis)
                return np.stack([u, v, cross(u, v)])
        v = any_perpendicular(u)
        if target is not None:
            p = target - a
            off_axis = p - (p @ u) * u
            if np.linalg.norm(off_axis) > 0:
                v = off_axis / np.linalg.norm(off_axis)
        return np.stack([u, v, cross(u, v)])

    def run(self, place: Callable[[int, np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """Place atoms in token order; `place(i, rows, origin, axes)` returns the (k, 3) positions
        of atom i in molecules `rows`. Returns the (M, N, 3) positions (padding stays 0)."""
        positions = np.zeros(self.references.shape[:2] + (3,))
        for i in range(self.references.shape[1]):
            rows = np.flatnonzero(self.count > i)
            origin, axes = self.frame(positions, i, rows)
            positions[rows, i] = place(i, rows, origin, axes)
        return positions


def to_global(origin: np.ndarray, axes: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Local coordinates (..., 3) in frames (origin, axes rows u, v, w) to global ones."""
    return origin + np.einsum("...j,...jk->...k", local, axes)


def canonical_pose(coordinates: np.ndarray) -> np.ndarray:
    """The pose a rebuild starts from: atom 0 at the origin, atom 1 on +x, atom 2 in the x-y plane
    with y >= 0 (if atoms 0-2 are collinear, the first atom off their axis sets the plane, so the
    pose stays a function of the molecule alone). Closed-loop encoding compares candidate
    placements with the true atoms in this pose."""
    xyz = coordinates - coordinates[0]
    if len(xyz) == 1:
        return xyz
    u = xyz[1] / np.linalg.norm(xyz[1])
    off_axis = np.linalg.norm(xyz - np.outer(xyz @ u, u), axis=1) > COLLINEAR_SIN * np.linalg.norm(xyz, axis=1)
    off_axis[:2] = False
    plane = xyz[np.argmax(off_axis)] if off_axis.any() else any_perpendicular(u)
    axes, _ = frames(np.zeros(3), xyz[1], plane)
    return xyz @ axes.T


def describe(coordinates: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Raw descriptors (n, 4) of each molecule's atoms, from its token-order coordinates."""
    walk = Walk(references)
    shape = (len(coordinates), max(walk.references.shape[1], 3))  # atoms 0-2 are set for every molecule
    posed = np.zeros(shape + (3,))
    for m, xyz in enumerate(coordinates):
        posed[m, : len(xyz)] = canonical_pose(np.asarray(xyz, dtype=np.float64))
    raw = np.zeros(shape + (4,))
    raw[:, 0, :3] = ATOM0_DESCRIPTOR
    raw[:, 1, :3] = ATOM0_DESCRIPTOR
    raw[:, 1, R] = np.linalg.norm(posed[:, 1], axis=-1)
    # Atom 2 from distances alone (the law of cosines), so that a nearly collinear start stays invariant.
    r2 = np.linalg.norm(posed[:, 2], axis=-1)
    a = np.linalg.norm(posed[:, 1], axis=-1)
    b = np.linalg.norm(posed[:, 2] - posed[:, 1], axis=-1)
    x2 = (a**2 + r2**2 - b**2) / (2 * np.where(a > 0, a, 1.0))
    raw[:, 2, :3] = ATOM0_DESCRIPTOR
    raw[:, 2, R] = r2
    raw[:, 2, ABS_PHI] = np.arctan2(np.sqrt(np.maximum(r2**2 - x2**2, 0.0)), x2)
    for i in range(3, walk.references.shape[1]):
        rows = np.flatnonzero(walk.count > i)
        origin, axes = walk.frame(posed, i, rows, target=posed[rows, i])
        local = np.einsum("kij,kj->ki", axes, posed[rows, i] - origin)
        r, theta, phi = to_spherical(local)
        raw[rows, i] = np.stack([r, theta, np.abs(phi), np.sign(phi)], axis=-1)
    return [raw[m, :n] for m, n in enumerate(walk.count)]


def describe_released(coordinates: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Raw descriptors (n, 4) of each molecule as BioMatrix's release computes them (see the module
    docstring), and a mask (n,) of its degenerate atoms: a NaN descriptor, or (from atom 3 on)
    references collinear within `COLLINEAR_SIN`. Vectorized over every atom of the batch; the
    same float64 operations as the release, up to the summation order of 3-vector dot products
    (differences below 1e-12, far under float32's resolution)."""
    counts = [len(xyz) for xyz in coordinates]
    xyz = np.concatenate([np.asarray(c, dtype=np.float64).reshape(-1, 3) for c in coordinates])
    start = np.repeat(np.cumsum([0] + counts[:-1]), counts)
    index = np.arange(len(xyz)) - start
    refs = np.concatenate([np.asarray(r, dtype=np.int64).reshape(-1, 3) for r in references]) + start[:, None]
    raw = np.zeros((len(xyz), 4))
    raw[:, :3] = ATOM0_DESCRIPTOR
    degenerate = np.zeros(len(xyz), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        second = np.flatnonzero(index == 1)
        raw[second, R] = _norm(xyz[second - 1] - xyz[second])
        third = np.flatnonzero(index == 2)
        # Atom 2 in the plane of atoms 0 and 1, by the law of cosines (NaN when rounding makes y^2 < 0).
        a = _norm(xyz[third - 2] - xyz[third - 1])
        r2 = _norm(xyz[third - 2] - xyz[third])
        b = _norm(xyz[third - 1] - xyz[third])
        x2 = (a**2 + r2**2 - b**2) / (2 * a)
        raw[third, R] = r2
        raw[third, ABS_PHI] = np.arctan2(np.sqrt(r2**2 - x2**2), x2)
        rest = np.flatnonzero(index >= 3)
        origin, toward, plane = (xyz[refs[rest, k]] for k in range(3))
        u = (toward - origin) / _norm(toward - origin)[:, None]
        p = plane - origin
        v = p - _dot(p, u)[:, None] * u
        degenerate[rest] = _norm(v) <= COLLINEAR_SIN * _norm(p)
        v = v / _norm(v)[:, None]
        w = cross(u, v)
        d = xyz[rest] - origin
        x, y, z = _dot(u, d), _dot(v, d), _dot(w, d)
        r = np.sqrt(x**2 + y**2 + z**2)
        phi = np.arctan2(y, x)
        raw[rest] = np.stack([r, np.arccos(z / r), np.abs(phi), np.sign(phi)], axis=-1)
    degenerate |= np.isnan(raw).any(axis=1)
    split = np.cumsum(counts)[:-1]
    return np.split(raw, split), np.split(degenerate, split)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _norm(a: np.ndarray) -> np.ndarray:
    return np.sqrt(_dot(a, a))


def rebuild(descriptors: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Token-order coordinates (n, 3) of each molecule from its raw descriptors (n, 4)."""
    walk = Walk(references)
    raw = np.zeros(walk.references.shape[:2] + (4,))
    for m, d in enumerate(descriptors):
        raw[m, : len(d)] = d

    def place(i: int, rows: np.ndarray, origin: np.ndarray, axes: np.ndarray) -> np.ndarray:
        return to_global(origin, axes, local_position(raw[rows, i], np.full(len(rows), i)))

    positions = walk.run(place)
    return [positions[m, :n] for m, n in enumerate(walk.count)]
