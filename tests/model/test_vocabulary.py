"""Vocabulary extension: Qwen3's rows unchanged, each added row = mean of the base rows of its
description's subwords + N(0, I/d) noise, padding rows zero; the random alternative too."""

import pytest
import torch

from megatron_bio.model.config import QWEN3_VOCAB_SIZE
from megatron_bio.model.vocabulary import description_subwords, extend_rows
from megatron_bio.tokenizer.base import load_hf_tokenizer_dir

HIDDEN = 64


@pytest.fixture(scope="module")
def base_table():
    # Stands in for Qwen3's trained table (not installable here); the rule does not depend on its values.
    return torch.randn(QWEN3_VOCAB_SIZE, HIDDEN, generator=torch.Generator().manual_seed(3))


def test_description_init_follows_the_formula(tokenizer, base_table):
    padded = tokenizer.padded_vocab_size(2)
    table = extend_rows(base_table, tokenizer, padded, seed=11)
    kept = tokenizer.base_vocab_size
    assert table.shape == (padded, HIDDEN)
    assert torch.equal(table[:kept], base_table[:kept])
    assert not table[tokenizer.vocab_size:].any()

    base, _ = load_hf_tokenizer_dir(None)
    noise = torch.randn(tokenizer.vocab_size - kept, HIDDEN, generator=torch.Generator().manual_seed(11)) / HIDDEN**0.5
    tryptophan = tokenizer.backend.token_to_id("<A_W>")
    for token_id in (tryptophan, kept, tokenizer.backend.token_to_id("<S_7>"), tokenizer.vocab_size - 1):
        ids = base.encode(tokenizer.description(token_id), add_special_tokens=False).ids
        expected = base_table[ids].mean(0) + noise[token_id - kept]
        assert torch.allclose(table[token_id], expected, atol=1e-6), tokenizer.token(token_id)
    assert tokenizer.description(tryptophan) == "Tryptophan"
    residuals = table[kept:tokenizer.vocab_size] - torch.stack(
        [base_table[ids].mean(0) for _, ids in sorted(description_subwords(tokenizer).items())])
    assert abs(residuals.std().item() - HIDDEN**-0.5) < 0.02 * HIDDEN**-0.5


def test_random_init_and_bad_arguments(tokenizer, base_table):
    table = extend_rows(base_table, tokenizer, tokenizer.vocab_size, seed=1, init="random", std=0.02)
    new = table[tokenizer.base_vocab_size:]
    assert abs(new.std().item() - 0.02) < 0.001 and abs(new.mean().item()) < 0.001
    assert torch.equal(extend_rows(base_table, tokenizer, tokenizer.vocab_size, seed=1, init="random"), table)
    with pytest.raises(ValueError, match="cannot hold"):
        extend_rows(base_table, tokenizer, tokenizer.vocab_size - 1, seed=1)
    with pytest.raises(ValueError, match="init 'zeros'"):
        extend_rows(base_table, tokenizer, tokenizer.vocab_size, seed=1, init="zeros")
