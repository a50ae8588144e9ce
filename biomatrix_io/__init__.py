"""The bottom layer: the records, file policy, config loading and file formats (blend files,
checkpoint folders) every stage shares, and the raw-format readers; it imports nothing of the
project above it."""
