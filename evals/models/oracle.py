"""`biomatrix-oracle`: answers every request with a record's gold answer, its own (the suite must
then score perfectly) or, with `shuffle=True`, another record's of the same task (it must score
low). It checks a task folder, its data and its scoring end to end without a model."""

from __future__ import annotations

import random

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model


@register_model("biomatrix-oracle")
class OracleLM(LM):
    def __init__(self, shuffle: bool = False, seed: int = 0, **_ignored) -> None:
        super().__init__()
        self.shuffle = str(shuffle).lower() in ("1", "true", "yes")
        self.seed = int(seed)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        answers = [request.doc["answer"] for request in requests]
        if not self.shuffle:
            return answers
        by_task: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            by_task.setdefault(request.task_name, []).append(index)
        shuffled = list(answers)
        rng = random.Random(self.seed)
        for indices in by_task.values():
            others = indices[1:] + indices[:1]  # a derangement: never a record's own answer
            order = list(range(len(indices)))
            rng.shuffle(order)
            for position in order:
                shuffled[indices[position]] = answers[others[position]]
        return shuffled

    @property
    def tokenizer_name(self) -> str:
        return "biomatrix-oracle"

    def chat_template(self, chat_template=False) -> str:
        return ""

    def apply_chat_template(self, chat_history: list[dict], add_generation_prompt: bool = True) -> str:
        """The oracle reads records, not prompts: the turns joined are enough to log."""
        return "\n".join(turn["content"] for turn in chat_history)

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the BioMatrix suite only generates")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the BioMatrix suite only generates")
