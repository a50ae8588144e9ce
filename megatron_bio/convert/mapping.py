"""Hugging Face Qwen3 <-> megatron-core GPTModel, declared once: one rule per parameter, read in
both directions.

Names on the Megatron side are the module's own (local layer spec) state-dict keys at TP=1, PP=1.
Tensor and pipeline parallelism are not in this table on purpose: megatron-core's sharded state
dict stores every tensor in its global layout (layers stacked, QKV interleaved per query group,
fc1 as [all gate rows; all up rows]) and slices it per rank on load, so one converted checkpoint
loads at any TP/PP, and any training checkpoint exports from its global layout.

Transforms (`kind`):
- copy: the same tensor.
- qkv: Megatron's `linear_qkv` holds, for each query group g, [the q rows of g's heads; g's k rows;
  g's v rows] (head_dim rows per head); HF keeps q_proj, k_proj, v_proj apart.
- gate_up: Megatron's `linear_fc1` is [gate; up] by rows; HF keeps gate_proj and up_proj apart.
- vocab: the embedding / output tables; Megatron's has padding rows (a multiple of 128 x TP),
  trimmed to the real vocabulary on export and zero on import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from megatron_bio.model.config import ModelConfig

LAYER = "{L}"


@dataclass(frozen=True)
class Rule:
    megatron: str
    hf: tuple[str, ...]
    kind: str


RULES: tuple[Rule, ...] = (
    Rule("embedding.word_embeddings.weight", ("model.embed_tokens.weight",), "vocab"),
    Rule("decoder.layers.{L}.input_layernorm.weight", ("model.layers.{L}.input_layernorm.weight",), "copy"),
    Rule("decoder.layers.{L}.self_attention.linear_qkv.weight",
         ("model.layers.{L}.self_attn.q_proj.weight", "model.layers.{L}.self_attn.k_proj.weight",
          "model.layers.{L}.self_attn.v_proj.weight"), "qkv"),
    Rule("decoder.layers.{L}.self_attention.q_layernorm.weight", ("model.layers.{L}.self_attn.q_norm.weight",), "copy"),
    Rule("decoder.layers.{L}.self_attention.k_layernorm.weight", ("model.layers.{L}.self_attn.k_norm.weight",), "copy"),
    Rule("decoder.layers.{L}.self_attention.linear_proj.weight", ("model.layers.{L}.self_attn.o_proj.weight",), "copy"),
    Rule("decoder.layers.{L}.pre_mlp_layernorm.weight", ("model.layers.{L}.post_attention_layernorm.weight",), "copy"),
    Rule("decoder.layers.{L}.mlp.linear_fc1.weight",
         ("model.layers.{L}.mlp.gate_proj.weight", "model.layers.{L}.mlp.up_proj.weight"), "gate_up"),
    Rule("decoder.layers.{L}.mlp.linear_fc2.weight", ("model.layers.{L}.mlp.down_proj.weight",), "copy"),
    Rule("decoder.final_layernorm.weight", ("model.norm.weight",), "copy"),
    Rule("output_layer.weight", ("lm_head.weight",), "vocab"),  # untied models only
)
TIED_HF_KEYS = ("lm_head.weight",)  # may be present in a tied HF checkpoint (a copy of the embedding)


def expand(model: ModelConfig) -> list[tuple[str, tuple[str, ...], str]]:
    """The rules for this model's layers and tying: (megatron key, hf keys, kind)."""
    rules = []
    for rule in RULES:
        if rule.megatron == "output_layer.weight" and model.tie_embeddings:
            continue
        for layer in (range(model.num_layers) if LAYER in rule.megatron else [""]):
            rules.append((rule.megatron.replace(LAYER, str(layer)), tuple(k.replace(LAYER, str(layer)) for k in rule.hf),
                          rule.kind))
    return rules


def _qkv_to_megatron(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, model: ModelConfig) -> torch.Tensor:
    groups, d = model.num_query_groups, model.kv_channels
    per_group = model.num_attention_heads // groups
    hidden = q.shape[1]
    return torch.cat([q.reshape(groups, per_group * d, hidden), k.reshape(groups, d, hidden),
                      v.reshape(groups, d, hidden)], dim=1).reshape(-1, hidden)


def _qkv_to_hf(qkv: torch.Tensor, model: ModelConfig) -> tuple[torch.Tensor, ...]:
    groups, d = model.num_query_groups, model.kv_channels
    per_group = model.num_attention_heads // groups
    hidden = qkv.shape[1]
    q, k, v = qkv.reshape(groups, (per_group + 2) * d, hidden).split([per_group * d, d, d], dim=1)
    return q.reshape(-1, hidden), k.reshape(-1, hidden), v.reshape(-1, hidden)


def _vocab_to_megatron(table: torch.Tensor, rows: int) -> torch.Tensor:
    if table.shape[0] > rows:
        raise ValueError(f"a {table.shape[0]}-row vocabulary table does not fit the model's {rows} rows")
    padded = table.new_zeros(rows, table.shape[1])
    padded[:table.shape[0]] = table
    return padded


# kind -> (HF tensors -> Megatron tensor, Megatron tensor -> HF tensors); `rows` is the target's row count.
TO_MEGATRON: dict[str, Callable] = {
    "copy": lambda tensors, model, rows: tensors[0],
    "qkv": lambda tensors, model, rows: _qkv_to_megatron(*tensors, model),
    "gate_up": lambda tensors, model, rows: torch.cat(tensors, dim=0),
    "vocab": lambda tensors, model, rows: _vocab_to_megatron(tensors[0], rows),
}
TO_HF: dict[str, Callable] = {
    "copy": lambda tensor, model, rows: (tensor,),
    "qkv": lambda tensor, model, rows: _qkv_to_hf(tensor, model),
    "gate_up": lambda tensor, model, rows: tuple(tensor.chunk(2, dim=0)),
    "vocab": lambda tensor, model, rows: (tensor[:rows],),
}
