"""A training job's config, composed of sections, each owned by the component it drives: `model`
(`megatron_bio.model.config`), `parallel` and `precision` (`megatron_bio.model.execution`),
`tokenizer` (`megatron_bio.tokenizer_config`), `optimizer`, `schedule` and `validation` (here),
`checkpoint` (`training.checkpoint`), `tracking` (`training.tracking`). Pretraining and SFT share
all of them and differ by their `data` section, which also names the job the loop runs
(`PretrainConfig.job`, `SFTConfig.job`).

Read from `launch/configs/pretrain_*.yaml`, `tiny.yaml`, `sft_*.yaml` with `--set` overrides
(`biomatrix_io.config`). Reading checks what holds on any machine; what this machine's backend
can run is checked when the job starts (`execution.check_backend`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from biomatrix_io.config import ConfigError
from megatron_bio.model.config import ModelConfig
from megatron_bio.model.execution import ParallelConfig, PrecisionConfig, check_layout, transformer_config
from megatron_bio.tokenizer_config import TokenizerConfig

from .checkpoint import CheckpointSettings
from .data import TrainDataConfig
from .job import Job
from .pretraining import PretrainJob
from .sft import SFTDataSettings, SFTJob
from .tracking import TrackingSettings


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
    decay_style: Literal["cosine", "linear", "constant", "inverse-square-root"] = "cosine"  # megatron-core's
    global_batch: int = 1024
    micro_batch: int = 1
    log_every: int = 1


@dataclass
class ValidationSettings:
    every: int = 0  # steps between validations (0: none); also after the last step
    # Global batches of the valid split per validation, the same ones each time (SFT: from its first pack;
    # rows past the split's end are empty).
    steps: int = 1
    at_start: bool = False  # also before the first step of a fresh run (the starting weights' loss)


@dataclass
class TrainingConfig:
    """The sections every training job has."""

    model: ModelConfig
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    sequence_length: int = 8192
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    output: str = "out/pretrain"  # checkpoints/, dataset_cache/, mlflow.db, mlartifacts/, loss.png
    seed: int = 1234

    def __post_init__(self) -> None:
        check_layout(self.model, self.parallel)
        s, c = self.schedule, self.checkpoint
        if not 0 <= s.warmup_steps < s.train_steps:
            raise ConfigError(f"schedule.warmup_steps ({s.warmup_steps}) must be below schedule.train_steps ({s.train_steps})",
                              ["schedule.warmup_steps", "schedule.train_steps"])
        if c.load and c.init_from:
            raise ConfigError("checkpoint.load (resume a run's full state) and checkpoint.init_from (start from weights) "
                              "exclude each other", ["checkpoint.load", "checkpoint.init_from"])

    def transformer_config(self, **overrides):
        return transformer_config(self.model, self.parallel, self.precision, **overrides)

    @property
    def checkpoints(self) -> Path:
        return Path(self.output) / "checkpoints"

    def job(self) -> Job:
        raise NotImplementedError


@dataclass
class PretrainConfig(TrainingConfig):
    data: TrainDataConfig = field(default_factory=TrainDataConfig)

    @property
    def dataset_cache(self) -> Path:
        return Path(self.data.cache) if self.data.cache else Path(self.output) / "dataset_cache"

    def job(self) -> Job:
        return PretrainJob(self)


@dataclass
class SFTConfig(TrainingConfig):
    data: SFTDataSettings = field(default_factory=SFTDataSettings)
    sequence_length: int = 2048
    output: str = "out/sft"

    def job(self) -> Job:
        return SFTJob(self)
