"""`biomatrix-hf`: lm-eval's Hugging Face model (`HFLM`: loading, chat template, tokenization,
batching by prompt length) with what the BioMatrix suite needs and it lacks:

- modality-constrained decoding per request (`evals.constraints`, applied in a logits processor),
  on by default for records whose answer is one structured span (`constrain=auto`; `off` to
  measure without it);
- completions decoded with special tokens kept (the modality wrappers are special tokens: lm-eval
  drops them, and with them the answer's span);
- a sampling generator per request, seeded from the request's key, so a sampled answer does not
  depend on its batch and is cached and resumed like a greedy one (`evals.models.cache`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

import torch
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import normalize_gen_kwargs
from lm_eval.models.utils_hf import stop_sequences_criteria
from tqdm import tqdm
from transformers import LogitsProcessorList

from ..constraints import AnswerRule, ConstraintState, ConstraintVocabulary
from ..task_functions import expected
from .cache import RequestCache, model_identity, request_key, request_seed
from .processors import RowControl, RowControlProcessor, Sampling

CONSTRAIN = ("auto", "off")


@dataclass
class Planned:
    """One request, ready to generate or to be answered from the cache."""

    context: str
    settings: dict
    rule: Optional[AnswerRule]
    key: str
    seed: int
    budget: int = 0  # tokens it may generate: its max_gen_toks, less what the model's context leaves


def answer_rule(doc: Optional[dict], constrain: str, max_gen_toks: int) -> Optional[AnswerRule]:
    """The constraint a request's record implies: its gold answer's single structured span, with
    the task's length rule, closing within the generation budget (two wrappers and the stop token
    besides the body); none for text answers, documents of other suites, or `constrain=off`."""
    if constrain == "off" or not isinstance(doc, dict) or "answer" not in doc or "record" not in doc:
        return None
    wanted = expected(doc)
    if wanted.modality is None or not wanted.single:
        return None
    return AnswerRule(wanted.modality, wanted.length, None if wanted.length else max(1, max_gen_toks - 3))


def repeat_indices(requests: list) -> list[int]:
    """lm-eval sends `repeats: N` as N copies of one request: the k-th copy is repeat k."""
    seen: dict[tuple, int] = defaultdict(int)
    indices = []
    for request in requests:
        key = (request.task_name, request.doc_id, request.idx)
        indices.append(seen[key])
        seen[key] += 1
    return indices


class RequestPlanning:
    """What both backends share: the per-request plan (settings, rule, cache key, seed)."""

    constrain: str
    seed: int
    identity: dict
    cache: RequestCache

    def _setup_requests(self, identity: dict, constrain: str, seed: int, cache: Optional[str]) -> None:
        if constrain not in CONSTRAIN:
            raise ValueError(f"constrain={constrain!r}: one of {', '.join(CONSTRAIN)}")
        self.constrain, self.seed, self.identity = constrain, int(seed), identity
        self.cache = RequestCache(cache)

    def _plan(self, requests: list, default_max_gen_toks: int) -> list[Planned]:
        plans = []
        for request, repeat in zip(requests, repeat_indices(requests)):
            context, gen_kwargs = request.args
            settings = dict(normalize_gen_kwargs(dict(gen_kwargs), default_max_gen_toks))
            rule = answer_rule(request.doc, self.constrain, int(settings["max_gen_toks"]))
            constraint = None if rule is None else {"modality": rule.modality.value, "length": rule.length,
                                                    "max_length": rule.max_length}
            key = request_key(self.identity, (request.task_name, request.doc_id, context), settings, repeat, constraint)
            plans.append(Planned(context, settings, rule, key, request_seed(self.seed, key)))
        return plans


@register_model("biomatrix-hf")
class BioMatrixHF(RequestPlanning, HFLM):
    def __init__(self, pretrained: str, constrain: str = "auto", seed: int = 1234, cache: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(pretrained=pretrained, **kwargs)
        dtype = str(self.model.dtype).replace("torch.", "")
        self._setup_requests(model_identity(pretrained, "hf", dtype), constrain, seed, cache)
        self.vocabulary = ConstraintVocabulary.from_tokenizer(self.tokenizer)

    def tok_decode(self, tokens, skip_special_tokens: bool = False) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=skip_special_tokens)

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        plans = self._plan(requests, self.max_gen_toks)
        answers: list[Optional[str]] = [self.cache.get(plan.key) for plan in plans]
        groups: dict[str, list[int]] = defaultdict(list)
        for index, answer in enumerate(answers):
            if answer is None:
                plan = plans[index]
                plan.budget = min(int(plan.settings["max_gen_toks"]), self.max_length - len(self.tok_encode(plan.context)))
                if plan.budget < 1:  # the prompt fills the model's context: no answer, never a truncated prompt
                    answers[index] = ""
                    continue
                groups[json.dumps(plan.settings, sort_keys=True)].append(index)
        batch_size = self.batch_size if isinstance(self.batch_size, int) else 8
        progress = tqdm(total=sum(map(len, groups.values())), disable=disable_tqdm or self.rank != 0,
                        desc="biomatrix-hf generating")
        for indices in groups.values():
            indices.sort(key=lambda i: (-len(plans[i].context), plans[i].key))
            for start in range(0, len(indices), batch_size):
                batch = indices[start:start + batch_size]
                for index, answer in zip(batch, self._generate([plans[i] for i in batch])):
                    answers[index] = answer
                    self.cache.put(plans[index].key, answer)
                    progress.update(1)
        progress.close()
        return answers

    def _controls(self, plans: list[Planned]) -> list[RowControl]:
        controls = []
        for plan in plans:
            rule = plan.rule
            if rule is not None and rule.length is None and rule.max_length > plan.budget - 3:
                rule = AnswerRule(rule.modality, None, plan.budget - 3) if plan.budget > 3 else None
            state = ConstraintState(self.vocabulary, rule, self.model.config.vocab_size, self.model.device) \
                if rule else None
            sampling = None
            if plan.settings.get("do_sample") and plan.settings.get("temperature", 1.0) > 0:
                generator = torch.Generator(device="cpu").manual_seed(plan.seed)
                sampling = Sampling(float(plan.settings.get("temperature", 1.0)), float(plan.settings.get("top_p", 1.0)),
                                    generator)
            controls.append(RowControl(state, sampling))
        return controls

    def _generate(self, plans: list[Planned]) -> list[str]:
        settings = plans[0].settings
        max_new = max(plan.budget for plan in plans)
        until = [s for s in settings.get("until") or []]
        eos = self.tok_decode([self.eot_token_id])
        stops = list(dict.fromkeys([*until, eos]))
        context, mask = self.tok_batch_encode([p.context for p in plans])
        context, mask = context.to(self.device), mask.to(self.device)
        stop_ids = sorted(self.vocabulary.stop_ids)
        processor = RowControlProcessor(self._controls(plans), context.shape[1], stop_ids)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=context, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                temperature=None, top_p=None, top_k=None, num_beams=1,
                logits_processor=LogitsProcessorList([processor]),
                stopping_criteria=stop_sequences_criteria(self.tokenizer, stops, context.shape[1], context.shape[0]),
                eos_token_id=stop_ids, pad_token_id=self.tokenizer.pad_token_id)
        answers = []
        for plan, row in zip(plans, out[:, context.shape[1]:].tolist()):
            text = self.tok_decode(row[:plan.budget])
            cut = min([text.find(s) for s in stops if s in text], default=len(text))
            answers.append(text[:cut])
        return answers
