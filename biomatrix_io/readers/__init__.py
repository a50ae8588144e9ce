"""Streaming readers, one per raw format, every record with its provenance; the top of the bottom
layer (biomatrix_io), above records and files."""
