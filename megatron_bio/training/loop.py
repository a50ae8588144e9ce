"""Continual pretraining on megatron-core: process groups, model chunks wrapped in megatron-core's
DDP, its optimizer (distributed or not) and LR/WD scheduler, its pipeline schedules, over the
pipeline's shards. Every piece is megatron-core's; this module only wires them from a config.

Launch: one process per device under torchrun or srun (`biomatrix pretrain`), reading the standard
torch.distributed variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import torch
import torch.distributed as dist

from megatron_bio.model.config import PretrainModelConfig
from megatron_bio.model.gpt import build_gpt_model

from .data import TrainDataConfig, build_datasets


@dataclass
class OptimizerSettings:
    lr: float = 2e-4  # the paper's peak
    min_lr: float = 2e-5
    weight_decay: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    clip_grad: float = 1.0
    distributed: bool = False  # megatron-core's distributed optimizer (states sharded over data parallel)


@dataclass
class ScheduleSettings:
    train_steps: int = 36_400  # one epoch of 304.4B tokens at 1,024 x 8,192 tokens per step
    warmup_steps: int = 2_000
    decay_style: str = "cosine"
    global_batch: int = 1024
    micro_batch: int = 1
    log_every: int = 1


@dataclass
class PretrainConfig(PretrainModelConfig):
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    seed: int = 1234

    def __post_init__(self) -> None:
        super().__post_init__()
        s = self.schedule
        if not 0 <= s.warmup_steps < s.train_steps:
            raise ValueError(f"schedule.warmup_steps ({s.warmup_steps}) must be below schedule.train_steps ({s.train_steps})")


def initialize(config: PretrainConfig) -> None:
    """Process groups (NCCL with CUDA, gloo without), model-parallel groups, seeds."""
    from megatron.core import parallel_state
    from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed

    from megatron_bio import cpu_compat

    cpu_compat.activate()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    p = config.parallel
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(p.tensor, p.pipeline, p.virtual_pipeline, context_parallel_size=p.context)
    torch.manual_seed(config.seed)
    model_parallel_cuda_manual_seed(config.seed)


def build_model(config: PretrainConfig, padded_vocab_size: int) -> tuple[list, object]:
    """Model chunks of this rank (one per virtual pipeline stage) wrapped in megatron-core's DDP."""
    from megatron.core import parallel_state
    from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig, finalize_model_grads

    transformer_config = config.transformer_config()
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


def build_optimizer(config: PretrainConfig, model: list):
    from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    o, s = config.optimizer, config.schedule
    optimizer = get_megatron_optimizer(OptimizerConfig(
        optimizer="adam", lr=o.lr, min_lr=o.min_lr, weight_decay=o.weight_decay, adam_beta1=o.adam_beta1,
        adam_beta2=o.adam_beta2, adam_eps=o.adam_eps, clip_grad=o.clip_grad, use_distributed_optimizer=o.distributed,
        bf16=config.precision.dtype == "bf16", params_dtype=torch.bfloat16 if config.precision.dtype == "bf16" else torch.float32,
    ), model)
    scheduler = OptimizerParamScheduler(
        optimizer, init_lr=0.0, max_lr=o.lr, min_lr=o.min_lr, lr_warmup_steps=s.warmup_steps,
        lr_decay_steps=s.train_steps, lr_decay_style=s.decay_style, start_wd=o.weight_decay,
        end_wd=o.weight_decay, wd_incr_steps=s.train_steps, wd_incr_style="constant",
    )
    return optimizer, scheduler


def microbatches(dataset, step: int, config: PretrainConfig) -> Iterator[dict]:
    """This data-parallel rank's micro-batches of global step `step`: samples are consumed in
    order, `global_batch` per step, so a run that resumes at step k reads what it would have read."""
    from megatron.core import parallel_state

    s = config.schedule
    ranks, rank = parallel_state.get_data_parallel_world_size(), parallel_state.get_data_parallel_rank()
    per_rank = s.global_batch // ranks
    start = step * s.global_batch + rank * per_rank
    for first in range(start, start + per_rank, s.micro_batch):
        items = [dataset[i] for i in range(first, first + s.micro_batch)]
        yield {key: torch.stack([item[key] for item in items]) for key in ("tokens", "labels", "loss_mask", "position_ids")}


def _forward_step(data: Iterator[dict], model) -> tuple[torch.Tensor, Callable]:
    batch = next(data)
    output = model(batch["tokens"], batch["position_ids"], None, labels=batch["labels"])
    mask = batch["loss_mask"].float()

    def loss(per_token: torch.Tensor):
        total = (per_token.float() * mask).sum()
        tokens = mask.sum()
        return total / tokens, {"lm loss": torch.stack([total.detach(), tokens])}

    return output, loss


def check_batches(config: PretrainConfig) -> int:
    """Micro-batches per step per data-parallel rank; an error when the batch sizes do not divide."""
    from megatron.core import parallel_state

    s = config.schedule
    ranks = parallel_state.get_data_parallel_world_size()
    if s.global_batch % (s.micro_batch * ranks):
        raise ValueError(f"global batch {s.global_batch} is not a multiple of micro batch {s.micro_batch} x "
                         f"{ranks} data-parallel ranks")
    return s.global_batch // (s.micro_batch * ranks)


def train(config: PretrainConfig, log: Callable[[dict], None] = lambda record: print(json.dumps(record), flush=True)) -> list[float]:
    """Train `schedule.train_steps` steps; returns the per-step loss (on the last pipeline stage)."""
    from megatron.core import parallel_state
    from megatron.core.pipeline_parallel import get_forward_backward_func

    initialize(config)
    tokenizer = config.tokenizer.build()
    model, _ = build_model(config, tokenizer.padded_vocab_size(config.parallel.tensor))
    optimizer, scheduler = build_optimizer(config, model)
    num_microbatches = check_batches(config)
    s = config.schedule
    train_set, _, _ = build_datasets(config.data, tokenizer, config.sequence_length, [s.train_steps * s.global_batch, 0, 0])
    forward_backward = get_forward_backward_func()
    last_stage = parallel_state.is_pipeline_last_stage(ignore_virtual=True)
    losses: list[float] = []
    for step in range(s.train_steps):
        started = time.perf_counter()
        for chunk in model:
            chunk.zero_grad_buffer()
        optimizer.zero_grad()
        # One iterator per model chunk: with virtual stages, each chunk reads every micro-batch.
        iterators = [microbatches(train_set, step, config) for _ in model]
        reports = forward_backward(forward_step_func=_forward_step,
                                   data_iterator=iterators if len(model) > 1 else iterators[0], model=model,
                                   num_microbatches=num_microbatches, seq_length=config.sequence_length,
                                   micro_batch_size=s.micro_batch, forward_only=False)
        _, grad_norm, _ = optimizer.step()
        scheduler.step(1)
        if last_stage:
            total = torch.stack([r["lm loss"] for r in reports]).sum(0)
            dist.all_reduce(total, group=parallel_state.get_data_parallel_group())
            losses.append(float(total[0] / total[1]))
            seconds = time.perf_counter() - started
            if step % s.log_every == 0 and parallel_state.get_tensor_model_parallel_rank() == 0 \
                    and parallel_state.get_data_parallel_rank() == 0:
                log({"step": step + 1, "loss": losses[-1], "lr": optimizer.param_groups[0]["lr"],
                     "grad_norm": float(grad_norm) if grad_norm is not None else None, "step_s": seconds,
                     "tokens_per_s": s.global_batch * config.sequence_length / seconds})
    return losses


def main(config: PretrainConfig) -> Optional[list[float]]:
    try:
        return train(config)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
