"""Torsion codes: one code per residue from a k-means codebook (scipy) over backbone torsions
(phi, psi, omega as sine/cosine pairs, so angles wrap), decoded by NeRF from the code's centroid
torsions with ideal bond geometry. Codes are invariant to rigid motions (torsions are, and the
closed loop works in a frame fixed by the first residue).

Two encoders share one codebook and one decoder:

- open loop (the baseline): each residue takes the centroid nearest its own torsions. Small angle
  errors compound along the chain, so long chains drift away (TM ~0.45 on held-out chains).
- closed loop: residues are encoded in chain order against the chain as it will be decoded; each
  takes the code whose placement of the three atoms it fixes (its C through phi, the next N
  through psi, the next CA through omega) lands nearest the true atoms, the true chain superposed
  on the decoder's fixed first residue. Every step aims at the true positions, so errors stop
  accumulating: the reconstruction error is that of one quantization step, not of a chain of them.
  Atoms missing from the file are aimed at positions interpolated along the chain from the
  residues on either side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from megatron_bio.structure.geometry import frames, kabsch

from .backbone import IDEAL_ANGLES, IDEAL_BONDS, ideal_first_residue, place, rebuild, residue_torsions

CODES = 4096
KIND = "torsion-kmeans"  # the safetensors metadata that tells a torsion codebook from the VQ-VAE
FIT_RESIDUES = 400_000  # k-means sees at most this many residues (a fixed random sample)


def features(table: np.ndarray) -> np.ndarray:
    """(residues, 3) phi/psi/omega -> (residues, 6) sines and cosines; undefined angles (chain ends)
    take the zero vector, equally far from every direction."""
    both = np.concatenate([np.sin(table), np.cos(table)], axis=-1)
    return np.nan_to_num(both, nan=0.0)


def fill_missing(backbone: np.ndarray) -> np.ndarray:
    """Missing atoms (NaN) of each atom kind interpolated linearly along the chain (held at the ends)."""
    filled = np.array(backbone, dtype=np.float64)
    index = np.arange(len(filled))
    for atom in range(3):
        present = ~np.isnan(filled[:, atom]).any(axis=-1)
        if not present.all():
            for axis in range(3):
                filled[:, atom, axis] = np.interp(index, index[present], filled[present, atom, axis])
    return filled


def _frame(triple: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axes (rows) and origin of the frame of C(i-1), N(i), CA(i): origin CA, x along N -> CA,
    y toward C(i-1) in their plane (geometry.frames; ideal chains are never collinear there)."""
    a, b, c = triple
    axes, _ = frames(b, c, a)
    return axes, c


