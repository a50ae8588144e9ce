"""Qwen3 recipes as megatron-core models: parameter counts equal Hugging Face Qwen3's of the same
config, the tiny model builds and trains a step on CPU through the compatibility layer, and
settings the backend cannot run fail with their reasons before anything is built."""

from pathlib import Path

import pytest
import torch
from transformers import Qwen3ForCausalLM

from biomatrix_io.config import load_config
from megatron_bio.model.config import QWEN3_VOCAB_SIZE, ModelConfig
from megatron_bio.model.execution import check_backend
from megatron_bio.model.gpt import build_gpt_model, transformer_engine_available
from megatron_bio.training.config import PretrainConfig

CONFIGS = Path(__file__).resolve().parents[2] / "launch" / "configs"


def _recipe(name: str, *overrides: str) -> PretrainConfig:
    return load_config(PretrainConfig, CONFIGS / f"{name}.yaml", overrides)


def _hf_count(model: ModelConfig, vocab_size: int) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in Qwen3ForCausalLM(model.hf_config(vocab_size)).parameters())


@pytest.mark.parametrize("name, billions, non_embedding_billions", [("pretrain_1p7b", 1.7, 1.4), ("pretrain_4b", 4.0, 3.6)])
def test_recipes_have_qwen3_sizes(name, billions, non_embedding_billions, tokenizer):
    model = _recipe(name).model
    for vocab_size in (QWEN3_VOCAB_SIZE, tokenizer.vocab_size):
        assert model.parameter_count(vocab_size)["total"] == _hf_count(model, vocab_size)
    counts = model.parameter_count(QWEN3_VOCAB_SIZE)
    assert round(counts["total"] / 1e9, 1) == billions  # Qwen3's published sizes
    assert round(counts["non_embedding"] / 1e9, 1) == non_embedding_billions
    assert ModelConfig.from_hf_config(model.hf_config()) == model


def test_tiny_model_equals_hf_in_size_and_trains_a_step(megatron_single_process, tokenizer):
    recipe = _recipe("tiny")
    vocab = tokenizer.padded_vocab_size(recipe.parallel.tensor)
    model = build_gpt_model(recipe.model, recipe.transformer_config(), vocab, recipe.sequence_length)
    assert sum(p.numel() for p in model.parameters()) == recipe.model.parameter_count(vocab)["total"] == _hf_count(recipe.model, vocab)
    tokens = torch.randint(0, tokenizer.vocab_size, (2, 32), generator=torch.Generator().manual_seed(0))
    positions = torch.arange(32).expand(2, 32)
    loss = model(tokens[:, :-1], positions[:, :-1], None, labels=tokens[:, 1:])
    assert loss.shape == (2, 31) and torch.isfinite(loss).all()
    assert abs(loss.mean().item() - torch.log(torch.tensor(float(vocab))).item()) < 1.0  # near-uniform at init
    loss.mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.parameters())) and all(torch.isfinite(g).all() for g in grads)


def test_cpu_compat_redirects_cuda_requests_to_the_cpu(megatron_single_process):
    if torch.cuda.is_available():
        pytest.skip("the compatibility layer is inactive where CUDA exists")  # never on CI's CPU machines
    assert torch.ones(2, device="cuda").device.type == "cpu"
    assert torch.zeros(1).to("cuda").device.type == "cpu"
    assert torch.cuda.current_device() == torch.device("cpu")


def test_model_parallel_rng_forks_from_the_cpu_generator(megatron_single_process):
    from megatron.core.tensor_parallel import get_cuda_rng_tracker

    torch.manual_seed(5)
    outside = torch.rand(3)
    torch.manual_seed(5)
    with get_cuda_rng_tracker().fork():
        inside = torch.rand(3)
    assert not torch.equal(inside, outside)  # the tracker's own stream
    assert torch.equal(torch.rand(3), outside)  # the default stream continues where it was


def _check_backend(recipe: PretrainConfig) -> None:
    check_backend(recipe.parallel, recipe.precision)


def test_settings_the_backend_cannot_run_fail_with_reasons():
    with_te = transformer_engine_available()
    if not with_te:
        with pytest.raises(ValueError, match="needs Transformer Engine"):
            _check_backend(_recipe("tiny", "precision.fp8=hybrid"))
        with pytest.raises(ValueError, match="sequence_parallel needs Transformer Engine"):
            _check_backend(_recipe("tiny", "parallel.sequence_parallel=true", "parallel.tensor=2"))
    with pytest.raises(ValueError, match="query groups do not split"):
        _recipe("tiny", "parallel.tensor=4")
    with pytest.raises(ValueError, match="layers do not split"):
        _recipe("pretrain_1p7b", "parallel.pipeline=3")


def test_model_info_prints_the_counts():
    import json
    import subprocess
    import sys

    biomatrix = str(Path(sys.executable).with_name("biomatrix"))
    done = subprocess.run([biomatrix, "model", "info", "--config", str(CONFIGS / "pretrain_1p7b.yaml")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["qwen3_base"]["total"] == _recipe("pretrain_1p7b").model.parameter_count(QWEN3_VOCAB_SIZE)["total"]
    assert info["biomatrix_padded_for_tp"]["vocab_rows"] % 128 == 0
    assert info["biomatrix"]["non_embedding"] == info["qwen3_base"]["non_embedding"]


@pytest.mark.parametrize("name", ["pretrain_1p7b", "pretrain_4b", "tiny"])
def test_model_flops_are_six_per_matmul_parameter_plus_attention(name):
    from megatron_bio.training.flops import training_flops_per_token

    model = _recipe(name).model
    counts = model.parameter_count(QWEN3_VOCAB_SIZE)
    norms = model.num_layers * (2 * model.hidden_size + 2 * model.kv_channels) + model.hidden_size
    matmul_parameters = counts["non_embedding"] - norms + counts["embedding"]  # the logit layer reads the (tied) table
    assert training_flops_per_token(model, QWEN3_VOCAB_SIZE, 0) == 6 * matmul_parameters
    attention = 3 * 2 * 2 * model.num_layers * model.num_attention_heads * model.kv_channels  # QK^T and AV, x3 for training
    assert training_flops_per_token(model, QWEN3_VOCAB_SIZE, 8192) - 6 * matmul_parameters == attention * 8192


def test_mfu_peaks_by_device_name():
    from megatron_bio.training.flops import peak_tflops

    assert peak_tflops("NVIDIA H100 80GB HBM3") == peak_tflops("NVIDIA H200") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0 and peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert peak_tflops("Intel Xeon") is None
