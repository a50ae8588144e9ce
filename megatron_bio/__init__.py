"""What defines BioMatrix as a model: tokenizer, structure tokenizers, model, training, conversion."""
