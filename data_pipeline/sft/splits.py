"""ONE entity-to-split table for every task of the corpus, computed once over all examples.

- A molecule is keyed by its InChIKey and grouped by its Bemis-Murcko scaffold (an acyclic
  molecule, whose scaffold is empty, is a group of its own); a protein is keyed by a hash of its
  sequence and grouped with every sequence it is similar to (the rule and code of the protein
  structure tokenizer's split: identity >= `splits.protein_identity` over the longer chain, or a
  fragment of it), so 3D chains follow their sequences.
- A group goes to test, valid or train by a hash of (seed, group): whole scaffolds and whole
  families are held out together.
- A group that holds an entity of an imported record whose file declares it test (SMolInstruct's
  test file, say) is test, so that benchmark's molecules never train.
- An example's split is the most held-out split among its entities and its declared split
  (test > valid > train): a reaction with one test reactant, or a pair with a test protein, is a test
  example. So a test entity appears in no training or validation example of any task. An example
  without entities (a text question) is split by a hash of its id.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Optional

from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from .config import SPLITS, SplitConfig

RANK = {split: rank for rank, split in enumerate(SPLITS)}


def molecule_entity(smiles: str) -> tuple[str, str]:
    """(entity key, group key) of a molecule; ValueError when RDKit cannot read it."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"RDKit cannot parse the SMILES {smiles[:60]!r}")
    key = "mol:" + Chem.MolToInchiKey(mol)
    if key == "mol:":
        raise ValueError(f"no InChIKey for {smiles[:60]!r}")
    scaffold = MurckoScaffold.MurckoScaffoldSmiles(mol=mol)
    return key, ("scaffold:" + scaffold) if scaffold else key


def protein_entity(sequence: str) -> str:
    return "prot:" + hashlib.sha256(sequence.encode()).hexdigest()[:24]


def _draw(seed: int, name: str, config: SplitConfig) -> str:
    value = int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big") / 2**64
    return "test" if value < config.test else "valid" if value < config.test + config.valid else "train"


def split_table(molecule_groups: dict[str, str], proteins: dict[str, str], forced_test: Iterable[str],
                config: SplitConfig, seed: int) -> dict[str, str]:
    """entity key -> split. `molecule_groups`: molecule key -> group key; `proteins`: protein key ->
    sequence; `forced_test`: entity keys a file declares test."""
    from megatron_bio.structure.protein.corpus import similarity_groups

    group_of = dict(molecule_groups)
    keys = sorted(proteins)
    components = similarity_groups([proteins[k] for k in keys], config.protein_identity)
    representative: dict[int, str] = {}
    for key, component in zip(keys, components):
        representative.setdefault(component, key)  # keys sorted: the smallest key names the group
    group_of.update({key: "family:" + representative[c] for key, c in zip(keys, components)})
    forced = {group_of[k] for k in forced_test if k in group_of}
    group_split = {g: "test" if g in forced else _draw(seed, g, config) for g in sorted(set(group_of.values()))}
    return {key: group_split[group] for key, group in group_of.items()}


def example_split(entities: Iterable[str], table: dict[str, str], declared: Optional[str], example_id: str,
                  config: SplitConfig, seed: int) -> str:
    """The most held-out split among the example's entities and its declared split."""
    splits = [table[e] for e in entities]
    if declared:
        splits.append(declared)
    if not splits:
        return _draw(seed, "example:" + example_id, config)
    return max(splits, key=RANK.__getitem__)
