"""A protein backbone as internal coordinates and back: the atom chain N0 CA0 C0 N1 CA1 C1 ... is
described by its bond lengths, bond angles and torsions (per residue: phi, psi, omega), and rebuilt
from them by NeRF (natural extension reference frame: each atom placed from the three before it).

Rebuilding with ideal bond geometry (Engh & Huber) from torsions alone is what a torsion-only code
(the non-learned baseline of the structure tokenizer) can give back; its error grows along the
chain, which is why the learned tokenizer predicts every residue's frame jointly instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biomatrix_io.readers.chains import BACKBONE_ATOMS
from megatron_bio.structure.geometry import cross

# Engh & Huber (1991) ideal backbone geometry: bond lengths in angstroms, bond angles in radians.
IDEAL_BONDS = {"N-CA": 1.458, "CA-C": 1.525, "C-N": 1.329}
IDEAL_ANGLES = {"N-CA-C": np.deg2rad(111.2), "CA-C-N": np.deg2rad(116.2), "C-N-CA": np.deg2rad(121.7)}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def atom_chain(backbone: np.ndarray) -> np.ndarray:
    """(residues, 3, 3) N/CA/C -> (3 x residues, 3) in chain order."""
    return np.asarray(backbone, dtype=np.float64).reshape(-1, 3)


def bond_lengths(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[1:] - points[:-1], axis=-1)


def bond_angles(points: np.ndarray) -> np.ndarray:
    """Angle at each inner atom between its two bonds (radians)."""
    back, forward = _unit(points[:-2] - points[1:-1]), _unit(points[2:] - points[1:-1])
    return np.arccos(np.clip(np.sum(back * forward, axis=-1), -1.0, 1.0))


def torsions(points: np.ndarray) -> np.ndarray:
    """Torsion of every four consecutive atoms (radians, IUPAC sign, in (-pi, pi]): the one that places atom i+3."""
    b0, b1, b2 = points[1:-2] - points[:-3], points[2:-1] - points[1:-2], points[3:] - points[2:-1]
    n0, n1 = cross(b0, b1), cross(b1, b2)
    m = cross(_unit(b1), n0)
    return np.arctan2(np.sum(m * n1, axis=-1), np.sum(n0 * n1, axis=-1))


def residue_torsions(backbone: np.ndarray) -> np.ndarray:
    """(residues, 3): phi, psi, omega of each residue; NaN where undefined (phi of the first, psi and
    omega of the last)."""
    chain = torsions(atom_chain(backbone))  # 3L - 3 values: psi0, omega0, phi1, psi1, omega1, phi2, ...
    return np.concatenate([[np.nan], chain, [np.nan, np.nan]]).reshape(len(backbone), 3)


def place(a: np.ndarray, b: np.ndarray, c: np.ndarray, length: float, angle: float, dihedral: np.ndarray) -> np.ndarray:
    """The atom bonded to c at `length`, with angle b-c-atom `angle` and torsion a-b-c-atom
    `dihedral`; batched over leading dimensions (one torsion per candidate placement)."""
    bc = _unit(c - b)
    normal = _unit(cross(b - a, bc))
    across = cross(normal, bc)
    return (c + length * (-np.cos(angle) * bc + np.sin(angle) * (np.cos(dihedral)[..., None] * across
                                                                 + np.sin(dihedral)[..., None] * normal)))


def nerf(first: np.ndarray, lengths: np.ndarray, angles: np.ndarray, dihedrals: np.ndarray) -> np.ndarray:
    """Atoms from the first three and, for each next atom, its bond length, bond angle and torsion."""
    points = np.empty((3 + len(lengths), 3))
    points[:3] = first
    for i, (length, angle, dihedral) in enumerate(zip(lengths, angles, dihedrals)):
        points[i + 3] = place(points[i], points[i + 1], points[i + 2], length, angle, np.asarray(dihedral))
    return points


def ideal_first_residue() -> np.ndarray:
    """N, CA, C of a first residue with ideal bonds, in a fixed frame (N at the origin, CA on x)."""
    n, ca = np.zeros(3), np.array([IDEAL_BONDS["N-CA"], 0.0, 0.0])
    angle = IDEAL_ANGLES["N-CA-C"]
    c = ca + IDEAL_BONDS["CA-C"] * np.array([-np.cos(angle), np.sin(angle), 0.0])
    return np.stack([n, ca, c])


def rebuild(residue_table: np.ndarray) -> np.ndarray:
    """(residues, 3, 3) backbone with ideal bond geometry from (residues, 3) phi/psi/omega (the
    undefined first phi and last psi/omega are ignored)."""
    count = len(residue_table)
    if count == 0:
        return np.zeros((0, 3, 3))
    chain = residue_table.reshape(-1)[1:3 * count - 2]  # psi0, omega0, phi1, ..., phi_{L-1}
    lengths = np.tile([IDEAL_BONDS["C-N"], IDEAL_BONDS["N-CA"], IDEAL_BONDS["CA-C"]], count)[:3 * count - 3]
    angles = np.tile([IDEAL_ANGLES["CA-C-N"], IDEAL_ANGLES["C-N-CA"], IDEAL_ANGLES["N-CA-C"]], count)[:3 * count - 3]
    return nerf(ideal_first_residue(), lengths, angles, chain).reshape(count, 3, 3)


def rebuild_exact(backbone: np.ndarray) -> np.ndarray:
    """The same chain rebuilt from its own lengths, angles and torsions (a check of the NeRF itself)."""
    points = atom_chain(backbone)
    return nerf(points[:3], bond_lengths(points)[2:], bond_angles(points)[1:], torsions(points)).reshape(-1, 3, 3)


def write_backbone(backbone: np.ndarray, sequence: str, path: str | Path, chain_id: str = "A") -> Path:
    """A (residues, 3, 3) N/CA/C backbone as a PDB or mmCIF file (by suffix), residues named from
    the sequence's letters (X -> UNK)."""
    import biotite.structure as struc
    from biotite.sequence import ProteinSequence
    from biotite.structure.io import save_structure

    if len(backbone) != len(sequence):
        raise ValueError(f"{len(backbone)} residues of coordinates, {len(sequence)} letters")
    atoms = struc.AtomArray(3 * len(sequence))
    atoms.coord = np.asarray(backbone, dtype=np.float32).reshape(-1, 3)
    atoms.chain_id[:] = chain_id
    atoms.res_id = np.repeat(np.arange(1, len(sequence) + 1), 3)
    atoms.res_name = np.repeat([ProteinSequence.convert_letter_1to3(s) if s != "X" else "UNK" for s in sequence], 3)
    atoms.atom_name = np.tile(BACKBONE_ATOMS, len(sequence))
    atoms.element = np.tile(["N", "C", "C"], len(sequence))
    save_structure(str(path), atoms)
    return Path(path)
