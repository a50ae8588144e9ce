"""What megatron-core's datasets read from a tokenizer, and nothing more.

`GPTDatasetConfig(tokenizer=...)` reads `vocab_size` (to pick the token dtype), `eod` (document
boundaries, reset masks), `pad` (padding, loss-masked) and `unique_identifiers` (the cache key of
its sample indices). The adapter exposes those over a `BioMatrixTokenizer`; encoding typed
documents stays with the BioMatrix tokenizer itself.
"""

from __future__ import annotations

import numpy as np

from .unified import BioMatrixTokenizer


class MegatronTokenizerAdapter:
    def __init__(self, tokenizer: BioMatrixTokenizer) -> None:
        self.tokenizer = tokenizer
        self.unique_identifiers = {
            "class": type(self).__name__,
            "vocab_size": tokenizer.vocab_size,
            "families": tokenizer.family_counts(),
            "eod": tokenizer.eod,
            "pad": tokenizer.pad,
        }

    @property
    def vocab_size(self) -> int:
        """The unpadded vocabulary; Megatron pads the embedding table itself (see padded_vocab_size)."""
        return self.tokenizer.vocab_size

    @property
    def eod(self) -> int:
        return self.tokenizer.eod

    @property
    def pad(self) -> int:
        return self.tokenizer.pad

    @property
    def vocab(self) -> dict[str, int]:
        return self.tokenizer.backend.get_vocab(with_added_tokens=True)

    @property
    def inv_vocab(self) -> dict[int, str]:
        return {i: t for t, i in self.vocab.items()}

    def tokenize(self, text: str) -> np.ndarray:
        """A rendered string (wrappers written out) to ids, exactly as the HF tokenizer does."""
        return np.asarray(self.tokenizer.backend.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def detokenize(self, ids) -> str:
        return self.tokenizer.backend.decode(list(map(int, ids)), skip_special_tokens=False)
