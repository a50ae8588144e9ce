"""A random tiny BioMatrix model in the exported Hugging Face format (our tokenizer and chat
template, Qwen3 architecture, 2 layers of width 64): what the evaluation job's tests and benchmark
run against without a trained model. Its near-flat logits are the hard case for constrained
decoding: unconstrained, it never writes a well-formed structure."""

from __future__ import annotations

from pathlib import Path

import torch


def write_random_model(tokenizer, folder: Path, seed: int = 0) -> Path:
    """`tokenizer`: a BioMatrixTokenizer; the folder gets its HF files and the random weights."""
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir

    write_hf_tokenizer_dir(tokenizer, folder)
    torch.manual_seed(seed)
    config = Qwen3Config(vocab_size=tokenizer.padded_vocab_size(1), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                         max_position_embeddings=4096, tie_word_embeddings=True, rope_theta=1e6,
                         eos_token_id=tokenizer.backend.token_to_id("<|im_end|>"), pad_token_id=tokenizer.eod)
    Qwen3ForCausalLM(config).save_pretrained(folder)
    GenerationConfig(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id,
                     do_sample=False).save_pretrained(folder)
    return Path(folder)
