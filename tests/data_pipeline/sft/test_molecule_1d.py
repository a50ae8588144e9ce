"""Molecule-1D task families over small real inputs (PubChem identifiers, B3DB, FreeSolv, the
Huuskonen SDFs, ChEBI, QM9, MOSES train), and the chemistry-table readers over small files written
here: every entry a record or a named rejection."""

from __future__ import annotations

import csv
import itertools
import random

import pytest
import selfies as sf
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors

from biomatrix_io.readers import packaged
from biomatrix_io.readers.chemistry_tables import read_sdf_table, read_table
from biomatrix_io.readers.molecules import read_chebi_obo
from biomatrix_io.readers.molecules_3d import read_qm9_3d
from biomatrix_io.records import MoleculeRecord, Rejection
from data_pipeline.sft.tasks.base import Skip, fill, in_variant, placeholders
from data_pipeline.sft.tasks.molecule_1d import FAMILIES, HARTREE_EV
from megatron_bio.tokenizer.segments import Modality

SOURCES = {  # name -> (reader, paths, limit)
    "pubchem": ("chemicals_pubchem", ["packaged:chemicals_pubchem"], 20),
    "b3db_c": ("b3db_classification", ["packaged:b3db_classification"], 20),
    "b3db_r": ("b3db_regression", ["packaged:b3db_regression"], 15),
    "freesolv": ("freesolv", ["packaged:freesolv_csv"], 15),
    "solubility": ("solubility_sdf", ["packaged:solubility_sdfs"], 15),
    "chebi": ("chebi_obo", ["packaged:chebi_obo"], 40),
    "qm9": ("qm9_3d", ["packaged:qm9_csvs"], 10),
    "moses": ("smiles_table", ["packaged:moses_train_csv"], 15),
}
CASES = {  # family -> (sources, the entity fields whose absence must be a Skip: "properties.KEY" or a field)
    "name_conversion_i2s": (("pubchem", "b3db_c", "freesolv"), "properties.iupac_name"),
    "name_conversion_s2i": (("pubchem", "freesolv"), "properties.iupac_name"),
    "name_conversion_i2f": (("pubchem", "b3db_r"), "properties.iupac_name"),
    "name_conversion_s2f": (("pubchem",), "smiles"),
    "molecule_captioning": (("chebi",), "description"),
    "text_to_molecule": (("chebi",), "description"),
    "property_hydration_free_energy": (("freesolv",), "properties.hydration_free_energy_kcal_per_mol"),
    "property_solubility": (("solubility",), "properties.logS"),
    "property_logbb": (("b3db_r",), "properties.logBB"),
    "property_qm9": (("qm9",), "properties.homo_hartree properties.lumo_hartree properties.gap_hartree properties.mu_debye"),
    "bbb_classification": (("b3db_c",), "properties.bbb"),
    "unconditional_generation": (("moses",), "smiles"),
    "smiles_to_selfies": (("pubchem",), "selfies"),
    "selfies_to_smiles": (("moses",), "selfies"),
}
BY_NAME = {family.name: family for family in FAMILIES}


@pytest.fixture(scope="module")
def source_entities(entities):
    return {name: entities(reader, paths, limit) for name, (reader, paths, limit) in SOURCES.items()}


@pytest.fixture(scope="module")
def raw_records() -> dict[str, MoleculeRecord]:
    """The first source records by id, straight from the readers (SMILES as the file writes it):
    what answers are checked against."""
    streams = [read_sdf_table(packaged.solubility_sdfs()[0], "huuskonen_solubility"), read_chebi_obo(packaged.chebi_obo())]
    streams += [read_table(path(), layout) for layout, path in (
        ("chemicals_pubchem", packaged.chemicals_pubchem), ("b3db_classification", packaged.b3db_classification),
        ("b3db_regression", packaged.b3db_regression), ("freesolv", packaged.freesolv_csv))]
    return {r.provenance.record_id: r for stream in streams for r in itertools.islice(stream, 50)
            if isinstance(r, MoleculeRecord)}


def _inchikey(segment) -> str:
    text = sf.decoder(segment.value) if segment.modality is Modality.SELFIES else segment.value
    return Chem.MolToInchiKey(Chem.MolFromSmiles(text))


