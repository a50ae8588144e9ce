"""Protein, interaction and science-text task families over real entities (metastudent-data,
Swiss-Prot, THESEUS structures and entries, MoleculeACE, GO, ChEBI), and the readers they need:
the metastudent BLAST database reader (real files, and a small database the test writes in the
same format), MoleculeACE target sequences, chain contacts of entries split into chain files."""

from __future__ import annotations

import itertools
import math
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from biomatrix_io.readers import packaged
from biomatrix_io.readers.interactions import MOLECULEACE_TARGETS, read_moleculeace
from biomatrix_io.readers.metastudent import ASPECTS, open_blast_db, read_metastudent
from biomatrix_io.readers.structures import read_complexes
from biomatrix_io.records import ComplexRecord, ProteinRecord, Rejection
from data_pipeline.sft.tasks import families
from data_pipeline.sft.tasks.base import Skip, fill, placeholders
from data_pipeline.sft.tasks.interaction import CONTACT_MIN_PAIRS
from megatron_bio.tokenizer.segments import Modality

FAMILIES = families()
MINE = {
    "go_molecular_function": "mfo", "go_biological_process": "bpo", "subcellular_localization": "cco",
    "protein_function": "swissprot", "protein_keywords": "swissprot", "protein_design": "swissprot",
    "protein_generation": "genes", "protein_folding": "chains", "protein_inverse_folding": "chains",
    "protein_co_generation": "chains", "protein_backbone_generation": "chains",
    "molecule_protein_affinity": "affinity", "protein_contact_pairs": "entries",
    "go_term_definition": "go", "chebi_definition": "chebi",
}
SOURCES = {
    "mfo": ("metastudent", ["packaged:metastudent_mfo"], 6, {}),
    "bpo": ("metastudent", ["packaged:metastudent_bpo"], 4, {}),
    "cco": ("metastudent", ["packaged:metastudent_cco"], 4, {}),
    "swissprot": ("swissprot", ["packaged:emboss_swissprot"], 6, {}),
    "genes": ("fasta", ["packaged:pyrodigal_protein_fastas"], 4, {}),
    "chains": ("structure_chains", ["packaged:theseus_structures"], 4, {}),
    "affinity": ("moleculeace", ["packaged:moleculeace_csvs"], 4, {"target_sequences": True}),
    "entries": ("complexes", ["packaged:theseus_entries"], 2, {"entry_files": True}),
    "go": ("go_terms", ["packaged:go_obo"], 4, {}),
    "chebi": ("chebi_obo", ["packaged:chebi_obo"], 30, {}),
}


@pytest.fixture(scope="module")
def source(entities):
    cache: dict[str, list[dict]] = {}

    def get(name: str) -> list[dict]:
        if name not in cache:
            reader, paths, limit, options = SOURCES[name]
            cache[name] = entities(reader, paths, limit, **options)
        return cache[name]

    return get


def _examples(family, entities):
    made, skipped = [], []
    for entity in entities:
        try:
            made.extend((entity, example) for example in family.make(entity, random.Random(entity["key"])))
        except Skip as skip:
            skipped.append(str(skip))
    return made, skipped


@pytest.mark.parametrize("name", sorted(MINE))
def test_every_family_makes_examples_from_real_entities(name, source):
    family = FAMILIES[name]
    made, _ = _examples(family, source(MINE[name]))
    assert made, f"{name}: no example"
    for entity, example in made:
        assert example.answer and all(segment.value for segment in example.answer)
        for template in family.templates:
            assert placeholders(template) == set(example.fields)
            fill(template, example.fields)
        held = {s.value for s in (*example.fields.values(), *example.answer) if s.modality is Modality.PROTEIN}
        assert held <= set(example.proteins)
        smiles = {s.value for s in (*example.fields.values(), *example.answer) if s.modality is Modality.SMILES}
        assert smiles <= set(example.molecules)
    again, _ = _examples(family, source(MINE[name]))  # same entity, same seed: the same examples
    assert [e for _, e in again] == [e for _, e in made]


def test_go_answers_are_the_readers_annotations(source):
    names = dict(line.rstrip("\n").split("\t", 1) for line in open(packaged.METASTUDENT / "nameMapping.txt"))
    for ontology, name, aspect in (("mfo", "go_molecular_function", "F"), ("cco", "subcellular_localization", "C")):
        annotation_lines = open(packaged.METASTUDENT / ontology.upper() / "goasp_annot.dat")
        for (entity, example), line in zip(_examples(FAMILIES[name], source(ontology))[0], annotation_lines):
            accession, *ids = line.split()
            assert entity["name"] == accession == example.meta["accession"]
            assert example.meta["labels"] == sorted(set(ids))
            assert example.answer[0].value == "; ".join(f"{names[i]} ({i})" for i in sorted(set(ids)))
            assert example.fields["sequence"].value == entity["sequence"] and ASPECTS[ontology.upper()] == aspect


