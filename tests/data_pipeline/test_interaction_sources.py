"""Affinity readers over the real MoleculeACE benchmark and over damaged tables: every row is a
record or a named rejection, never an exception."""

import csv
import gzip
import re

import pytest

from biomatrix_io.readers import packaged
from biomatrix_io.readers.interactions import MOLECULEACE_TARGETS, read_affinity_table, read_moleculeace
from biomatrix_io.records import AffinityRecord, Rejection


def _split(results):
    records = [r for r in results if isinstance(r, AffinityRecord)]
    rejections = [r for r in results if isinstance(r, Rejection)]
    assert len(records) + len(rejections) == len(results)
    return records, rejections


def test_moleculeace_accounts_for_every_row_of_the_30_sets():
    paths = packaged.moleculeace_csvs()
    assert len(paths) == 30
    rows = sum(len(path.read_text().splitlines()) - 1 for path in paths)
    records, rejections = _split([r for path in paths for r in read_moleculeace(path)])
    assert len(records) + len(rejections) == rows == 48_714
    assert not rejections
    assert {r.measure for r in records} == {"Ki", "EC50"} and {r.unit for r in records} == {"nM"}
    assert all(r.sequence is None and r.value > 0 for r in records)
    assert {r.target for r in records} == {f"{name} (UniProt {accession})" for accession, name in MOLECULEACE_TARGETS.values()}


def test_moleculeace_first_row_and_target_table():
    path = next(p for p in packaged.moleculeace_csvs() if p.name == "CHEMBL1862_Ki.csv")
    first = next(read_moleculeace(path))
    assert first.smiles == "Nc1[nH]cnc2nnc(-c3ccc(Cl)cc3)c1-2" and first.value == 500.0
    assert (first.measure, first.target) == ("Ki", "Tyrosine-protein kinase ABL1 (UniProt P00519)")
    assert first.provenance.location == "line 2" and first.provenance.record_id == "CHEMBL1862_Ki.csv:2"
    file_targets = {p.stem.split("_")[0] for p in packaged.moleculeace_csvs()}
    assert set(MOLECULEACE_TARGETS) == file_targets and len(file_targets) == 29
    accessions = [accession for accession, _ in MOLECULEACE_TARGETS.values()]
    assert len(set(accessions)) == 29
    assert all(re.fullmatch(r"[OPQ][0-9][A-Z0-9]{3}[0-9]", accession) for accession in accessions)


def _real_rows(n):
    path = next(p for p in packaged.moleculeace_csvs() if p.name == "CHEMBL204_Ki.csv")
    with open(path, newline="") as handle:
        return [row for _, row in zip(range(n), csv.DictReader(handle))]


@pytest.mark.parametrize("name", ["affinities.csv", "affinities.tsv.gz"])
def test_affinity_table_over_real_rows(tmp_path, name):
    rows = _real_rows(50)
    path = tmp_path / name
    delimiter = "\t" if ".tsv" in name else ","
    lines = [delimiter.join(["ligand", "seq", "ki_nM", "unit", "type", "uniprot"])]
    lines += [delimiter.join([r["smiles"], "", r["exp_mean [nM]"], "nM", "Ki", "P00734"]) for r in rows]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    records = list(read_affinity_table(path, "ligand", "seq", "ki_nM", "unit", "type", target_column="uniprot"))
    assert [r.smiles for r in records] == [r["smiles"] for r in rows]
    assert [r.value for r in records] == [float(r["exp_mean [nM]"]) for r in rows]
    assert all(isinstance(r, AffinityRecord) and r.sequence is None and r.target == "P00734" for r in records)


# --------------------------------------------------------------------------------- bad input


def test_every_bad_row_is_one_named_rejection(tmp_path):
    good = "CC(=O)Oc1ccccc1C(=O)O,MKTAYIAKQR,12.5,nM,Ki"
    lines = [
        "smiles,sequence,value,unit,measure",
        good,  # line 2
        ",MKT,1,nM,Ki",  # 3: empty SMILES
        "CCO,MKT,abc,nM,Ki",  # 4
        "CCO,MKT,nan,nM,Ki",  # 5
        "CCO,MKT,inf,nM,Ki",  # 6
        "CCO,MKT,3,,Ki",  # 7
        "CCO,MKT,3,nM, ",  # 8
        "CCO,MKT,3,nM",  # 9: a field short
        "",  # 10: blank, not an entry
        "CC\xe9O,MKT,3,nM,Ki",  # 11: Latin-1 byte below
        good,  # 12
        '"CCO,MKT,3,nM,Ki',  # 13: unclosed quote swallows the rest of the file
        good,
    ]
    path = tmp_path / "bad.csv"
    path.write_bytes("\n".join(lines).encode("latin-1"))
    results = list(read_affinity_table(path))
    records, rejections = _split(results)
    assert len(results) == 11  # 12 non-blank data lines; the unclosed quote takes the last one with it
    assert [r.provenance.location for r in records] == ["line 2", "line 12"]
    assert records[0].sequence == "MKTAYIAKQR" and records[0].value == 12.5
    assert [(r.provenance.location, r.reason) for r in rejections] == [
        ("line 3", "empty SMILES"),
        ("line 4", "non-numeric value 'abc'"),
        ("line 5", "non-finite value 'nan'"),
        ("line 6", "non-finite value 'inf'"),
        ("line 7", "empty unit"),
        ("line 8", "empty measure"),
        ("line 9", "4 fields where the header has 5"),
        ("line 11", "bad UTF-8"),
        ("line 13", "1 fields where the header has 5"),
    ]


def test_missing_columns_and_bad_file_names_reject_the_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("smiles,value\nCCO,1\n")
    (rejection,) = read_affinity_table(path)
    assert rejection.provenance.location == "file" and rejection.reason.startswith("no column ['unit', 'measure', 'sequence']")
    renamed = tmp_path / "affinities.csv"
    renamed.write_bytes(packaged.moleculeace_csvs()[0].read_bytes())
    (rejection,) = read_moleculeace(renamed)
    assert rejection.provenance.location == "file" and "CHEMBL<target>_<measure>" in rejection.reason


def test_moleculeace_bad_rows(tmp_path):
    real = packaged.moleculeace_csvs()[0].read_text().splitlines()
    path = tmp_path / "CHEMBL9999999_EC50.csv"
    path.write_text("\n".join([real[0], real[1], ",5.0,-0.7,0,train", "CCO,n/a,-0.7,0,train", real[2]]) + "\n")
    records, rejections = _split(list(read_moleculeace(path)))
    assert [r.provenance.location for r in records] == ["line 2", "line 5"]
    assert records[0].target == "CHEMBL9999999" and records[0].measure == "EC50"  # not in the table: the ChEMBL id
    assert [r.reason for r in rejections] == ["empty SMILES", "non-numeric value 'n/a'"]


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_affinity_table(tmp_path / "absent.csv"))
    with pytest.raises(FileNotFoundError):
        list(read_moleculeace(tmp_path / "CHEMBL1_Ki.csv"))