@dataclass
class TorsionCodebook:
    centroids: np.ndarray  # (codes, 6): sine/cosine of phi, psi, omega
    closed_loop: bool = True

    @classmethod
    def fit(cls, backbones: list[np.ndarray], codes: int = CODES, seed: int = 0, iterations: int = 20,
            max_residues: int = FIT_RESIDUES) -> "TorsionCodebook":
        from scipy.cluster.vq import kmeans2

        points = np.concatenate([features(residue_torsions(b)) for b in backbones])
        if len(points) < codes:
            raise ValueError(f"{len(points)} residues cannot seed {codes} codes")
        rng = np.random.default_rng(seed)
        if len(points) > max_residues:
            points = points[rng.choice(len(points), max_residues, replace=False)]
        # Random data points as seeds: scipy's k-means++ seeding is quadratic in the number of codes.
        centroids, _ = kmeans2(points, codes, iter=iterations, minit="points", seed=rng)
        return cls(centroids.astype(np.float64))

    def encode(self, backbone: np.ndarray) -> np.ndarray:
        """(residues, 3, 3) N/CA/C (NaN for missing atoms) -> (residues,) codes."""
        backbone = np.asarray(backbone, dtype=np.float64)
        if backbone.ndim != 3 or backbone.shape[1:] != (3, 3) or len(backbone) < 2:
            raise ValueError(f"a backbone is (residues >= 2, 3, 3) N/CA/C coordinates, got shape {backbone.shape}")
        if np.isnan(backbone).any(axis=-1).all(axis=0).any():
            raise ValueError("an atom kind (N, CA or C) is missing from every residue")
        return self._closed_loop(backbone) if self.closed_loop else self.nearest(features(residue_torsions(backbone)))

    def nearest(self, points: np.ndarray) -> np.ndarray:
        distances = (points ** 2).sum(1)[:, None] - 2 * points @ self.centroids.T + (self.centroids ** 2).sum(1)[None]
        return distances.argmin(1)

    def _closed_loop(self, backbone: np.ndarray) -> np.ndarray:
        first = ideal_first_residue()
        filled = fill_missing(backbone)
        rotation, shift = kabsch(filled[0], first)
        target = filled @ rotation.T + shift
        count = len(backbone)
        codes = np.empty(count, dtype=np.int64)
        # Residue 0: its C is the decoder's; psi and omega place the next N and CA.
        phi, psi, omega = self.torsions(np.arange(self.size)).T
        n, ca, c = first
        next_n = place(n, ca, c, IDEAL_BONDS["C-N"], IDEAL_ANGLES["CA-C-N"], psi)
        next_ca = place(np.broadcast_to(ca, next_n.shape), np.broadcast_to(c, next_n.shape), next_n,
                        IDEAL_BONDS["N-CA"], IDEAL_ANGLES["C-N-CA"], omega)
        codes[0] = np.argmin(((next_n - target[1, 0]) ** 2).sum(-1) + ((next_ca - target[1, 1]) ** 2).sum(-1))
        triple = np.stack([c, next_n[codes[0]], next_ca[codes[0]]])  # C(i-1), N(i), CA(i)
        # Residues 1..: the atoms a code places, seen from the frame of C(i-1), N(i), CA(i), are the
        # same for every residue (the decoded chain has ideal geometry): one table lookup each.
        table, table_norms = self._placements
        for i in range(1, count):
            axes, origin = _frame(triple)
            wanted = np.concatenate([target[i, 2:], target[i + 1, :2]] if i + 1 < count else [target[i, 2:]])
            local = ((wanted - origin) @ axes.T).reshape(-1)
            width = len(local)
            codes[i] = np.argmin(table_norms[width] - 2 * table[:, :width] @ local)
            triple = table[codes[i]].reshape(3, 3) @ axes + origin
        return codes

    @functools.cached_property
    def _placements(self) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """(codes, 9): C(i), N(i+1), CA(i+1) placed by each code, in the frame of an ideal C(i-1), N(i),
        CA(i); and the squared norms of each row's first 3 and all 9 values."""
        phi, psi, omega = self.torsions(np.arange(self.size)).T
        ideal = rebuild(np.zeros((2, 3)))  # any ideal chain: its C0, N1, CA1 are a reference triple
        reference = np.stack([ideal[0, 2], ideal[1, 0], ideal[1, 1]])
        axes, origin = _frame(reference)
        a, b, c = (np.broadcast_to(point, (self.size, 3)) for point in reference)
        placed_c = place(a, b, c, IDEAL_BONDS["CA-C"], IDEAL_ANGLES["N-CA-C"], phi)
        placed_n = place(b, c, placed_c, IDEAL_BONDS["C-N"], IDEAL_ANGLES["CA-C-N"], psi)
        placed_ca = place(c, placed_c, placed_n, IDEAL_BONDS["N-CA"], IDEAL_ANGLES["C-N-CA"], omega)
        table = ((np.stack([placed_c, placed_n, placed_ca], axis=1) - origin) @ axes.T).reshape(self.size, 9)
        return table, {width: (table[:, :width] ** 2).sum(1) for width in (3, 9)}

    def torsions(self, codes: np.ndarray) -> np.ndarray:
        sines, cosines = self.centroids[codes, :3], self.centroids[codes, 3:]
        return np.arctan2(sines, cosines)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(residues, 3, 3) backbone of N, CA, C with ideal bond geometry."""
        codes = np.asarray(codes)
        if codes.ndim != 1 or len(codes) == 0 or codes.min() < 0 or codes.max() >= len(self.centroids):
            raise ValueError(f"codes must be a non-empty list of integers in [0, {len(self.centroids)})")
        return rebuild(self.torsions(codes))

    @property
    def size(self) -> int:
        return len(self.centroids)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"centroids": self.centroids}, str(path), metadata={"kind": KIND})

    @classmethod
    def load(cls, path: Path, closed_loop: bool = True) -> "TorsionCodebook":
        from safetensors.numpy import load_file

        return cls(load_file(str(path))["centroids"], closed_loop)
