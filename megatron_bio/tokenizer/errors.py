"""The one error the tokenizer raises for bad input, always naming where the problem is."""

from __future__ import annotations


class TokenizationError(ValueError):
    """Bad input to encode (segment + character/element position) or decode (id position)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
