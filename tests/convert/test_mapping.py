"""Each conversion transform on random tensors of a small real Qwen3 shape: HF -> Megatron -> HF and
Megatron -> HF -> Megatron give the same tensors back bitwise (vocabulary padding zero on the way
in, trimmed on the way out); QKV really interleaves per query group and fc1 is [gate; up]; the
grown import keeps the base rows and initializes the added ones."""

import dataclasses

import pytest
import torch

from megatron_bio.convert.mapping import (TABLE, DirectMapping, GatedMLPMapping, GrownVocabularyMapping, QKVMapping,
                                          VocabularyGrowth, VocabularyMapping, expand)
from megatron_bio.model.config import ModelConfig
from megatron_bio.model.vocabulary import extend_rows
from megatron_bio.tokenizer.unified import padded_vocab_size

MODEL = ModelConfig(num_layers=2, hidden_size=64, ffn_hidden_size=192, num_attention_heads=4, num_query_groups=2,
                    kv_channels=16, tie_embeddings=False)
VOCAB = 1000  # not a multiple of 128: the Megatron table has padding rows
ROWS = padded_vocab_size(VOCAB)
PER_GROUP = MODEL.num_attention_heads // MODEL.num_query_groups
D = MODEL.kv_channels


@pytest.fixture(scope="module")
def hf_shapes() -> dict:
    """Parameter shapes of the transformers Qwen3 model of MODEL's shape (on the meta device)."""
    from transformers import Qwen3ForCausalLM

    with torch.device("meta"):
        return {name: p.shape for name, p in Qwen3ForCausalLM(MODEL.hf_config(VOCAB)).named_parameters()}


def _random(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _one(kind: type) -> object:
    """The first mapping of that exact class in the expanded table (layer 0 for per-layer ones)."""
    return next(m for m in expand(MODEL) if type(m) is kind)


def test_expand_covers_layers_and_tying():
    mappings = expand(MODEL)
    assert {type(m) for m in mappings} == {DirectMapping, QKVMapping, GatedMLPMapping, VocabularyMapping}
    keys = [m.megatron for m in mappings]
    assert len(keys) == len(set(keys)) and not any("{L}" in k for m in mappings for k in (m.megatron, *m.hf))
    per_layer = sum("{L}" in m.megatron for m in TABLE)
    assert len(mappings) == len(TABLE) - per_layer + per_layer * MODEL.num_layers
    tied = expand(dataclasses.replace(MODEL, tie_embeddings=True))
    assert [m.megatron for m in tied] == [k for k in keys if k != "output_layer.weight"]


@pytest.mark.parametrize("kind", [DirectMapping, QKVMapping, GatedMLPMapping, VocabularyMapping])
def test_hf_megatron_hf_is_bitwise(kind, hf_shapes):
    mapping = _one(kind)
    hf = [_random(hf_shapes[key], seed) for seed, key in enumerate(mapping.hf)]
    megatron = mapping.to_megatron(hf, MODEL, ROWS)
    back = mapping.to_hf(megatron, MODEL, VOCAB)
    assert len(back) == len(hf) and all(torch.equal(b, h) for b, h in zip(back, hf))


@pytest.mark.parametrize("kind", [DirectMapping, QKVMapping, GatedMLPMapping, VocabularyMapping])
def test_megatron_hf_megatron_is_bitwise(kind, hf_shapes):
    mapping = _one(kind)
    shape = mapping.to_megatron([torch.zeros(hf_shapes[key]) for key in mapping.hf], MODEL, ROWS).shape
    megatron = _random(shape, 7)
    back = mapping.to_megatron(mapping.to_hf(megatron, MODEL, VOCAB), MODEL, ROWS)
    expected = megatron.clone()
    if kind is VocabularyMapping:  # the padding rows are not exported, and come back zero
        expected[VOCAB:] = 0
    assert torch.equal(back, expected)


def test_qkv_interleaves_per_query_group(hf_shapes):
    mapping = _one(QKVMapping)
    q, k, v = (_random(hf_shapes[key], seed) for seed, key in enumerate(mapping.hf))
    qkv = mapping.to_megatron([q, k, v], MODEL, ROWS)
    assert qkv.shape == ((MODEL.num_attention_heads + 2 * MODEL.num_query_groups) * D, MODEL.hidden_size)
    assert torch.equal(qkv[:D], q[:D])  # the first head of the first group leads
    block = (PER_GROUP + 2) * D
    for g in range(MODEL.num_query_groups):
        rows = qkv[g * block:(g + 1) * block]
        assert torch.equal(rows[:PER_GROUP * D], q[g * PER_GROUP * D:(g + 1) * PER_GROUP * D])
        assert torch.equal(rows[PER_GROUP * D:(PER_GROUP + 1) * D], k[g * D:(g + 1) * D])
        assert torch.equal(rows[(PER_GROUP + 1) * D:], v[g * D:(g + 1) * D])
    assert not torch.equal(qkv, torch.cat([q, k, v]))


def test_fc1_is_gate_then_up(hf_shapes):
    mapping = _one(GatedMLPMapping)
    gate, up = (_random(hf_shapes[key], seed) for seed, key in enumerate(mapping.hf))
    fc1 = mapping.to_megatron([gate, up], MODEL, ROWS)
    assert torch.equal(fc1[:MODEL.ffn_hidden_size], gate) and torch.equal(fc1[MODEL.ffn_hidden_size:], up)


def test_vocabulary_pads_with_zeros_and_refuses_a_table_too_large(hf_shapes):
    mapping = _one(VocabularyMapping)
    table = _random(hf_shapes[mapping.hf[0]], 3)
    padded = mapping.to_megatron([table], MODEL, ROWS)
    assert padded.shape == (ROWS, MODEL.hidden_size) and ROWS > VOCAB
    assert torch.equal(padded[:VOCAB], table) and not padded[VOCAB:].any()
    with pytest.raises(ValueError, match="does not fit the model's 896 rows"):
        mapping.to_megatron([table], MODEL, 896)


def test_grown_import_keeps_base_rows_and_initializes_added_ones(tokenizer):
    growth = VocabularyGrowth(tokenizer, seed=5)
    grown = expand(MODEL, growth)
    vocabularies = [m for m in grown if isinstance(m, VocabularyMapping)]
    assert [type(m) for m in vocabularies] == [GrownVocabularyMapping] * 2  # embedding and untied output layer
    assert [m for m in grown if m not in vocabularies] == [m for m in expand(MODEL) if type(m) is not VocabularyMapping]
    mapping = vocabularies[0]
    base, vocab = tokenizer.base_vocab_size, tokenizer.vocab_size
    rows = padded_vocab_size(vocab)
    qwen = _random((base + 267, MODEL.hidden_size), 11)  # Qwen3's table has padding rows of its own past the base
    table = mapping.to_megatron([qwen], MODEL, rows)
    assert table.shape == (rows, MODEL.hidden_size)
    assert torch.equal(table[:base], qwen[:base])
    added = table[base:vocab]
    assert added.norm(dim=1).min() > 0 and not added.isnan().any()
    assert torch.equal(table, extend_rows(qwen, tokenizer, rows, 5, "description"))
    assert not table[vocab:].any()
    exported, = mapping.to_hf(table, MODEL, vocab)
    assert torch.equal(exported, table[:vocab])
    assert torch.equal(mapping.to_megatron([exported], MODEL, rows)[:base], qwen[:base])
