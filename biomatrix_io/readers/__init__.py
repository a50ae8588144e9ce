"""Streaming readers, one per raw format; every record carries its provenance."""
