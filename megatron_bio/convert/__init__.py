"""Checkpoint conversion between Hugging Face Qwen3 directories and megatron-core dist checkpoints."""
