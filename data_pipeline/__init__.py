"""Offline jobs that turn raw corpora into Megatron indexed shards."""
