"""A pretraining recipe's model side: shapes, parallelism, precision; read from
`launch/configs/pretrain_*.yaml` / `tiny.yaml`. Settings the installed backend cannot run are
rejected here with the reason, before any process group or model exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from megatron_bio.tokenizer_config import TokenizerConfig

from .gpt import transformer_engine_available
from .config import ModelConfig


@dataclass
class ParallelConfig:
    tensor: int = 1
    pipeline: int = 1
    virtual_pipeline: Optional[int] = None  # model chunks per pipeline stage (interleaved 1F1B)
    sequence_parallel: bool = False
    context: int = 1


@dataclass
class PrecisionConfig:
    dtype: str = "bf16"  # bf16 | fp32
    fp8: Optional[str] = None  # null | hybrid (E4M3 forward, E5M2 gradients) | e4m3; needs Transformer Engine
    fp8_recipe: str = "delayed"  # delayed | tensorwise (current scaling) | blockwise | mxfp8
    fp8_amax_history_len: int = 1024
    fp8_amax_compute_algo: str = "max"  # max | most_recent
    fp8_bf16_first_last_layers: bool = False  # keep the first and last layer in bf16


@dataclass
class PretrainModelConfig:
    model: ModelConfig
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    sequence_length: int = 8192

    def __post_init__(self) -> None:
        problems = unsupported(self, transformer_engine_available())
        if problems:
            raise ValueError("this recipe cannot run here: " + "; ".join(problems))

    def transformer_config(self):
        precision = self.precision
        fp8 = {}
        if precision.fp8:
            fp8 = {"fp8": precision.fp8, "fp8_recipe": precision.fp8_recipe,
                   "fp8_amax_history_len": precision.fp8_amax_history_len,
                   "fp8_amax_compute_algo": precision.fp8_amax_compute_algo,
                   "first_last_layers_bf16": precision.fp8_bf16_first_last_layers}
        p = self.parallel
        return self.model.transformer_config(p.tensor, p.pipeline, p.virtual_pipeline, p.sequence_parallel, p.context,
                                             bf16=precision.dtype == "bf16", **fp8)


def unsupported(config: PretrainModelConfig, with_transformer_engine: bool) -> list[str]:
    """What in the config the backend cannot do, one reason each."""
    problems = []
    model, parallel, precision = config.model, config.parallel, config.precision
    if precision.dtype not in ("bf16", "fp32"):
        problems.append(f"precision.dtype {precision.dtype!r}: use bf16 or fp32")
    if precision.fp8 and not with_transformer_engine:
        problems.append(f"precision.fp8={precision.fp8!r} needs Transformer Engine (the `gpu` extra, on a CUDA "
                        "machine); it is not importable here: set precision.fp8=null")
    if precision.fp8 not in (None, "hybrid", "e4m3"):
        problems.append(f"precision.fp8 {precision.fp8!r}: use hybrid or e4m3")
    if parallel.sequence_parallel and not with_transformer_engine:
        problems.append("parallel.sequence_parallel needs Transformer Engine's (or Apex's) norms; megatron-core's "
                        "local layer spec uses torch norms, which do not support it")
    if parallel.sequence_parallel and parallel.tensor == 1:
        problems.append("parallel.sequence_parallel splits along the tensor-parallel group: it needs parallel.tensor > 1")
    if model.num_query_groups % parallel.tensor:
        problems.append(f"{model.num_query_groups} query groups do not split over tensor parallel size {parallel.tensor}")
    layers_per_chunk = parallel.pipeline * (parallel.virtual_pipeline or 1)
    if model.num_layers % layers_per_chunk:
        problems.append(f"{model.num_layers} layers do not split into {parallel.pipeline} pipeline stages x "
                        f"{parallel.virtual_pipeline or 1} virtual stages")
    if parallel.context > 1 and not with_transformer_engine:
        problems.append("parallel.context > 1 needs Transformer Engine's attention")
    return problems
