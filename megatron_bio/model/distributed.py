"""The one way a process joins megatron-core: the torch.distributed process group and
megatron-core's model-parallel state, through the CPU layer where there is no CUDA.

Training and conversion both start here. Under torchrun or srun (`slurm.environment` derives the
variables) the group comes from RANK, WORLD_SIZE, MASTER_ADDR/PORT: NCCL with CUDA, gloo without.
Without those variables the process is a one-rank gloo group through a file store, so a job run
as a plain command needs no launcher.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional

import torch
import torch.distributed as dist

from megatron_bio import cpu_compat


def initialize(tensor: Optional[int] = None, pipeline: int = 1, virtual_pipeline: Optional[int] = None,
               context: int = 1, seed: int = 0) -> int:
    """Process group, model-parallel groups (`tensor=None`: all ranks form one tensor-parallel
    group) and seeds; groups the caller already made are kept. Returns the tensor-parallel size."""
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

    cpu_compat.activate()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        if "RANK" in os.environ:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        else:
            store = tempfile.mkdtemp(prefix="biomatrix-pg-")
            dist.init_process_group("gloo", init_method=f"file://{store}/store", rank=0, world_size=1)
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(tensor or dist.get_world_size(), pipeline, virtual_pipeline,
                                                 context_parallel_size=context)
    torch.manual_seed(seed)
    model_parallel_cuda_manual_seed(seed)
    return parallel_state.get_tensor_model_parallel_world_size()
