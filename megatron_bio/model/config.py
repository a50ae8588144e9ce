"""Qwen3 shapes as data, and what they become in megatron-core and in Hugging Face.

Qwen3's fixed choices (RMSNorm, SwiGLU, QK-norm, grouped-query attention, RoPE, no biases) are
constants of `transformer_config`, not options: a recipe only states the sizes. The translation to
the Hugging Face config is one table (`HF_CONFIG_NAMES`), read in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from biomatrix_io.config import ConfigError

# Megatron-side name -> Hugging Face Qwen3Config name.
HF_CONFIG_NAMES: dict[str, str] = {
    "num_layers": "num_hidden_layers",
    "hidden_size": "hidden_size",
    "ffn_hidden_size": "intermediate_size",
    "num_attention_heads": "num_attention_heads",
    "num_query_groups": "num_key_value_heads",
    "kv_channels": "head_dim",
    "layernorm_epsilon": "rms_norm_eps",
    "rotary_base": "rope_theta",  # transformers 5 keeps it in rope_parameters: see _hf_value
    "tie_embeddings": "tie_word_embeddings",
    "max_position_embeddings": "max_position_embeddings",
    "init_method_std": "initializer_range",
}
QWEN3_VOCAB_SIZE = 151_936  # Qwen3's embedding rows (151,669 tokens, padded by Qwen)


def _hf_value(hf_config, name: str):
    """A config value, at the top level (transformers 4) or inside `rope_parameters` (5)."""
    if hasattr(hf_config, name):
        return getattr(hf_config, name)
    return (getattr(hf_config, "rope_parameters", None) or {})[name]


@dataclass
class ModelConfig:
    num_layers: int
    hidden_size: int
    ffn_hidden_size: int
    num_attention_heads: int
    num_query_groups: int
    kv_channels: int
    layernorm_epsilon: float = 1e-6
    rotary_base: float = 1_000_000.0
    tie_embeddings: bool = True
    max_position_embeddings: int = 40_960
    init_method_std: float = 0.02

    def __post_init__(self) -> None:
        if self.num_attention_heads % self.num_query_groups:
            raise ConfigError(f"{self.num_attention_heads} attention heads do not split into {self.num_query_groups} query groups",
                              ["num_attention_heads", "num_query_groups"])

    # Hugging Face ---------------------------------------------------------------------------
    def hf_config(self, vocab_size: int = QWEN3_VOCAB_SIZE):
        from transformers import Qwen3Config

        values = {hf: getattr(self, ours) for ours, hf in HF_CONFIG_NAMES.items()}
        return Qwen3Config(vocab_size=vocab_size, hidden_act="silu", attention_bias=False, **values)

    @classmethod
    def from_hf_config(cls, hf_config) -> "ModelConfig":
        return cls(**{ours: _hf_value(hf_config, hf) for ours, hf in HF_CONFIG_NAMES.items()})

    # Sizes ----------------------------------------------------------------------------------
    def parameter_count(self, vocab_size: int) -> dict[str, int]:
        """Parameters by part, unpadded vocabulary (what the Hugging Face model holds)."""
        h, heads, groups, d = self.hidden_size, self.num_attention_heads, self.num_query_groups, self.kv_channels
        attention = h * heads * d + 2 * h * groups * d + heads * d * h + 2 * d  # q, k, v, o, q_norm, k_norm
        mlp = 3 * h * self.ffn_hidden_size
        layer = attention + mlp + 2 * h  # two RMSNorms
        embedding = vocab_size * h
        output = 0 if self.tie_embeddings else vocab_size * h
        total = embedding + self.num_layers * layer + h + output
        return {"embedding": embedding, "per_layer": layer, "layers": self.num_layers * layer,
                "final_norm": h, "output_layer": output, "total": total, "non_embedding": total - embedding - output}

    # megatron-core --------------------------------------------------------------------------
    def transformer_config(self, tensor_parallel: int = 1, pipeline_parallel: int = 1,
                           virtual_pipeline: Optional[int] = None, sequence_parallel: bool = False,
                           context_parallel: int = 1, bf16: bool = False, **extra):
        """megatron-core's TransformerConfig for this shape; `extra` passes precision and
        performance settings through (fp8 options, recompute, overlap flags)."""
        import torch
        import torch.nn.functional as F
        from megatron.core.transformer import TransformerConfig

        return TransformerConfig(
            num_layers=self.num_layers,
            hidden_size=self.hidden_size,
            ffn_hidden_size=self.ffn_hidden_size,
            num_attention_heads=self.num_attention_heads,
            num_query_groups=self.num_query_groups,
            kv_channels=self.kv_channels,
            layernorm_epsilon=self.layernorm_epsilon,
            init_method_std=self.init_method_std,
            normalization="RMSNorm",
            qk_layernorm=True,
            gated_linear_unit=True,
            activation_func=F.silu,
            add_bias_linear=False,
            add_qkv_bias=False,
            hidden_dropout=0.0,
            attention_dropout=0.0,
            tensor_model_parallel_size=tensor_parallel,
            pipeline_model_parallel_size=pipeline_parallel,
            virtual_pipeline_model_parallel_size=virtual_pipeline,
            sequence_parallel=sequence_parallel,
            context_parallel_size=context_parallel,
            bf16=bf16,
            params_dtype=torch.bfloat16 if bf16 else torch.float32,
            pipeline_dtype=torch.bfloat16 if bf16 else torch.float32,
            use_cpu_initialization=not torch.cuda.is_available(),
            cuda_graph_scope=[],  # the whole layer, said the current way (the default "full" warns)
            **extra,
        )
