"""Protein backbone structures: chains read from PDB/mmCIF files (`chains`), the input of the protein structure tokenizer."""
