"""Malformed input: every error names where, and molecule-3D fallbacks are counted."""

import pytest

from megatron_bio.tokenizer import BioMatrixTokenizer, Modality, Segment, TokenizationError

from ..conftest import DATA


@pytest.mark.parametrize(
    "document, where, reason",
    [
        ([Segment(Modality.PROTEIN, "MKTa")], "segment 0 (protein), residue 3", "'a' is not one of the 26"),
        ([Segment(Modality.TEXT, "x"), Segment(Modality.PROTEIN, "MK*")], "segment 1 (protein), residue 2", "'*'"),
        ([Segment(Modality.SELFIES, "[C][Xq][O]")], "symbol 1", "'[Xq]' is not in the SELFIES inventory"),
        ([Segment(Modality.SELFIES, "[C]C[O]")], "char 3", "not a SELFIES symbol"),
        ([Segment(Modality.PROTEIN_3D, (1, 2, 4096))], "residue 2", "structure code 4096 is outside"),
        ([Segment(Modality.PROTEIN_3D, (-1,))], "residue 0", "structure code -1"),
        ([Segment(Modality.MOLECULE_3D, "[C 42][Xq 1]")], "token 1", "'[Xq]' has no code"),
        ([Segment(Modality.MOLECULE_3D, "[C 42][C]")], "char 6", "not a [SYMBOL CODE] token"),
        ([Segment(Modality.SMILES, "CC O")], "char 2", "whitespace inside a SMILES"),
        ([Segment(Modality.TEXT, "see <|prot_aa_start|>MK")], "char 4", "control token"),
        ([Segment(Modality.PROTEIN, "")], "segment 0 (protein)", "empty protein sequence"),
    ],
)
def test_encode_errors_name_the_position(tokenizer, document, where, reason):
    with pytest.raises(TokenizationError) as caught:
        tokenizer.encode(document)
    assert where in str(caught.value) and reason in str(caught.value)


def _ids(tokenizer, *parts):
    out = []
    for part in parts:
        out.extend(tokenizer.backend.encode(part, add_special_tokens=False).ids)
    return out


@pytest.mark.parametrize(
    "parts, where, reason",
    [
        (("hello", "<|prot_aa_start|>", "<A_M>"), "id position 1", "is never closed"),
        (("hello", "<|prot_aa_end|>"), "id position 1", "closes a wrapper that was never opened"),
        (("<|mol_sfi_start|>", "[C]", "<|prot_aa_start|>"), "id position 2", "inside the selfies wrapper"),
        (("<|prot_aa_start|>", "<A_M>", "[C]", "<|prot_aa_end|>"), "id position 2", "is not a residue token"),
        (("<|prot_3d_start|>", "<|prot_3d_end|>"), "id position 1", "empty protein_3d wrapper"),
    ],
)
def test_decode_errors_name_the_position(tokenizer, parts, where, reason):
    with pytest.raises(TokenizationError) as caught:
        tokenizer.decode(_ids(tokenizer, *parts))
    assert where in str(caught.value) and reason in str(caught.value)


def test_decode_rejects_padding_rows(tokenizer):
    with pytest.raises(TokenizationError, match="id position 1: id .* is outside the vocabulary"):
        tokenizer.decode([0, tokenizer.vocab_size])


def test_molecule_3d_fallback_is_counted_and_documented(tokenizer):
    fresh = BioMatrixTokenizer.build(molecule_3d_inventory=DATA / "molecule_3d_small.txt")
    ids = fresh.encode([Segment(Modality.MOLECULE_3D, "[C 3][H 9][H 305][H 77]")])
    # [H 9] and [H 77] are not retained: each takes H's most frequent retained code, 305.
    assert fresh.decode(ids)[0].value == "[C 3][H 305][H 305][H 305]"
    assert fresh.molecule_3d_fallbacks == {("[H]", 9): 1, ("[H]", 77): 1}


def test_molecule_3d_fallback_policy_and_strict_mode():
    nearest_up = lambda symbol, code, retained: min(retained, key=lambda c: abs(c - code))
    custom = BioMatrixTokenizer.build(molecule_3d_inventory=DATA / "molecule_3d_small.txt", molecule_3d_fallback=nearest_up)
    assert custom.decode(custom.encode([Segment(Modality.MOLECULE_3D, "[C 40]")]))[0].value == "[C 42]"
    strict = BioMatrixTokenizer.build(molecule_3d_inventory=DATA / "molecule_3d_small.txt", strict_molecule_3d=True)
    with pytest.raises(TokenizationError, match=r"token 0: '\[C 40\]' is not in the molecule-3D inventory"):
        strict.encode([Segment(Modality.MOLECULE_3D, "[C 40]")])
    assert not strict.molecule_3d_fallbacks


def test_segment_value_types_are_checked():
    with pytest.raises(TypeError):
        Segment(Modality.PROTEIN, ("M", "K"))
    with pytest.raises(ValueError):
        Segment("glycan", "Gal(b1-4)Glc")  # not a modality (DNA became one: issue 25)
