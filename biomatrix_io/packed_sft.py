"""The packed SFT shard format: three megatron-core indexed datasets per split, one document per pack.

`<shards>/<split>/` (train, valid) holds
- `tokens.bin/.idx` (int32): a pack's tokens, one *sequence* per sample: the index's
  `sequence_lengths` are the sample lengths and `document_indices` the pack boundaries, so the
  sample boundaries are stored, never inferred from tokens;
- `loss_mask.bin/.idx` (uint8, same sequences): 1 where a token is a target: the answer and its
  `<|im_end|>`. The trainer shifts labels inside each sample (token t+1 is the label at t when
  both are in one sample), so nothing is predicted across a boundary;
- `samples.bin/.idx` (int32): per sample one sequence of two values, (task id, template id; -1 for
  an imported record), task ids indexing the manifest's `tasks`.
Packs are unpadded (at most `sequence_length` tokens); the trainer pads. Pack order is shuffled by
the config's seed. `manifest.json` beside the split folders says what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biomatrix_io.files import atomic

PARTS = {"tokens": np.int32, "loss_mask": np.uint8, "samples": np.int32}


def write_split(folder: Path, packs: list[list[int]], tokens: list[np.ndarray], masks: list[np.ndarray],
                meta: np.ndarray) -> None:
    """`packs` index the samples (`tokens[i]`, `masks[i]`, `meta[i]` = task id, template id)."""
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    folder.mkdir(parents=True, exist_ok=True)
    for part, dtype in PARTS.items():
        with atomic(folder / f"{part}.idx") as idx_path, atomic(folder / f"{part}.bin") as bin_path:
            builder = IndexedDatasetBuilder(str(bin_path), dtype=dtype)
            for members in packs:
                if part == "samples":
                    builder.add_document(meta[members].reshape(-1), [2] * len(members))
                else:
                    source = tokens if part == "tokens" else masks
                    builder.add_document(np.concatenate([source[i] for i in members]), [len(source[i]) for i in members])
            builder.finalize(str(idx_path))


@dataclass(frozen=True)
class Pack:
    tokens: np.ndarray
    loss_mask: np.ndarray
    lengths: np.ndarray  # per sample
    tasks: np.ndarray
    templates: np.ndarray


class PackedSplit:
    """Read a split folder back (megatron-core's IndexedDataset), pack by pack."""

    def __init__(self, folder: Path) -> None:
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        self.parts = {part: IndexedDataset(str(Path(folder) / part)) for part in PARTS}
        self.documents = self.parts["tokens"].document_indices

    def __len__(self) -> int:
        return len(self.documents) - 1

    def __getitem__(self, index: int) -> Pack:
        first, last = int(self.documents[index]), int(self.documents[index + 1])
        tokens, masks, meta = ([self.parts[p][i] for i in range(first, last)] for p in PARTS)
        meta = np.stack(meta)
        return Pack(np.concatenate(tokens), np.concatenate(masks), np.array([len(t) for t in tokens]), meta[:, 0], meta[:, 1])
