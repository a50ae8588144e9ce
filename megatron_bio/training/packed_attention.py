"""Rows that hold several sequences (SFT samples packed together, or pretraining documents under
`data.reset_attention_mask`) whose tokens must not attend across sequences.

A row is described by its *segments*: one id per token, equal for the tokens of one sequence, the
tail padding a segment of its own. Where the segments come from is the job's business (the SFT
shards store each sample's length; a pretraining document ends at the EOD token, GPTDataset's own
rule); this module turns them into what megatron-core's attention takes, on the path the layer spec
uses (`megatron_bio.model.gpt.transformer_engine_available`, the same test that picks the spec):

- megatron-core's local spec: a block-diagonal causal boolean mask `[b, 1, s, s]` (True = masked),
  which its unfused softmax honours over the causal mask type (masked-softmax fusion must stay off:
  `transformer_overrides`);
- Transformer Engine: THD `PackedSeqParams` with `cu_seqlens` (one row per micro-batch), with
  which TE restarts RoPE positions per segment and uses its padding-causal kernels. The row is
  padded to the fixed sequence length and the padding is its own segment, so the lengths TE, FP8
  and sequence parallelism require are those of the sequence length (`packing_problems`).

RoPE is relative, so a block mask over global positions gives each sequence exactly the logits it
has alone (tests/training/test_packed_attention.py measures it).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

PAD_GROUP = -1  # the group id of tokens that belong to no sequence (tail padding)


def segments_from_lengths(lengths: np.ndarray, length: int) -> np.ndarray:
    """Segment ids of a row holding sequences of `lengths` then padding up to `length`."""
    used = int(np.sum(lengths))
    ids = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return np.concatenate([ids, np.full(length - used, len(lengths), dtype=np.int64)])


def segments_after_eod(tokens: np.ndarray, eod: int) -> np.ndarray:
    """Segment ids where each sequence ends with (and includes) an EOD token: megatron-core's
    GPTDataset rule for `reset_attention_mask` (nothing after an EOD sees the EOD or before it)."""
    ends = np.asarray(tokens) == eod
    return np.concatenate([[0], np.cumsum(ends[:-1])]).astype(np.int64)


def positions(segments: np.ndarray) -> np.ndarray:
    """Position ids restarting at each segment (RoPE ignores them; learned embeddings would not)."""
    starts = np.flatnonzero(np.diff(segments, prepend=segments[0] - 1))
    return np.arange(len(segments)) - np.repeat(starts, np.diff(np.append(starts, len(segments))))


def block_causal_mask(segments: torch.Tensor) -> torch.Tensor:
    """[b, s] segment ids -> [b, 1, s, s] boolean mask, True where attention is not allowed."""
    length = segments.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segments.device).tril()
    same = segments[:, :, None] == segments[:, None, :]
    return ~(same & causal)[:, None]


def thd_params(segments: torch.Tensor):
    """[1, s] segment ids -> THD `PackedSeqParams` (cu_seqlens over the whole row, padding
    included as its last segment)."""
    from megatron.core.packed_seq_params import PackedSeqParams

    row = segments[0]
    bounds = torch.cat([torch.zeros(1, dtype=torch.long, device=row.device),
                        torch.nonzero(row[1:] != row[:-1]).flatten() + 1,
                        torch.tensor([row.numel()], device=row.device)])
    cu = bounds.to(torch.int32)
    longest = int((bounds[1:] - bounds[:-1]).max())
    return PackedSeqParams(qkv_format="thd", cu_seqlens_q=cu, cu_seqlens_kv=cu, cu_seqlens_q_padded=cu,
                           cu_seqlens_kv_padded=cu, max_seqlen_q=longest, max_seqlen_kv=longest)


def attention_inputs(segments: Optional[torch.Tensor], transformer_engine: bool) -> dict:
    """The attention arguments of `GPTModel.forward` for a micro-batch: nothing for plain causal
    rows (`segments` None), else the mask or the THD parameters of the layer spec in use."""
    if segments is None:
        return {"attention_mask": None}
    if transformer_engine:
        return {"attention_mask": None, "packed_seq_params": thd_params(segments)}
    return {"attention_mask": block_causal_mask(segments)}


def transformer_overrides(packed: bool) -> dict:
    """TransformerConfig settings a packed job needs: the fused softmax's causal kernel would
    ignore a custom mask."""
    return {"masked_softmax_fusion": False} if packed else {}


def packing_problems(transformer_engine: bool, micro_batch: int, context: int, sequence_length: int,
                     tensor: int, sequence_parallel: bool, fp8: bool) -> list[tuple[str, tuple[str, ...]]]:
    """What a packed job cannot run with this layout: (reason, keys at fault) each."""
    if not transformer_engine:
        return []
    problems = []
    if micro_batch != 1:
        problems.append(("packed rows on Transformer Engine are THD (one row per micro-batch): set schedule.micro_batch=1",
                         ("schedule.micro_batch",)))
    if context > 1:
        problems.append(("context parallelism splits every packed sample into 2 x parallel.context chunks, which the "
                         "packed shards do not pad for: set parallel.context=1 (2,048-token SFT does not need it)",
                         ("parallel.context",)))
    multiple = int(np.lcm(16 if fp8 else 1, tensor if sequence_parallel else 1))
    if sequence_length % multiple:
        problems.append((f"sequence_length {sequence_length} must be a multiple of {multiple} for FP8 / sequence "
                         "parallelism over packed rows", ("sequence_length",)))
    return problems
