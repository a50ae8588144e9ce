"""Growing a Qwen3 embedding table to the BioMatrix vocabulary (report section 2.4).

Rows of Qwen3's own tokens are kept. Each added token's row is the mean of the base embeddings of
the subword ids of its description (a phrase for control tokens, the amino acid's name for a
residue, the token's literal string otherwise; `BioMatrixTokenizer.description`), tokenized by the
BASE Qwen3 tokenizer, plus noise ~ N(0, I/d). Rows Megatron adds to pad the table for tensor
parallelism are zero and never a label: Megatron's own padding copies the last row, which would
make padding look like a real token. The same rule serves the output layer when it is untied.

The base may also be a BioMatrix table of an older vocabulary (a checkpoint trained before the
DNA/RNA tokens were added): ids only grow (`tokenizer.families.VOCABULARY_PLAN`), so its rows keep
their meaning and are kept whole (`kept`), and only the tokens added since are initialized.
`shared_prefix` checks that an older vocabulary is indeed a prefix of the new one.
"""

from __future__ import annotations

from typing import Literal, Optional, get_args

import torch

from megatron_bio.tokenizer.base import load_hf_tokenizer_dir
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

Init = Literal["description", "random"]
INITS: tuple[str, ...] = get_args(Init)
# Common entry of an imported checkpoint (`convert.hf_to_megatron`): True when its vocabulary rows
# are BioMatrix tokens (a grown import, or a BioMatrix export imported as it is), False for Qwen3.
BIOMATRIX_VOCABULARY = "biomatrix_vocabulary"


def checkpoint_rows_kept(common: dict, tokenizer: BioMatrixTokenizer) -> int:
    """How many leading rows of a checkpoint's vocabulary tables hold tokens of `tokenizer`'s
    vocabulary: its whole vocabulary (`vocab_size`) when that is a BioMatrix one (a training
    checkpoint records its tokenizer; an import says so under `BIOMATRIX_VOCABULARY`), which ids
    only ever extend; else Qwen3's own tokens (a base model)."""
    recorded = common.get(BIOMATRIX_VOCABULARY, bool((common.get("config") or {}).get("tokenizer")))
    if not recorded:
        return tokenizer.base_vocab_size
    if common["vocab_size"] > tokenizer.vocab_size:
        raise ValueError(f"the checkpoint's vocabulary ({common['vocab_size']} tokens) is larger than the tokenizer's "
                         f"({tokenizer.vocab_size}): it was trained with a newer or another tokenizer")
    return common["vocab_size"]


def description_subwords(tokenizer: BioMatrixTokenizer, base_dir: Optional[str] = None) -> dict[int, list[int]]:
    """Added token id -> base-vocabulary ids of its description."""
    base, _ = load_hf_tokenizer_dir(base_dir)
    described = tokenizer.descriptions()
    encoded = base.encode_batch_fast([d["description"] for d in described], add_special_tokens=False)
    return {d["id"]: e.ids for d, e in zip(described, encoded)}


def shared_prefix(older: BioMatrixTokenizer, tokenizer: BioMatrixTokenizer) -> int:
    """The size of `older`'s vocabulary when every one of its tokens has the same id in
    `tokenizer`'s (it is a prefix of it); else a ValueError naming the first id that differs."""
    newer = tokenizer.backend.get_vocab(with_added_tokens=True)
    moved = sorted((i, token) for token, i in older.backend.get_vocab(with_added_tokens=True).items() if newer.get(token) != i)
    if moved or older.vocab_size > tokenizer.vocab_size:
        first = moved[0] if moved else (tokenizer.vocab_size, "beyond the vocabulary")
        raise ValueError(f"the older vocabulary ({older.vocab_size} tokens) is not a prefix of this one "
                         f"({tokenizer.vocab_size}): id {first[0]} is {first[1]!r} there")
    return older.vocab_size


def extend_rows(base: torch.Tensor, tokenizer: BioMatrixTokenizer, padded_rows: int, seed: int,
                init: str = "description", std: float = 0.02, base_dir: Optional[str] = None,
                kept: Optional[int] = None) -> torch.Tensor:
    """The (padded_rows, hidden) table: the base's rows of tokens the vocabulary keeps, initialized
    added rows, zero padding.

    `kept`: how many leading rows of `base` hold tokens of `tokenizer`'s vocabulary (default Qwen3's
    own 151,669: `base` is Qwen3's table, whose later rows are Qwen's padding and are replaced; an
    older BioMatrix vocabulary's size when its checkpoint grows). Noise (description init) or the
    rows themselves (random init, N(0, std^2)) are drawn from one generator seeded with `seed`, in
    id order, so every rank and every run agree.
    """
    if init not in INITS:
        raise ValueError(f"init {init!r}: use one of {INITS}")
    kept = tokenizer.base_vocab_size if kept is None else kept
    hidden = base.shape[1]
    if not tokenizer.base_vocab_size <= kept <= tokenizer.vocab_size:
        raise ValueError(f"{kept} kept rows: not between the base vocabulary ({tokenizer.base_vocab_size}) and "
                         f"the whole one ({tokenizer.vocab_size})")
    if base.shape[0] < kept:
        raise ValueError(f"base table has {base.shape[0]} rows, fewer than the {kept} it should keep")
    if padded_rows < tokenizer.vocab_size:
        raise ValueError(f"{padded_rows} rows cannot hold the {tokenizer.vocab_size}-token vocabulary")
    table = torch.zeros(padded_rows, hidden, dtype=base.dtype)
    table[:kept] = base[:kept]
    added = torch.arange(kept, tokenizer.vocab_size)
    if not len(added):
        return table
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
