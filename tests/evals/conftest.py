"""Fixtures of the evaluation job's tests: a tiny random BioMatrix model in the Hugging Face format
(our tokenizer and chat template, Qwen3 architecture), which every model-facing test shares."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_hf_model(tokenizer, tmp_path_factory):
    from evals.models.random_model import write_random_model

    return write_random_model(tokenizer, tmp_path_factory.mktemp("tiny_hf_model"))