def _without(entity: dict, fields: str) -> dict:
    entity = {**entity, "properties": dict(entity.get("properties") or {})}
    for field in fields.split():
        if field.startswith("properties."):
            entity["properties"].pop(field.partition(".")[2], None)
        else:
            entity[field] = None
    return entity


def _qm9_rows() -> dict[str, dict]:
    with open(packaged.qm9_csvs()[0], newline="") as handle:
        rows = csv.DictReader(handle)
        return {f"qm9:{row['Index']}": row for _, row in zip(range(20), rows)}


@pytest.mark.parametrize("name", list(CASES))
def test_family_on_real_entities(name, source_entities, raw_records):
    family = BY_NAME[name]
    sources, needed = CASES[name]
    made = []
    for source in sources:
        for entity in source_entities[source]:
            try:
                made += [(entity, example) for example in family.make(entity, random.Random(0))]
            except Skip:
                continue
    assert made, f"{name}: no example from {sources}"
    qm9 = _qm9_rows() if name == "property_qm9" else {}
    with open(packaged.chemicals_pubchem(), encoding="utf-8") as handle:
        pubchem_formulas = {f"CID:{f[0]}": f[2] for f in (next(handle).split("\t") for _ in range(30))}
    for entity, example in made:
        assert all(placeholders(t) == set(example.fields) for t in family.templates), name
        assert fill(family.templates[0], example.fields)
        assert entity["smiles"] in example.molecules and example.answer
        answer = example.answer[0]
        raw = raw_records.get(entity["id"])
        if name in ("name_conversion_i2s", "text_to_molecule"):  # the file's InChIKey where it has one
            source_key = raw.properties.get("inchikey") or Chem.MolToInchiKey(Chem.MolFromSmiles(raw.smiles))
            assert answer.modality is Modality.SMILES and _inchikey(answer) == source_key
        if name == "name_conversion_s2f":  # RDKit's formula of the file's SMILES, and PubChem's own
            assert answer.value == rdMolDescriptors.CalcMolFormula(Chem.MolFromSmiles(raw.smiles)) == pubchem_formulas[entity["id"]]
        if name.startswith("property_"):
            value = float(answer.value)
            if name == "property_qm9":
                column = {":homo": "HOMO_au", ":lumo": "LUMO_au", ":gap": "HOMO_LUMO_gap_au", ":mu": "Dipole_debye"}[example.suffix]
                scale = 1.0 if example.suffix == ":mu" else HARTREE_EV
                assert value == round(float(qm9[entity["id"]][column]) * scale, 2)
            else:
                (source_value,) = [v for k, v in raw.properties.items() if isinstance(v, float)]
                assert value == round(source_value, 2)
            assert example.meta["unit"] in {s.value for s in example.fields.values()}
        if name == "bbb_classification":
            assert answer.value == {"BBB+": "Yes", "BBB-": "No"}[raw.properties["bbb"]]
        if name == "unconditional_generation":
            assert all(s.modality is Modality.TEXT for s in example.fields.values()) and len(example.answer) == 1
        if name == "smiles_to_selfies":
            assert answer.modality is Modality.SELFIES and _inchikey(answer) == _inchikey(example.fields["molecule"])
    # the notation variant: every molecule written as SELFIES, the same molecules, the prompt says so
    if "selfies" in family.variants:
        for _, example in made[:5]:
            variant = in_variant(example, "selfies")
            segments = [*variant.fields.values(), *variant.answer]
            assert any(s.modality is Modality.SELFIES for s in segments)
            assert not any(s.modality is Modality.SMILES for s in segments)
            if "notation" in variant.fields:
                assert variant.fields["notation"].value == "SELFIES"
            before = [s for s in (*example.fields.values(), *example.answer) if s.modality is Modality.SMILES]
            after = [s for s in segments if s.modality is Modality.SELFIES]
            assert [_inchikey(s) for s in before] == [_inchikey(s) for s in after]
    # an entity without the field the family exists for is a counted Skip with a reason
    with pytest.raises(Skip, match=r"^no \w+"):
        list(family.make(_without(made[0][0], needed), random.Random(0)))


