"""The non-learned baseline the protein structure tokenizer is measured against: one code per
residue from k-means (scipy) over its backbone torsions (phi, psi, omega as sine/cosine pairs, so
angles wrap), decoded by NeRF from the code's centroid torsions with ideal bond geometry.

It has the tokenizer's interface (codes aligned with the residues, 4,096 by default) and is
invariant to rigid motions by construction (torsions are). What it cannot do is keep long chains
in place: small angle errors compound along the chain, which the reconstruction table shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backbone import rebuild, residue_torsions

CODES = 4096


def features(table: np.ndarray) -> np.ndarray:
    """(residues, 3) phi/psi/omega -> (residues, 6) sines and cosines; undefined angles (chain ends)
    take the zero vector, equally far from every direction."""
    both = np.concatenate([np.sin(table), np.cos(table)], axis=-1)
    return np.nan_to_num(both, nan=0.0)


@dataclass
class TorsionCodebook:
    centroids: np.ndarray  # (codes, 6): sine/cosine of phi, psi, omega

    @classmethod
    def fit(cls, backbones: list[np.ndarray], codes: int = CODES, seed: int = 0, iterations: int = 20) -> "TorsionCodebook":
        from scipy.cluster.vq import kmeans2

        points = np.concatenate([features(residue_torsions(b)) for b in backbones])
        if len(points) < codes:
            raise ValueError(f"{len(points)} residues cannot seed {codes} codes")
        # Random data points as seeds: scipy's k-means++ seeding is quadratic in the number of codes.
        centroids, _ = kmeans2(points, codes, iter=iterations, minit="points", seed=seed)
        return cls(centroids.astype(np.float64))

    def encode(self, backbone: np.ndarray) -> np.ndarray:
        """One code per residue: the nearest centroid."""
        points = features(residue_torsions(backbone))
        distances = (points ** 2).sum(1)[:, None] - 2 * points @ self.centroids.T + (self.centroids ** 2).sum(1)[None]
        return distances.argmin(1)

    def torsions(self, codes: np.ndarray) -> np.ndarray:
        sines, cosines = self.centroids[codes, :3], self.centroids[codes, 3:]
        return np.arctan2(sines, cosines)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(residues, 3, 3) backbone of N, CA, C with ideal bond geometry."""
        return rebuild(self.torsions(np.asarray(codes)))

    def usage(self, codes: np.ndarray) -> dict:
        """Used codes and the perplexity of their distribution."""
        counts = np.bincount(np.asarray(codes), minlength=len(self.centroids))
        p = counts[counts > 0] / counts.sum()
        return {"used": int((counts > 0).sum()), "perplexity": float(np.exp(-(p * np.log(p)).sum()))}

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        save_file({"centroids": self.centroids}, str(path), metadata={"kind": "torsion-kmeans"})

    @classmethod
    def load(cls, path: Path) -> "TorsionCodebook":
        from safetensors.numpy import load_file

        return cls(load_file(str(path))["centroids"])
