"""ONE entity-to-split table for every task of the corpus, computed once over all examples.

- A molecule is keyed by its InChIKey and grouped by its Bemis-Murcko scaffold (an acyclic
  molecule, whose scaffold is empty, is a group of its own); a protein is keyed by a hash of its
  sequence and grouped with every sequence it is similar to: the connected components of
  MMseqs2's alignments at >= `splits.protein_identity` identity covering >= 80% of one of the two
  sequences (so a fragment joins its parent), the threshold of the protein structure tokenizer's
  split. MMseqs2 rather than that split's all-pairs global alignment, which suits a few hundred
  chains but not the tens of thousands of sequences of a corpus (all pairs of the demo's 774
  sequences already take many minutes in Python). 3D chains follow their sequences.
- A DNA or RNA sequence is keyed by a hash of its strand-canonical form (DNA letters, the smaller
  of the sequence and its reverse complement: a sequence and its reverse complement are one entity)
  and grouped by MMseqs2 over nucleotides, both strands, at >= `splits.nucleotide_identity` (0.9)
  identity over >= 80% of the shorter sequence: a CDS, the genome windows that hold it and its
  near-copies in other genomes are one group. A CDS and the protein it encodes (`Example.encodes`)
  join their groups, so that a protein near-copy whose gene differs by synonymous codons is held
  out with it. An organism (rRNA tasks, held out by organism rather than by identity: 16S
  sequences of one genus are mostly >= 90% identical, so identity groups would hold whole genera)
  is its own group.
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
    return _mmseqs_components(proteins, "family:", ["--dbtype", "1", "--min-seq-id", str(identity), "-k", "5"])


# Nucleotides: a CDS is 1-3 kb, a genome window up to a few kb. 11-mers: 15-mers (MMseqs2's
# nucleotide default) allocate a 5^15 index (0.5 GB, 15 s for a hundred sequences); 7-mers flood the
# prefilter's per-query slots with chance hits and split true near-copies; 9- and 11-mers find them.
# Up to 100 prefilter hits per query, not 20: a conserved gene has hundreds of near-copies.
_NUCLEOTIDE_KMER = 11
_NUCLEOTIDE_MAX_HITS = 100
_COMPLEMENT = str.maketrans("ACGTRYKMBVDHSWN", "TGCAYRMKVBHDSWN")


def canonical_strand(sequence: str) -> str:
    """A DNA or RNA sequence as its strand-canonical DNA form: U written T, then the smaller of the
    sequence and its reverse complement (so both strands of a sequence are one entity)."""
    forward = sequence.upper().replace("U", "T")
    reverse = forward.translate(_COMPLEMENT)[::-1]
    return min(forward, reverse)


def nucleotide_entity(sequence: str) -> str:
    return "nt:" + hashlib.sha256(canonical_strand(sequence).encode()).hexdigest()[:24]


def organism_entity(organism: str) -> tuple[str, str]:
    """(entity key, group key) of an organism: its name, whitespace- and case-folded."""
    name = " ".join(organism.split()).lower()
    return "org:" + name, "organism:" + name


def nucleotide_groups(sequences: dict[str, str], identity: float) -> dict[str, str]:
    """nucleotide key -> group key (`nt-family:` + the smallest key of its connected component):
    MMseqs2 over nucleotides (it aligns both strands), >= `identity` over >= 80% of the shorter
    sequence of a pair, connected components, one thread."""
    return _mmseqs_components(sequences, "nt-family:", ["--dbtype", "2", "--min-seq-id", str(identity),
                                                        "-k", str(_NUCLEOTIDE_KMER), "--max-seqs", str(_NUCLEOTIDE_MAX_HITS)])


def _mmseqs_components(sequences: dict[str, str], prefix: str, options: list[str]) -> dict[str, str]:
    """key -> `prefix` + the smallest key of its connected component under `mmseqs easy-cluster`
    (connected-component mode, single step, coverage >= 80% of the target: every sequence is a
    query, so a pair passes when it covers 80% of its shorter member)."""
    if not sequences:
        return {}
    mmseqs = shutil.which("mmseqs")
    if mmseqs is None:
        raise ConfigError("grouping sequences for the split needs MMseqs2: install the Debian package mmseqs2 "
                          "(`make install` as root)")
    with tempfile.TemporaryDirectory(prefix="biomatrix-mmseqs-") as folder:
        work = Path(folder)
        (work / "in.fasta").write_text("".join(f">{key}\n{sequences[key]}\n" for key in sorted(sequences)))
        subprocess.run([mmseqs, "easy-cluster", str(work / "in.fasta"), str(work / "out"), str(work / "tmp"), *options,
                        "-c", "0.8", "--cov-mode", "1", "--cluster-mode", "1", "--single-step-clustering", "1",
                        "--threads", "1", "-v", "1"], check=True, capture_output=True)
        pairs = [line.split("\t") for line in (work / "out_cluster.tsv").read_text().splitlines()]
    members: dict[str, list[str]] = {}
    for representative, member in pairs:
        members.setdefault(representative, []).append(member)
    group_of = {}
    for cluster in members.values():
        name = prefix + min(cluster)
        group_of.update({key: name for key in cluster})
    missing = set(sequences) - set(group_of)
    if missing:
        raise RuntimeError(f"MMseqs2 left {len(missing)} sequences unclustered, e.g. {sorted(missing)[0]}")
    return group_of


def entity_groups(entities: dict[str, str], links: Iterable[tuple[str, str]], config: SplitConfig) -> dict[str, str]:
    """entity key -> group key for every entity of a corpus. `entities`: key -> what grouping
    reads (a molecule's or an organism's group key; a protein's or a nucleotide sequence's
    sequence); `links`: pairs of keys whose groups join (a CDS and its protein). A joined group is
    named by its smallest member group, so the names do not depend on the order of the links."""
    by_kind: dict[str, dict[str, str]] = {"prot": {}, "nt": {}, "other": {}}
    for key, value in entities.items():
        kind = key.split(":", 1)[0]
        by_kind[kind if kind in ("prot", "nt") else "other"][key] = value
    groups = {**by_kind["other"], **protein_groups(by_kind["prot"], config.protein_identity),
              **nucleotide_groups(by_kind["nt"], config.nucleotide_identity)}
    parent: dict[str, str] = {}

    def root(group: str) -> str:
        while group in parent:
            group = parent[group]
        return group

    for a, b in links:
        first, second = sorted((root(groups[a]), root(groups[b])))
        if first != second:
            parent[second] = first
    return {key: root(group) for key, group in groups.items()}


def split_table(groups: dict[str, str], forced_test: Iterable[str], config: SplitConfig, seed: int) -> dict[str, str]:
    """entity key -> split. `groups`: entity key -> group key (`entity_groups`); `forced_test`:
    entity keys a file declares test."""
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
