"""Offline jobs that turn raw corpora into Megatron indexed shards; a top layer beside training and
conversion (which it never imports), on biomatrix_io's readers and megatron_bio's tokenizers."""
