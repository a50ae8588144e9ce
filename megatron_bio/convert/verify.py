"""Does a converted checkpoint compute what the Hugging Face model computes? The Megatron model at
this process group's tensor-parallel size (torchrun --nproc_per_node N: TP=N) and the HF model run
the same token ids; their logits over the real vocabulary are compared."""

from __future__ import annotations

import torch

from biomatrix_io.config import ConfigError
from megatron_bio.model.distributed import initialize
from megatron_bio.tokenizer.unified import padded_vocab_size

from .megatron_to_hf import read_checkpoint
from .runtime import bare_model


def compare_logits(hf_dir: str, checkpoint: str, tokens: int = 32, seed: int = 0) -> dict:
    """Max and mean absolute logit difference (float32 on both sides), on every rank."""
    from megatron.core import dist_checkpointing
    from megatron.core.tensor_parallel import gather_from_tensor_model_parallel_region
    from transformers import AutoModelForCausalLM

    tensor_parallel = initialize()
    folder, common, model, _ = read_checkpoint(checkpoint)
    vocab_size = common["vocab_size"]
    hf = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32)
    if hf.config.vocab_size != vocab_size:
        raise ConfigError(f"{checkpoint} has a {vocab_size}-token vocabulary, {hf_dir} {hf.config.vocab_size}: verify "
                          "compares a checkpoint with the HF model it holds (convert without --extend-vocabulary, or "
                          "the export of the checkpoint)")
    megatron = bare_model(model, padded_vocab_size(vocab_size, tensor_parallel), torch.float32, tensor_parallel)
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
