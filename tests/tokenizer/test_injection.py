"""Text from data never becomes a special token (document end, chat turns, modality wrappers): it is
refused where documents are encoded. Non-special added tokens written literally in text (SELFIES
symbols like `[C]`, `<A_M>`, `<S_12>`) are the documented collision: they tokenize as those tokens,
at training time exactly as the exported Hugging Face tokenizer reads the same string."""

import pytest
from transformers import AutoTokenizer

from megatron_bio.tokenizer import Modality, Segment, TokenizationError


@pytest.mark.parametrize("special", ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_pad|>", "<|mol_smi_start|>"])
def test_special_tokens_in_data_text_are_refused(tokenizer, special):
    for modality in (Modality.TEXT, Modality.SMILES):
        with pytest.raises(TokenizationError, match="control token"):
            tokenizer.encode([Segment(Modality.TEXT, "before "), Segment(modality, f"C{special}C")])


def test_literal_added_tokens_in_text_tokenize_as_the_exported_tokenizer_reads_them(tokenizer, hf_dir):
    text = "silicon [Si] and [C], residue <A_M>, code <S_12>, [C@@H] plain"
    ours = tokenizer.encode([Segment(Modality.TEXT, text)])
    exported = AutoTokenizer.from_pretrained(hf_dir)
    assert ours == exported.encode(text, add_special_tokens=False)
    assert tokenizer.eod not in ours
    assert exported.convert_ids_to_tokens(ours).count("[C]") == 1  # the collision, as documented
