"""The pipeline's shards as megatron-core datasets: its blend through `BlendedMegatronDatasetBuilder`
and `GPTDataset`, with train/valid/test splits and the document-boundary options.

One check megatron-core does not make: a split that holds no document of some prefix while
samples are asked of it makes `GPTDataset` loop forever while it counts epochs. `split_problems`
finds such prefixes from the index files first and the build fails with their names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from biomatrix_io.blend import read_blend
from biomatrix_io.config import ConfigError
from megatron_bio.tokenizer.megatron_adapter import MegatronTokenizerAdapter
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

SPLITS = ("train", "valid", "test")


@dataclass
class TrainDataConfig:
    shards: str = "out/data/demo/shards"  # a data build's shards folder (blend.yaml inside)
    split: str = "98,2,0"  # train, valid, test shares of each prefix's documents
    seed: int = 1234
    reset_position_ids: bool = False  # positions restart at each document
    reset_attention_mask: bool = False  # no attention across documents packed in one sample
    eod_mask_loss: bool = False  # no loss on the prediction made at an EOD (it would guess the next document)
    # Where megatron-core keeps its sample indices (default: <output>/dataset_cache; the shards are only read).
    # Rank 0 builds them and the other ranks read them: a folder every rank sees, as the checkpoints are.
    cache: Optional[str] = None


def _split_bounds(split: str) -> list[tuple[float, float]]:
    weights = [float(w) for w in split.split(",")]
    if len(weights) != 3 or any(w < 0 for w in weights) or not sum(weights):
        raise ConfigError(f"split {split!r}: give three non-negative shares, e.g. 98,2,0")
    total, start, bounds = sum(weights), 0.0, []
    for weight in weights:
        bounds.append((start, start + weight / total))
        start += weight / total
    return bounds


def split_problems(prefixes: list[str], split: str, samples: list[int]) -> list[str]:
    """Prefixes that would leave a requested split without documents (megatron-core's rounding)."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    problems = []
    bounds = _split_bounds(split)
    for prefix in prefixes:
        documents = len(IndexedDataset(prefix))
        for name, (begin, end), wanted in zip(SPLITS, bounds, samples):
            held = int(round(end * documents)) - int(round(begin * documents))
            if wanted and held <= 0:
                problems.append(f"{prefix}: {documents} documents leave the {name} split empty under split {split}")
    return problems


def build_datasets(config: TrainDataConfig, tokenizer: BioMatrixTokenizer, sequence_length: int,
                   samples: list[int], cache: Path) -> list:
    """(train, valid, test) GPT datasets blended by the build's weights; None where no samples are asked.
    A torch.distributed process group must exist (megatron-core builds indices on rank 0, into
    `cache`; nothing is written into the shards folder)."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    shards = Path(config.shards)
    prefixes, weights = read_blend(shards)
    problems = split_problems(prefixes, config.split, samples)
    if problems:
        raise ConfigError("the blend cannot serve these splits: " + "; ".join(problems))
    gpt_config = GPTDatasetConfig(
        random_seed=config.seed,
        sequence_length=sequence_length,
        blend=(prefixes, weights),
        split=config.split,
        tokenizer=MegatronTokenizerAdapter(tokenizer),
        reset_position_ids=config.reset_position_ids,
        reset_attention_mask=config.reset_attention_mask,
        eod_mask_loss=config.eod_mask_loss,
        create_attention_mask=False,  # the job builds packed attention from the documents' boundaries
        path_to_cache=str(cache),
    )
    sizes = [n or 0 for n in samples]
    return BlendedMegatronDatasetBuilder(GPTDataset, sizes, lambda: True, gpt_config).build()
