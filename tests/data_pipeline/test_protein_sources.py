"""Protein readers over real registry data (pyrodigal FASTA, EMBOSS Swiss-Prot, Gene Ontology,
THESEUS PDB files): every entry is a record or a named rejection, bad input included."""

import gzip
import itertools

import numpy as np
import pytest

from biomatrix_io.readers import packaged
from biomatrix_io.readers.proteins import go_term_names, read_fasta, read_go_terms, read_swissprot
from biomatrix_io.records import ComplexRecord, Molecule3DRecord, ProteinRecord, Rejection, TextRecord
from biomatrix_io.readers.structures import read_complexes, read_structure_chains

RESIDUES = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def pyrodigal_file(name: str):
    return packaged.pyrodigal_protein_fastas()[0].parent / name


def split(results):
    records = [r for r in results if not isinstance(r, Rejection)]
    return records, [r for r in results if isinstance(r, Rejection)]


def assert_named(rejections):
    assert all(r.provenance.record_id and r.provenance.location and r.reason for r in rejections)


# FASTA

def test_fasta_proteins_from_a_gene_caller():
    path = pyrodigal_file("KK037166.single.faa.gz")
    with gzip.open(path, "rt") as handle:
        headers = [line[1:].split()[0] for line in handle if line.startswith(">")]
    records, rejections = split(list(read_fasta(path)))
    assert not rejections and [r.provenance.record_id for r in records] == headers
    assert records[0].sequence == "MVSRLPIRLRPAHNELAVSYLARLATLHGIAFTELWSQVSTRRRHYGIIVTLDGDL"
    assert all(set(r.sequence) <= RESIDUES for r in records)  # the stop '*' is gone
    assert records[0].name is None  # coordinates in the header are not a name


def test_nucleotide_fasta_is_rejected_per_record():
    path = pyrodigal_file("KK037166.single.fna.gz")  # the same genes' CDS, in nucleotides
    results = list(read_fasta(path))
    records, rejections = split(results)
    assert not records and len(rejections) == 22
    assert all(r.reason.startswith("nucleotide sequence") for r in rejections)


def test_bad_fasta_records_are_rejected_and_counted(tmp_path):
    real = [r for r in itertools.islice(read_fasta(pyrodigal_file("MIIJ01000039.faa.gz")), 3)]
    cru4 = next(iter(read_swissprot(packaged.emboss_swissprot()))).sequence
    with gzip.open(pyrodigal_file("KK037166.single.fna.gz"), "rt") as handle:
        dna = handle.read().split(">")[1].split("\n", 1)[1].replace("\n", "")
    text = (
        f">good {real[0].provenance.record_id}\n{real[0].sequence}\n"
        ">empty\n\n"
        f">dna\n{dna}\n"
        f">gapped\n{real[1].sequence[:20]}-{real[1].sequence[20:]}\n"
        f">lower\n{real[2].sequence.lower()}\n"
        f">sp|P15455|CRU4_ARATH 12S seed storage protein CRU4 OS=Arabidopsis thaliana OX=3702 GN=CRU4\n{cru4}\n"
    ).encode()
    bad_byte = f">bad_byte\n{real[1].sequence[:10]}".encode() + b"\xe9" + real[1].sequence[10:].encode() + b"\n"
    (tmp_path / "mixed.faa").write_bytes(text + bad_byte)
    results = list(read_fasta(tmp_path / "mixed.faa"))
    assert len(results) == 7  # records in = records out + rejected
    by_id = {r.provenance.record_id: r for r in results}
    assert by_id["sp|P15455|CRU4_ARATH"].name == "12S seed storage protein CRU4"
    assert by_id["good"].sequence == real[0].sequence and by_id["lower"].sequence == real[2].sequence
    assert by_id["empty"].reason == "empty sequence"
    assert by_id["dna"].reason.startswith("nucleotide sequence")
    assert by_id["gapped"].reason == "not a residue letter: '-'"
    assert by_id["bad_byte"].reason == "invalid UTF-8 byte in the sequence"
    assert_named(split(results)[1])


