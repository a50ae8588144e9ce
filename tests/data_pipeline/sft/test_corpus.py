"""The SFT corpus as a whole, on the demo corpus (every family, built once per run): no held-out
entity trains, no test gene or protein has a near-copy in training (checked apart from the split's
own clustering), rRNA is held out by organism, samples equal the exported tokenizer's chat template
token for token, packs decode back to their samples, every example is accounted for."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import selfies as sf
from rdkit import Chem

from data_pipeline.sft.rendered import parse_rendered
from biomatrix_io.packed_sft import PackedSplit
from data_pipeline.sft.splits import nucleotide_entity, organism_entity, protein_entity
from data_pipeline.sft.tasks import families
from data_pipeline.sft.tasks.base import placeholders
from data_pipeline.sft.tasks.nucleic import reverse_complement
from megatron_bio.tokenizer.segments import Modality

BY_ORGANISM = {"rrna_genus"}  # tasks held out by organism (meta.organism), not by sequence identity


def _records(root: Path, split: str) -> list[dict]:
    return [json.loads(line) for path in sorted((root / "records" / split).glob("*.jsonl")) for line in open(path)]


def _key(smiles: str) -> str:
    return "mol:" + Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


def _entities(record: dict, table: dict) -> set[str]:
    """Every molecule, protein and DNA/RNA sequence a record holds, read back from its rendered
    text, keyed as the split table keys them (InChIKey, sequence hash), and the organism of a task
    held out by organism; a multi-fragment segment that is not one entity (a reaction's reactants)
    counts each fragment."""
    found = {organism_entity(record["meta"]["organism"])[0]} if record["task"] in BY_ORGANISM else set()
    for message in record["messages"]:
        for segment in parse_rendered(message["content"]):
            if segment.modality in (Modality.SMILES, Modality.SELFIES):
                smiles = segment.value if segment.modality is Modality.SMILES else sf.decoder(segment.value)
                whole = _key(smiles)
                found.update([whole] if whole in table else map(_key, smiles.split(".")))
            elif segment.modality is Modality.PROTEIN:
                found.add(protein_entity(segment.value))
            elif segment.modality in (Modality.DNA, Modality.RNA) and record["task"] not in BY_ORGANISM:
                found.add(nucleotide_entity(segment.value))
    return found


@pytest.fixture(scope="module")
def corpus(sft_corpus):
    config, manifest = sft_corpus
    return Path(config.out), config, manifest


@pytest.fixture(scope="module")
def exported(corpus):
    """The corpus's tokenizer as a Hugging Face directory, loaded as the model card's Quick Start loads it."""
    from transformers import AutoTokenizer

    from data_pipeline.build import build_tokenizer
    from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir

    root, config, _ = corpus
    return AutoTokenizer.from_pretrained(write_hf_tokenizer_dir(build_tokenizer(config), root / "hf_tokenizer"))


def test_no_held_out_molecule_or_protein_appears_in_any_training_example(corpus):
    """Read back from the records: a test entity is in no train or valid record of any task, a valid
    entity in no train record; a record's split is the most held-out of its entities'."""
    root, _, _ = corpus
    table = json.loads((root / "work" / "splits.json").read_text())["table"]
    rank = {"train": 0, "valid": 1, "test": 2}
    seen = Counter()
    for split in ("train", "valid", "test"):
        for record in _records(root, split):
            splits = {table[e] for e in _entities(record, table)}
            seen.update(splits)
            assert all(rank[s] <= rank[split] for s in splits), (record["id"], splits)
            if splits and split != "train":
                assert split in splits, (record["id"], splits)
    assert seen["test"] > 100 and seen["train"] > 1000


def _sequences(records: list[dict], modality: Modality) -> set[str]:
    """The sequences of one modality the records' messages hold (DNA letters for RNA), but those of
    tasks held out by organism."""
    modalities = (Modality.DNA, Modality.RNA) if modality is Modality.DNA else (modality,)
    return {segment.value.replace("U", "T") for record in records if record["task"] not in BY_ORGANISM
            for message in record["messages"] for segment in parse_rendered(message["content"])
            if segment.modality in modalities}


class NearCopies:
    """Near-copies as the split promises to keep apart: >= 90% identity over >= 80% of the shorter
    sequence, either strand for DNA. Checked apart from the split's MMseqs2 clustering: exact k-mer
    hits (a 90%-identical copy keeps most of them) pick candidates, a local alignment decides."""

    def __init__(self, sequences: set[str], k: int, nucleotides: bool):
        from Bio.Align import PairwiseAligner, substitution_matrices

        self.k, self.nucleotides, self.sequences = k, nucleotides, sorted(sequences)
        self.index: dict[str, set[int]] = {}
        for number, sequence in enumerate(self.sequences):
            for start in range(len(sequence) - k + 1):
                self.index.setdefault(sequence[start:start + k], set()).add(number)
        self.aligner = (PairwiseAligner(mode="local", match_score=2, mismatch_score=-3, open_gap_score=-5,
                                        extend_gap_score=-2) if nucleotides else
                        PairwiseAligner(mode="local", substitution_matrix=substitution_matrices.load("BLOSUM62"),
                                        open_gap_score=-11, extend_gap_score=-1))

    def of(self, query: str) -> list[str]:
        """The indexed sequences that are near-copies of `query` (or, for DNA, of its reverse complement)."""
        found = []
        for strand in (query, reverse_complement(query)) if self.nucleotides else (query,):
            hits = Counter(n for start in range(len(strand) - self.k + 1) for n in self.index.get(strand[start:start + self.k], ()))
            for number, shared in hits.items():
                other = self.sequences[number]
                if shared >= 0.05 * (min(len(strand), len(other)) - self.k + 1) and self._near(strand, other):
                    found.append(other)
        return found

    def _near(self, first: str, second: str) -> bool:
        if self.nucleotides:
            first, second = (s.translate(str.maketrans("RYSWKMBDHV", "NNNNNNNNNN")) for s in (first, second))
        alignment = self.aligner.align(first, second)[0]
        coordinates = alignment.coordinates
        covered = min(coordinates[0][-1] - coordinates[0][0], coordinates[1][-1] - coordinates[1][0])
        identity = alignment.counts().identities / alignment.length
        return identity >= 0.9 and covered >= 0.8 * min(len(first), len(second))


def test_no_test_gene_or_protein_has_a_near_copy_in_training_and_rrna_is_held_out_by_organism(corpus):
    """A held-out (test-split) DNA/RNA sequence or protein of any task has no near-copy in any
    training record. (A test record may also hold a training entity, as an affinity pair holds a
    training protein beside its test molecule: entities, not records, are what is held out.)"""
    root, _, _ = corpus
    train, test = _records(root, "train"), _records(root, "test")
    table = json.loads((root / "work" / "splits.json").read_text())["table"]
    genes = NearCopies(_sequences(train, Modality.DNA), 12, nucleotides=True)
    test_genes = {g for g in _sequences(test, Modality.DNA) if table[nucleotide_entity(g)] == "test"}
    assert len(test_genes) > 20 and not [g for g in test_genes if genes.of(g)]
    proteins = NearCopies(_sequences(train, Modality.PROTEIN), 5, nucleotides=False)
    test_proteins = {p for p in _sequences(test, Modality.PROTEIN) if table[protein_entity(p)] == "test"}
    assert len(test_proteins) > 20 and not [p for p in test_proteins if proteins.of(p)]
    # The check finds near-copies where there are some: training holds genes shared by several loci.
    assert any(len([g for g in genes.of(gene) if g != gene]) for gene in sorted(genes.sequences)[:200])
    organisms = {split: {r["meta"]["organism"] for r in records if r["task"] in BY_ORGANISM}
                 for split, records in (("train", train), ("test", test))}
    assert organisms["test"] and organisms["train"] and not organisms["test"] & organisms["train"]


@pytest.mark.parametrize("name", sorted(families()))
def test_every_family_has_records_and_packed_samples(corpus, name):
    root, config, manifest = corpus
    family = families()[name]
    assert name in config.tasks, f"the demo config does not run {name}"
    assert len(set(family.templates)) >= 6
    for task in family.task_names():
        counts = manifest["per_task"][task]
        assert counts["written"].get("train", 0) > 0, counts
        assert counts["samples"].get("train", 0) >= counts["written"]["train"]
        records = _records(root, "train")
        mine = [r for r in records if r["task"] == task]
        assert mine and all(placeholders(family.templates[r["template"]]) <= set(r["input"]) for r in mine)


def test_a_sample_equals_the_exported_chat_template_and_masks_only_the_answer(corpus, exported):
    from data_pipeline.build import build_tokenizer
    from data_pipeline.sft.render import ChatEncoder

    root, config, manifest = corpus
    train = PackedSplit(root / "shards" / "train")
    packed = {}
    for index in range(len(train)):
        pack = train[index]
        for start, length in zip([0, *pack.lengths.cumsum()[:-1]], pack.lengths):
            packed[tuple(pack.tokens[start:start + length])] = pack.loss_mask[start:start + length]
    encoder = ChatEncoder(build_tokenizer(config), config.sequence_length)
    seen = set()
    for record in _records(root, "train"):
        if record["task"] in seen:
            continue
        seen.add(record["task"])
        ids = exported.apply_chat_template(record["messages"], tokenize=True, return_dict=False)
        [sample] = encoder.samples([record["messages"]])[0]
        assert list(sample.tokens) == list(ids), record["id"]
        mask = packed[tuple(ids)]  # the very sample is in a pack, with its mask
        answer = exported.decode([t for t, m in zip(ids, mask) if m])
        assert answer == record["messages"][-1]["content"] + "<|im_end|>", record["id"]
        assert exported.decode(ids[:len(ids) - int(mask.sum()) - 1]).endswith("<|im_start|>assistant\n")
    assert len(seen) == len(manifest["tasks"])


def test_packs_hold_whole_samples_and_the_manifest_accounts_for_every_example(corpus):
    root, config, manifest = corpus
    for split in ("train", "valid"):
        packs = PackedSplit(root / "shards" / split)
        figures = manifest["splits"][split]
        assert len(packs) == figures["packs"]
        samples, tokens, per_task = 0, 0, Counter()
        for index in range(len(packs)):
            pack = packs[index]
            assert len(pack.tokens) <= config.sequence_length
            starts = [0, *pack.lengths.cumsum()[:-1]]
            assert all(pack.loss_mask[s] == 0 for s in starts)  # a sample's first token is never a target
            samples += len(pack.lengths)
            tokens += len(pack.tokens)
            per_task.update(pack.tasks.tolist())
        assert (samples, tokens) == (figures["samples"], figures["tokens"])
        assert figures["packing_efficiency"] == pytest.approx(tokens / (len(packs) * config.sequence_length), abs=1e-6)
        names = {t["id"]: t["name"] for t in manifest["tasks"]}
        assert {names[i]: n for i, n in per_task.items()} == {t: c["samples"][split] for t, c in manifest["per_task"].items()
                                                            if c["samples"].get(split)}
    for task, counts in manifest["per_task"].items():
        assert counts["offered"] == counts["used"] + sum(counts["skipped"].values()), task
        assert counts["examples"] >= counts["used"]
        assert counts["examples"] == sum(counts["written"].values()) + sum(counts["rejected"].values()), task
        for split, written in counts["written"].items():
            lines = (root / "records" / split / f"{task}.jsonl").read_text().splitlines()
            assert len(lines) == written