def test_metastudent_reads_the_real_database_in_order():
    pin = packaged.metastudent_mfo()
    db = open_blast_db(pin)
    assert len(db) == 459_503
    first = list(itertools.islice(read_metastudent(pin), 300))
    assert all(isinstance(r, ProteinRecord) for r in first)
    lines = list(itertools.islice(open(pin.parent / "goasp_annot.dat"), 300))
    assert [r.name for r in first] == [line.split()[0] for line in lines]
    assert first[0].sequence.startswith("MGSASRASLDSARRVLAELGG") and first[0].provenance.location == "oid 0"
    assert all(a.split(" ", 1)[1].startswith("F:") for r in first for a in r.annotations)


def _write_blast_db(folder: Path, records: list[tuple[bytes, bytes]]) -> Path:
    """A BLAST v4 protein database in the format of metastudent's: (header bytes, NCBIstdaa bytes)."""
    phr = b"".join(header for header, _ in records)
    psq = b"\0" + b"".join(codes + b"\0" for _, codes in records)
    headers = np.cumsum([0] + [len(h) for h, _ in records])
    sequences = np.cumsum([1] + [len(c) + 1 for _, c in records])
    title, date = b"small", b"Jan 20, 2022  10:32 AM\0\0"
    pin = struct.pack(">III", 4, 1, len(title)) + title + struct.pack(">I", len(date)) + date
    pin += struct.pack(">I", len(records)) + struct.pack("<Q", sum(len(c) for _, c in records)) + struct.pack(">I", 99)
    pin += headers.astype(">u4").tobytes() + sequences.astype(">u4").tobytes()
    folder.mkdir(parents=True)
    (folder / "goasp.fasta.pin").write_bytes(pin)
    (folder / "goasp.fasta.phr").write_bytes(phr)
    (folder / "goasp.fasta.psq").write_bytes(psq)
    return folder / "goasp.fasta.pin"


def test_metastudent_entries_are_records_plus_rejections(tmp_path):
    real = open_blast_db(packaged.metastudent_cco())
    take = [real.phr[real.headers[k]:real.headers[k + 1]] for k in range(6)]
    codes = [real.psq[real.sequences[k]:real.sequences[k + 1] - 1] for k in range(6)]
    codes[3] = codes[3][:5] + bytes([25]) + codes[3][6:]  # a stop code inside the sequence
    take[4] = b"\x30\x80garbage"
    pin = _write_blast_db(tmp_path / "dataset" / "CCO", list(zip(take, codes)))
    real_lines = list(itertools.islice(open(packaged.METASTUDENT / "CCO" / "goasp_annot.dat"), 6))
    lines = real_lines[:2] + ["P99999\tGO:0005737\n", real_lines[3], real_lines[4], "Q00001\tGO:0005737\n", "Q00002\tGO:0005634\n"]
    (pin.parent / "goasp_annot.dat").write_text("".join(lines))
    (tmp_path / "dataset" / "nameMapping.txt").write_text((packaged.METASTUDENT / "nameMapping.txt").read_text())
    results = list(read_metastudent(pin))
    records = [r for r in results if isinstance(r, ProteinRecord)]
    rejections = [r for r in results if isinstance(r, Rejection)]
    assert len(results) == len(records) + len(rejections) == 7  # 6 sequences + 1 surplus annotation line
    assert [r.name for r in records] == [line.split()[0] for line in real_lines[:2]]
    reasons = [r.reason for r in rejections]
    assert "annotation line names 'P99999'" in reasons[0]
    assert reasons[1] == "not a residue letter: '*'"
    assert "defline" in reasons[2]
    assert "annotation line names 'Q00001'" in reasons[3]
    assert reasons[4] == "annotation line without a database sequence"
    assert list(read_metastudent(tmp_path / "goasp.fasta.pin"))[0].reason.startswith("folder")


def test_folding_and_inverse_folding_over_structure_chains(source):
    chains = [e for e in source("chains") if e["structure_codes"]]
    assert len(chains) >= 3
    for entity in chains:
        rng = random.Random(0)
        (folded,) = FAMILIES["protein_folding"].make(entity, rng)
        (codes,) = folded.answer
        assert codes.modality is Modality.PROTEIN_3D and len(codes.value) == len(folded.fields["sequence"].value)
        assert list(codes.value) == entity["structure_codes"]
        (inverse,) = FAMILIES["protein_inverse_folding"].make(entity, rng)
        assert inverse.answer[0].value == entity["sequence"] and inverse.fields["structure"].value == codes.value
        (joint,) = FAMILIES["protein_co_generation"].make(entity, rng)
        assert [s.modality for s in joint.answer] == [Modality.PROTEIN, Modality.PROTEIN_3D]
        assert joint.fields["length"].value == str(len(entity["sequence"])) == str(len(joint.answer[1].value))


