"""Molecule readers over the real registry data: every entry is a record or a named rejection."""

import itertools

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_ccd, read_chebi_obo, read_smiles_table
from biomatrix_io.records import MoleculeRecord, Rejection


def test_qm9_and_moses_tables():
    qm9 = list(itertools.islice(read_smiles_table(packaged.qm9_csvs()[0], id_column="XYZ_file"), 3))
    assert [r.smiles for r in qm9] == ["C", "N", "O"]
    assert qm9[0].provenance.record_id == "dsgdb9nsd_000001.xyz" and qm9[0].provenance.location == "line 2"
    moses = next(iter(read_smiles_table(packaged.moses_csvs()[0])))
    assert moses.smiles == "CCCS(=O)c1ccc2[nH]c(=NC(=O)OC)[nH]c2c1"


def test_chebi_terms_carry_name_definition_and_smiles():
    records = list(read_chebi_obo(packaged.chebi_obo()))
    assert len(records) > 20_000
    by_id = {r.provenance.record_id: r for r in records}
    ethanol = by_id["CHEBI:16236"]
    assert ethanol.name == "ethanol" and ethanol.smiles == "CCO" and "alcohol" in ethanol.properties["definition"]


def test_ccd_accounts_for_every_non_polymer_component():
    import biotite.structure.io.pdbx as pdbx

    comp = pdbx.BinaryCIFFile.read(str(packaged.ccd_bcif())).block["chem_comp"]
    expected = sum(t.upper() == "NON-POLYMER" for t in comp["type"].as_array())
    results = list(read_ccd(packaged.ccd_bcif()))
    records = [r for r in results if isinstance(r, MoleculeRecord)]
    rejections = [r for r in results if isinstance(r, Rejection)]
    assert len(records) + len(rejections) == expected
    assert len(records) > 0.98 * expected
    atp = next(r for r in records if r.provenance.record_id == "ATP")
    assert atp.smiles.count("P") == 3 and "ADENOSINE" in atp.name.upper()
    assert all(r.reason for r in rejections)
