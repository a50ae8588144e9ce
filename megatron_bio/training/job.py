"""What makes a training job a job: the one training loop (`training.loop`) runs pretraining and
SFT alike, and a job differs from another only through these seams, the way Megatron-Bridge's
finetune is pretrain with another forward step:

- `check_data()`: refuse, before any rank starts, data it cannot read;
- `build(tokenizer, train_samples, valid_samples)`: its datasets, addressed by global sample index
  (a resumed run reads from its consumed samples on: the data position is the sample count);
- `item(split, index)`: one sample (a row) as numpy arrays: `tokens`, `labels`, `loss_mask` and,
  for packed rows, `segments` (`packed_attention`) and `groups` (per token, the group a loss is
  reported under: SFT's task families; `PAD_GROUP` for none);
- `batch(items)`: a micro-batch (collate);
- `forward_step(data, model)`: megatron-core's forward step and its loss;
- `validation_samples(global_batch, steps)`, `groups`, `artifacts()`, `describe()`: what
  validation reads, the names of the reported groups, the files tracked with the run, what the first
  log line says about the data.

The loss is one definition for every job: the sum of the masked per-token losses of the whole
global batch over its number of loss tokens (`TransformerConfig.calculate_per_token_loss`: each
micro-batch returns its sum and count; megatron-core adds the counts over micro-batches and
data-parallel ranks and scales the gradients once). A micro-batch with no loss token adds 0 to
both, so it cannot produce NaN.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from megatron_bio.model.gpt import transformer_engine_available

from .packed_attention import PAD_GROUP, attention_inputs, packing_problems, positions, transformer_overrides

TRAIN, VALID = "train", "valid"


class Job:
    """A training job's seams; subclasses set `name`, `packed` and implement `build`/`item`."""

    name = "job"
    groups: tuple[str, ...] = ()

    def __init__(self, config) -> None:
        self.config = config
        self.transformer_engine = transformer_engine_available()

    @property
    def packed(self) -> bool:
        """Whether rows hold several sequences that must not attend to each other."""
        raise NotImplementedError

    # Seams ------------------------------------------------------------------------------------
    def check_data(self) -> None:
        """Refuse, before any rank starts, data the job cannot read (a ConfigError)."""
        raise NotImplementedError

    def build(self, tokenizer, train_samples: int, valid_samples: int) -> None:
        raise NotImplementedError

    def item(self, split: str, index: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def validation_samples(self, global_batch: int, steps: int) -> int:
        return global_batch * steps

    def artifacts(self) -> list[tuple[Path, str]]:
        """(file, mlflow artifact folder) pairs logged with the run."""
        return []

    def describe(self) -> dict:
        return {}

    def batch(self, items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
        """Items stacked into a micro-batch, on the device the model runs on."""
        batch = {key: torch.from_numpy(np.stack([item[key] for item in items])) for key in items[0]}
        batch["loss_mask"] = batch["loss_mask"].float()
        segments = batch.get("segments")
        batch["position_ids"] = torch.from_numpy(np.stack([positions(item["segments"]) for item in items])) \
            if segments is not None else torch.arange(batch["tokens"].shape[1]).expand_as(batch["tokens"])
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
        return {key: value.to(device, non_blocking=True) for key, value in batch.items()}

    def forward_step(self, data: Iterator[dict], model) -> tuple[torch.Tensor, Callable]:
        batch = next(data)
        attention = attention_inputs(batch.get("segments") if self.packed else None, self.transformer_engine)
        output = model(batch["tokens"], batch["position_ids"], labels=batch["labels"], **attention)
        return output, partial(self.loss, batch)

    def loss(self, batch: dict, per_token: torch.Tensor):
        """(sum of masked losses, number of loss tokens, report) for megatron-core's per-token
        averaging; the report adds the row tokens that are not padding and the per-group sums."""
        mask = batch["loss_mask"]
        masked = per_token.float() * mask
        total, count = masked.sum(), mask.sum()
        report = {"lm loss": torch.stack([total.detach(), count]),
                  "tokens": torch.tensor(float((batch["groups"] != PAD_GROUP).sum()) if "groups" in batch
                                         else float(batch["tokens"].numel()), device=mask.device)}
        if self.groups:
            groups = batch["groups"].reshape(-1)
            kept = groups != PAD_GROUP
            report["groups"] = torch.zeros(len(self.groups), 2, device=mask.device).index_add_(
                0, groups[kept], torch.stack([masked.detach().reshape(-1)[kept], mask.reshape(-1)[kept]], 1))
        return total, count.to(torch.int), report

    # Checks -----------------------------------------------------------------------------------
    def transformer_overrides(self) -> dict:
        return {"calculate_per_token_loss": True, **transformer_overrides(self.packed)}

    def problems(self) -> list[tuple[str, tuple[str, ...]]]:
        """What this machine's layer spec cannot run of the job's packing (none when unpacked)."""
        if not self.packed:
            return []
        c = self.config
        return packing_problems(self.transformer_engine, c.schedule.micro_batch, c.parallel.context,
                                c.sequence_length, c.parallel.tensor, c.parallel.sequence_parallel,
                                c.precision.fp8 is not None)


def labels_within(tokens: np.ndarray, segments: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Next-token labels of a packed row and their loss mask: the label at t is token t+1 and
    counts only when t+1 is a target of the same sequence, so nothing is predicted across a
    boundary. `targets[t]` says whether token t is one (SFT: the answer and its end marker)."""
    labels = np.append(tokens[1:], tokens[-1])
    mask = np.append((segments[1:] == segments[:-1]) & (targets[1:] > 0), False)
    return labels, mask.astype(np.float32)

