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
    whose mass reaches top_p, drawn with the row's generator (on the generator's device)."""
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    ordered, order = probs.sort(descending=True, stable=True)
    ordered = ordered.masked_fill(ordered.cumsum(0) - ordered >= sampling.top_p, 0.0)
    pick = torch.multinomial(ordered.to(sampling.generator.device), 1, generator=sampling.generator)
    return int(order[int(pick)])


class RowControlProcessor(LogitsProcessor):
    """`controls[i]` governs row i. Rows are left-padded to `prompt_length`, so the token a row
    generated last is `input_ids[i, -1]` from the second call on. A row is finished once its
    constraint is done or, unconstrained, once it produced one of `stop_ids`; then it is left
    alone (`generate` pads it)."""

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
        scores = scores.clone()
        live = [row for row in range(len(self.controls)) if not self._finished[row]]
        constrained = [row for row in live if self.controls[row].state is not None]
        if constrained:
            allowed = torch.stack([self.controls[row].state.allowed() for row in constrained]).to(scores.device)
            if allowed.shape[1] != scores.shape[1]:
                raise ValueError(f"constraint masks cover {allowed.shape[1]} ids, the model scores {scores.shape[1]}")
            rows = torch.tensor(constrained, device=scores.device)
            scores[rows] = scores[rows].masked_fill(~allowed, float("-inf"))
        for row in live:
            sampling = self.controls[row].sampling
            if sampling is not None:
                token = draw(scores[row], sampling)
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
