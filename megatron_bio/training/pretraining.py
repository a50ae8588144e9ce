"""Continual pretraining as a job of the one loop: megatron-core's GPTDataset over the data build's
blend (`training.data`), rows of `sequence_length` tokens across documents. With
`data.reset_attention_mask`, the documents of a row do not attend to each other: their boundaries
follow GPTDataset's own rule (a document ends with its EOD token) and become the same packed
attention SFT uses (`packed_attention`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biomatrix_io.blend import read_blend

from .data import build_datasets
from .job import TRAIN, VALID, Job
from .packed_attention import segments_after_eod


SHARD_ARTIFACTS = ("blend.txt", "blend.yaml", "build.json", "*/*.manifest.json")


class PretrainJob(Job):
    name = "pretrain"

    @property
    def packed(self) -> bool:
        return self.config.data.reset_attention_mask

    def check_data(self) -> None:
        read_blend(Path(self.config.data.shards))

    def build(self, tokenizer, train_samples: int, valid_samples: int) -> None:
        c = self.config
        self.eod = tokenizer.eod
        train, valid, _ = build_datasets(c.data, tokenizer, c.sequence_length, [train_samples, valid_samples, 0],
                                         c.dataset_cache)
        self.sets = {TRAIN: train, VALID: valid}

    def item(self, split: str, index: int) -> dict[str, np.ndarray]:
        sample = self.sets[split][index]
        item = {key: sample[key].numpy() for key in ("tokens", "labels", "loss_mask")}
        if self.packed:
            item["segments"] = segments_after_eod(item["tokens"], self.eod)
        return item

    def artifacts(self) -> list[tuple[Path, str]]:
        shards = Path(self.config.data.shards)
        found = []
        for pattern in SHARD_ARTIFACTS:
            for path in sorted(shards.glob(pattern)):
                relative = path.parent.relative_to(shards)
                found.append((path, "data" if str(relative) == "." else f"data/{relative}"))
        return found