# Readers -----------------------------------------------------------------------------------------
def _lines(path, n: int) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [next(handle) for _ in range(n)]


def test_table_readers_count_every_row(tmp_path):
    cases = {  # layout -> (real file, header lines, a bad row, the reason it must give)
        "chemicals_pubchem": (packaged.chemicals_pubchem(), 0, "99\t1-1-1\tC\t12\t\tInChI\tKEY\tname\tcommon\n", "empty SMILES"),
        "b3db_classification": (packaged.b3db_classification(), 1, "9\tx\tethanol\tCCO\t702\t\tBBB?\tInChI\t\t\tA\t\n", "not one of BBB+, BBB-"),
        "b3db_regression": (packaged.b3db_regression(), 1, "9\tx\tethanol\tCCO\t702\tabc\tInChI\t\tA\t\n", "'abc'"),
        "freesolv": (packaged.freesolv_csv(), 1, "ethanol,CCO,,-4.1\n", "no expt value"),
    }
    for layout, (real, header, bad, reason) in cases.items():
        lines = _lines(real, header + 6)
        path = tmp_path / f"{layout}{real.suffix}"
        path.write_text("".join(lines[: header + 3]) + bad + "".join(lines[header + 3:]), encoding="utf-8")
        items = list(read_table(path, layout))
        assert len(items) == 7, layout
        rejections = [item for item in items if isinstance(item, Rejection)]
        assert len(rejections) == 1 and reason in rejections[0].reason, (layout, rejections)
        assert rejections[0].provenance.location == f"line {header + 4}"
        read = [(r.smiles, r.name, r.properties) for r in items if isinstance(r, MoleculeRecord)]
        assert read == [(r.smiles, r.name, r.properties) for r in itertools.islice(read_table(real, layout), 6)], layout
    first = next(read_table(packaged.chemicals_pubchem(), "chemicals_pubchem"))
    assert (first.provenance.record_id, first.name, first.properties["iupac_name"]) == ("CID:7", "9-ethyladenine", "9-ethylpurin-6-amine")
    (no_column,) = read_table(tmp_path / "freesolv.csv", "b3db_regression")
    assert no_column.provenance.location == "file" and "no column" in no_column.reason


def test_solubility_sdf_reader_counts_every_record(tmp_path):
    real = packaged.solubility_sdfs()[0].read_text(encoding="utf-8").split("$$$$\n")[:5]
    broken = real[1].replace("<SOL>  (2) \n-2.64", "<SOL>  (2) \nn/a")
    assert broken != real[1]
    path = tmp_path / "solubility.sdf"
    path.write_text("$$$$\n".join([real[0], broken, *real[2:], ""]), encoding="utf-8")
    items = list(read_sdf_table(path, "huuskonen_solubility"))
    assert len(items) == 5
    assert [type(i).__name__ for i in items] == ["MoleculeRecord", "Rejection", *["MoleculeRecord"] * 3]
    assert "'n/a'" in items[1].reason and items[1].provenance.record_id == "huuskonen:2"
    assert (items[0].smiles, items[0].name, items[0].properties) == ("CCCCC", "n-pentane", {"logS": -3.18, "solubility_class": "(A) low"})


def test_qm9_reader_carries_the_dft_properties(tmp_path):
    lines = _lines(packaged.qm9_csvs()[0], 4)
    header = lines[0].rstrip("\n").split(",")
    row = next(csv.reader([lines[2]]))
    row[header.index("HOMO_au")] = "x"
    path = tmp_path / "qm9.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, next(csv.reader([lines[1]])), row, next(csv.reader([lines[3]]))])
    methane, bad, water = read_qm9_3d(path)
    assert methane.properties == {"smiles": "C", "mu_debye": 0.0, "alpha_bohr3": 13.21, "homo_hartree": -0.3877,
                                  "lumo_hartree": 0.1171, "gap_hartree": 0.5048, "cv_cal_per_mol_k": 6.469}
    assert isinstance(bad, Rejection) and "HOMO_au" in bad.reason and water.properties["homo_hartree"] == -0.2928
