"""Official benchmark files -> the evaluation job's test records (`evals/importers.py`), from tiny
files in each format's own layout (tests/data/eval_imports/): every entry written or rejected by
line, the records in the SFT corpus's format and readable by the evaluation side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_io.config import ConfigError
from data_pipeline.sft.rendered import parse_rendered
from data_pipeline.sft.tasks import by_task, families
from data_pipeline.sft.tasks.base import placeholders
from evals.importers import BENCHMARKS, SLOTS, import_benchmark
from evals.task_functions import read_test_records
from launch.cli import main
from launch.commands.eval_import import FORMATS_HELP
from megatron_bio.tokenizer.segments import Modality, Segment

DATA = Path(__file__).parents[1] / "data" / "eval_imports"
RECORD_KEYS = {"id", "task", "category", "metric", "messages", "input", "target", "template", "split", "meta", "provenance"}

# case -> (format, file, --task, {our task: targets in file order}, {location: a fragment of its rejection})
CASES = {
    "smolinstruct": ("smolinstruct", "smolinstruct_test.jsonl", None, {
        "name_conversion_i2s.smiles": ["CCO"], "name_conversion_s2i.smiles": ["acetic acid"],
        "property_solubility.smiles": ["-1.64"], "bbb_classification.smiles": ["Yes"],
        "retro_reaction.smiles": ["CC(=O)Cl.Nc1ccccc1", "CC(=O)OC(C)=O.Nc1ccccc1"], "name_conversion_s2i.selfies": ["ethanol"],
    }, {"line 7": "no BioMatrix task for SMolInstruct task 'property_prediction-lipo'",
        "line 8": "SMILES 'C1CC.CCO' that RDKit cannot parse", "line 10": "invalid JSON",
        "line 11": "a 'train' entry: only test entries are imported"}),
    "chebi20-captioning": ("chebi20", "chebi20_test.txt", "molecule_captioning.smiles", {
        "molecule_captioning.smiles": [
            "The molecule is a primary alcohol that is ethane in which one of the hydrogens is substituted by a hydroxy group.",
            'The molecule is a simple monocarboxylic acid containing two carbons. It has a role as a "food acidity regulator".'],
    }, {"line 4": "SMILES 'C1CC(' that RDKit cannot parse", "line 5": "control token '<|im_start|>'",
        "line 6": "missing column 'description'"}),
    "chebi20-generation-selfies": ("chebi20", "chebi20_test.txt", "text_to_molecule.selfies", {
        "text_to_molecule.selfies": ["[C][C][O]", "[C][C][=Branch1][C][=O][O]"],
    }, {"line 4": "no SELFIES", "line 5": "control token '<|im_start|>'", "line 6": "missing column 'description'"}),
    "moses": ("moses", "moses_dataset.csv", None, {
        "unconditional_generation.smiles": ["CCCS(=O)c1ccc2[nH]c(=NC(=O)OC)[nH]c2c1", "CC1C2CCC(C2)C1CN(CCO)C(=O)c1ccc(Cl)cc1"],
    }, {"line 4": "a 'train' row", "line 5": "SMILES 'C1CC(' that RDKit cannot parse"}),
    "uspto50k": ("uspto50k", "uspto50k_test.csv", None, {
        "retro_reaction.smiles": ["CC(=O)Cl.Nc1ccccc1", "CCOC(=O)c1ccccc1"],
    }, {"line 4": "'CCO' is not a reaction", "line 5": "product SMILES '[CH3:1][C:2](=[O:3]' that RDKit cannot parse"}),
    "mol_instructions": ("mol_instructions", "protein_function.json", None, {
        "protein_function": [
            "The protein characterized by the amino acid sequence demonstrates DNA binding and is implicated in the "
            "transcription regulation.", "It holds FAD as a cofactor and acts as an oxidoreductase."],
    }, {"record 2": "a 'train' entry", "record 3": "the input holds 0 protein sequences"}),
    "opi": ("opi", "opi_go_test.json", "go_molecular_function", {
        "go_molecular_function": ["DNA binding; DNA-binding transcription factor activity", "FAD binding"],
    }, {"record 3": "the input holds 0 protein sequences"}),
}


@pytest.fixture(scope="module")
def imported(tokenizer, tmp_path_factory):
    """case -> (accounting, the records written per task, as the evaluation side reads them)."""
    results = {}
    for case, (fmt, name, task, _, _) in CASES.items():
        out = tmp_path_factory.mktemp(case)
        accounting = import_benchmark(fmt, DATA / name, out, task, tokenizer)
        records = {}
        for ours, path in accounting["files"].items():
            docs, rejections = read_test_records(Path(path))
            assert not rejections and len(docs) == accounting["tasks"][ours]
            records[ours] = [json.loads(doc["record"]) for doc in docs]
        results[case] = accounting, records
    return results


def test_each_slot_fills_every_template_of_its_family():
    for name, slot in SLOTS.items():
        wanted = set(slot.fixed) | ({slot.fills} if slot.fills else set())
        assert all(placeholders(template) == wanted for template in families()[name].templates), name


def test_the_cli_help_names_every_format():
    assert set(FORMATS_HELP.replace(" or ", ", ").split(", ")) == set(BENCHMARKS)


@pytest.mark.parametrize("case", CASES)
def test_every_entry_is_written_or_rejected_by_line(case, imported):
    _, _, _, targets, rejected = CASES[case]
    accounting, records = imported[case]
    assert accounting["read"] == accounting["written"] + accounting["rejected"]
    assert accounting["written"] == sum(map(len, targets.values())) and accounting["rejected"] == len(rejected)
    assert {r["where"]: r["reason"] for r in accounting["rejections"]}.keys() == rejected.keys()
    for rejection in accounting["rejections"]:
        assert rejected[rejection["where"]] in rejection["reason"], rejection
    assert {task: [r["target"] for r in lines] for task, lines in records.items()} == targets


@pytest.mark.parametrize("case", CASES)
def test_records_have_the_corpus_format_with_the_input_wrapped(case, imported, tokenizer):
    fmt = CASES[case][0]
    _, records = imported[case]
    ids = [record["id"] for lines in records.values() for record in lines]
    assert len(ids) == len(set(ids))
    for task, lines in records.items():
        family = by_task()[task]
        slot = SLOTS[family.name]
        written = Modality.SELFIES if task.endswith(".selfies") else Modality.SMILES
        for record in lines:
            assert record.keys() == RECORD_KEYS and record["split"] == "test" and record["task"] == task
            assert (record["category"], record["metric"]) == (family.category, family.metric)
            assert record["meta"]["benchmark"] == fmt and record["provenance"].startswith(str(DATA))
            user, answer = record["messages"]
            assert (user["role"], answer["role"]) == ("user", "assistant")
            gold = Segment(written if slot.answer == "molecule" else Modality.TEXT, record["target"])
            assert parse_rendered(answer["content"]) == [gold]
            if slot.given is None:
                continue
            value = record["input"][slot.fills]
            if slot.given == "text":
                assert value in user["content"]
            else:
                given = {"molecule": written, "protein": Modality.PROTEIN}[slot.given]
                assert Segment(given, value) in parse_rendered(user["content"])
                assert tokenizer.render([Segment(given, value)]) in user["content"]


def test_smolinstruct_keeps_its_prompt_and_every_gold_of_an_input(imported):
    _, records = imported["smolinstruct"]
    [i2s] = records["name_conversion_i2s.smiles"]
    assert i2s["messages"][0]["content"] == "Could you provide the SMILES for ethanol ?" and i2s["template"] == -1
    assert i2s["input"] == {"name": "ethanol", "notation": "SMILES"}
    [selfies] = records["name_conversion_s2i.selfies"]
    assert "<|mol_sfi_start|>[C][C][O]<|mol_sfi_end|>" in selfies["messages"][0]["content"]
    golds = ["CC(=O)Cl.Nc1ccccc1", "CC(=O)OC(C)=O.Nc1ccccc1"]
    assert [r["meta"]["references"] for r in records["retro_reaction.smiles"]] == [golds, golds]
    [bbb] = records["bbb_classification.smiles"]
    assert bbb["meta"]["labels"] == ["Yes", "No"] and bbb["meta"]["source_task"] == "property_prediction-bbbp"


def test_template_formats_fill_the_family_template_zero(imported):
    _, records = imported["uspto50k"]
    first = records["retro_reaction.smiles"][0]
    assert first["template"] == 0 and first["input"] == {"product": "CC(=O)Nc1ccccc1"}
    assert first["messages"][0]["content"] == families()["retro_reaction"].templates[0].format(
        product="<|mol_smi_start|>CC(=O)Nc1ccccc1<|mol_smi_end|>")
    assert first["meta"] == {"benchmark": "uspto50k", "reaction_class": "2", "source_id": "US05849732"}
    _, records = imported["opi"]
    assert records["go_molecular_function"][0]["meta"]["labels"] == ["DNA binding", "DNA-binding transcription factor activity"]


@pytest.mark.parametrize("fmt, name, task, fragments", [
    ("chebi20", "moses_dataset.csv", "molecule_captioning.smiles", ["moses_dataset.csv is not a chebi20 file", "['SMILES,SPLIT']"]),
    ("uspto50k", "chebi20_test.txt", None, ["chebi20_test.txt is not a uspto50k file", "'id', 'class'"]),
    ("smolinstruct", "opi_go_test.json", None, ["opi_go_test.json: not a smolinstruct file", "'instruction', 'input'"]),
    ("chebi20", "chebi20_test.txt", None, ["needs --task: one of molecule_captioning.smiles"]),
    ("opi", "opi_go_test.json", "retro_reaction.smiles", ["imports into go_molecular_function", "not 'retro_reaction.smiles'"]),
    ("smolinstruct", "smolinstruct_test.jsonl", "retro_reaction.smiles", ["--task is not taken"]),
    ("chembl", "chebi20_test.txt", None, ["unknown benchmark format 'chembl'", "smolinstruct, chebi20"]),
])
def test_a_file_not_in_the_format_or_a_wrong_task_is_one_config_error(fmt, name, task, fragments, tokenizer, tmp_path):
    with pytest.raises(ConfigError) as raised:
        import_benchmark(fmt, DATA / name, tmp_path, task, tokenizer)
    for fragment in fragments:
        assert fragment in str(raised.value), str(raised.value)
    assert not (tmp_path / "records").exists()


def test_an_empty_file_is_one_config_error(tokenizer, tmp_path):
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(ConfigError, match="empty.csv is empty, not a moses file"):
        import_benchmark("moses", tmp_path / "empty.csv", tmp_path, None, tokenizer)
    (tmp_path / "header.csv").write_text("SMILES,SPLIT\n")
    with pytest.raises(ConfigError, match="header.csv holds no moses entries"):
        import_benchmark("moses", tmp_path / "header.csv", tmp_path, None, tokenizer)


def test_the_command_prints_the_accounting_and_a_mistake_is_one_line(tmp_path, capsys):
    main(["eval", "import", "--format", "uspto50k", "--input", str(DATA / "uspto50k_test.csv"), "--out", str(tmp_path)])
    printed = json.loads(capsys.readouterr().out)
    assert (printed["read"], printed["written"], printed["rejected"]) == (4, 2, 2)
    assert (tmp_path / "records" / "test" / "retro_reaction.smiles.jsonl").read_text().count("\n") == 2
    with pytest.raises(SystemExit) as exited:
        main(["eval", "import", "--format", "opi", "--input", str(DATA / "opi_go_test.json"), "--out", str(tmp_path)])
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("biomatrix: error: --format opi needs --task")
