"""The protein backbone structure tokenizer: one code per residue (torsion codebook, baseline,
VQ-VAE), its corpus and evaluation; chains come from `biomatrix_io.readers.chains`."""
