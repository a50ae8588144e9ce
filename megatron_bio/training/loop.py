"""The training loop of every job (pretraining, SFT) on megatron-core: process groups, model chunks
in its DDP, its optimizer and scheduler (`training.setup`), its pipeline schedules. What differs
between jobs (datasets, micro-batches, forward step and loss) is the job's (`training.job`); where
a run starts is `training.start`'s; tracking is `training.tracking`'s. `train` reads as its outline:

    set up -> restore -> build the job's data -> [step -> log -> validate -> save on schedule or
    signal] until the last step -> save -> plot, report.

Launch: one process per device under torchrun or srun (`biomatrix pretrain`, `biomatrix sft`),
reading the standard torch.distributed variables; without them, one process
(`megatron_bio.model.distributed`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch
import torch.distributed as dist

from biomatrix_io import checkpoints
from biomatrix_io.code_state import git_state
from biomatrix_io.config import ConfigError
from megatron_bio.model.distributed import initialize
from megatron_bio.model.execution import check_backend
from megatron_bio.model.gpt import backend

from . import checkpoint
from .config import TrainingConfig
from .flops import peak_tflops, training_flops_per_token
from .job import TRAIN, VALID, Job
from .preemption import ExitSignals
from .setup import build_model, build_optimizer
from .start import restore, resume_point
from .tracking import Tracker, plot_losses


def microbatches(job: Job, split: str, consumed: int, config: TrainingConfig) -> Iterator[dict]:
    """This data-parallel rank's micro-batches of the global batch that starts after `consumed`
    samples: samples are read in order, so a run resumed from a checkpoint reads what the
    uninterrupted run would have read."""
    from megatron.core import parallel_state

    s = config.schedule
    ranks, rank = parallel_state.get_data_parallel_world_size(), parallel_state.get_data_parallel_rank()
    per_rank = s.global_batch // ranks
    start = consumed + rank * per_rank
    for first in range(start, start + per_rank, s.micro_batch):
        yield job.batch([job.item(split, i) for i in range(first, first + s.micro_batch)])


def check_batches(config: TrainingConfig) -> int:
    """Micro-batches per step per data-parallel rank; an error when the batch sizes do not divide."""
    from megatron.core import parallel_state

    s = config.schedule
    ranks = parallel_state.get_data_parallel_world_size()
    if s.global_batch % (s.micro_batch * ranks):
        raise ConfigError(f"schedule.global_batch {s.global_batch} is not a multiple of schedule.micro_batch "
                          f"{s.micro_batch} x {ranks} data-parallel ranks")
    return s.global_batch // (s.micro_batch * ranks)


def run_batches(job: Job, model, split: str, consumed: int, config: TrainingConfig, num_microbatches: int,
                forward_only: bool) -> Optional[dict]:
    """One global batch through megatron-core's pipeline schedule. On the last pipeline stage, its
    figures over all data-parallel ranks: `loss` (per loss token), `loss_tokens`, `tokens` (not
    padding) and, for a job with groups, `groups` {name: (loss sum, loss tokens)} of the groups it
    holds; None elsewhere."""
    from megatron.core import parallel_state
    from megatron.core.pipeline_parallel import get_forward_backward_func

    # One iterator per model chunk: with virtual stages, each chunk reads every micro-batch.
    iterators = [microbatches(job, split, consumed, config) for _ in model]
    reports = get_forward_backward_func()(
        forward_step_func=job.forward_step, data_iterator=iterators if len(model) > 1 else iterators[0], model=model,
        num_microbatches=num_microbatches, seq_length=config.sequence_length,
        micro_batch_size=config.schedule.micro_batch, forward_only=forward_only)
    if not parallel_state.is_pipeline_last_stage(ignore_virtual=True):
        return None
    flat = torch.stack([torch.cat([r["lm loss"], r["tokens"].reshape(1), r["groups"].reshape(-1) if job.groups
                                   else r["lm loss"].new_zeros(0)]) for r in reports]).sum(0)
    dist.all_reduce(flat, group=parallel_state.get_data_parallel_group())
    total, count, tokens = flat[:3].tolist()
    figures = {"loss": total / count if count else None, "loss_tokens": int(count), "tokens": int(tokens)}
    if job.groups:
        sums = flat[3:].reshape(-1, 2).tolist()
        figures["groups"] = {name: (s, n) for name, (s, n) in zip(job.groups, sums) if n}
    return figures


def train_step(job: Job, model, optimizer, scheduler, consumed: int, config: TrainingConfig, num_microbatches: int,
               timers) -> tuple[Optional[dict], Optional[float]]:
    """One optimizer step on the global batch after `consumed` samples: (its figures on the last
    pipeline stage, gradient norm). `timers` (megatron-core's) gets forward-backward and optimizer times."""
    for chunk in model:
        chunk.zero_grad_buffer()
    optimizer.zero_grad()
    timers("forward-backward", log_level=1).start()
    figures = run_batches(job, model, TRAIN, consumed, config, num_microbatches, False)
    timers("forward-backward").stop()
    timers("optimizer", log_level=1).start()
    _, grad_norm, _ = optimizer.step()
    scheduler.step(1)
    timers("optimizer").stop()
    return figures, None if grad_norm is None else float(grad_norm)


def evaluate(job: Job, model, config: TrainingConfig, num_microbatches: int) -> Optional[dict]:
    """Validation figures (`val_loss`, and `val_loss/<group>` per group) over `validation.steps`
    global batches of the valid split, pooled per token; None off the last pipeline stage."""
    for chunk in model:
        chunk.eval()
    with torch.no_grad():
        batches = [run_batches(job, model, VALID, i * config.schedule.global_batch, config, num_microbatches, True)
                   for i in range(config.validation.steps)]
    for chunk in model:
        chunk.train()
    if batches[0] is None:
        return None
    count = sum(b["loss_tokens"] for b in batches)
    figures = {"val_loss": sum(b["loss"] * b["loss_tokens"] for b in batches if b["loss_tokens"]) / count if count else None}
    if job.groups:
        pooled: dict[str, list[float]] = {}
        for b in batches:
            for name, (total, tokens) in b["groups"].items():
                pooled.setdefault(name, [0.0, 0.0])
                pooled[name][0] += total
                pooled[name][1] += tokens
        figures.update({f"val_loss/{name}": total / tokens for name, (total, tokens) in pooled.items()})
    return figures


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


def check_job(config: TrainingConfig, job: Job) -> None:
    """Refuse, at the start, what this machine cannot run of the recipe and of its job."""
    check_backend(config.parallel, config.precision)
    problems = job.problems()
    if problems:
        raise ConfigError(f"this {job.name} recipe cannot run here: " + "; ".join(reason for reason, _ in problems),
                          [key for _, keys in problems for key in keys])


def train(config: TrainingConfig, log: Callable[[dict], None] = lambda record: print(json.dumps(record), flush=True)) -> list[float]:
    """Train `config.job()` up to `schedule.train_steps` steps (fewer when an exit signal arrives);
    returns the per-step losses of this process's steps (on the last pipeline stage)."""
    from megatron.core.timers import Timers

    job = config.job()
    check_job(config, job)
    settings = dataclasses.asdict(config)
    point = resume_point(config, settings)
    p = config.parallel
    initialize(p.tensor, p.pipeline, p.virtual_pipeline, p.context, config.seed)
    num_microbatches = check_batches(config)
    signals = ExitSignals(config.checkpoint.exit_signals)
    tokenizer = config.tokenizer.build()
    padded_vocab = tokenizer.padded_vocab_size(config.parallel.tensor)
    model, _ = build_model(config, padded_vocab, job.transformer_overrides())
    optimizer, scheduler = build_optimizer(config, model)
    s, v = config.schedule, config.validation
    start = restore(config, point, model, optimizer, scheduler, tokenizer)
    iteration, consumed = start["iteration"], start["consumed_samples"]
    # The samples this run reads up to its last step: train_steps x global_batch, unless a resume changed the batch.
    last_sample = consumed + max(s.train_steps - iteration, 0) * s.global_batch
    job.build(tokenizer, last_sample, job.validation_samples(s.global_batch, v.steps) if v.every else 0)
    logger = _logging_rank()
    tracker = Tracker(config.tracking, Path(config.output), start.get("mlflow_run_id")) \
        if logger and config.tracking.enabled else None
    run_id = _shared_run_id(tracker.run_id if tracker else None)
    if tracker:
        tracker.log_config({**settings, "corpus": job.describe()})
        for path, folder in job.artifacts():
            tracker.log_file(path, folder)
        if point:
            tracker.mark_resume(iteration)
    if logger:
        log({**{k: val for k, val in start.items() if k != "mlflow_run_id"}, "job": job.name, "mlflow_run_id": run_id,
             **backend(), **({"corpus": job.describe()} if job.describe() else {})})
        if point and point["changes"]:
            log({"event": "schedule_changed", "applied": point["changes"],
                 "by": f"checkpoint.on_schedule_change={config.checkpoint.on_schedule_change}"})

    def save() -> Path:
        timers("save", log_level=0).start()
        path = checkpoint.save(config.checkpoints, iteration, consumed, model, optimizer, scheduler, settings,
                               config.optimizer.distributed, config.checkpoint.optimizer_fully_reshardable,
                               {"mlflow_run_id": run_id, "vocab_size": tokenizer.vocab_size, "job": job.name,
                                "code": code})
        timers("save").stop()
        if logger:
            log({"event": "saved", "iteration": iteration, "path": str(path), "save_s": timers("save").elapsed()})
        return path

    def validate() -> None:
        figures = evaluate(job, model, config, num_microbatches)
        if logger:
            log({"step": iteration, **figures})
            if tracker:
                tracker.log_metrics(figures, iteration)

    timers = Timers(log_level=1, log_option="minmax")
    code = git_state()  # in every checkpoint: the commit that trained it (a release's provenance reads it)
    flops_per_token = training_flops_per_token(config.model, padded_vocab, config.sequence_length)
    peak = peak_tflops()
    row_tokens = s.global_batch * config.sequence_length
    losses: list[float] = []
    saved_at = iteration if start["event"] == "resumed" else None
    stopped = False
    if v.every and v.at_start and start["event"] == "initialized":
        validate()
    while iteration < s.train_steps and not stopped:
        timers("step", log_level=0).start()
        figures, grad_norm = train_step(job, model, optimizer, scheduler, consumed, config, num_microbatches, timers)
        timers("step").stop()
        iteration += 1
        consumed += s.global_batch
        if figures is not None:
            losses.append(figures["loss"])
        seconds = {name: timers(name).elapsed() for name in ("step", "forward-backward", "optimizer")}
        if logger and (iteration % s.log_every == 0 or iteration == s.train_steps):
            tflops = flops_per_token * row_tokens / seconds["step"] / dist.get_world_size() / 1e12
            record = {"step": iteration, "loss": figures["loss"], "lr": optimizer.param_groups[0]["lr"],
                      "grad_norm": grad_norm, "step_s": seconds["step"],
                      "tokens_per_s": figures["tokens"] / seconds["step"],
                      "loss_tokens_per_s": figures["loss_tokens"] / seconds["step"], "tflops_per_device": tflops,
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


def main(config: TrainingConfig) -> Optional[list[float]]:
    """`train`, then the process group it made is destroyed (one a caller made is left to it)."""
    own_group = not dist.is_initialized()
    try:
        return train(config)
    finally:
        if own_group and dist.is_initialized():
            dist.destroy_process_group()
