"""What an SFT corpus build reads, makes and writes; `launch/configs/sft_data/*.yaml` and `--set`.

Sources are the pretraining build's (`SourceConfig`: a catalog reader over files), normalized by the
same stage 1; `tasks` says which families run over which sources, and the rest decides the split,
the task mix and the packing. The task mix is decided here, when the corpus is built: the trainer
reads packs as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from biomatrix_io.config import ConfigError

from megatron_bio.tokenizer_config import TokenizerConfig

from ..config import NormalizeConfig, SourceConfig

SPLITS = ("train", "valid", "test")


@dataclass
class TaskConfig:
    """One family over named sources. `fraction` takes a fixed share of the sources' entities (by
    hash of the entity key), so that families sharing a large source stay small in a demo."""

    sources: list[str] = field(default_factory=list)
    fraction: float = 1.0
    weight: float = 1.0  # multiplies the task's training repeats (after the temperature rule)

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"fraction {self.fraction} is outside (0, 1]", ["fraction"])
        if self.weight <= 0:
            raise ConfigError(f"weight {self.weight} must be positive", ["weight"])


@dataclass
class SplitConfig:
    """Held-out shares of the entity groups (molecules by Bemis-Murcko scaffold, proteins and DNA/RNA
    by sequence-identity groups, organisms by name), drawn by a hash of (seed, group)."""

    valid: float = 0.05
    test: float = 0.10
    protein_identity: float = 0.3  # proteins at >= this identity (or fragments) share a group
    nucleotide_identity: float = 0.9  # DNA/RNA at >= this identity over 80% of the shorter, either strand

    def __post_init__(self) -> None:
        if self.valid < 0 or self.test < 0 or self.valid + self.test >= 1:
            raise ConfigError(f"valid {self.valid} + test {self.test} must be >= 0 and < 1", ["valid", "test"])
        for name in ("protein_identity", "nucleotide_identity"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"{name} {getattr(self, name)} is outside (0, 1]", [name])


@dataclass
class MixConfig:
    """Training repeats per task: a task of n training examples gets n_max * (n / n_max) ** (1 / temperature)
    samples (n_max: the largest task), times its weight, at most `max_repeats` per example; every
    example appears at least once, and a repeat draws another template."""

    temperature: float = 2.0
    max_repeats: int = 4

    def __post_init__(self) -> None:
        if self.temperature < 1:
            raise ConfigError(f"temperature {self.temperature} < 1 would drop examples of large tasks", ["temperature"])
        if self.max_repeats < 1:
            raise ConfigError(f"max_repeats {self.max_repeats} must be >= 1", ["max_repeats"])


@dataclass
class SFTDataConfig:
    out: str = "out/sft_data"
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    records_per_unit: int = 2000
    workers: int = 2
    seed: int = 1234
    sequence_length: int = 2048
    system_prompt: Optional[str] = None  # a system message before every built example; imports keep their own
    packer: Literal["best_fit_decreasing", "first_fit_decreasing", "naive"] = "best_fit_decreasing"
    splits: SplitConfig = field(default_factory=SplitConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        from ..catalog import READERS
        from .importers import IMPORT_READERS
        from .tasks import by_task, families

        for name, source in self.sources.items():
            if source.reader not in READERS:
                raise ConfigError(f"source {name!r}: unknown reader {source.reader!r}; known: {sorted(READERS)}",
                                  [f"sources.{name}.reader"])
        known = families()
        imported = {n for n, s in self.sources.items() if s.reader in IMPORT_READERS}
        clashes = sorted(imported & set(by_task()))
        if clashes:
            raise ConfigError(f"source {clashes[0]!r} imports chat records under its own name, which is a built task's "
                              "id: rename the source", [f"sources.{clashes[0]}"])
        for task, entry in self.tasks.items():
            if task not in known:
                raise ConfigError(f"task {task!r} is not a task family; known: {sorted(known)}", [f"tasks.{task}"])
            for source in entry.sources:
                if source not in self.sources:
                    raise ConfigError(f"task {task!r} reads source {source!r}, which `sources` does not define",
                                      [f"tasks.{task}.sources"])
                if source in imported:
                    raise ConfigError(f"task {task!r}: source {source!r} is an imported chat file; imported files are "
                                      "tasks of their own (their records name their task)", [f"tasks.{task}.sources"])
        if self.sequence_length < 64:
            raise ConfigError(f"sequence_length {self.sequence_length} is too short for any instruction", ["sequence_length"])
