"""What defines BioMatrix as a model, the middle layers (README, "Layout"): tokenizer, structure
tokenizers, tokenizer_config, model, and on top training and conversion; above biomatrix_io."""
