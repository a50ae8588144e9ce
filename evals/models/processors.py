"""Each row of a batched Hugging Face `generate` under its own control: a constraint state
(`evals.constraints`) and, for sampled requests, its own random generator.

HF `generate` samples a whole batch from one global generator, so a request's sample would depend
on its batch neighbours and on the batch size; a killed and resumed run could never reproduce it.
Here a sampled row draws its next token itself, from its own `torch.Generator` (temperature, then
nucleus top_p over the constrained distribution, as HF's warpers order them), and leaves only that
token finite: `generate` runs greedy (`do_sample=False`) and its argmax takes exactly that token.
One row is one sequence: no beams, no `num_return_sequences` (repeats are separate requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import torch
from transformers import LogitsProcessor

from evals.constraints import ConstraintState


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    generator: torch.Generator

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature {self.temperature}: sampling needs a positive temperature (greedy is no Sampling)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p {self.top_p} is outside (0, 1]")


@dataclass(frozen=True)
class RowControl:
    state: Optional[ConstraintState] = None
    sampling: Optional[Sampling] = None


def draw(logits: torch.Tensor, sampling: Sampling) -> int:
    """One token id from a row's logits: temperature, then the smallest set of most likely ids
    whose mass reaches top_p, drawn with the row's generator (on the generator's device). Only the
    ids still possible (finite logits) take part: a constrained row sorts its few allowed ids, not
    the whole vocabulary (a 157k-id sort costs more than a small model's decoding step), and
    top_p 1 keeps every id, so nothing is sorted. `ids`: the candidates' ids (None: all of them)."""
    finite = torch.isfinite(logits)
    ids = None if bool(finite.all()) else finite.nonzero().squeeze(1)
    probs = torch.softmax((logits if ids is None else logits[ids]).float() / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        probs, order = probs.sort(descending=True, stable=True)
        probs = probs.masked_fill(probs.cumsum(0) - probs >= sampling.top_p, 0.0)
        ids = order if ids is None else ids[order]
    pick = int(torch.multinomial(probs.to(sampling.generator.device), 1, generator=sampling.generator))
    return pick if ids is None else int(ids[pick])


class RowControlProcessor(LogitsProcessor):
    """`controls[i]` governs row i. Rows are left-padded to `prompt_length`, so the token a row
    generated last is `input_ids[i, -1]` from the second call on. A row is finished once its
    constraint is done or, unconstrained, once it produced one of `stop_ids`; then it is left
    alone (`generate` pads it). The scores are changed in place: `generate` hands every step a
    fresh copy of the logits (a copy of the batch's scores here cost a tiny model's decoding step
    a few percent); the only other holder of that copy is `output_logits`, which then sees the
    processed scores."""

    def __init__(self, controls: Sequence[RowControl], prompt_length: int, stop_ids: Iterable[int]):
        self.controls = list(controls)
        self.prompt_length = prompt_length
        self.stop_ids = frozenset(stop_ids)
        self._finished = [False] * len(self.controls)
        self._calls = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[0] != len(self.controls):
            raise ValueError(f"{input_ids.shape[0]} rows for {len(self.controls)} controls (one sequence per row)")
        if input_ids.shape[1] != self.prompt_length + self._calls:
            raise ValueError(f"step {self._calls} sees {input_ids.shape[1]} ids after a prompt of {self.prompt_length}")
        if self._calls:
            self._advance(input_ids[:, -1].tolist())
        self._calls += 1
        for row, control in enumerate(self.controls):
            if self._finished[row]:
                continue
            if control.state is not None:
                bias = control.state.bias(scores.dtype)
                if bias.shape[0] != scores.shape[1]:
                    raise ValueError(f"constraint masks cover {bias.shape[0]} ids, the model scores {scores.shape[1]}")
                scores[row].add_(bias.to(scores.device))
            if control.sampling is not None:
                token = draw(scores[row], control.sampling)
                scores[row] = float("-inf")
                scores[row, token] = 0.0
        return scores

    def _advance(self, last: list[int]) -> None:
        for row, (control, token_id) in enumerate(zip(self.controls, last)):
            if self._finished[row]:
                continue
            if control.state is None:
                self._finished[row] = token_id in self.stop_ids
            else:
                control.state.advance(token_id)
                self._finished[row] = control.state.finished
