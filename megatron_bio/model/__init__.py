"""BioMatrix as a megatron-core model: Qwen3 recipes, the GPTModel built from them."""
