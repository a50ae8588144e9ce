"""The 1D forms of a molecule every stage agrees on: RDKit canonical isomeric SMILES and the SELFIES
of that SMILES. One place, so the SELFIES inventory, the shards and the evaluations see the same
strings for the same molecule."""

from __future__ import annotations

import selfies as sf
from rdkit import Chem


class MoleculeFormError(ValueError):
    """A SMILES that has no canonical form or no SELFIES; the message is the rejection reason."""


def canonical_smiles(smiles: str) -> str:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise MoleculeFormError("RDKit cannot parse the SMILES")
    return Chem.MolToSmiles(mol)


def canonical_selfies(smiles: str) -> tuple[str, str]:
    """(canonical SMILES, its SELFIES)."""
    canonical = canonical_smiles(smiles)
    try:
        return canonical, sf.encoder(canonical)
    except sf.EncoderError as error:
        raise MoleculeFormError(f"selfies cannot encode it: {str(error).splitlines()[0][:80]}") from None