def test_unreadable_fasta_files(tmp_path):
    real = pyrodigal_file("MIIJ01000039.faa.gz").read_bytes()
    (tmp_path / "truncated.faa.gz").write_bytes(real[: len(real) // 2])
    records, rejections = split(list(read_fasta(tmp_path / "truncated.faa.gz")))
    assert len(records) > 50 and len(rejections) == 1
    assert rejections[0].provenance.location == "file" and "unreadable file" in rejections[0].reason
    (tmp_path / "notes.txt").write_text("not a FASTA file\n>x\nMKV\n")
    [rejection] = list(read_fasta(tmp_path / "notes.txt"))
    assert rejection.provenance.location == "file"
    with pytest.raises(FileNotFoundError):
        list(read_fasta(tmp_path / "absent.faa"))


# Swiss-Prot

def test_swissprot_entries_carry_name_function_and_go_terms():
    path = packaged.emboss_swissprot()
    records, rejections = split(list(read_swissprot(path)))
    assert len(records) == 100 and not rejections
    cru4 = records[0]
    assert cru4.provenance.record_id == "P15455" and cru4.provenance.location == "line 1"
    assert cru4.name == "12S seed storage protein CRU4"
    assert cru4.description == "Seed storage protein."
    assert cru4.annotations[:3] == ("protein storage vacuole", "nutrient reservoir activity",
                                    "cellular response to abscisic acid stimulus")
    assert "Seed storage protein" in cru4.annotations and "Reference proteome" not in cru4.annotations
    assert len(cru4.sequence) == 472 and cru4.sequence.startswith("MARVSSLLSFCLTLLILFHGYAAQQGQQGQ")
    assert all(set(r.sequence) <= RESIDUES and r.name for r in records)
    assert sum(r.description is not None for r in records) > 80


def test_bad_swissprot_entries_are_rejected_alone(tmp_path):
    entries = [e + "//\n" for e in packaged.emboss_swissprot().read_text().split("//\n")[:4]]
    header, sequence = entries[1].split("\nSQ   ", 1)
    truncated = header + "\nSQ   " + sequence[: len(sequence) // 2] + "\n//\n"
    dna = entries[2].split("\nSQ   ")[0] + (
        "\nSQ   SEQUENCE   40 AA;  1 MW;  0 CRC64;\n     ACGTACGTAC GTACGTACGT ACGTACGTAC GTACGTACGT\n//\n")
    bad_byte = entries[3].encode()[:100] + b"\xff" + entries[3].encode()[100:]
    tail = entries[3][:300]  # a file cut inside its last entry
    parts = [entries[0].encode(), truncated.encode(), dna.encode(), b"ID   garbage\n//\n", bad_byte, tail.encode()]
    (tmp_path / "bad.dat").write_bytes(b"".join(parts))
    results = list(read_swissprot(tmp_path / "bad.dat"))
    assert len(results) == len(parts)  # records in = records out + rejected
    records, rejections = split(results)
    assert [r.provenance.record_id for r in records] == ["P15455"]
    reasons = [r.reason for r in rejections]
    assert reasons[0].startswith("sequence of ") and reasons[0].endswith(" declared")
    assert reasons[1] == "nucleotide sequence (100% ACGTUN)"
    assert reasons[2].startswith("malformed entry")
    assert reasons[3] == "invalid UTF-8 byte in the entry"
    assert reasons[4].startswith("malformed entry")
    assert_named(rejections)


# Gene Ontology

def test_go_terms_as_text_every_stanza_accounted():
    path = packaged.go_obo()
    stanzas = path.read_text().count("[Term]\n")
    results = list(read_go_terms(path))
    records, rejections = split(results)
    assert len(results) == stanzas == 39_616
    assert sum(r.reason == "obsolete term" for r in rejections) == path.read_text().count("is_obsolete: true")
    first = records[0]
    assert isinstance(first, TextRecord) and first.provenance.record_id == "GO:0000001"
    assert first.text.startswith("mitochondrion inheritance: The distribution of mitochondria")
    assert first.title == "mitochondrion inheritance" and "[GOC" not in first.text
    names = go_term_names(path)
    assert names["GO:0005737"] == "cytoplasm" and len(names) >= stanzas


def test_bad_go_files(tmp_path):
    lines = packaged.go_obo().read_text().splitlines(keepends=True)[:200]
    text = "".join(lines)
    cut = text.rindex("def: ") + 30  # inside the last term's definition
    (tmp_path / "cut.obo").write_text(text[:cut] + "\n")
    results = list(read_go_terms(tmp_path / "cut.obo"))
    assert len(results) == text[:cut].count("[Term]")
    assert results[-1].reason == "no definition"
    compressed = gzip.compress(text.encode())
    (tmp_path / "truncated.obo.gz").write_bytes(compressed[: len(compressed) // 2])
    rejections = [r for r in read_go_terms(tmp_path / "truncated.obo.gz") if isinstance(r, Rejection)]
    assert rejections[-1].provenance.location == "file"
    text_bad = text.replace("mitochondrion inheritance", "mitochondrion inherit\udcffance", 1)
    (tmp_path / "bad.obo").write_bytes(text_bad.encode("utf-8", "surrogateescape"))
    first = next(iter(read_go_terms(tmp_path / "bad.obo")))
    assert first.provenance.record_id == "GO:0000001" and first.reason == "invalid UTF-8 byte in the term"


# Structures

def theseus(name: str):
    return next(p for p in packaged.theseus_structures() if p.name == name)


def test_structure_chains_through_the_protein_module():
    results = list(read_structure_chains(theseus("1s40.pdb.gz")))
    assert [type(r) for r in results] == [ProteinRecord, Rejection]
    protein = results[0]
    assert protein.backbone.shape == (len(protein.sequence), 3, 3)
    assert not np.isnan(protein.backbone).any()


def test_protein_ligand_complex():
    import biotite.structure.info as info
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    path = theseus("1a5z_A.pdb.gz")
    [complex_] = list(read_complexes(path))
    assert isinstance(complex_, ComplexRecord) and complex_.provenance.record_id == "1a5z_A"
    assert [p.provenance.record_id for p in complex_.proteins] == ["1a5z_A:A"]
    ids = sorted(l.provenance.record_id for l in complex_.ligands)
    assert ids == ["1a5z_A:A:FBP:353", "1a5z_A:A:FBP:354", "1a5z_A:A:NAD:352", "1a5z_A:A:OXM:355"]  # no CD, no water
    with gzip.open(path, "rt") as handle:
        nad_lines = [line for line in handle if line.startswith("HETATM") and line[17:20] == "NAD"]
    nad = next(l for l in complex_.ligands if l.properties["ccd_id"] == "NAD")
    assert isinstance(nad, Molecule3DRecord) and nad.mol.GetNumConformers() == 1
    formula = info.get_ccd()["chem_comp"]
    ccd_formula = dict(zip(formula["id"].as_array(), formula["formula"].as_array()))["NAD"].replace(" ", "")
    assert CalcMolFormula(nad.mol) == ccd_formula  # bond orders, charges and hydrogens as in the CCD
    assert sum(a.GetAtomicNum() == 1 for a in nad.mol.GetAtoms()) > 0
    positions = nad.mol.GetConformer().GetPositions()
    for atom in nad.mol.GetAtoms():
        if atom.GetAtomicNum() > 1:
            line = next(l for l in nad_lines if l[12:16].strip() == atom.GetPDBResidueInfo().GetName().strip())
            np.testing.assert_allclose(positions[atom.GetIdx()], [float(line[30:38]), float(line[38:46]), float(line[46:54])], atol=1e-3)
    Chem.SanitizeMol(Chem.Mol(nad.mol))


def test_ligand_that_cannot_be_built_is_its_own_rejection():
    results = list(read_complexes(theseus("2dfd_A.pdb.gz")))  # a free HIS-ALA dipeptide without OXT
    rejections, complex_ = results[:-1], results[-1]
    assert [r.provenance.record_id for r in rejections] == ["2dfd_A:A:HIS:3301", "2dfd_A:A:ALA:3302"]
    assert rejections[0].reason == "1 of 11 heavy atoms missing (OXT)"
    assert rejections[0].provenance.location == "model 1 chain A residue 3301"
    assert isinstance(complex_, ComplexRecord) and {l.properties["ccd_id"] for l in complex_.ligands} == {"NAD", "MLT"}


def test_two_chain_complex_and_entry_accounting(tmp_path):
    import biotite.structure as struc
    import biotite.structure.io.pdbx as pdbx
    from biomatrix_io.readers.chains import read_structure

    # 1BDM's two chains, which THESEUS ships as separate files, joined again into one mmCIF entry
    atoms = struc.concatenate([read_structure(theseus("1bdm_A.pdb.gz")), read_structure(theseus("1bdm_B.pdb.gz"))])
    cif = pdbx.CIFFile()
    pdbx.set_structure(cif, atoms)
    cif.write(str(tmp_path / "1bdm.cif"))
    [complex_] = list(read_complexes(tmp_path / "1bdm.cif"))
    assert [p.provenance.record_id for p in complex_.proteins] == ["1bdm:A", "1bdm:B"]
    assert {l.properties["ccd_id"] for l in complex_.ligands} == {"NAX"}

    real = theseus("1a5z_A.pdb.gz").read_bytes()
    (tmp_path / "cut.pdb.gz").write_bytes(real[:2000])
    paths = [theseus("1s40.pdb.gz"), theseus("1a5z_A.pdb.gz"), tmp_path / "cut.pdb.gz"]
    entries = [r for p in paths for r in read_complexes(p) if r.provenance.location in ("entry", "file")]
    assert len(entries) == len(paths)
    assert [type(r) for r in entries] == [Rejection, ComplexRecord, Rejection]
    assert entries[0].reason == "not a complex: 1 kept protein chain(s), 0 ligand(s)"
    assert entries[2].provenance.location == "file" and entries[2].provenance.record_id == "cut"
