"""Fixtures of the evaluation job's tests: a tiny random BioMatrix model in the Hugging Face format
(our tokenizer and chat template, Qwen3 architecture), which every model-facing test shares."""

from __future__ import annotations

import shutil

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_hf_model(tokenizer, hf_dir, tmp_path_factory):
    """A random 2-layer Qwen3 over the test tokenizer: its near-flat logits are what makes
    unconstrained outputs invalid and constrained ones still well-formed."""
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    folder = tmp_path_factory.mktemp("tiny_hf_model")
    for item in hf_dir.iterdir():
        shutil.copy(item, folder / item.name)
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=tokenizer.padded_vocab_size(1), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                         max_position_embeddings=4096, tie_word_embeddings=True, rope_theta=1e6,
                         eos_token_id=tokenizer.backend.token_to_id("<|im_end|>"), pad_token_id=tokenizer.eod)
    Qwen3ForCausalLM(config).save_pretrained(folder)
    GenerationConfig(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, do_sample=False).save_pretrained(folder)
    return folder
