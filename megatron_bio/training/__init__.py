"""Pretraining (and later SFT) on megatron-core: data, loop, checkpoints, metrics."""
