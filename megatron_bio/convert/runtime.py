"""What conversion needs beside the mapping: the bare model a conversion fills, built without
initializing weights, since every tensor is overwritten (a 4B model's random init would cost
minutes for nothing); target dtypes; the peak memory figure of the reports. Process groups come
from `megatron_bio.model.distributed.initialize` (one rank without torchrun; TP = world size)."""

from __future__ import annotations

import resource

import torch

from megatron_bio.model.config import ModelConfig

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def bare_model(model: ModelConfig, rows: int, dtype: torch.dtype, tensor_parallel: int = 1):
    """GPTModel at this process's model-parallel layout, weights allocated and left uninitialized."""
    from megatron_bio.model.gpt import build_gpt_model

    config = model.transformer_config(tensor_parallel, perform_initialization=False)
    config.params_dtype = dtype
    return build_gpt_model(model, config, rows, model.max_position_embeddings, use_transformer_engine=False)


def peak_memory_gb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
