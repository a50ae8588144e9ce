"""Importers of public instruction formats (data_pipeline.sft.importers): each maps small files the
tests write in its format to the expected chat records, refuses each kind of bad entry with a reason
naming it, says "not a <format> file" once for a file of another format, and leaves chat control
strings to the pipeline's content check. BioMatrix's own SFT JSONL reads back through
`parse_rendered`, the inverse of the tokenizer's `render`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomatrix_io.records import Provenance, Rejection
from data_pipeline.catalog import READERS, reader
from data_pipeline.sft.importers import IMPORT_READERS
from data_pipeline.sft.records import ChatRecord
from data_pipeline.sft.rendered import RenderedError, parse_rendered
from megatron_bio.tokenizer.segments import Modality, Segment

T = lambda v: Segment(Modality.TEXT, v)  # noqa: E731
SMI = lambda v: Segment(Modality.SMILES, v)  # noqa: E731
SFI = lambda v: Segment(Modality.SELFIES, v)  # noqa: E731
AA = lambda v: Segment(Modality.PROTEIN, v)  # noqa: E731


def write_json(path: Path, entries: list) -> Path:
    path.write_text(json.dumps(entries, indent=1))
    return path


def write_jsonl(path: Path, entries: list) -> Path:
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    return path


def read(name: str, path: Path, **options) -> list:
    """Through the catalog and the record boundary, as the pipeline reads a source."""
    return list(reader(name, options)(path))


def at(path: Path, location: str, record_id: str | None = None) -> Provenance:
    return Provenance(str(path), location, record_id or f"{path.name}:{location}")


def reasons(entries: list) -> dict[str, str]:
    return {e.provenance.location: e.reason for e in entries if isinstance(e, Rejection)}


def test_registered_and_marked_as_imports():
    assert IMPORT_READERS == {"alpaca", "sharegpt", "smolinstruct", "mol_instructions", "biomatrix_sft"}
    assert all(READERS[name][0] == "data_pipeline.sft.importers" for name in IMPORT_READERS)


# alpaca ------------------------------------------------------------------------------------------
def test_alpaca_maps_instruction_input_system_and_history(tmp_path):
    path = write_json(tmp_path / "alpaca.json", [
        {"instruction": "Give the formula of ethanol.", "input": "", "output": "C2H6O"},
        {"instruction": "Translate to SMILES:", "input": "ethanol", "output": "CCO", "system": "You are a chemist.",
         "history": [["What is ethanol?", "An alcohol."]], "id": "a-2"},
        {"instruction": "Relay <|im_start|>user verbatim<|im_end|>", "output": "Done <|mol_smi_start|>"},
    ])
    assert read("alpaca", path) == [
        ChatRecord(at(path, "record 1"), (("user", (T("Give the formula of ethanol."),)), ("assistant", (T("C2H6O"),))),
                   meta={"format": "alpaca"}),
        ChatRecord(at(path, "record 2", "a-2"), (
            ("system", (T("You are a chemist."),)),
            ("user", (T("What is ethanol?"),)), ("assistant", (T("An alcohol."),)),
            ("user", (T("Translate to SMILES:\nethanol"),)), ("assistant", (T("CCO"),)),
        ), meta={"format": "alpaca"}),
        # control strings arrive as text, unchanged: the pipeline's content check is the one that refuses them
        ChatRecord(at(path, "record 3"), (("user", (T("Relay <|im_start|>user verbatim<|im_end|>"),)),
                                          ("assistant", (T("Done <|mol_smi_start|>"),))), meta={"format": "alpaca"}),
    ]


def test_alpaca_columns_renamed_the_llama_factory_way_and_task_named(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Is water polar?", "answer": "Yes."}])
    [record] = read("alpaca", path, task="water_qa", columns={"prompt": "question", "response": "answer"})
    assert record.task == "water_qa"
    assert record.messages == (("user", (T("Is water polar?"),)), ("assistant", (T("Yes."),)))


# sharegpt ----------------------------------------------------------------------------------------
def test_sharegpt_multi_turn_with_system_prompt(tmp_path):
    path = write_json(tmp_path / "chat.json", [
        {"conversations": [{"from": "human", "value": "Name CCO."}, {"from": "gpt", "value": "Ethanol."},
                           {"from": "human", "value": "And CO?"}, {"from": "gpt", "value": "Methanol."}],
         "system": "Answer with one word.", "id": "c1"},
        {"conversations": [{"from": "system", "value": "Be terse."}, {"from": "human", "value": "Hi"},
                           {"from": "gpt", "value": "Hello"}]},
    ])
    assert read("sharegpt", path) == [
        ChatRecord(at(path, "record 1", "c1"), (
            ("system", (T("Answer with one word."),)), ("user", (T("Name CCO."),)), ("assistant", (T("Ethanol."),)),
            ("user", (T("And CO?"),)), ("assistant", (T("Methanol."),))), meta={"format": "sharegpt"}),
        ChatRecord(at(path, "record 2"), (("system", (T("Be terse."),)), ("user", (T("Hi"),)), ("assistant", (T("Hello"),))),
                   meta={"format": "sharegpt"}),
    ]


def test_sharegpt_openai_messages_and_custom_tags(tmp_path):
    openai = write_jsonl(tmp_path / "openai.jsonl", [
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]}])
    assert [r.messages for r in read("sharegpt", openai)] == [
        (("system", (T("S"),)), ("user", (T("U"),)), ("assistant", (T("A"),)))]
    custom = write_jsonl(tmp_path / "custom.jsonl", [{"turns": [{"who": "q", "text": "U"}, {"who": "a", "text": "A"}]}])
    options = {"columns": {"messages": "turns"}, "tags": {"role_tag": "who", "content_tag": "text", "user_tag": "q",
                                                          "assistant_tag": "a"}}
    assert [r.messages for r in read("sharegpt", custom, **options)] == [(("user", (T("U"),)), ("assistant", (T("A"),)))]


# SMolInstruct ------------------------------------------------------------------------------------
def smol(input: str, output: str, raw_input: str, raw_output: str, task: str, **more) -> dict:
    return {"input": input, "output": output, "raw_input": raw_input, "raw_output": raw_output, "task": task, **more}


def test_smolinstruct_tags_map_to_segments_and_raw_output_is_the_target(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", [
        smol("Given the reactants <SMILES> CCO.CC(=O)O </SMILES>, what is the product?",
             "The product is <SMILES> CCOC(C)=O </SMILES> .", "CCO.CC(=O)O", "CCOC(C)=O", "forward_synthesis",
             split="test", sample_id="fs.test.0"),
        smol("Convert <IUPAC> ethanol </IUPAC> to a formula.", "<MOLFORMULA> C2H6O </MOLFORMULA>", "ethanol", "C2H6O",
             "name_conversion-i2f", split="train"),
        smol("Is <SMILES> c1ccccc1 </SMILES> toxic? And its logS?", "<BOOLEAN> No </BOOLEAN>, <NUMBER> -1.64 </NUMBER>",
             "c1ccccc1", "No", "property_prediction-clintox"),
        smol("Describe <SELFIES> [C][C][O] </SELFIES>.", "An alcohol.", "[C][C][O]", "An alcohol.", "molecule_captioning"),
    ])
    assert read("smolinstruct", path) == [
        ChatRecord(at(path, "line 1", "fs.test.0"), (
            ("user", (T("Given the reactants "), SMI("CCO.CC(=O)O"), T(", what is the product?"))),
            ("assistant", (T("The product is "), SMI("CCOC(C)=O"), T(" ."))),
        ), task="forward_synthesis", split="test", target="CCOC(C)=O", meta={"format": "smolinstruct"}),
        ChatRecord(at(path, "line 2"), (("user", (T("Convert ethanol to a formula."),)), ("assistant", (T("C2H6O"),))),
                   task="name_conversion-i2f", split="train", target="C2H6O", meta={"format": "smolinstruct"}),
        ChatRecord(at(path, "line 3"), (("user", (T("Is "), SMI("c1ccccc1"), T(" toxic? And its logS?"))),
                                        ("assistant", (T("No, -1.64"),))),
                   task="property_prediction-clintox", target="No", meta={"format": "smolinstruct"}),
        ChatRecord(at(path, "line 4"), (("user", (T("Describe "), SFI("[C][C][O]"), T("."))), ("assistant", (T("An alcohol."),))),
                   task="molecule_captioning", target="An alcohol.", meta={"format": "smolinstruct"}),
    ]


# Mol-Instructions --------------------------------------------------------------------------------
def test_mol_instructions_selfies_fields_and_fenced_proteins(tmp_path):
    path = write_json(tmp_path / "forward_reaction_prediction.json", [
        {"instruction": "Propose the product of these reactants:", "input": "[C][C][O].[C][C][=Branch1][C][=O][O]",
         "output": "[C][C][O][C][=Branch1][C][=O][C]", "metadata": {"split": "train"}},
        {"instruction": "Suggest reagents for this reaction:", "input": "[C][C][O]>>[C][C][=O]", "output": "[O]",
         "metadata": {"task": "reagent_prediction", "split": "test"}},
        {"instruction": "What does this protein do?", "input": "```\nMKTAYIAKQR\nQISFVKSHFS\n```",
         "output": "It binds ATP.", "metadata": {"protein_accession": "P00001", "split": "train"}},
        {"instruction": "Design a short binder.", "input": "", "output": "MKTAYIAKQRQISFVKSHFSRQ", "metadata": {}},
    ])
    assert read("mol_instructions", path) == [
        ChatRecord(at(path, "record 1"), (
            ("user", (T("Propose the product of these reactants:\n"), SFI("[C][C][O].[C][C][=Branch1][C][=O][O]"))),
            ("assistant", (SFI("[C][C][O][C][=Branch1][C][=O][C]"),)),
        ), task="forward_reaction_prediction", split="train", target="[C][C][O][C][=Branch1][C][=O][C]",
            meta={"format": "mol_instructions"}),
        ChatRecord(at(path, "record 2"), (
            ("user", (T("Suggest reagents for this reaction:\n"), SFI("[C][C][O]"), T(">>"), SFI("[C][C][=O]"))),
            ("assistant", (SFI("[O]"),)),
        ), task="reagent_prediction", split="test", target="[O]", meta={"format": "mol_instructions"}),
        ChatRecord(at(path, "record 3"), (
            ("user", (T("What does this protein do?\n"), AA("MKTAYIAKQRQISFVKSHFS"))), ("assistant", (T("It binds ATP."),)),
        ), task="forward_reaction_prediction", split="train", target="It binds ATP.",
            meta={"format": "mol_instructions", "protein_accession": "P00001"}),
        ChatRecord(at(path, "record 4"), (("user", (T("Design a short binder."),)), ("assistant", (AA("MKTAYIAKQRQISFVKSHFSRQ"),))),
                   task="forward_reaction_prediction", target="MKTAYIAKQRQISFVKSHFSRQ", meta={"format": "mol_instructions"}),
    ]


# bad entries ------------------------------------------------------------------------------------
BAD = [
    # (reader, a good first entry of the format, [(bad entry, what its reason says)])
    ("sharegpt", {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}, [
        ({"conversations": [{"value": "Q"}, {"from": "gpt", "value": "A"}]}, "message 1: missing role ('from')"),
        ({"conversations": [{"from": "human", "value": "Q"}, {"from": "bot", "value": "A"}]}, "message 2: unknown role 'bot'"),
        ({"conversations": [{"from": "human", "value": "Q"}, {"from": "function_call", "value": "{}"}]},
         "unknown role 'function_call'"),
        ({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": " "}]}, "turn 2: empty answer"),
        ({"conversations": [{"from": "human", "value": ["Q"]}, {"from": "gpt", "value": "A"}]},
         "message 1: non-text content (list)"),
        ({"conversations": [{"from": "human", "value": "Q"}]}, "no assistant turn"),
        ({"conversations": [{"from": "human", "value": "Q"}, {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A"}]},
         "turn 2: a user turn out of order (assistant expected)"),
        ({"messages": [{"role": "user", "content": "Q"}]}, "no 'conversations' list"),
        ({"conversations": [{"from": "human", "value": "See <|mol_xyz_start|>C<|mol_xyz_end|>"}, {"from": "gpt", "value": "A"}]},
         "turn 1: unknown modality wrapper '<|mol_xyz_start|>'"),
        ({"conversations": "Q A"}, "'conversations' is str, not a list of messages"),
    ]),
    ("alpaca", {"instruction": "Q", "output": "A"}, [
        ({"instruction": "Q", "output": 5}, "'output': non-text content (int)"),
        ({"instruction": "Q", "output": {"text": "A"}}, "'output': non-text content (dict)"),
        ({"instruction": "Q"}, "'output': missing"),
        ({"instruction": "Q", "output": ""}, "turn 2: empty answer"),
        ({"instruction": "Q", "output": "A", "history": [["only a question"]]}, "'history' item 1 is not a [user, assistant] pair"),
    ]),
    ("smolinstruct", smol("<SMILES> CCO </SMILES>?", "Yes", "CCO", "Yes", "t"), [
        (smol("<SMILES> C1CC </SMILES>?", "Yes", "C1CC", "Yes", "t"), "'input': SMILES 'C1CC' that RDKit cannot parse"),
        (smol("<SMILES> CC O </SMILES>?", "Yes", "CC O", "Yes", "t"), "'input': SMILES 'CC O' holds whitespace"),
        (smol("<SELFIES> [C][Xx] </SELFIES>?", "Yes", "[C][Xx]", "Yes", "t"), "'input': SELFIES '[C][Xx]' that selfies cannot decode"),
        (smol("<PROTEIN> MKV </PROTEIN>?", "Yes", "MKV", "Yes", "t"), "'input': unmapped tag <PROTEIN>"),
        (smol("<SMILES> CCO?", "Yes", "CCO", "Yes", "t"), "'input': unbalanced tag <SMILES>"),
        (smol("<SMILES> CCO </SMILES>?", "<NUMBER>  </NUMBER>", "CCO", "", "t"), "'output': empty <NUMBER> span"),
        (smol("<SMILES> CCO </SMILES>?", "Yes", "CCO", 1.5, "t"), "'raw_output' is float, not text"),
    ]),
    ("mol_instructions", {"instruction": "Q", "input": "", "output": "A", "metadata": {}}, [
        ({"instruction": "Q", "input": "```\nMKVL1*\n```", "output": "A", "metadata": {}},
         "'input': protein span with non-residue characters '*1'"),
        ({"instruction": "Q", "input": "```\n```", "output": "A", "metadata": {}}, "'input': empty protein span"),
        ({"instruction": "Q", "input": "[C][Xx]", "output": "A", "metadata": {}}, "'input': SELFIES '[C][Xx]' that selfies cannot decode"),
        ({"instruction": "Q", "input": "", "output": "[Branch1]", "metadata": {}},
         "'output': SELFIES '[Branch1]' that decodes to no molecule"),
        ({"instruction": "Q", "input": "", "output": "A", "metadata": "train"}, "'metadata' is str, not an object"),
    ]),
]


@pytest.mark.parametrize("name, good, bad", BAD, ids=[case[0] for case in BAD])
def test_each_bad_entry_is_one_rejection_naming_it(tmp_path, name, good, bad):
    entries = [good] + [entry for entry, _ in bad]
    path = write_jsonl(tmp_path / f"{name}.jsonl", entries) if name == "smolinstruct" else write_json(tmp_path / f"{name}.json", entries)
    read_back = read(name, path)
    assert len(read_back) == len(entries)  # entries = records + rejections
    assert isinstance(read_back[0], ChatRecord)
    for got, (_, expected) in zip(read_back[1:], bad):
        assert isinstance(got, Rejection) and expected in got.reason, (got, expected)
        assert got.provenance.path == str(path)


def test_broken_lines_are_rejected_and_the_rest_still_read(tmp_path):
    path = tmp_path / "chat.jsonl"
    good = json.dumps({"instruction": "Q", "output": "A"})
    path.write_text(f"{good}\n{{not json\n\n[1, 2]\n{good}\n")
    got = read("alpaca", path)
    assert [type(e).__name__ for e in got] == ["ChatRecord", "Rejection", "Rejection", "ChatRecord"]
    assert reasons(got) == {"line 2": "invalid JSON: Expecting property name enclosed in double quotes (column 2)",
                            "line 4": "not a JSON object but list"}


FOREIGN = [
    ("sharegpt", "alpaca.json", [{"instruction": "Q", "input": "", "output": "A"}] * 3, "looks like alpaca"),
    ("alpaca", "chat.json", [{"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}] * 3,
     "looks like sharegpt"),
    ("smolinstruct", "alpaca.jsonl", [{"instruction": "Q", "output": "A"}] * 3, "looks like alpaca"),
    ("mol_instructions", "smol.json", [smol("Q", "A", "x", "A", "t")] * 3, "looks like smolinstruct"),
    ("mol_instructions", "alpaca.json", [{"instruction": "Q", "input": "", "output": "A"}] * 3, "looks like alpaca"),
    ("biomatrix_sft", "openai.jsonl", [{"messages": [{"role": "user", "content": "Q"}]}] * 3, "looks like sharegpt"),
    ("sharegpt", "numbers.json", [1, 2, 3], "a JSON int, not an object"),
]


@pytest.mark.parametrize("name, file, entries, found", FOREIGN, ids=[f"{c[1]}->{c[0]}" for c in FOREIGN])
def test_a_file_of_another_format_is_one_rejection(tmp_path, name, file, entries, found):
    path = write_jsonl(tmp_path / file, entries) if file.endswith("jsonl") else write_json(tmp_path / file, entries)
    [rejection] = read(name, path)
    assert isinstance(rejection, Rejection)
    assert rejection.reason.startswith(f"not a {name} file: ") and found in rejection.reason, rejection.reason


def test_a_text_file_is_not_json(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("CCO ethanol\nCO methanol\n")
    [rejection] = read("smolinstruct", path)
    assert rejection.reason.startswith("not a smolinstruct file: line 1 is not JSON (invalid JSON")


def test_unknown_options_are_config_errors():
    from biomatrix_io.config import ConfigError
    from data_pipeline.sft.importers import alpaca_format, sharegpt_formats

    with pytest.raises(ConfigError, match="unknown keys \\['answer'\\]"):
        alpaca_format({"answer": "output"})
    with pytest.raises(ConfigError, match="observation_tag"):
        sharegpt_formats(tags={"observation_tag": "tool"})


# BioMatrix SFT JSONL, read back ------------------------------------------------------------------
def every_modality() -> list[list[Segment]]:
    return [
        [T("Translate "), SMI("C[C@H](N)C(=O)O"), T(" to SELFIES.")],
        [SFI("[C][C@H1][Branch1][C][N][C][=Branch1][C][=O][O].[Na+1]")],
        [T("3D: "), Segment(Modality.MOLECULE_3D, "[C 42][H 305][H 3]"), T(" done")],
        [T("Fold "), AA("MKTAYIAKQRQBJOUXZ"), T(" into "), Segment(Modality.PROTEIN_3D, (0, 17, 4095, 17))],
        [T("plain text with <A_M> and [C] and <S_3> outside wrappers")],
        [AA("M"), SMI("O"), T("\n")],
    ]


def test_parse_rendered_inverts_render(tokenizer):
    for document in every_modality():
        assert parse_rendered(tokenizer.render(document)) == document


@pytest.mark.parametrize("content, error", [
    ("<|mol_smi_start|>CCO", "is never closed"),
    ("CCO<|mol_smi_end|>", "closes a wrapper that was never opened"),
    ("<|prot_aa_start|><A_M><|mol_smi_start|>C<|mol_smi_end|><|prot_aa_end|>", "inside the protein wrapper"),
    ("<|prot_aa_start|><A_M>K<|prot_aa_end|>", "not a residue token"),
    ("<|prot_3d_start|><S_1><A_M><|prot_3d_end|>", "not a protein_3d token"),
    ("<|mol_sfi_start|><|mol_sfi_end|>", "empty selfies wrapper"),
    ("see <|prot_ss_start|>HHE<|prot_ss_end|>", "unknown modality wrapper '<|prot_ss_start|>'"),
])
def test_parse_rendered_refuses_what_render_never_writes(content, error):
    with pytest.raises(RenderedError, match=error.replace("|", "\\|").replace("[", "\\[")):
        parse_rendered(content)


def test_biomatrix_sft_reads_its_own_records_back(tmp_path, tokenizer):
    documents = every_modality()
    lines = [{
        "id": f"s2sf:{i}", "task": "smiles_to_selfies", "category": "molecule_1d", "template": 2, "split": "test",
        "metric": "molecule_match", "input": "C[C@H](N)C(=O)O", "target": "[C][C@H1]", "provenance": {"source": "demo"},
        "messages": [{"role": "system", "content": "You are BioMatrix."}, {"role": "user", "content": tokenizer.render(document)},
                     {"role": "assistant", "content": tokenizer.render(document)}],
    } for i, document in enumerate(documents)]
    lines.append({"id": "bad", "task": "t", "messages": [{"role": "user", "content": "<|mol_smi_start|>C"},
                                                         {"role": "assistant", "content": "x"}]})
    path = write_jsonl(tmp_path / "sft.jsonl", lines)
    got = read("biomatrix_sft", path)
    assert len(got) == len(lines)
    for i, (record, document) in enumerate(zip(got, documents)):
        assert record == ChatRecord(at(path, f"line {i + 1}", f"s2sf:{i}"), (
            ("system", (T("You are BioMatrix."),)), ("user", tuple(document)), ("assistant", tuple(document)),
        ), task="smiles_to_selfies", split="test", target="[C][C@H1]", meta={
            "format": "biomatrix_sft", "category": "molecule_1d", "template": 2, "metric": "molecule_match",
            "input": "C[C@H](N)C(=O)O", "provenance": {"source": "demo"}})
    assert got[-1] == Rejection(at(path, f"line {len(lines)}", "bad"), "message 1: '<|mol_smi_start|>' at char 0 is never closed")
