"""Conformers for molecules that arrive without 3D (SMILES-only sources): RDKit ETKDGv3 embedding,
then MMFF94 optimization, seeded so that the same input gives the same conformer."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import StructureTokenError


@dataclass(frozen=True)
class ConformerConfig:
    seed: int = 42
    timeout_s: int = 10  # RDKit's per-fragment embedding time limit
    attempts: int = 3  # embedding tries (ETKDG, then random-coordinate starts)
    mmff_iterations: int = 500
    max_heavy_atoms: int = 100  # larger molecules are rejected up front: embedding cost grows fast


def generate_conformer(smiles: str, config: ConformerConfig = ConformerConfig(), where: str = "molecule"):
    """An RDKit molecule with explicit hydrogens and one MMFF-optimized conformer, or a
    `StructureTokenError` saying why not (unparsable, too large, embedding failed, no MMFF types)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem, rdDistGeom

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise StructureTokenError(where, f"RDKit cannot parse SMILES {smiles!r}")
    if mol.GetNumHeavyAtoms() > config.max_heavy_atoms:
        raise StructureTokenError(where, f"{mol.GetNumHeavyAtoms()} heavy atoms, more than the limit of {config.max_heavy_atoms}")
    mol = Chem.AddHs(mol)
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = config.seed
    params.timeout = config.timeout_s
    for attempt in range(config.attempts):
        params.useRandomCoords = attempt > 0
        if rdDistGeom.EmbedMolecule(mol, params) == 0:
            break
    else:
        raise StructureTokenError(where, f"ETKDG embedding failed after {config.attempts} attempts")
    if not AllChem.MMFFHasAllMoleculeParams(mol):
        raise StructureTokenError(where, "MMFF94 has no parameters for some atom")
    AllChem.MMFFOptimizeMolecule(mol, maxIters=config.mmff_iterations)
    return mol
