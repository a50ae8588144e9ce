"""Growing a Qwen3 embedding table to the BioMatrix vocabulary (report section 2.4).

Rows of Qwen3's own tokens are kept. Each added token's row is the mean of the base embeddings of
the subword ids of its description (a phrase for control tokens, the amino acid's name for a
residue, the token's literal string otherwise; `BioMatrixTokenizer.description`), tokenized by the
BASE Qwen3 tokenizer, plus noise ~ N(0, I/d). Rows Megatron adds to pad the table for tensor
parallelism are zero and never a label: Megatron's own padding copies the last row, which would
make padding look like a real token. The same rule serves the output layer when it is untied.
"""

from __future__ import annotations

from typing import Literal, Optional, get_args

import torch

from megatron_bio.tokenizer.base import load_hf_tokenizer_dir
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

Init = Literal["description", "random"]
INITS: tuple[str, ...] = get_args(Init)


def description_subwords(tokenizer: BioMatrixTokenizer, base_dir: Optional[str] = None) -> dict[int, list[int]]:
    """Added token id -> base-vocabulary ids of its description."""
    base, _ = load_hf_tokenizer_dir(base_dir)
    described = tokenizer.descriptions()
    encoded = base.encode_batch_fast([d["description"] for d in described], add_special_tokens=False)
    return {d["id"]: e.ids for d, e in zip(described, encoded)}


def extend_rows(base: torch.Tensor, tokenizer: BioMatrixTokenizer, padded_rows: int, seed: int,
                init: str = "description", std: float = 0.02, base_dir: Optional[str] = None) -> torch.Tensor:
    """The (padded_rows, hidden) table: base rows of Qwen3's tokens, initialized added rows, zero padding.

    `base` is Qwen3's table (its rows past Qwen3's 151,669 tokens are Qwen's own padding and are
    replaced). Noise (description init) or the rows themselves (random init, N(0, std^2)) are drawn
    from one generator seeded with `seed`, in id order, so every rank and every run agree.
    """
    if init not in INITS:
        raise ValueError(f"init {init!r}: use one of {INITS}")
    kept = tokenizer.base_vocab_size
    hidden = base.shape[1]
    if base.shape[0] < kept:
        raise ValueError(f"base table has {base.shape[0]} rows, fewer than the base vocabulary's {kept}")
    if padded_rows < tokenizer.vocab_size:
        raise ValueError(f"{padded_rows} rows cannot hold the {tokenizer.vocab_size}-token vocabulary")
    table = torch.zeros(padded_rows, hidden, dtype=base.dtype)
    table[:kept] = base[:kept]
    added = torch.arange(kept, tokenizer.vocab_size)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(added), hidden, generator=generator, dtype=torch.float32)
    if init == "random":
        table[added] = (noise * std).to(base.dtype)
        return table
    subwords = description_subwords(tokenizer, base_dir)
    lists = [subwords[int(i)] for i in added]
    if any(not ids for ids in lists):
        raise ValueError("a description tokenizes to nothing: its token cannot be initialized from it")
    flat = torch.tensor([i for ids in lists for i in ids])
    owner = torch.repeat_interleave(torch.arange(len(lists)), torch.tensor([len(ids) for ids in lists]))
    sums = torch.zeros(len(lists), hidden, dtype=torch.float32).index_add_(0, owner, base[flat].float())
    means = sums / torch.bincount(owner, minlength=len(lists)).unsqueeze(1)
    table[added] = (means + noise / hidden**0.5).to(base.dtype)
    return table
