"""The pieces a training job is built from, all megatron-core's: the model chunks of this rank
wrapped in its DDP, and its optimizer (distributed or not) with its LR/WD scheduler."""

from __future__ import annotations

from typing import Optional

import torch

from .config import TrainingConfig


def build_model(config: TrainingConfig, padded_vocab_size: int, overrides: Optional[dict] = None) -> tuple[list, object]:
    """Model chunks of this rank (one per virtual pipeline stage) wrapped in megatron-core's DDP;
    `overrides` are the job's TransformerConfig settings (`Job.transformer_overrides`)."""
    from megatron.core import parallel_state
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig, finalize_model_grads

    from megatron_bio.model.gpt import build_gpt_model

    transformer_config = config.transformer_config(**(overrides or {}))
    chunks = []
    for stage in range(config.parallel.virtual_pipeline or 1):
        vp_stage = stage if config.parallel.virtual_pipeline else None
        first = parallel_state.is_pipeline_first_stage(ignore_virtual=False, vp_stage=vp_stage)
        last = parallel_state.is_pipeline_last_stage(ignore_virtual=False, vp_stage=vp_stage)
        chunks.append(build_gpt_model(config.model, transformer_config, padded_vocab_size, config.sequence_length,
                                      first, last, vp_stage))
    ddp_config = DistributedDataParallelConfig(grad_reduce_in_fp32=True, use_distributed_optimizer=config.optimizer.distributed)
    wrapped = [DistributedDataParallel(transformer_config, ddp_config, chunk) for chunk in chunks]
    transformer_config.finalize_model_grads_func = finalize_model_grads
    transformer_config.no_sync_func = [w.no_sync for w in wrapped] if len(wrapped) > 1 else wrapped[0].no_sync
    return wrapped, transformer_config


def build_optimizer(config: TrainingConfig, model: list):
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    o, s = config.optimizer, config.schedule
    optimizer = get_megatron_optimizer(OptimizerConfig(
        optimizer="adam", lr=o.lr, min_lr=o.min_lr, weight_decay=o.weight_decay, adam_beta1=o.adam_beta1,
        adam_beta2=o.adam_beta2, adam_eps=o.adam_eps, clip_grad=o.clip_grad, use_distributed_optimizer=o.distributed,
        bf16=config.precision.dtype == "bf16", params_dtype=torch.bfloat16 if config.precision.dtype == "bf16" else torch.float32,
    ), model)
    # The config's schedule, never a checkpoint's: whether a resume may change it is `training.resume`'s call.
    scheduler = OptimizerParamScheduler(
        optimizer, init_lr=0.0, max_lr=o.lr, min_lr=o.min_lr, lr_warmup_steps=s.warmup_steps,
        lr_decay_steps=s.train_steps, lr_decay_style=s.decay_style, start_wd=o.weight_decay,
        end_wd=o.weight_decay, wd_incr_steps=s.train_steps, wd_incr_style="constant",
        use_checkpoint_opt_param_scheduler=False, override_opt_param_scheduler=True,
    )
    return optimizer, scheduler
