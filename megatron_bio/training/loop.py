"""Continual pretraining on megatron-core: process groups, model chunks wrapped in megatron-core's
DDP, its optimizer (distributed or not) and LR/WD scheduler, its pipeline schedules, over the
pipeline's shards. Every piece is megatron-core's; this module only wires them from a config.

Launch: one process per device under torchrun or srun (`biomatrix pretrain`), reading the standard
torch.distributed variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); without
them, one process (`megatron_bio.model.distributed`). The config is `training.config.PretrainConfig`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch
import torch.distributed as dist

from biomatrix_io import checkpoints
from biomatrix_io.config import ConfigError
from megatron_bio.model.distributed import initialize
from megatron_bio.model.execution import check_backend
from megatron_bio.model.gpt import backend, build_gpt_model

from . import checkpoint
from .config import PretrainConfig
from .data import build_datasets
from .flops import peak_tflops, training_flops_per_token
from .preemption import ExitSignals
from .resume import schedule_changes
from .tracking import Tracker, plot_losses


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
    # The config's schedule, never a checkpoint's: whether a resume may change it is `training.resume`'s call.
    scheduler = OptimizerParamScheduler(
        optimizer, init_lr=0.0, max_lr=o.lr, min_lr=o.min_lr, lr_warmup_steps=s.warmup_steps,
        lr_decay_steps=s.train_steps, lr_decay_style=s.decay_style, start_wd=o.weight_decay,
        end_wd=o.weight_decay, wd_incr_steps=s.train_steps, wd_incr_style="constant",
        use_checkpoint_opt_param_scheduler=False, override_opt_param_scheduler=True,
    )
    return optimizer, scheduler


def microbatches(dataset, consumed: int, config: PretrainConfig) -> Iterator[dict]:
    """This data-parallel rank's micro-batches of the global batch that starts after `consumed`
    samples: samples are read in order, so a run resumed from a checkpoint reads what the
    uninterrupted run would have read."""
    from megatron.core import parallel_state

    s = config.schedule
    ranks, rank = parallel_state.get_data_parallel_world_size(), parallel_state.get_data_parallel_rank()
    per_rank = s.global_batch // ranks
    start = consumed + rank * per_rank
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
        raise ConfigError(f"schedule.global_batch {s.global_batch} is not a multiple of schedule.micro_batch "
                          f"{s.micro_batch} x {ranks} data-parallel ranks")
    return s.global_batch // (s.micro_batch * ranks)


def _run_batches(model, dataset, consumed: int, config: PretrainConfig, num_microbatches: int,
                 forward_only: bool) -> Optional[float]:
    """One global batch through megatron-core's pipeline schedule; its mean loss per token on the
    last pipeline stage (None elsewhere)."""
    from megatron.core import parallel_state
    from megatron.core.pipeline_parallel import get_forward_backward_func

    # One iterator per model chunk: with virtual stages, each chunk reads every micro-batch.
    iterators = [microbatches(dataset, consumed, config) for _ in model]
    reports = get_forward_backward_func()(
        forward_step_func=_forward_step, data_iterator=iterators if len(model) > 1 else iterators[0], model=model,
        num_microbatches=num_microbatches, seq_length=config.sequence_length,
        micro_batch_size=config.schedule.micro_batch, forward_only=forward_only)
    if not parallel_state.is_pipeline_last_stage(ignore_virtual=True):
        return None
    total = torch.stack([r["lm loss"] for r in reports]).sum(0)
    dist.all_reduce(total, group=parallel_state.get_data_parallel_group())
    return float(total[0] / total[1])


def train_step(model, optimizer, scheduler, dataset, consumed: int, config: PretrainConfig, num_microbatches: int,
               timers) -> tuple[Optional[float], Optional[float]]:
    """One optimizer step on the global batch after `consumed` samples: (loss on the last pipeline
    stage, gradient norm). `timers` (megatron-core's) gets forward-backward and optimizer times."""
    for chunk in model:
        chunk.zero_grad_buffer()
    optimizer.zero_grad()
    timers("forward-backward", log_level=1).start()
    loss = _run_batches(model, dataset, consumed, config, num_microbatches, False)
    timers("forward-backward").stop()
    timers("optimizer", log_level=1).start()
    _, grad_norm, _ = optimizer.step()
    scheduler.step(1)
    timers("optimizer").stop()
    return loss, None if grad_norm is None else float(grad_norm)


def _evaluate(model, dataset, config: PretrainConfig, num_microbatches: int) -> Optional[float]:
    for chunk in model:
        chunk.eval()
    with torch.no_grad():
        losses = [_run_batches(model, dataset, i * config.schedule.global_batch, config, num_microbatches, True)
                  for i in range(config.validation.steps)]
    for chunk in model:
        chunk.train()
    return None if losses[0] is None else sum(losses) / len(losses)


def _resume_point(config: PretrainConfig, settings: dict) -> Optional[dict]:
    """The checkpoint this run continues, read and checked before anything is built: its own latest
    (a resumed or requeued job), else checkpoint.load (full state); None for a fresh start."""
    own = checkpoints.latest_iteration(config.checkpoints) is not None
    source = config.checkpoints if own else config.checkpoint.load
    if not source:
        return None
    path = checkpoints.resolve(source)
    common = checkpoint.read_common(path)
    return {"path": path, "own": own, "common": common,
            "changes": schedule_changes(common["config"], settings, config.checkpoint.on_schedule_change, path)}


def _restore(config: PretrainConfig, point: Optional[dict], model, optimizer, scheduler, tokenizer) -> dict:
    """Where this run starts: the resume point's checkpoint, else checkpoint.init_from (weights),
    else the seed's init."""
    if point:
        common = checkpoint.load(point["path"], model, optimizer, scheduler, point["common"])
        return {"event": "resumed", "path": str(point["path"]), "iteration": common["iteration"],
                "consumed_samples": common["consumed_samples"],
                # The same mlflow run only when this run continues itself (another run's checkpoint starts a new one).
                "mlflow_run_id": common.get("mlflow_run_id") if point["own"] else None,
                "saved_layout": common["layout"]}
    if config.checkpoint.init_from:
        done = checkpoint.load_weights(config.checkpoint.init_from, model, tokenizer, config.checkpoint.vocabulary_init,
                                       config.seed)
        return {"event": "initialized", "iteration": 0, "consumed_samples": 0, **done}
    return {"event": "initialized", "iteration": 0, "consumed_samples": 0, "init_from": None}


def _logging_rank() -> bool:
    """The rank that prints and tracks: first tensor/data-parallel rank of the last pipeline stage."""
    from megatron.core import parallel_state as ps

    return (ps.is_pipeline_last_stage(ignore_virtual=True) and ps.get_tensor_model_parallel_rank() == 0
            and ps.get_data_parallel_rank() == 0)


def _shared_run_id(run_id: Optional[str]) -> Optional[str]:
    """The logging rank's mlflow run id on every rank (it goes into every rank's checkpoint entries)."""
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, run_id)
    return next((r for r in gathered if r), None)


