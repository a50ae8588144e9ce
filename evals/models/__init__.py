"""The lm-eval model classes of the evaluation job and what they share: per-row constrained
decoding and seeded sampling for Hugging Face `generate` (`processors`)."""
