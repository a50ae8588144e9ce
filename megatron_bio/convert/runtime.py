"""megatron-core set up for conversion (one process: world size 1, gloo on CPU), and the bare model a
conversion fills: built at TP=1/PP=1 without initializing weights, since every tensor is
overwritten (a 4B model's random init would cost minutes for nothing)."""

from __future__ import annotations

import os
import resource
import tempfile

import torch
import torch.distributed as dist

from megatron_bio.model.config import ModelConfig

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def initialize() -> int:
    """The process group (torchrun's variables, or a one-rank gloo group through a file store) and
    model-parallel state with TP = world size, unless the caller made them. Returns the TP size."""
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

    from megatron_bio import cpu_compat

    cpu_compat.activate()
    if not dist.is_initialized():
        if "RANK" in os.environ:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        else:
            store = tempfile.mkdtemp(prefix="biomatrix-pg-")
            dist.init_process_group("gloo", init_method=f"file://{store}/store", rank=0, world_size=1)
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(dist.get_world_size(), 1)
        model_parallel_cuda_manual_seed(0)
    return parallel_state.get_tensor_model_parallel_world_size()


def bare_model(model: ModelConfig, rows: int, dtype: torch.dtype, tensor_parallel: int = 1):
    """GPTModel at this process's model-parallel layout, weights allocated and left uninitialized."""
    from megatron_bio.model.gpt import build_gpt_model

    config = model.transformer_config(tensor_parallel, perform_initialization=False)
    config.params_dtype = dtype
    return build_gpt_model(model, config, rows, model.max_position_embeddings, use_transformer_engine=False)


def peak_memory_gb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