def train(config: PretrainConfig, log: Callable[[dict], None] = lambda record: print(json.dumps(record), flush=True)) -> list[float]:
    """Train up to `schedule.train_steps` steps (fewer when an exit signal arrives); returns the
    per-step losses of this process's steps (on the last pipeline stage)."""
    from megatron.core.timers import Timers

    check_backend(config.parallel, config.precision)
    settings = dataclasses.asdict(config)
    point = _resume_point(config, settings)
    p = config.parallel
    initialize(p.tensor, p.pipeline, p.virtual_pipeline, p.context, config.seed)
    num_microbatches = check_batches(config)
    signals = ExitSignals(config.checkpoint.exit_signals)
    tokenizer = config.tokenizer.build()
    padded_vocab = tokenizer.padded_vocab_size(config.parallel.tensor)
    model, _ = build_model(config, padded_vocab)
    optimizer, scheduler = build_optimizer(config, model)
    s, v = config.schedule, config.validation
    start = _restore(config, point, model, optimizer, scheduler, tokenizer)
    iteration, consumed = start["iteration"], start["consumed_samples"]
    # The samples this run reads up to its last step: train_steps x global_batch, unless a resume changed the batch.
    last_sample = consumed + max(s.train_steps - iteration, 0) * s.global_batch
    train_set, valid_set, _ = build_datasets(config.data, tokenizer, config.sequence_length,
                                             [last_sample, v.steps * s.global_batch if v.every else 0, 0],
                                             config.dataset_cache)
    logger = _logging_rank()
    tracker = Tracker(config.tracking, Path(config.output), start.get("mlflow_run_id")) \
        if logger and config.tracking.enabled else None
    run_id = _shared_run_id(tracker.run_id if tracker else None)
    if tracker:
        tracker.log_config(settings)
        tracker.log_shards(Path(config.data.shards))
        if point:
            tracker.mark_resume(iteration)
    if logger:
        log({**{k: val for k, val in start.items() if k != "mlflow_run_id"}, "mlflow_run_id": run_id, **backend()})
        if point and point["changes"]:
            log({"event": "schedule_changed", "applied": point["changes"],
                 "by": f"checkpoint.on_schedule_change={config.checkpoint.on_schedule_change}"})

    def save() -> Path:
        timers("save", log_level=0).start()
        path = checkpoint.save(config.checkpoints, iteration, consumed, model, optimizer, scheduler, settings,
                               config.optimizer.distributed, config.checkpoint.optimizer_fully_reshardable,
                               {"mlflow_run_id": run_id, "vocab_size": tokenizer.vocab_size})
        timers("save").stop()
        if logger:
            log({"event": "saved", "iteration": iteration, "path": str(path), "save_s": timers("save").elapsed()})
        return path

    def validate() -> None:
        loss = _evaluate(model, valid_set, config, num_microbatches)
        if logger:
            log({"step": iteration, "val_loss": loss})
            if tracker:
                tracker.log_metrics({"val_loss": loss}, iteration)

    timers = Timers(log_level=1, log_option="minmax")
    flops_per_token = training_flops_per_token(config.model, padded_vocab, config.sequence_length)
    peak = peak_tflops()
    tokens_per_step = s.global_batch * config.sequence_length
    losses: list[float] = []
    saved_at = iteration if start["event"] == "resumed" else None
    stopped = False
    while iteration < s.train_steps and not stopped:
        timers("step", log_level=0).start()
        loss, grad_norm = train_step(model, optimizer, scheduler, train_set, consumed, config, num_microbatches, timers)
        timers("step").stop()
        iteration += 1
        consumed += s.global_batch
        if loss is not None:
            losses.append(loss)
        seconds = {name: timers(name).elapsed() for name in ("step", "forward-backward", "optimizer")}
        if logger and (iteration % s.log_every == 0 or iteration == s.train_steps):
            tflops = flops_per_token * tokens_per_step / seconds["step"] / dist.get_world_size() / 1e12
            record = {"step": iteration, "loss": loss, "lr": optimizer.param_groups[0]["lr"],
                      "grad_norm": grad_norm, "step_s": seconds["step"],
                      "tokens_per_s": tokens_per_step / seconds["step"], "tflops_per_device": tflops,
                      "mfu": tflops / peak if peak else None, "forward_backward_s": seconds["forward-backward"],
                      "optimizer_s": seconds["optimizer"]}
            log(record)
            if tracker:
                tracker.log_metrics({k: val for k, val in record.items() if k != "step"}, iteration)
        if v.every and (iteration % v.every == 0 or iteration == s.train_steps):
            validate()
        stopped = signals.any_rank()
        if stopped or (config.checkpoint.save_every and iteration % config.checkpoint.save_every == 0):
            saved_at = iteration
            save()
    if saved_at != iteration:
        save()
    if stopped and logger:
        log({"event": "exit_signal", "signal": signals.received or "on another rank", "iteration": iteration})
    status = "KILLED" if stopped else "FINISHED"
    plot = None
    if tracker:
        curves = {"train": tracker.history("loss"), "validation": tracker.history("val_loss")}
        plot = plot_losses(curves, Path(config.output) / "loss.png", f"{tracker.run_name} · mlflow run {run_id}",
                           tracker.resumes())
        tracker.log_file(plot)
        tracker.finish(status)
    if logger:
        latest = checkpoints.latest_iteration(config.checkpoints)
        log({"event": "done", "status": status, "iteration": iteration,
             "checkpoint": str(checkpoints.iteration_dir(config.checkpoints, latest).resolve()) if latest is not None else None,
             "loss_plot": str(plot.resolve()) if plot else None,
             "mlflow_uri": tracker.uri if tracker else None, "mlflow_run_id": run_id})
    return losses


def main(config: PretrainConfig) -> Optional[list[float]]:
    """`train`, then the process group it made is destroyed (one a caller made is left to it)."""
    own_group = not dist.is_initialized()
    try:
        return train(config)
    finally:
        if own_group and dist.is_initialized():
            dist.destroy_process_group()
