"""Protein chains from real PDB files (Debian theseus-examples) and mmCIF written from them: sequence,
backbone, first model, alternate locations, non-standard residues, filters and unreadable files."""

import gzip
import shutil

import numpy as np
import pytest
from Bio.SeqUtils import seq1

from biomatrix_io.readers import packaged
from biomatrix_io.records import ProteinRecord, Rejection
from biomatrix_io.readers.chains import (
    ChainFilter,
    longest_gap,
    protein_residues,
    read_chains,
    read_structure,
)


def example(name: str):
    return next(p for p in packaged.theseus_structures() if p.name == name)


def pdb_lines(name: str) -> list[str]:
    with gzip.open(example(name), "rt") as handle:
        return handle.read().splitlines()


def ca_atoms(lines: list[str], chain: str) -> list[tuple[str, np.ndarray]]:
    """(residue name, CA coordinates) of ATOM/HETATM CA records of a chain, first model only, one per
    residue: parsed by hand, independently of biotite."""
    seen, out = set(), []
    for line in lines:
        if line.startswith("ENDMDL"):
            break
        if line.startswith(("ATOM", "HETATM")) and line[12:16] == " CA " and line[21] == chain:
            key = line[22:27]
            if key not in seen:
                seen.add(key)
                out.append((line[17:20], np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])))
    return out


def test_chain_sequence_and_backbone_match_the_file():
    [record] = list(read_chains(example("1a5z_A.pdb.gz")))
    assert isinstance(record, ProteinRecord)
    assert record.provenance.record_id == "1a5z_A:A" and record.provenance.location == "model 1 chain A"
    cas = ca_atoms(pdb_lines("1a5z_A.pdb.gz"), "A")
    assert record.sequence == seq1("".join(name for name, _ in cas))
    assert record.sequence.startswith("MKI")
    assert record.backbone.shape == (len(record.sequence), 3, 3)
    np.testing.assert_allclose(record.backbone[:, 1], np.stack([xyz for _, xyz in cas]), atol=1e-3)
    np.testing.assert_allclose(record.backbone[0, 0], [111.918, 36.419, 46.656], atol=1e-3)  # N of MET 22


def test_first_model_only_and_sequence_equals_seqres():
    records = list(read_chains(example("2sdf.pdb.gz")))  # NMR, 30 models
    assert len(records) == 1
    seqres = "".join(line[19:70] for line in pdb_lines("2sdf.pdb.gz") if line.startswith("SEQRES")).split()
    assert records[0].sequence == seq1("".join(seqres))
    cas = ca_atoms(pdb_lines("2sdf.pdb.gz"), "A")  # stops at the first ENDMDL
    np.testing.assert_allclose(records[0].backbone[:, 1], np.stack([xyz for _, xyz in cas]), atol=1e-3)


def test_nucleic_acid_chain_is_rejected_protein_chain_kept():
    records = {r.provenance.record_id: r for r in read_chains(example("1s40.pdb.gz"))}
    assert set(records) == {"1s40:A", "1s40:B"}
    assert isinstance(records["1s40:A"], ProteinRecord)
    assert records["1s40:B"].reason == "non-protein chain: nucleic acid"


def test_non_standard_residues_take_their_parent_letter():
    for name, chain, residue, letter in [("d1kyow_.pdb.gz", "W", "M3L", "K"), ("1pzg_A.pdb.gz", "A", "CME", "C")]:
        atoms = read_structure(example(name))
        residues = protein_residues(atoms[atoms.chain_id == chain], chain)
        assert residue in residues.res_names  # a HETATM residue peptide-bonded inside the chain
        assert residues.sequence[residues.res_names.index(residue)] == letter
        assert len(residues.sequence) == len(ca_atoms(pdb_lines(name), chain))


def test_free_amino_acids_and_caps_stay_out_of_the_chain():
    atoms = read_structure(example("2dfd_A.pdb.gz"))  # HETATM HIS 3301-ALA 3302, a dipeptide on its own
    residues = protein_residues(atoms, "A")
    atom_residues = {line[22:27] for line in pdb_lines("2dfd_A.pdb.gz") if line.startswith("ATOM")}
    assert len(residues.res_names) == len(atom_residues) and residues.res_ids.max() < 3301
    atoms = read_structure(example("3ldh_A.pdb.gz"))  # ACE 0, the acetyl cap
    assert "ACE" not in protein_residues(atoms, "A").res_names


