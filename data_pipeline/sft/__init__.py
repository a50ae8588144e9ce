"""The SFT corpus: instruction tasks built from real data (and imported public formats), split
without leakage, rendered with the exported chat template, masked, packed into Megatron shards."""
