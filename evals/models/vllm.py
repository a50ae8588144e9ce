"""`biomatrix-vllm`: lm-eval's vLLM model with the suite's per-request settings.

vLLM V1 has no per-request logits processors in `SamplingParams`, so the constraint goes through
its structured outputs: `evals.constraints.to_regex` writes the state machine's language as a
regular expression over the decoded text (tested on CPU against the state machine). Each request
gets its own `SamplingParams`: its seed (derived from the request key, as on the HF backend),
greedy or nucleus settings, special tokens kept in the text, the regex where constrained. Answers
go through the same request cache as the HF backend's (the backend is part of the key).

vLLM is imported only when this backend is built: a machine without it (every CPU machine here)
never imports it.
"""

from __future__ import annotations

from typing import Optional

from biomatrix_io.config import ConfigError

from ..constraints import ConstraintVocabulary, to_regex
from .cache import model_identity
from .hf import RequestPlanning


def _structured(regex: str):
    """Structured-output parameters, in the spelling of the installed vLLM (>= 0.10.2:
    `structured_outputs`; before: `guided_decoding`)."""
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(regex=regex)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(regex=regex)}


def build_vllm(pretrained: str, constrain: str = "auto", seed: int = 1234, cache: Optional[str] = None, **kwargs):
    """The `biomatrix-vllm` model object (defined here so that importing this module needs no vLLM)."""
    try:
        from lm_eval.api.registry import register_model
        from lm_eval.models.vllm_causallms import VLLM
        from vllm import SamplingParams
    except ImportError as error:
        raise ConfigError(f"--backend vllm needs vLLM (`pip install 'lm-eval[vllm]'` on a GPU node): {error}",
                          ("--backend",)) from None

    @register_model("biomatrix-vllm")
    class BioMatrixVLLM(RequestPlanning, VLLM):
        def __init__(self, pretrained: str, constrain: str = "auto", seed: int = 1234, cache: Optional[str] = None,
                     **model_kwargs) -> None:
            super().__init__(pretrained=pretrained, seed=seed, **model_kwargs)
            self._setup_requests(model_identity(pretrained, "vllm", str(model_kwargs.get("dtype", "auto"))),
                                 constrain, seed, cache)
            self.vocabulary = ConstraintVocabulary.from_tokenizer(self.tokenizer)

        def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
            plans = self._plan(requests, self.max_gen_toks)
            answers: list[Optional[str]] = [self.cache.get(plan.key) for plan in plans]
            todo = [i for i, answer in enumerate(answers) if answer is None]
            if not todo:
                return answers
            params = []
            for i in todo:
                settings = plans[i].settings
                sampled = bool(settings.get("do_sample"))
                extra = _structured(to_regex(plans[i].rule, self.vocabulary)) if plans[i].rule else {}
                params.append(SamplingParams(
                    n=1, max_tokens=int(settings["max_gen_toks"]), stop=list(settings.get("until") or []),
                    temperature=float(settings.get("temperature", 1.0)) if sampled else 0.0,
                    top_p=float(settings.get("top_p", 1.0)) if sampled else 1.0, seed=plans[i].seed,
                    skip_special_tokens=False, **extra))
            prompts = [self.tok_encode(plans[i].context) for i in todo]
            outputs = self._model_generate(prompts, generate=True, sampling_params=params)
            for i, output in zip(todo, outputs):
                answers[i] = output.outputs[0].text
                self.cache.put(plans[i].key, answers[i])
            return answers

    return BioMatrixVLLM(pretrained=pretrained, constrain=constrain, seed=seed, cache=cache, **kwargs)
