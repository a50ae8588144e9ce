"""Task families of molecules in 3D: unconditional and property-conditioned generation, SMILES -> 3D.

Entities are molecules with a `molecule_3d` field (the structure tokenizer's joint `[SYMBOL CODE]`
string), QM9's DFT geometries through the `qm9_3d` reader in the first place. The answer of every
family is that string as a molecule_3d segment.

Property-conditioned generation follows EDM's protocol: QM9 is cut into two halves by a fixed rule,
one to train the property classifier that scores generated molecules, the other to train the
generator; examples come from the generator's half only, and the evaluation job trains its
classifier on the other (`edm_half`). The rule: sha256 of the molecule's canonical SMILES, first
8 bytes as a big-endian integer, even -> "classifier", odd -> "generator". Keying by molecule (not
by QM9 index) keeps a molecule that QM9 lists twice in one half. The halves sit on top of the
corpus split (train/valid/test by scaffold), which decides as for every other task.

One family per property (alpha, gap, HOMO, LUMO, mu, Cv), as EDM trains and scores one model per
property; values are the reader's (`read_qm9_3d`: atomic units for orbital energies), written in
the units EDM reports: eV for HOMO/LUMO/gap (1 hartree = 27.211386245988 eV, CODATA 2018),
bohr^3 for alpha, debye for mu, cal/(mol K) for Cv.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Callable, Iterator

from .base import Example, Skip, TaskFamily, molecule_3d, number, require, smiles, text

HARTREE_EV = 27.211386245988


def edm_half(canonical_smiles: str) -> str:
    """"classifier" or "generator": the EDM half a QM9 molecule belongs to (module docstring)."""
    value = int.from_bytes(hashlib.sha256(canonical_smiles.encode()).digest()[:8], "big")
    return "classifier" if value % 2 == 0 else "generator"


@dataclass(frozen=True)
class Conditioned:
    """A property a generation is conditioned on: the entity's property key, how prompts name it,
    the unit written, the factor from the source's unit to it, and the decimals written."""

    name: str
    key: str
    phrase: str
    unit: str
    scale: float
    digits: int

    def value(self, entity: dict) -> float:
        found = (entity.get("properties") or {}).get(self.key)
        if found is None:
            raise Skip(f"no property {self.key}")
        return float(found) * self.scale


CONDITIONS: tuple[Conditioned, ...] = (
    Conditioned("alpha", "alpha_bohr3", "isotropic polarizability", "bohr^3", 1.0, 2),
    Conditioned("gap", "gap_hartree", "HOMO-LUMO gap", "eV", HARTREE_EV, 3),
    Conditioned("homo", "homo_hartree", "HOMO energy", "eV", HARTREE_EV, 3),
    Conditioned("lumo", "lumo_hartree", "LUMO energy", "eV", HARTREE_EV, 3),
    Conditioned("mu", "mu_debye", "dipole moment", "D", 1.0, 2),
    Conditioned("cv", "cv_cal_per_mol_k", "heat capacity at 298 K", "cal/(mol K)", 1.0, 3),
)


def _structure(entity: dict) -> tuple[str, str]:
    written, tokens = require(entity, "smiles", "molecule_3d")
    return written, tokens


def _unconditional(entity: dict, rng: random.Random) -> Iterator[Example]:
    written, tokens = _structure(entity)
    yield Example(fields={}, answer=(molecule_3d(tokens),), molecules=(written,))


def _conditional(condition: Conditioned) -> Callable[[dict, random.Random], Iterator[Example]]:
    def make(entity: dict, rng: random.Random) -> Iterator[Example]:
        written, tokens = _structure(entity)
        value = condition.value(entity)
        if edm_half(written) != "generator":
            raise Skip("in the EDM classifier half")
        written_value = f"{number(value, condition.digits)} {condition.unit}"
        fields = {"property": text(condition.phrase), "value": text(written_value)}
        meta = {"property": condition.name, "value": value, "unit": condition.unit, "half": "generator"}
        yield Example(fields=fields, answer=(molecule_3d(tokens),), molecules=(written,), meta=meta)

    return make


def _from_smiles(entity: dict, rng: random.Random) -> Iterator[Example]:
    written, tokens = _structure(entity)
    yield Example(fields={"molecule": smiles(written)}, answer=(molecule_3d(tokens),), molecules=(written,))


UNCONDITIONAL_TEMPLATES = (
    "Generate a small molecule together with its 3D structure.",
    "Propose a stable small organic molecule and write it with 3D structure tokens.",
    "Design a small molecule of a few heavy atoms in three dimensions.",
    "Write out the 3D structure of a small organic compound of your choice.",
    "Give me one small molecule with its three-dimensional geometry.",
    "Create a new molecule and describe it with 3D structure tokens.",
)
CONDITIONAL_TEMPLATES = (
    "Generate a small molecule in 3D whose {property} is {value}.",
    "Design a 3D molecular structure whose {property} is {value}.",
    "Propose a molecule, with its 3D geometry, whose {property} equals {value}.",
    "I am looking for a small molecule whose {property} is {value}. Give its 3D structure.",
    "Sample a small molecule in three dimensions, targeting {value} for its {property}.",
    "Create a molecule with 3D structure tokens whose computed {property} is close to {value}.",
)
FROM_SMILES_TEMPLATES = (
    "Give the 3D structure tokens of the molecule {molecule}.",
    "Predict a three-dimensional conformation for {molecule}.",
    "Here is a molecule: {molecule}. Write it out with 3D structure tokens.",
    "Convert {molecule} into its 3D representation.",
    "What does {molecule} look like in three dimensions? Answer with structure tokens.",
    "Generate a 3D geometry for the compound {molecule}.",
)

FAMILIES: tuple[TaskFamily, ...] = (
    TaskFamily(name="unconditional_3d", category="molecule_3d", kinds=("molecule",), make=_unconditional,
               templates=UNCONDITIONAL_TEMPLATES, metric="molecule_3d_stability",
               description="unconditional 3D molecule generation: a molecule's 3D structure tokens "
                           "(QM9 DFT geometries)"),
    *(TaskFamily(name=f"conditional_3d_{c.name}", category="molecule_3d", kinds=("molecule",), make=_conditional(c),
                 templates=CONDITIONAL_TEMPLATES, metric="molecule_3d_property",
                 description=f"3D generation conditioned on the {c.phrase} ({c.unit}), EDM protocol: QM9 molecules of "
                             "the generator half only (`edm_half`); scored by a classifier trained on the other half")
      for c in CONDITIONS),
    TaskFamily(name="smiles_to_3d", category="molecule_3d", kinds=("molecule",), make=_from_smiles,
               templates=FROM_SMILES_TEMPLATES, metric="molecule_3d_stability", variants=("smiles", "selfies"),
               description="a molecule's 1D notation -> its 3D structure tokens (QM9 DFT geometries)"),
)
