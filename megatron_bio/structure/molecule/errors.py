"""The error of the molecule structure tokenizer: a `TokenizationError`, so callers that already
count tokenizer rejections by reason count these too."""

from __future__ import annotations

from megatron_bio.tokenizer.errors import TokenizationError


class StructureTokenError(TokenizationError):
    """A molecule that cannot be encoded, or a structure string that cannot be decoded, and why."""
