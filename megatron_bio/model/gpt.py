"""The BioMatrix network: megatron-core's GPTModel over a Qwen3 recipe.

Transformer Engine's layer spec where TE imports (GPU installs: fused kernels, FP8), megatron-core's
local spec otherwise (CPU, tests); both hold the same parameters under the same shapes.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

from .config import ModelConfig


def transformer_engine_available() -> bool:
    if importlib.util.find_spec("transformer_engine") is None:
        return False
    try:
        importlib.import_module("megatron.core.extensions.transformer_engine")
    except (ImportError, RuntimeError):
        return False
    return True


def backend() -> dict:
    """What this process computes with, said once in a job's first log line (megatron-core's own
    fallback warnings are silenced in `megatron_bio/__init__.py`)."""
    import torch

    return {"layers": "transformer_engine" if transformer_engine_available() else "local (megatron-core, torch norms and optimizers)",
            "device": "cuda" if torch.cuda.is_available() else "cpu", "torch_threads": torch.get_num_threads()}


def layer_spec(use_transformer_engine: Optional[bool] = None):
    """The decoder layer spec: TE when available (or asked), local otherwise."""
    from megatron.core.models.gpt import gpt_layer_specs

    use = transformer_engine_available() if use_transformer_engine is None else use_transformer_engine
    if use:
        return gpt_layer_specs.get_gpt_layer_with_transformer_engine_spec(qk_layernorm=True)
    return gpt_layer_specs.get_gpt_layer_local_spec(qk_layernorm=True, normalization="RMSNorm")


def build_gpt_model(model: ModelConfig, transformer_config, padded_vocab_size: int, sequence_length: int,
                    pre_process: bool = True, post_process: bool = True, vp_stage: Optional[int] = None,
                    use_transformer_engine: Optional[bool] = None):
    """One model chunk (a pipeline stage, or a virtual stage of one)."""
    from megatron.core.models.gpt import GPTModel

    return GPTModel(
        config=transformer_config,
        transformer_layer_spec=layer_spec(use_transformer_engine),
        vocab_size=padded_vocab_size,
        max_sequence_length=sequence_length,
        pre_process=pre_process,
        post_process=post_process,
        share_embeddings_and_output_weights=model.tie_embeddings,
        position_embedding_type="rope",
        rotary_base=int(model.rotary_base),
        vp_stage=vp_stage,
    )
