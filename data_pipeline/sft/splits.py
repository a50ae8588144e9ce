"""ONE entity-to-split table for every task of the corpus, computed once over all examples.

- A molecule is keyed by its InChIKey and grouped by its Bemis-Murcko scaffold (an acyclic
  molecule, whose scaffold is empty, is a group of its own); a protein is keyed by a hash of its
  sequence and grouped with every sequence it is similar to: the connected components of
  MMseqs2's alignments at >= `splits.protein_identity` identity covering >= 80% of one of the two
  sequences (so a fragment joins its parent), the threshold of the protein structure tokenizer's
  split. MMseqs2 rather than that split's all-pairs global alignment, which suits a few hundred
  chains but not the tens of thousands of sequences of a corpus (all pairs of the demo's 774
  sequences already take many minutes in Python). 3D chains follow their sequences.
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
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from biomatrix_io.config import ConfigError

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


def protein_groups(proteins: dict[str, str], identity: float) -> dict[str, str]:
    """protein key -> group key (`family:` + the smallest key of its connected component), from
    `mmseqs easy-cluster` in connected-component mode, one thread (the same groups on every run),
    single-step with 5-mers (a few seconds for a thousand sequences; its default cascade with
    larger k-mers costs three times that and merges fewer remote homologs)."""
    if not proteins:
        return {}
    mmseqs = shutil.which("mmseqs")
    if mmseqs is None:
        raise ConfigError("grouping proteins for the split needs MMseqs2: install the Debian package mmseqs2 "
                          "(`make install` as root)")
    with tempfile.TemporaryDirectory(prefix="biomatrix-mmseqs-") as folder:
        work = Path(folder)
        (work / "in.fasta").write_text("".join(f">{key}\n{proteins[key]}\n" for key in sorted(proteins)))
        subprocess.run([mmseqs, "easy-cluster", str(work / "in.fasta"), str(work / "out"), str(work / "tmp"),
                        "--min-seq-id", str(identity), "-c", "0.8", "--cov-mode", "1", "--cluster-mode", "1",
                        "--single-step-clustering", "1", "-k", "5", "--threads", "1", "-v", "1"], check=True, capture_output=True)
        pairs = [line.split("\t") for line in (work / "out_cluster.tsv").read_text().splitlines()]
    members: dict[str, list[str]] = {}
    for representative, member in pairs:
        members.setdefault(representative, []).append(member)
    group_of = {}
    for cluster in members.values():
        name = "family:" + min(cluster)
        group_of.update({key: name for key in cluster})
    missing = set(proteins) - set(group_of)
    if missing:
        raise RuntimeError(f"MMseqs2 left {len(missing)} sequences unclustered, e.g. {sorted(missing)[0]}")
    return group_of


def split_table(groups: dict[str, str], forced_test: Iterable[str], config: SplitConfig, seed: int) -> dict[str, str]:
    """entity key -> split. `groups`: entity key -> group key (molecules: `molecule_entity`,
    proteins: `protein_groups`); `forced_test`: entity keys a file declares test."""
    group_of = dict(groups)
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