def test_a_protein_without_codes_and_a_one_chain_complex_are_skips(source, entities):
    swissprot = source("swissprot")[0]
    for name in ("protein_folding", "protein_inverse_folding", "protein_co_generation", "protein_backbone_generation"):
        with pytest.raises(Skip, match="no structure_codes"):
            list(FAMILIES[name].make(swissprot, random.Random(0)))
    (one_chain,) = entities("complexes", [str(packaged.THESEUS_EXAMPLES / "ldh" / "1a5z_A.pdb.gz")], 1)
    assert len(one_chain["proteins"]) == 1 and one_chain["ligands"]
    with pytest.raises(Skip, match="fewer than two protein chains"):
        list(FAMILIES["protein_contact_pairs"].make(one_chain, random.Random(0)))
    with pytest.raises(Skip, match="no GO molecular function terms"):
        list(FAMILIES["go_molecular_function"].make(swissprot, random.Random(0)))


def test_affinity_answers_match_the_source(source):
    for entity, example in _examples(FAMILIES["molecule_protein_affinity"], source("affinity"))[0]:
        assert entity["unit"] == "nM" and example.meta["source_value"] == entity["value"]
        assert float(example.answer[0].value) == pytest.approx(9 - math.log10(entity["value"]), abs=0.005)
        assert example.fields["target"].value == entity["sequence"] and example.meta["measure"] == "pKi"
    no_target = dict(source("affinity")[0], sequence=None)
    with pytest.raises(Skip, match="no target sequence"):
        list(FAMILIES["molecule_protein_affinity"].make(no_target, random.Random(0)))


def test_moleculeace_target_sequences_cover_all_29_targets():
    path = next(p for p in packaged.moleculeace_csvs() if p.name == "CHEMBL1862_Ki.csv")
    record = next(read_moleculeace(path, target_sequences=True))
    assert record.sequence.startswith("MLEICLKLVGCKSKKG") and len(record.sequence) == 1130  # ABL1 isoform 1A
    from biomatrix_io.readers.interactions import moleculeace_target_sequences

    assert set(moleculeace_target_sequences()) == {accession for accession, _ in MOLECULEACE_TARGETS.values()}


def test_contact_pairs_from_an_entry_split_into_chain_files(source):
    entity = source("entries")[0]
    assert entity["title"] == "1bdm" and len(entity["proteins"]) == 2 and entity["contacts"] == [[0, 1, 125]]
    made, _ = _examples(FAMILIES["protein_contact_pairs"], source("entries"))
    labels = [example.answer[0].value for _, example in made]
    assert labels.count("yes") == labels.count("no") >= 2
    for entity, example in made:
        chains = {chain["sequence"] for chain in entity["proteins"]}
        held = set(example.proteins)
        if example.answer[0].value == "yes":
            assert held <= chains and example.meta["contact_residue_pairs"] >= CONTACT_MIN_PAIRS
        else:
            assert len(held & chains) == 1 and example.meta["decoy"].startswith("UniProt ")


def test_chain_file_siblings_and_superposed_files_are_rejected():
    ldh = packaged.THESEUS_EXAMPLES / "ldh"
    (sibling,) = read_complexes(ldh / "1bdm_B.pdb.gz", entry_files=True)
    assert isinstance(sibling, Rejection) and sibling.reason == "a chain file of entry 1bdm, read with 1bdm_A.pdb.gz"
    superposed = list(read_complexes(packaged.THESEUS_EXAMPLES / "trypsins" / "1SGF_A.pdb.gz", entry_files=True))[-1]
    assert isinstance(superposed, Rejection) and "not in one frame: chains A and G overlap" in superposed.reason
    (alone,) = [r for r in read_complexes(ldh / "1bdm_A.pdb.gz") if r.provenance.location == "entry"]
    assert isinstance(alone, ComplexRecord) and len(alone.proteins) == 1 and alone.contacts == ()


def test_science_text_definitions(source):
    (go,) = FAMILIES["go_term_definition"].make(source("go")[0], random.Random(0))
    assert go.fields["term"].value == "mitochondrion inheritance"
    assert go.answer[0].value.startswith("The distribution of mitochondria")
    with pytest.raises(Skip, match="not a GO term"):
        list(FAMILIES["go_term_definition"].make(dict(source("go")[0], id="PMID:1"), random.Random(0)))
    made, _ = _examples(FAMILIES["chebi_definition"], source("chebi"))
    for entity, example in made:
        assert example.answer[0].value == entity["description"] and example.molecules == (entity["smiles"],)
