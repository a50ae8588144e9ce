"""Hugging Face Qwen3 <-> megatron-core GPTModel, declared once: one transform object per parameter,
holding both directions side by side so that neither can change without the other in view.

Names on the Megatron side are the module's own (local layer spec) state-dict keys at TP=1, PP=1.
Tensor and pipeline parallelism are not in this table on purpose: megatron-core's sharded state
dict stores every tensor in its global layout (layers stacked, QKV interleaved per query group,
fc1 as [all gate rows; all up rows]) and slices it per rank on load, so one converted checkpoint
loads at any TP/PP, and any training checkpoint exports from its global layout.

Transforms (one class per kind of tensor mapping):
- DirectMapping: the same tensor.
- QKVMapping: Megatron's `linear_qkv` holds, for each query group g, [the q rows of g's heads; g's
  k rows; g's v rows] (head_dim rows per head); HF keeps q_proj, k_proj, v_proj apart.
- GatedMLPMapping: Megatron's `linear_fc1` is [gate; up] by rows; HF keeps gate_proj and up_proj
  apart.
- VocabularyMapping: the embedding / output tables; Megatron's has padding rows (the vocabulary
  rounded up to a multiple of 128 x TP by `padded_vocab_size`), trimmed to the real vocabulary on
  export and zero on import.
- GrownVocabularyMapping: a VocabularyMapping that, on import, also grows the table to a BioMatrix
  tokenizer's vocabulary (`extend_rows`: base rows kept, added rows from their descriptions).
  `expand(model, growth)` puts it in place of every VocabularyMapping.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

import torch

from megatron_bio.model.config import ModelConfig
from megatron_bio.model.vocabulary import Init, extend_rows
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

LAYER = "{L}"
OUTPUT_LAYER = "output_layer.weight"  # untied models only


@dataclass(frozen=True)
class VocabularyGrowth:
    """What a grown import needs: the BioMatrix tokenizer, how its added rows are initialized, and
    how many leading rows of the imported table it keeps (None: Qwen3's own tokens; an older
    BioMatrix vocabulary's size when a BioMatrix model grows to a newer one)."""

    tokenizer: BioMatrixTokenizer
    seed: int
    init: Init = "description"
    kept: Optional[int] = None


@dataclass(frozen=True)
class Mapping(ABC):
    """One Megatron parameter and the HF tensors it is made of (`hf`, in the order both directions
    take and return them); `{L}` in the keys stands for the layer number."""

    megatron: str
    hf: tuple[str, ...]
    parts: ClassVar[int] = 1  # how many HF tensors make the Megatron one

    def __post_init__(self) -> None:
        if len(self.hf) != self.parts:
            raise ValueError(f"{type(self).__name__} {self.megatron}: {len(self.hf)} HF keys, takes {self.parts}")

    def expand(self, model: ModelConfig) -> list[Mapping]:
        """This mapping once per layer of `model` when its keys hold `{L}`, else itself."""
        if LAYER not in self.megatron:
            return [self]
        return [dataclasses.replace(self, megatron=self.megatron.replace(LAYER, str(layer)),
                                    hf=tuple(key.replace(LAYER, str(layer)) for key in self.hf))
                for layer in range(model.num_layers)]

    def growing(self, growth: VocabularyGrowth) -> Mapping:
        """The mapping of an import that grows the vocabulary: itself, unless it maps vocabulary rows."""
        return self

    @abstractmethod
    def to_megatron(self, hf_tensors: Sequence[torch.Tensor], model: ModelConfig, rows: int) -> torch.Tensor:
        """The Megatron tensor from the HF tensors; `rows`: the Megatron vocabulary table's row count."""

    @abstractmethod
    def to_hf(self, megatron_tensor: torch.Tensor, model: ModelConfig, vocab_size: int) -> tuple[torch.Tensor, ...]:
        """The HF tensors from the Megatron one; `vocab_size`: the real vocabulary (rows past it are padding)."""


class DirectMapping(Mapping):
    """The same tensor under another name."""

    def to_megatron(self, hf_tensors: Sequence[torch.Tensor], model: ModelConfig, rows: int) -> torch.Tensor:
        return hf_tensors[0]

    def to_hf(self, megatron_tensor: torch.Tensor, model: ModelConfig, vocab_size: int) -> tuple[torch.Tensor, ...]:
        return (megatron_tensor,)


class QKVMapping(Mapping):
    """HF (q_proj, k_proj, v_proj) <-> Megatron's fused `linear_qkv`, interleaved per query group so
    that a tensor-parallel rank's slice holds whole groups with their own k and v."""

    parts = 3

    def to_megatron(self, hf_tensors: Sequence[torch.Tensor], model: ModelConfig, rows: int) -> torch.Tensor:
        q, k, v = hf_tensors
        groups, d = model.num_query_groups, model.kv_channels
        per_group = model.num_attention_heads // groups
        hidden = q.shape[1]
        return torch.cat([q.reshape(groups, per_group * d, hidden), k.reshape(groups, d, hidden),
                          v.reshape(groups, d, hidden)], dim=1).reshape(-1, hidden)

    def to_hf(self, megatron_tensor: torch.Tensor, model: ModelConfig, vocab_size: int) -> tuple[torch.Tensor, ...]:
        groups, d = model.num_query_groups, model.kv_channels
        per_group = model.num_attention_heads // groups
        hidden = megatron_tensor.shape[1]
        q, k, v = megatron_tensor.reshape(groups, (per_group + 2) * d, hidden).split([per_group * d, d, d], dim=1)
        return q.reshape(-1, hidden), k.reshape(-1, hidden), v.reshape(-1, hidden)


class GatedMLPMapping(Mapping):
    """HF (gate_proj, up_proj) <-> Megatron's `linear_fc1` = [gate; up] by rows (one GEMM for both)."""

    parts = 2

    def to_megatron(self, hf_tensors: Sequence[torch.Tensor], model: ModelConfig, rows: int) -> torch.Tensor:
        return torch.cat(list(hf_tensors), dim=0)

    def to_hf(self, megatron_tensor: torch.Tensor, model: ModelConfig, vocab_size: int) -> tuple[torch.Tensor, ...]:
        return tuple(megatron_tensor.chunk(2, dim=0))


class VocabularyMapping(Mapping):
    """An HF vocabulary table <-> Megatron's, which has `rows` rows: the real ones, then zero padding
    (never a label, unlike Megatron's own padding, which copies the last row)."""

    def to_megatron(self, hf_tensors: Sequence[torch.Tensor], model: ModelConfig, rows: int) -> torch.Tensor:
        table = hf_tensors[0]
        if table.shape[0] > rows:
            raise ValueError(f"a {table.shape[0]}-row vocabulary table does not fit the model's {rows} rows")
        padded = table.new_zeros(rows, table.shape[1])
        padded[:table.shape[0]] = table
        return padded

    def to_hf(self, megatron_tensor: torch.Tensor, model: ModelConfig, vocab_size: int) -> tuple[torch.Tensor, ...]:
        return (megatron_tensor[:vocab_size],)

    def growing(self, growth: VocabularyGrowth) -> Mapping:
        return GrownVocabularyMapping(self.megatron, self.hf, growth)


@dataclass(frozen=True)
class GrownVocabularyMapping(VocabularyMapping):
    """A Qwen3 (or older BioMatrix) table in, a BioMatrix one out: the kept tokens' rows as they
    were, the added tokens' rows initialized (`extend_rows`), zero padding. Export is the plain
    vocabulary trim."""

    growth: VocabularyGrowth

    def to_megatron(self, hf_tensors: Sequence[torch.Tensor], model: ModelConfig, rows: int) -> torch.Tensor:
        return extend_rows(hf_tensors[0], self.growth.tokenizer, rows, self.growth.seed, self.growth.init,
                           kept=self.growth.kept)


TABLE: tuple[Mapping, ...] = (
    VocabularyMapping("embedding.word_embeddings.weight", ("model.embed_tokens.weight",)),
    DirectMapping("decoder.layers.{L}.input_layernorm.weight", ("model.layers.{L}.input_layernorm.weight",)),
    QKVMapping("decoder.layers.{L}.self_attention.linear_qkv.weight",
               ("model.layers.{L}.self_attn.q_proj.weight", "model.layers.{L}.self_attn.k_proj.weight",
                "model.layers.{L}.self_attn.v_proj.weight")),
    DirectMapping("decoder.layers.{L}.self_attention.q_layernorm.weight", ("model.layers.{L}.self_attn.q_norm.weight",)),
    DirectMapping("decoder.layers.{L}.self_attention.k_layernorm.weight", ("model.layers.{L}.self_attn.k_norm.weight",)),
    DirectMapping("decoder.layers.{L}.self_attention.linear_proj.weight", ("model.layers.{L}.self_attn.o_proj.weight",)),
    DirectMapping("decoder.layers.{L}.pre_mlp_layernorm.weight", ("model.layers.{L}.post_attention_layernorm.weight",)),
    GatedMLPMapping("decoder.layers.{L}.mlp.linear_fc1.weight",
                    ("model.layers.{L}.mlp.gate_proj.weight", "model.layers.{L}.mlp.up_proj.weight")),
    DirectMapping("decoder.layers.{L}.mlp.linear_fc2.weight", ("model.layers.{L}.mlp.down_proj.weight",)),
    DirectMapping("decoder.final_layernorm.weight", ("model.norm.weight",)),
    VocabularyMapping(OUTPUT_LAYER, ("lm_head.weight",)),
)
TIED_HF_KEYS = ("lm_head.weight",)  # may be present in a tied HF checkpoint (a copy of the embedding)


def expand(model: ModelConfig, growth: Optional[VocabularyGrowth] = None) -> list[Mapping]:
    """The mappings of this model's layers and tying; with `growth`, the vocabulary tables grow on import."""
    table = TABLE if growth is None else tuple(mapping.growing(growth) for mapping in TABLE)
    kept = [mapping for mapping in table if not (mapping.megatron == OUTPUT_LAYER and model.tie_embeddings)]
    return [expanded for mapping in kept for expanded in mapping.expand(model)]
