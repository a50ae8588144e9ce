"""Torsion codes: one code per residue from a k-means codebook (scipy) over backbone torsions
(phi, psi, omega as sine/cosine pairs, so angles wrap), decoded by NeRF from the code's centroid
torsions with ideal bond geometry. Codes are invariant to rigid motions (torsions are, and the
closed loop works in a frame fixed by the first residue).

Two encoders share one codebook and one decoder:

- open loop (the baseline): each residue takes the centroid nearest its own torsions. Small angle
  errors compound along the chain, so long chains drift away (TM ~0.45 on held-out chains).
- closed loop: codes are chosen against the chain as it will be decoded, the true chain superposed
  on the decoder's fixed first residue. A code fixes three atoms (its C through phi, the next N
  through psi, the next CA through omega), seen from the frame of the three atoms before them:
  every code's placement is one row of a table, the same at every residue (ideal geometry).
  Aiming every step at the true positions stops errors from accumulating along the chain.
  With `beam=1` (the greedy closed loop) each residue takes the code whose atoms land nearest the
  true ones, and that choice is final: the frame it leaves may be one from which no code reaches
  the next atoms well, and on short chains, where TM-score tolerates little absolute error, those
  steps add up. With a wider beam (the default) the encoder looks ahead over the whole chain: a
  beam search keeps the `beam` partial chains of least summed squared distance between placed and
  true atoms, extending each by the codes whose placements lie nearest its next atoms (k-d tree),
  so a code that is slightly worse now but leaves a better frame survives. At the end the
  finalists (the beam's chains and the greedy one) are compared after optimal superposition
  (Kabsch RMSD), which is how they are judged, and the best one's codes are returned: never worse
  than the greedy closed loop on that measure.
  Atoms missing from the file are aimed at positions interpolated along the chain from the
  residues on either side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from megatron_bio.structure.geometry import frames, kabsch, kabsch_rmsd

from .backbone import IDEAL_ANGLES, IDEAL_BONDS, ideal_first_residue, place, rebuild, residue_torsions

CODES = 4096
KIND = "torsion-kmeans"  # the safetensors metadata that tells a torsion codebook from the VQ-VAE
FIT_RESIDUES = 400_000  # k-means sees at most this many residues (a fixed random sample)
# Closed-loop lookahead: partial chains kept per residue (1: greedy), and codes tried per kept
# chain (its nearest placements). Chosen from quality against speed: benchmarks/RESULTS.md.
BEAM = 8
CANDIDATES = 8


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
    """Axes (rows) and origin of the frame of C(i-1), N(i), CA(i) ((..., 3, 3), batched): origin CA,
    x along N -> CA, y toward C(i-1) in their plane (geometry.frames; ideal chains are never
    collinear there)."""
    axes, _ = frames(triple[..., 1, :], triple[..., 2, :], triple[..., 0, :])
    return axes, triple[..., 2, :]


@dataclass
class TorsionCodebook:
    centroids: np.ndarray  # (codes, 6): sine/cosine of phi, psi, omega
    closed_loop: bool = True
    beam: int = BEAM  # closed loop: partial chains kept per residue (1: the greedy closed loop)

    def __post_init__(self):
        if self.beam < 1:
            raise ValueError(f"beam width {self.beam}: at least 1 (1 is the greedy closed loop)")

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
        filled = fill_missing(backbone)
        rotation, shift = kabsch(filled[0], ideal_first_residue())
        target = filled @ rotation.T + shift
        codes, chains = self._search(target, self.beam)
        if self.beam > 1:  # the greedy chain is a finalist too: lookahead is never worse than it
            greedy_codes, greedy_chain = self._search(target, 1)
            codes, chains = np.concatenate([codes, greedy_codes]), np.concatenate([chains, greedy_chain])
        present = ~np.isnan(backbone).any(axis=(1, 2))
        truth = filled[present].reshape(-1, 3)
        return codes[int(np.argmin([kabsch_rmsd(truth, chain[present].reshape(-1, 3)) for chain in chains]))]

    def _search(self, target: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Beam search: the (<= width, residues) code sequences whose decoded atoms lie nearest the
        target's (least summed squared distance), best first, and their (<= width, residues, 3, 3)
        decoded chains."""
        count = len(target)
        first = ideal_first_residue()
        trees, table, (turns, shifts) = self._trees, self._placements, self._moves

        def extend(costs: np.ndarray, queries: np.ndarray, key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """(parent, code, cost) of the `width` cheapest extensions among each partial chain's
            nearest placements (identical placements are one point: the lowest code stands for them)."""
            tree, codes_of = trees[key]
            tries = np.arange(1, min(CANDIDATES if width > 1 else 1, tree.n) + 1)
            distances, near = tree.query(queries, k=tries)
            total = (costs[:, None] + distances ** 2).reshape(-1)
            keep = np.argsort(total, kind="stable")[:width]
            return keep // len(tries), codes_of[near.reshape(-1)[keep]], total[keep]

        # Residue 0: the decoder fixes its atoms; its psi and omega place the next N and CA.
        parent, code, costs = extend(np.zeros(1), target[1, :2].reshape(1, 6), "first")
        placed = [self._first_placements[code].reshape(-1, 2, 3)]
        parents, chosen = [parent], [code]
        axes, origin = _frame(np.concatenate([np.broadcast_to(first[2], (len(code), 1, 3)), placed[0]], axis=1))
        for i in range(1, count):
            wanted = np.concatenate([target[i, 2:], target[i + 1, :2]] if i + 1 < count else [target[i, 2:]])
            queries = ((wanted - origin[:, None]) @ axes.transpose(0, 2, 1)).reshape(len(axes), -1)
            parent, code, costs = extend(costs, queries, queries.shape[1])
            axes, origin = axes[parent], origin[parent]
            placed.append(table[code].reshape(-1, 3, 3) @ axes + origin[:, None])
            axes, origin = turns[code] @ axes, (shifts[code][:, None] @ axes)[:, 0] + origin
            parents.append(parent)
            chosen.append(code)
        slots = np.arange(len(costs))
        codes = np.empty((len(slots), count), dtype=np.int64)
        chains = np.empty((len(slots), count, 3, 3))
        chains[:, 0] = first
        for i in range(count - 1, -1, -1):  # back along the kept chains: codes and placed atoms
            codes[:, i] = chosen[i][slots]
            atoms = placed[i][slots]
            if i == 0:
                chains[:, 1, :2] = atoms
            else:
                chains[:, i, 2] = atoms[:, 0]
                if i + 1 < count:
                    chains[:, i + 1, :2] = atoms[:, 1:]
            slots = parents[i][slots]
        return codes, chains

    @functools.cached_property
    def _first_placements(self) -> np.ndarray:
        """(codes, 6): N(1), CA(1) placed by each code's psi and omega after the decoder's first residue."""
        _, psi, omega = self.torsions(np.arange(self.size)).T
        n, ca, c = ideal_first_residue()
        next_n = place(n, ca, c, IDEAL_BONDS["C-N"], IDEAL_ANGLES["CA-C-N"], psi)
        next_ca = place(np.broadcast_to(ca, next_n.shape), np.broadcast_to(c, next_n.shape), next_n,
                        IDEAL_BONDS["N-CA"], IDEAL_ANGLES["C-N-CA"], omega)
        return np.concatenate([next_n, next_ca], axis=1)

    @functools.cached_property
    def _placements(self) -> np.ndarray:
        """(codes, 9): C(i), N(i+1), CA(i+1) placed by each code, in the frame of an ideal C(i-1), N(i), CA(i)."""
        phi, psi, omega = self.torsions(np.arange(self.size)).T
        ideal = rebuild(np.zeros((2, 3)))  # any ideal chain: its C0, N1, CA1 are a reference triple
        reference = np.stack([ideal[0, 2], ideal[1, 0], ideal[1, 1]])
        axes, origin = _frame(reference)
        a, b, c = (np.broadcast_to(point, (self.size, 3)) for point in reference)
        placed_c = place(a, b, c, IDEAL_BONDS["CA-C"], IDEAL_ANGLES["N-CA-C"], phi)
        placed_n = place(b, c, placed_c, IDEAL_BONDS["C-N"], IDEAL_ANGLES["CA-C-N"], psi)
        placed_ca = place(c, placed_c, placed_n, IDEAL_BONDS["N-CA"], IDEAL_ANGLES["C-N-CA"], omega)
        return ((np.stack([placed_c, placed_n, placed_ca], axis=1) - origin) @ axes.T).reshape(self.size, 9)

    @functools.cached_property
    def _moves(self) -> tuple[np.ndarray, np.ndarray]:
        """Each code's step from one residue's frame to the next's, both ideal: axes (codes, 3, 3) and
        origin (codes, 3) of the frame of C(i), N(i+1), CA(i+1) in that of C(i-1), N(i), CA(i); the
        search composes these instead of building every frame from its atoms."""
        return _frame(self._placements.reshape(-1, 3, 3))

    @functools.cached_property
    def _trees(self) -> dict:
        """k-d trees (scipy) over the distinct placements, with the lowest code of each: for the first
        residue (6 values), inner residues (9) and the last residue, which places only its C (3)."""
        from scipy.spatial import cKDTree

        def tree(points: np.ndarray):
            distinct, lowest_code = np.unique(points, axis=0, return_index=True)
            return cKDTree(distinct), lowest_code

        return {"first": tree(self._first_placements), 9: tree(self._placements), 3: tree(self._placements[:, :3])}

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
    def load(cls, path: Path, closed_loop: bool = True, beam: int = BEAM) -> "TorsionCodebook":
        from safetensors.numpy import load_file

        return cls(load_file(str(path))["centroids"], closed_loop, beam)
