"""megatron-core on a machine without CUDA (CI, laptops): one redirect layer, active only there.

megatron-core asks CUDA for five things even when every tensor lives on the CPU: the current
device (rotary embeddings, the global memory buffer place tensors on it), tensors created with a
literal `device="cuda"` (the default causal mask, pipeline send/receive buffers), CUDA tensor type
names (asserted by gradient clipping and the distributed optimizer), a synchronize,
and the CUDA random-number state (its model-parallel RNG tracker forks and restores it around
dropout and initialization). Without CUDA, `activate` points these at the CPU: the device is the
CPU, a torch function mode rewrites CUDA device arguments to the CPU and answers type names as
CUDA would, the synchronize is a no-op,
and the tracker's states are the CPU generator's. Nothing else changes; with CUDA present it does
nothing.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

_ACTIVE = False


def _is_cuda(device) -> bool:
    try:
        return device is not None and torch.device(device).type == "cuda"
    except (RuntimeError, TypeError):
        return False


class CudaToCpu(TorchFunctionMode):
    """Rewrites `device=` arguments (and `Tensor.to(device)`, `Tensor.cuda()`) that name CUDA to the CPU, and reports
    tensor type names as CUDA ones (`torch.cuda.FloatTensor`): megatron-core's gradient clipping and
    distributed optimizer assert them."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if _is_cuda(kwargs.get("device")):
            kwargs["device"] = "cpu"
        if func is torch.Tensor.cuda:
            return args[0]
        if func is torch.Tensor.to and len(args) > 1 and _is_cuda(args[1]):
            args = (args[0], "cpu", *args[2:])
        if func is torch.Tensor.type and len(args) == 1 and not kwargs:
            return func(*args).replace("torch.", "torch.cuda.", 1)  # the optimizer asserts CUDA type names
        return func(*args, **kwargs)


def _get_rng_state(device="cuda", clone: bool = False, graph_safe: bool = False) -> torch.Tensor:
    return torch.get_rng_state()


def _set_rng_state(new_state: torch.Tensor, device=-1, graph_safe: bool = False) -> None:
    torch.set_rng_state(new_state)


def activate() -> bool:
    """Install the redirects when CUDA is absent (idempotent); True when they are in place."""
    global _ACTIVE
    if torch.cuda.is_available():
        return False
    if _ACTIVE:
        return True
    from megatron.core.tensor_parallel import random as megatron_random

    torch.cuda.current_device = lambda: torch.device("cpu")
    torch.cuda.synchronize = lambda device=None: None
    torch.cuda.get_rng_state = _get_rng_state
    torch.cuda.manual_seed = torch.manual_seed
    megatron_random._get_cuda_rng_state = _get_rng_state
    megatron_random._set_cuda_rng_state = _set_rng_state
    CudaToCpu().__enter__()  # for the rest of the process
    _ACTIVE = True
    return True
