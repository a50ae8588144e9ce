"""What a data build wrote, read back from its shards folder alone (`biomatrix data inspect`): per
prefix the documents and tokens of the index files, checked against the manifest; a few documents
decoded and rendered with their modality wrappers; the document lengths as histograms in one PNG.

Only the build's documented outputs are read (`blend.yaml`, `<prefix>.bin/.idx/.manifest.json`,
`build.json`; `data_pipeline/README.md`), never its work folder, so a moved or copied build inspects
the same; nothing is written into the shards folder, which training may be reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from biomatrix_io.blend import BLEND_YAML, read_blend
from biomatrix_io.config import ConfigError
from biomatrix_io.files import atomic
from megatron_bio.tokenizer.errors import TokenizationError
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

from .build import build_tokenizer, tokenizer_fingerprint
from .config import DataConfig

INDEX_FILES = (".idx", ".bin", ".manifest.json")


@dataclass
class PrefixContents:
    """One prefix as its index files hold it; `manifest` is what the build recorded beside."""

    prefix: str
    weight: float
    lengths: np.ndarray  # tokens per document, EOD included
    manifest: dict
    examples: list[dict] = field(default_factory=list)  # {"document", "tokens", "text"}

    @property
    def documents(self) -> int:
        return len(self.lengths)

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    @property
    def manifest_agrees(self) -> bool:
        return (self.manifest["documents"], self.manifest["tokens"]) == (self.documents, self.tokens)

    def as_json(self) -> dict:
        return {"documents": self.documents, "tokens": self.tokens,
                "mean_length": round(float(self.lengths.mean()), 2) if self.documents else 0.0,
                "max_length": int(self.lengths.max(initial=0)), "weight": self.weight,
                "manifest": {"documents": self.manifest["documents"], "tokens": self.manifest["tokens"]},
                "examples": self.examples}


def inspect_build(shards: Path, config: DataConfig, prefixes: Optional[Iterable[str]] = None,
                  documents: int = 3) -> list[PrefixContents]:
    """The figures of every prefix (or of `prefixes`), with `documents` decoded examples each,
    decoded with the tokenizer of `config` (the build's config; checked against the manifests)."""
    if documents < 0:
        raise ConfigError(f"--documents {documents}: give a count of documents per prefix, 0 or more")
    contents = read_prefixes(shards, prefixes)
    if documents:
        tokenizer = build_tokenizer(config)
        check_tokenizer(contents, tokenizer, tokenizer_fingerprint(config))
        add_examples(shards, contents, tokenizer, documents)
    return contents


def build_folder(shards: Path) -> Path:
    """`shards` if it is a finished build's shards folder; otherwise the user named the wrong one."""
    if not shards.is_dir():
        raise ConfigError(f"shards folder {str(shards)!r} does not exist (a data build writes <out>/shards)")
    if not (shards / BLEND_YAML).is_file():
        raise ConfigError(f"{str(shards)!r} is not a data build's shards folder: it has no {BLEND_YAML} "
                          f"(a build writes it last, with the manifests and build.json)")
    return shards


def read_prefixes(shards: Path, only: Optional[Iterable[str]] = None) -> list[PrefixContents]:
    """The blend's prefixes (or those of `only`, in blend order) with their document lengths."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    root = build_folder(shards).resolve()
    paths, weights = read_blend(root)
    weight_of = {Path(p).relative_to(root).as_posix(): w for p, w in zip(paths, weights)}
    wanted = list(weight_of) if only is None else list(only)
    unknown = [p for p in wanted if p not in weight_of]
    if unknown:
        raise ConfigError(f"--prefix {', '.join(unknown)}: not in this build; its prefixes: {', '.join(weight_of)}")
    contents = []
    for prefix in (p for p in weight_of if p in wanted):
        missing = [prefix + s for s in INDEX_FILES if not (root / (prefix + s)).is_file()]
        if missing:
            raise ConfigError(f"{str(shards)!r} is not a complete build: {BLEND_YAML} names {prefix} but "
                              f"{', '.join(missing)} is missing")
        dataset = IndexedDataset(str(root / prefix))
        ends = np.concatenate([[0], np.cumsum(dataset.sequence_lengths, dtype=np.int64)])
        bounds = dataset.document_indices  # a document is a run of sequences (one per document here)
        contents.append(PrefixContents(prefix, weight_of[prefix], ends[bounds[1:]] - ends[bounds[:-1]],
                                       json.loads((root / f"{prefix}.manifest.json").read_text())))
    return contents


def absent_prefixes(shards: Path) -> dict[str, str]:
    """Prefixes the build wrote nothing to, and why (build.json; empty for a build without one)."""
    summary = shards / "build.json"
    return json.loads(summary.read_text()).get("absent_prefixes", {}) if summary.is_file() else {}


def check_tokenizer(contents: list[PrefixContents], tokenizer: BioMatrixTokenizer, fingerprint: str) -> None:
    """Decoding with another vocabulary than the build's would show other documents than it wrote."""
    for prefix in contents:
        recorded = prefix.manifest["tokenizer"]
        if recorded["fingerprint"] != fingerprint:
            raise ConfigError(f"{prefix.prefix} was written with tokenizer {recorded['fingerprint'][:12]} "
                              f"({recorded['vocab_size']} tokens); the config's tokenizer section gives {fingerprint[:12]} "
                              f"({tokenizer.vocab_size} tokens): pass the build's config (--config) or its "
                              f"tokenizer keys (--set tokenizer.KEY=VALUE)")


def add_examples(shards: Path, contents: list[PrefixContents], tokenizer: BioMatrixTokenizer, count: int) -> None:
    """`count` documents per prefix, spread evenly over it (the build writes sources in plan order),
    rendered as the Hugging Face tokenizer would read them: wrappers included, EOD left out."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    for prefix in contents:
        dataset = IndexedDataset(str(shards / prefix.prefix))
        bounds = dataset.document_indices
        picked = sorted({int(i) for i in np.linspace(0, prefix.documents - 1, min(count, prefix.documents))})
        prefix.examples = []
        for index in picked:
            ids = [t for s in range(bounds[index], bounds[index + 1]) for t in dataset[s].tolist()]
            body = ids[:-1] if ids and ids[-1] == tokenizer.eod else ids
            try:
                text = tokenizer.render(tokenizer.decode(body))
            except TokenizationError as error:  # a shard that does not decode is what inspect is for
                text = f"(does not decode: {error})"
            prefix.examples.append({"document": index, "tokens": len(ids), "text": text})


def plot_path(shards: Path, requested: Optional[str]) -> Path:
    """Where the histograms go: `requested`, or `<build>_document_lengths.png` in the current
    folder (`<build>` the folder holding the shards folder); never inside the shards folder."""
    plot = Path(requested or f"{shards.resolve().parent.name}_document_lengths.png")
    if plot.suffix != ".png":
        raise ConfigError(f"--plot {plot}: the plot is a PNG; give a path ending in .png")
    if shards.resolve() in plot.resolve().parents:
        raise ConfigError(f"--plot {plot}: inside the shards folder {shards}, which inspect only reads; put it elsewhere")
    return plot


def plot_lengths(contents: list[PrefixContents], path: Path) -> Path:
    """One histogram of document lengths per prefix (log-spaced bins), in one PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(3, max(len(contents), 1))
    rows = max(-(-len(contents) // columns), 1)
    figure = Figure(figsize=(4 * columns, 3 * rows), dpi=100, layout="tight")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, prefix in zip(axes, contents):
        low, high = (int(prefix.lengths.min()), int(prefix.lengths.max())) if prefix.documents else (1, 1)
        ax.hist(prefix.lengths, bins=np.geomspace(max(low, 1), high, 40) if high > low else 1)
        ax.set_xscale("log")
        ax.set_title(f"{prefix.prefix} ({prefix.documents:,} documents)", fontsize=9)
        ax.set_xlabel("tokens per document (EOD included)", fontsize=8)
        ax.set_ylabel("documents", fontsize=8)
    for ax in axes[len(contents):]:
        ax.set_visible(False)
    with atomic(path) as temporary:
        figure.savefig(temporary, format="png")
    return path


def shortened(text: str, width: int) -> str:
    """One line of at most `width` characters keeping both ends, where a document's wrappers close."""
    line = text.replace("\n", "\\n")
    if len(line) <= width:
        return line
    head = (width - 5) * 2 // 3
    return f"{line[:head]} ... {line[len(line) - (width - 5 - head):]}"


def table(contents: list[PrefixContents], absent: dict[str, str]) -> str:
    rows = [("prefix", "documents", "tokens", "mean length", "max length", "weight", "manifest")]
    for prefix in contents:
        figures = prefix.as_json()
        rows.append((prefix.prefix, f"{prefix.documents:,}", f"{prefix.tokens:,}", f"{figures['mean_length']:.1f}",
                     f"{figures['max_length']:,}", f"{prefix.weight:.4f}",
                     "agrees" if prefix.manifest_agrees else
                     f"DIFFERS: {prefix.manifest['documents']:,} documents, {prefix.manifest['tokens']:,} tokens"))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = [f"{row[0]:<{widths[0]}}  " + "  ".join(f"{row[i]:>{widths[i]}}" for i in range(1, 6)) + f"  {row[6]}"
             for row in rows]
    return "\n".join(lines + [f"absent: {p} ({why})" for p, why in absent.items()])


def examples_text(contents: list[PrefixContents], width: int) -> str:
    lines = []
    for prefix in contents:
        for example in prefix.examples:
            lines.append(f"{prefix.prefix} document {example['document']:,} of {prefix.documents:,} "
                         f"({example['tokens']:,} tokens):")
            lines.append("  " + shortened(example["text"], width - 2))
    return "\n".join(lines)
