"""The written directory, loaded by plain `transformers` (no remote code), encodes like we do."""

import itertools
import json
import random

from transformers import AutoTokenizer

from megatron_bio.tokenizer.molecule_forms import MoleculeFormError, canonical_selfies
from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_chebi_obo
from biomatrix_io.records import MoleculeRecord
from megatron_bio.tokenizer import Modality, Segment, TokenizationError

MODEL_CARD_WRAPPINGS = [
    ("<|mol_smi_start|>CC#CC#N<|mol_smi_end|>", [Segment(Modality.SMILES, "CC#CC#N")]),
    ("<|mol_sfi_start|>[C][#C][C][#N]<|mol_sfi_end|>", [Segment(Modality.SELFIES, "[C][#C][C][#N]")]),
    ("<|mol_3d_start|>[H 3][C 0][#C 6]<|mol_3d_end|>", [Segment(Modality.MOLECULE_3D, "[H 3][C 0][#C 6]")]),
    ("<|prot_aa_start|><A_M><A_K><A_W><|prot_aa_end|>", [Segment(Modality.PROTEIN, "MKW")]),
    ("<|prot_3d_start|><S_12><S_4012><|prot_3d_end|>", [Segment(Modality.PROTEIN_3D, (12, 4012))]),
    (
        "I need a brief explanation of the molecule denoted in this SELFIES notation. <|mol_sfi_start|>[Te]<|mol_sfi_end|>",
        [Segment(Modality.TEXT, "I need a brief explanation of the molecule denoted in this SELFIES notation. "),
         Segment(Modality.SELFIES, "[Te]")],
    ),
]


def _load(hf_dir):
    return AutoTokenizer.from_pretrained(str(hf_dir))  # trust_remote_code left at its default, False


def test_model_card_wrappings_encode_identically(tokenizer, hf_dir):
    hf = _load(hf_dir)
    assert len(hf) == tokenizer.vocab_size
    for text, document in MODEL_CARD_WRAPPINGS:
        assert tokenizer.render(document) == text
        assert hf(text)["input_ids"] == tokenizer.encode(document), text
        assert hf.decode(tokenizer.encode(document), skip_special_tokens=False) == text


def _mixed_documents(tokenizer, n: int) -> list[list[Segment]]:
    """ChEBI entries as documents: definition text, name, SMILES, SELFIES, with proteins and structures."""
    rng = random.Random(7)
    documents = []
    molecules = (r for r in read_chebi_obo(packaged.chebi_obo()) if isinstance(r, MoleculeRecord))  # not rejections
    for record in itertools.islice(molecules, n * 3):
        try:
            _, selfies = canonical_selfies(record.smiles)
            tokenizer.encode([Segment(Modality.SELFIES, selfies)])
        except (MoleculeFormError, TokenizationError):  # not what this test is about
            continue
        protein = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWYBJOUXZ") for _ in range(rng.randrange(5, 60)))
        documents.append([
            Segment(Modality.TEXT, f"{record.name}: {record.properties['definition']}\nSMILES: "),
            Segment(Modality.SMILES, record.smiles),
            Segment(Modality.TEXT, " SELFIES: "),
            Segment(Modality.SELFIES, selfies),
            Segment(Modality.TEXT, "\n\nA protein that binds it: "),
            Segment(Modality.PROTEIN, protein),
            Segment(Modality.PROTEIN_3D, tuple(rng.randrange(4096) for _ in protein)),
            Segment(Modality.MOLECULE_3D, "[C 3][Branch1 -1][H 305][=O 12]"),
            Segment(Modality.TEXT, " — fin."),
        ])
        if len(documents) == n:
            break
    return documents


def test_real_mixed_documents_encode_identically(tokenizer, hf_dir):
    hf = _load(hf_dir)
    documents = _mixed_documents(tokenizer, 1500)
    assert len(documents) == 1500
    ours = tokenizer.encode_batch(documents)
    theirs = hf([tokenizer.render(d) for d in documents])["input_ids"]
    mismatches = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    assert not mismatches, tokenizer.render(documents[mismatches[0]])
    for document, ids in zip(documents[:200], ours):
        assert tokenizer.decode(ids) == document


def test_chat_template_and_special_token_config(hf_dir):
    hf = _load(hf_dir)
    prompt = hf.apply_chat_template(
        [{"role": "user", "content": "Describe <|mol_sfi_start|>[C][=O]<|mol_sfi_end|>"}],
        tokenize=False, add_generation_prompt=True,
    )
    assert prompt.startswith("<|im_start|>user\nDescribe <|mol_sfi_start|>[C][=O]<|mol_sfi_end|><|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n") and "<think>" not in prompt  # plain ChatML: training = inference
    assert hf.convert_tokens_to_ids("<|mol_sfi_start|>") in hf(prompt)["input_ids"]
    config = json.loads((hf_dir / "tokenizer_config.json").read_text())
    assert "auto_map" not in config and config["tokenizer_class"] == "Qwen2Tokenizer"
    metadata = json.loads((hf_dir / "biomatrix_tokenizer.json").read_text())
    assert metadata["families"]["protein_3d"]["count"] == 4096
    descriptions = json.loads((hf_dir / "token_descriptions.json").read_text())
    assert {"id": metadata["families"]["residue"]["first_id"], "token": "<A_A>", "family": "residue",
            "description": "Alanine"} in descriptions