def test_alternate_locations_highest_occupancy_then_first():
    atoms = read_structure(example("1TRM_A.pdb.gz"))  # HIS 57: A at 0.30, B at 0.70
    his = atoms[atoms.res_id == 57]
    assert len(set(his.atom_name.tolist())) == len(his)
    np.testing.assert_allclose(his.coord[his.atom_name == "CA"][0], [13.446, 6.981, -6.922], atol=1e-3)
    atoms = read_structure(example("1bdm_A.pdb.gz"))  # GLU 27: numbered altlocs 1 and 2, both 0.50
    glu = atoms[atoms.res_id == 27]
    assert len(set(glu.atom_name.tolist())) == len(glu) == 9
    np.testing.assert_allclose(glu.coord[glu.atom_name == "CB"][0], [24.024, 25.424, 45.148], atol=1e-3)


def test_numbering_jumps_between_bonded_residues_are_not_gaps():
    atoms = read_structure(example("1A0J_A.pdb.gz"))  # trypsin, chymotrypsin numbering
    residues = protein_residues(atoms, "A")
    assert np.diff(residues.res_ids).max() > 1
    assert longest_gap(residues)[0] == 0


def edited_pdb(tmp_path, name: str, drop) -> str:
    """A copy of a real PDB file without the ATOM lines `drop(line)` selects."""
    out = tmp_path / name.replace(".gz", "")
    out.write_text("\n".join(line for line in pdb_lines(name) if not (line.startswith("ATOM") and drop(line))) + "\n")
    return out


def test_filters_reject_with_reasons(tmp_path):
    residues = len(ca_atoms(pdb_lines("1a5z_A.pdb.gz"), "A"))
    [short] = list(read_chains(example("1a5z_A.pdb.gz"), ChainFilter(min_residues=1000)))
    assert short.reason == f"too short: {residues} residues with N, CA and C (minimum 1000)"
    no_n = edited_pdb(tmp_path, "1a5z_A.pdb.gz", lambda line: line[12:16] == " N  " and int(line[22:26]) % 4 == 0)
    [missing] = list(read_chains(no_n))
    assert isinstance(missing, Rejection) and "lack N, CA or C" in missing.reason
    gapped = edited_pdb(tmp_path, "1a5z_A.pdb.gz", lambda line: 100 <= int(line[22:26]) < 130)
    [gap] = list(read_chains(gapped))
    assert gap.reason == "gap of 30 missing residues after residue 99 (maximum 20)"
    [kept] = list(read_chains(gapped, ChainFilter(max_gap=30)))
    assert isinstance(kept, ProteinRecord) and len(kept.sequence) == len(ca_atoms(gapped.read_text().splitlines(), "A"))


def test_mmcif_gives_the_same_chains(tmp_path):
    import biotite.structure.io.pdbx as pdbx

    atoms = read_structure(example("1s40.pdb.gz"))
    cif = pdbx.CIFFile()
    pdbx.set_structure(cif, atoms)
    cif.write(str(tmp_path / "1s40.cif"))
    with open(tmp_path / "1s40.cif", "rb") as source, gzip.open(tmp_path / "1s40.cif.gz", "wb") as target:
        shutil.copyfileobj(source, target)
    bcif = pdbx.BinaryCIFFile()
    pdbx.set_structure(bcif, atoms)
    bcif.write(str(tmp_path / "1s40.bcif"))
    from_pdb = list(read_chains(example("1s40.pdb.gz")))
    for path in (tmp_path / "1s40.cif", tmp_path / "1s40.cif.gz", tmp_path / "1s40.bcif"):
        from_cif = list(read_chains(path))
        assert [type(r) for r in from_cif] == [type(r) for r in from_pdb]
        assert [r.provenance.record_id for r in from_cif] == ["1s40:A", "1s40:B"]
        assert from_cif[0].sequence == from_pdb[0].sequence
        np.testing.assert_allclose(from_cif[0].backbone, from_pdb[0].backbone, atol=1e-3)


def test_unreadable_files_are_one_rejection_each(tmp_path):
    real = example("1a5z_A.pdb.gz").read_bytes()
    text = gzip.decompress(real)
    cases = {
        "truncated.pdb.gz": real[: len(real) // 2],
        "bad_byte.pdb": text[:5000] + b"\xff" + text[5000:],
        "empty.pdb": b"",
        "garbage.cif": b"this is not a CIF file\n",
        "model.xyz": text,
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        [rejection] = list(read_chains(tmp_path / name))
        assert isinstance(rejection, Rejection) and rejection.provenance.location == "file", name
        assert rejection.provenance.record_id in (name.split(".")[0], name) and rejection.reason
    [bad_byte] = list(read_chains(tmp_path / "bad_byte.pdb"))
    assert bad_byte.reason == "not UTF-8 text: byte 0xff at offset 5000"
    with pytest.raises(FileNotFoundError):
        list(read_chains(tmp_path / "absent.pdb"))
