"""How a model runs: its parallel layout and precision (two config sections of every job that
builds the network), the megatron-core `TransformerConfig` they give with the model's shape, and
what a given machine can run.

Two kinds of checks, at two moments. What no machine could run (a layout that does not divide the
model, sequence parallelism without tensor parallelism) is refused when the config is read. What
only this machine cannot run (FP8, sequence or context parallelism without Transformer Engine) is
refused by the job itself, at its start (`check_backend`): a recipe for the GPU nodes must be
accepted by a login node that only renders and submits it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from biomatrix_io.config import ConfigError

from .config import ModelConfig
from .gpt import transformer_engine_available


@dataclass
class ParallelConfig:
    tensor: int = 1
    pipeline: int = 1
    virtual_pipeline: Optional[int] = None  # model chunks per pipeline stage (interleaved 1F1B)
    sequence_parallel: bool = False
    context: int = 1


@dataclass
class PrecisionConfig:
    dtype: Literal["bf16", "fp32"] = "bf16"
    fp8: Optional[Literal["hybrid", "e4m3"]] = None  # hybrid: E4M3 forward, E5M2 gradients; needs Transformer Engine
    fp8_recipe: Literal["delayed", "tensorwise", "blockwise", "mxfp8"] = "delayed"  # tensorwise: current scaling
    fp8_amax_history_len: int = 1024
    fp8_amax_compute_algo: Literal["max", "most_recent"] = "max"
    fp8_bf16_first_last_layers: bool = False  # keep the first and last layer in bf16


def transformer_config(model: ModelConfig, parallel: ParallelConfig, precision: PrecisionConfig, **extra):
    """megatron-core's TransformerConfig of this shape, layout and precision; `extra` adds what a
    job needs (per-token loss, the softmax path of packed rows)."""
    fp8 = {}
    if precision.fp8:
        fp8 = {"fp8": precision.fp8, "fp8_recipe": precision.fp8_recipe,
               "fp8_amax_history_len": precision.fp8_amax_history_len,
               "fp8_amax_compute_algo": precision.fp8_amax_compute_algo,
               "first_last_layers_bf16": precision.fp8_bf16_first_last_layers}
    p = parallel
    return model.transformer_config(p.tensor, p.pipeline, p.virtual_pipeline, p.sequence_parallel, p.context,
                                    bf16=precision.dtype == "bf16", **fp8, **extra)


def layout_problems(model: ModelConfig, parallel: ParallelConfig) -> list[tuple[str, tuple[str, ...]]]:
    """What no machine could run of this layout: one (reason, keys at fault) each."""
    problems = []
    if parallel.sequence_parallel and parallel.tensor == 1:
        problems.append(("parallel.sequence_parallel splits along the tensor-parallel group: it needs parallel.tensor > 1",
                         ("parallel.sequence_parallel", "parallel.tensor")))
    if model.num_query_groups % parallel.tensor:
        problems.append((f"{model.num_query_groups} query groups do not split over tensor parallel size {parallel.tensor}",
                         ("model.num_query_groups", "parallel.tensor")))
    layers_per_chunk = parallel.pipeline * (parallel.virtual_pipeline or 1)
    if model.num_layers % layers_per_chunk:
        problems.append((f"{model.num_layers} layers do not split into {parallel.pipeline} pipeline stages x "
                         f"{parallel.virtual_pipeline or 1} virtual stages",
                         ("model.num_layers", "parallel.pipeline", "parallel.virtual_pipeline")))
    return problems


def backend_problems(parallel: ParallelConfig, precision: PrecisionConfig, with_transformer_engine: bool) -> list[str]:
    """What a machine without Transformer Engine cannot run, one reason each (none with it)."""
    if with_transformer_engine:
        return []
    problems = []
    if precision.fp8:
        problems.append(f"precision.fp8={precision.fp8!r} needs Transformer Engine (the `gpu` extra, on a CUDA "
                        "machine); it is not importable here: set precision.fp8=null")
    if parallel.sequence_parallel:
        problems.append("parallel.sequence_parallel needs Transformer Engine's (or Apex's) norms; megatron-core's "
                        "local layer spec uses torch norms, which do not support it")
    if parallel.context > 1:
        problems.append("parallel.context > 1 needs Transformer Engine's attention")
    return problems


def check_layout(model: ModelConfig, parallel: ParallelConfig) -> None:
    """Refuse, when the config is read, a layout no machine could run."""
    problems = layout_problems(model, parallel)
    if problems:
        raise ConfigError("this recipe cannot run: " + "; ".join(reason for reason, _ in problems),
                          [key for _, keys in problems for key in keys])


def check_backend(parallel: ParallelConfig, precision: PrecisionConfig) -> None:
    """Refuse, at a job's start, what this machine's backend cannot run."""
    problems = backend_problems(parallel, precision, transformer_engine_available())
    if problems:
        raise ConfigError("this recipe cannot run here: " + "; ".join(problems))
