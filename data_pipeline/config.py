"""What a data build reads, computes and composes; `launch/configs/data/*.yaml` and `--set` overrides.

Each section feeds one stage, and only that section enters the stage's config hash: changing the
composition (`compose`), the mixture (`blend`) or the vocabulary (`tokenizer`) reruns stage 2 only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from megatron_bio.tokenizer.config import TokenizerConfig

# The dataset prefixes, one per category/view, and the paper's token budget for each (billions;
# report figure 2, model cards' per-part split): the default blend weights.
PAPER_BUDGET_B: dict[str, float] = {
    "text/general": 25.6,
    "text/scientific": 79.7,
    "molecule/1d": 32.1,
    "molecule/3d": 17.6,
    "molecule/other": 24.0,
    "protein/1d": 36.0,
    "protein/3d": 38.5,
    "protein/other": 2.9,
    "cross/interleaved": 17.1,
    "cross/3d": 11.4,
    "cross/other": 19.5,
}
PREFIXES = tuple(PAPER_BUDGET_B)


@dataclass
class SourceConfig:
    """One raw corpus: a reader from `data_pipeline.catalog.READERS` over files. A path is a file,
    a glob, or `packaged:NAME` (a registry package's data, `data_pipeline.sources.packaged.NAME()`)."""

    reader: str
    paths: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # keyword arguments of the reader
    limit: Optional[int] = None  # first N entries over all files (demo and tests); null = all
    text_category: str = "text/scientific"  # text sources: where their plain documents go
    interleave: bool = False  # text sources: link entity mentions and insert their 1D forms
    lexicon: bool = False  # entity sources: their names join the interleaving lexicon
    conformer_fraction: float = 0.0  # SMILES-only molecules: share given an ETKDG+MMFF conformer (by id hash)


@dataclass
class NormalizeConfig:
    """Stage 1: fields computed once per record."""

    molecule_structure: str = "released"  # structure tokenizer checkpoint: released (BioMatrix's codes), ours, a path
    # A protein structure tokenizer is used when megatron_bio.structure.protein provides one
    # (issue 8); until then protein structure codes are not produced and protein/3d stays empty.
    protein_structure: str = "auto"  # auto (the default protein backbone tokenizer) | none | torsion | vqvae | a file
    conformer_seed: int = 42
    max_heavy_atoms: int = 60  # larger SMILES-only molecules get no generated conformer
    batch_size: int = 128


@dataclass
class ViewConfig:
    """One document view of an entity. The view is emitted (with `probability`) when the entity has
    a field of every anchor group; each present field then appears with its probability, at least
    one field of each anchor group always does, and the order of the fields is permuted."""

    prefix: str
    anchors: list[list[str]]
    fields: dict[str, float]
    probability: float = 1.0


@dataclass
class InterleaveConfig:
    min_name_length: int = 5  # shorter names (ions, "lead", "iron") give too many false mentions
    max_name_words: int = 6
    max_links: int = 8  # per document
    selfies_probability: float = 0.3  # a linked molecule is written as SELFIES instead of SMILES


def _views() -> dict[str, list[ViewConfig]]:
    return {
        "molecule": [
            ViewConfig("molecule/1d", [["smiles", "selfies"]], {"smiles": 0.8, "selfies": 0.7, "name": 0.3}),
            ViewConfig("molecule/3d", [["molecule_3d"]], {"molecule_3d": 1.0, "smiles": 0.5, "selfies": 0.3, "name": 0.2}),
            ViewConfig("molecule/other", [["description", "properties"]],
                       {"name": 0.9, "description": 0.9, "properties": 0.9, "smiles": 0.7, "selfies": 0.4}),
        ],
        "protein": [
            ViewConfig("protein/1d", [["sequence"]], {"sequence": 1.0, "name": 0.3}),
            ViewConfig("protein/other", [["description", "annotations"]],
                       {"name": 0.9, "description": 0.9, "annotations": 0.9, "sequence": 1.0}),
        ],
        "affinity": [
            ViewConfig("cross/other", [["smiles", "selfies"], ["sequence", "target"], ["affinity"]],
                       {"smiles": 0.8, "selfies": 0.4, "sequence": 1.0, "target": 0.6, "affinity": 1.0}),
        ],
        "complex": [
            ViewConfig("cross/3d", [["ligands_3d", "proteins_3d"], ["proteins", "proteins_3d"]],
                       {"ligands_3d": 1.0, "proteins_3d": 1.0, "proteins": 0.8, "ligands": 0.5, "title": 0.7}),
            # A complex holds two entities or more (normalize checks it): all of them, in 1D.
            ViewConfig("cross/other", [["proteins"]], {"proteins": 1.0, "ligands": 1.0, "title": 0.7}),
        ],
    }


@dataclass
class ComposeConfig:
    """Stage 2: documents from records. Randomness is drawn per record from (seed, record key),
    so the output does not depend on how records are split into units or workers."""

    seed: int = 1234
    views: dict[str, list[ViewConfig]] = field(default_factory=_views)
    # Proteins with structure codes: the report's three views (1D-only, 3D-only, joint in random order).
    three_view: bool = True
    interleave: InterleaveConfig = field(default_factory=InterleaveConfig)
    batch_size: int = 256  # documents tokenized per backend call


@dataclass
class DataConfig:
    out: str = "out/data"
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    records_per_unit: int = 2000
    workers: int = 2
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    blend_weights: str = "paper"  # paper (the report's token budget per prefix) | counts (tokens written)

    def __post_init__(self) -> None:
        from .catalog import READERS

        for name, source in self.sources.items():
            if source.reader not in READERS:
                raise ValueError(f"source {name!r}: unknown reader {source.reader!r}; known: {sorted(READERS)}")
            if source.text_category not in ("text/general", "text/scientific"):
                raise ValueError(f"source {name!r}: text_category must be text/general or text/scientific")
        from .compose import RENDER

        for kind, views in self.compose.views.items():
            for view in views:
                if view.prefix not in PREFIXES:
                    raise ValueError(f"compose.views.{kind}: unknown prefix {view.prefix!r}; known: {list(PREFIXES)}")
                unknown = sorted(set(view.fields) - set(RENDER) | {f for g in view.anchors for f in g} - set(view.fields))
                if unknown:
                    raise ValueError(f"compose.views.{kind} ({view.prefix}): fields {unknown} are not renderable "
                                     f"fields of the view; known: {sorted(RENDER)}")
        if self.blend_weights not in ("paper", "counts"):
            raise ValueError("blend_weights must be paper or counts")
