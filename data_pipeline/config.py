"""What a data build reads, computes and composes; `launch/configs/data/*.yaml` and `--set` overrides.

Each section feeds one stage, and only that section enters the stage's config hash: changing the
composition (`compose`), the mixture (`blend`) or the vocabulary (`tokenizer`) reruns stage 2 only.
A section lives with the stage it drives (`ComposeConfig` in `compose`, `TokenizerConfig` beside
the tokenizer); this module composes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from biomatrix_io.config import ConfigError

from megatron_bio.tokenizer_config import TokenizerConfig

from .compose import NUCLEIC_BUDGET_B, ComposeConfig

@dataclass
class SourceConfig:
    """One raw corpus: a reader from `data_pipeline.catalog.READERS` over files. A path is a file,
    a glob, or `packaged:NAME` (a registry package's data, `biomatrix_io.readers.packaged.NAME()`)."""

    reader: str
    paths: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # keyword arguments of the reader
    limit: Optional[int] = None  # first N entries over all files (demo and tests); null = all
    text_category: Literal["text/general", "text/scientific"] = "text/scientific"  # text sources: where their plain documents go
    interleave: bool = False  # text sources: link entity mentions and insert their 1D forms
    lexicon: bool = False  # entity sources: their names join the interleaving lexicon
    conformer_fraction: float = 0.0  # SMILES-only molecules: share given an ETKDG+MMFF conformer (by id hash)


@dataclass
class NormalizeConfig:
    """Stage 1: fields computed once per record."""

    molecule_structure: str = "released"  # structure tokenizer checkpoint: released (BioMatrix's codes), ours, a path
    # A protein structure tokenizer is used when megatron_bio.structure.protein provides one
    # (issue 8); until then protein structure codes are not produced and protein/3d stays empty.
    protein_structure: str = "auto"  # auto (the default: torsion) | none | torsion | torsion-greedy | baseline | vqvae | a file
    conformer_seed: int = 42
    max_heavy_atoms: int = 60  # larger SMILES-only molecules get no generated conformer
    batch_size: int = 128


@dataclass
class DataConfig:
    out: str = "out/data"
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    records_per_unit: int = 2000
    workers: int = 2
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    blend_weights: Literal["paper", "counts"] = "paper"  # the report's token budget per prefix | tokens written
    # `paper` weights of the prefixes the report lacks (DNA, RNA): our budget, in billions of tokens
    # beside the paper's 304.4B (the default's reasons: `compose.NUCLEIC_BUDGET_B`); a prefix not
    # named keeps its default.
    nucleic_budget_b: dict[str, float] = field(default_factory=lambda: dict(NUCLEIC_BUDGET_B))

    def __post_init__(self) -> None:
        from .catalog import READERS

        unknown = sorted(set(self.nucleic_budget_b) - set(NUCLEIC_BUDGET_B))
        if unknown or not all(v > 0 for v in self.nucleic_budget_b.values()):
            raise ConfigError(f"nucleic_budget_b gives the prefixes {list(NUCLEIC_BUDGET_B)} budgets above 0 (billions "
                              f"of tokens; a prefix not named keeps its default), not {self.nucleic_budget_b}",
                              ["nucleic_budget_b"])
        self.nucleic_budget_b = {**NUCLEIC_BUDGET_B, **self.nucleic_budget_b}
        for name, source in self.sources.items():
            if source.reader not in READERS:
                raise ConfigError(f"source {name!r}: unknown reader {source.reader!r}; known: {sorted(READERS)}",
                                  [f"sources.{name}.reader"])
