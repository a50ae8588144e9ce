"""Does a converted checkpoint compute what the Hugging Face model computes? The Megatron model at
this process group's tensor-parallel size (torchrun --nproc_per_node N: TP=N) and the HF model run
the same token ids; their logits over the real vocabulary are compared."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .megatron_to_hf import read_checkpoint
from .runtime import bare_model


def compare_logits(hf_dir: str, checkpoint: str, tokens: int = 32, seed: int = 0) -> dict:
    """Max and mean absolute logit difference (float32 on both sides), on every rank."""
    from megatron.core import dist_checkpointing, parallel_state
    from megatron.core.tensor_parallel import gather_from_tensor_model_parallel_region, model_parallel_cuda_manual_seed
    from transformers import AutoModelForCausalLM

    from megatron_bio import cpu_compat

    cpu_compat.activate()
    if not dist.is_initialized():
        if "RANK" not in os.environ:
            os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT="29517")
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    tensor_parallel = dist.get_world_size()
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(tensor_parallel, 1)
        model_parallel_cuda_manual_seed(seed)
    folder, common, model, _ = read_checkpoint(checkpoint)
    vocab_size = common["vocab_size"]
    hf = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    if hf.config.vocab_size != vocab_size:
        raise ValueError(f"{checkpoint} has a {vocab_size}-token vocabulary, {hf_dir} {hf.config.vocab_size}: verify "
                         "compares a checkpoint with the HF model it holds (convert without --extend-vocabulary, or "
                         "the export of the checkpoint)")
    multiple = 128 * tensor_parallel
    megatron = bare_model(model, -(-vocab_size // multiple) * multiple, torch.float32, tensor_parallel)
    loaded = dist_checkpointing.load({"model": megatron.sharded_state_dict()}, str(folder))
    megatron.load_state_dict(loaded["model"])
    megatron.eval()
    ids = torch.randint(0, vocab_size, (1, tokens), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        logits = megatron(ids, torch.arange(tokens).unsqueeze(0), None)
        logits = gather_from_tensor_model_parallel_region(logits)[..., :vocab_size]
        expected = hf(input_ids=ids).logits[..., :vocab_size]
    difference = (logits.float() - expected).abs()
    return {"tensor_parallel": tensor_parallel, "tokens": tokens, "max_abs_diff": float(difference.max()),
            "mean_abs_diff": float(difference.mean()), "logit_scale": float(expected.abs().max())}
