"""Supervised fine-tuning as a job of the one loop: the packed SFT shards (`biomatrix_io.packed_sft`,
built by `biomatrix sft-data`) read pack by pack, each pack one row padded to `sequence_length`,
its samples separated by packed attention (`packed_attention`) from their stored lengths, labels
shifted inside each sample, loss on the answer tokens only, and validation losses reported per task
family (the manifest's `tasks`).

Training order: the train packs in a fresh permutation per epoch (seeded by `data.seed` and the
epoch), addressed by global sample index, so a resumed run reads exactly what the uninterrupted one
would. Validation reads the valid packs in order from the first; rows past the split's end are empty
(all padding, no loss token)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from biomatrix_io.config import ConfigError
from biomatrix_io.packed_sft import PackedSplit

from .job import TRAIN, VALID, Job, labels_within
from .packed_attention import PAD_GROUP, segments_from_lengths

MANIFEST = "manifest.json"


@dataclass
class SFTDataSettings:
    shards: str = "out/sft_data/demo/shards"  # an SFT corpus's shards folder (manifest.json, train/, valid/)
    seed: int = 1234  # the order of the train packs, one permutation per epoch


def read_manifest(shards: Path) -> dict:
    path = Path(shards) / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{shards}: no {MANIFEST}: not an SFT corpus's shards folder (biomatrix sft-data build)",
                          ["data.shards"])
    return json.loads(path.read_text())


class SFTJob(Job):
    name = "sft"

    @property
    def packed(self) -> bool:
        return True

    def check_data(self) -> None:
        shards = Path(self.config.data.shards)
        manifest = read_manifest(shards)
        if manifest["sequence_length"] > self.config.sequence_length:
            raise ConfigError(f"{shards} holds packs of up to {manifest['sequence_length']} tokens, longer than "
                              f"sequence_length {self.config.sequence_length}", ["sequence_length", "data.shards"])

    def build(self, tokenizer, train_samples: int, valid_samples: int) -> None:
        self.check_data()
        c = self.config
        shards = Path(c.data.shards)
        self.manifest = read_manifest(shards)
        built = self.manifest["tokenizer"]
        if built["vocab_size"] != tokenizer.vocab_size or built["pad"] != tokenizer.pad:
            raise ConfigError(f"{shards} was built with another tokenizer ({built['vocab_size']} tokens, pad "
                              f"{built['pad']}) than this run's ({tokenizer.vocab_size}, pad {tokenizer.pad})",
                              ["data.shards", "tokenizer"])
        self.sets = {split: PackedSplit(shards / split) for split in (TRAIN, VALID)}
        if not len(self.sets[TRAIN]):
            raise ConfigError(f"{shards}: the train split holds no pack", ["data.shards"])
        families = list(dict.fromkeys(task["family"] for task in self.manifest["tasks"]))
        self.groups = tuple(families)
        self.task_group = np.array([families.index(task["family"]) for task in self.manifest["tasks"]], dtype=np.int64)
        self.pad = tokenizer.pad

    @lru_cache(maxsize=2)
    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.config.data.seed, epoch]).permutation(len(self.sets[TRAIN]))

    def item(self, split: str, index: int) -> dict[str, np.ndarray]:
        length = self.config.sequence_length
        packs = self.sets[split]
        if split == TRAIN:
            epoch, position = divmod(index, len(packs))
            index = int(self._order(epoch)[position])
        if index >= len(packs):
            lengths, tokens, targets, groups = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        else:
            pack = packs[index]
            lengths, tokens, targets = pack.lengths, pack.tokens.astype(np.int64), pack.loss_mask
            groups = np.repeat(self.task_group[pack.tasks], pack.lengths)
        padding = length - len(tokens)
        tokens = np.concatenate([tokens, np.full(padding, self.pad, dtype=np.int64)])
        segments = segments_from_lengths(lengths, length)
        labels, loss_mask = labels_within(tokens, segments, np.concatenate([targets, np.zeros(padding)]))
        return {"tokens": tokens, "labels": labels, "loss_mask": loss_mask, "segments": segments,
                "groups": np.concatenate([groups, np.full(padding, PAD_GROUP, dtype=np.int64)])}

    def artifacts(self) -> list[tuple[Path, str]]:
        return [(Path(self.config.data.shards) / MANIFEST, "data")]

    def describe(self) -> dict:
        """The corpus's packing figures (its manifest), logged with the run."""
        return {split: {key: figures[key] for key in ("packs", "samples", "samples_per_pack", "packing_efficiency",
                                                      "tokens", "loss_tokens")}
                for split, figures in self.manifest["splits"].items()}
