"""BioMatrix as a megatron-core model: Qwen3 shapes (`config`), parallel layout and precision
(`execution`), process groups (`distributed`), the GPTModel, vocabulary growth; the layer below
training and conversion, above tokenizer_config."""
