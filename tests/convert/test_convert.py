"""Conversion with tiny random Qwen3 models built by transformers (tied without lm_head, tied with
a stored lm_head and sharded files, untied): HF -> Megatron -> HF is bitwise; the Megatron model's
logits equal HF's at TP=1 and TP=2; the vocabulary grows on import; a checkpoint trained by the
pretraining stage exports to a directory that runs the model cards' Quick Start code; bad inputs
are refused with the reason."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from megatron_bio.convert.hf_to_megatron import hf_to_megatron
from megatron_bio.convert.megatron_to_hf import megatron_to_hf
from megatron_bio.convert.verify import compare_logits
from megatron_bio.model.vocabulary import extend_rows
from megatron_bio.tokenizer_config import TokenizerConfig

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "tests" / "data" / "model_cards"  # the released model cards, as the project started from them
VARIANTS = ("tied", "tied-lm-head-sharded", "untied")


def _hf_model(folder: Path, variant: str) -> Path:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(VARIANTS.index(variant))
    config = Qwen3Config(vocab_size=151_936, hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=512,
                         tie_word_embeddings=variant != "untied", rope_theta=1e6)
    model = Qwen3ForCausalLM(config)
    if variant == "tied-lm-head-sharded":
        model.save_pretrained(folder, max_shard_size="10MB")
        index = json.loads((folder / "model.safetensors.index.json").read_text())
        last = sorted(set(index["weight_map"].values()))[-1]
        tensors = load_file(folder / last)
        tensors["lm_head.weight"] = model.lm_head.weight.detach().clone()  # some releases store the tied copy
        save_file(tensors, folder / last, metadata={"format": "pt"})
        index["weight_map"]["lm_head.weight"] = last
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    else:
        model.save_pretrained(folder)
    return folder


def _tensors(folder: Path) -> dict:
    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(path))
    return tensors


@pytest.fixture(scope="module", params=VARIANTS)
def converted(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    hf = _hf_model(root / "hf", request.param)
    report = hf_to_megatron(str(hf), str(root / "megatron"))
    return request.param, hf, root / "megatron", report


def test_hf_megatron_hf_is_bitwise(converted, tmp_path):
    variant, hf, megatron, report = converted
    assert report["vocab_size"] == report["rows"] == 151_936 and report["grown_from"] is None
    back = megatron_to_hf(str(megatron), str(tmp_path / "back"), dtype="fp32")
    assert back["trimmed_rows"] == 0 and (tmp_path / "back" / "model.safetensors.index.json").exists()
    original, returned = _tensors(hf), _tensors(tmp_path / "back")
    if variant == "tied-lm-head-sharded":
        del original["lm_head.weight"]  # tied: the export stores the table once, as transformers does
    assert set(returned) == set(original)
    assert all(torch.equal(returned[key], original[key]) for key in original)
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    assert config["tie_word_embeddings"] is (variant != "untied") and config["architectures"] == ["Qwen3ForCausalLM"]


def test_megatron_logits_equal_hf_logits_at_tp1(converted, megatron_single_process):
    _, hf, megatron, _ = converted
    report = compare_logits(str(hf), str(megatron))
    # float32 on both sides; the same math in another association order (fused QKV, [gate; up]).
    assert report["max_abs_diff"] < 1e-4 * max(1.0, report["logit_scale"])


def test_megatron_logits_equal_hf_logits_at_tp2(converted):
    _, hf, megatron, _ = converted
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "launch.cli", "convert", "verify", "--hf", str(hf), "--checkpoint", str(megatron),
                           "--tolerance", "1e-4"], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert report["tensor_parallel"] == 2 and report["ok"]


def test_import_grows_the_vocabulary_by_the_description_init(tmp_path, megatron_single_process):
    hf = _hf_model(tmp_path / "hf", "untied")
    report = hf_to_megatron(str(hf), str(tmp_path / "megatron"), tokenizer=TokenizerConfig(), seed=5)
    tokenizer = TokenizerConfig().build()
    assert report["vocab_size"] == tokenizer.vocab_size and report["grown_from"] == 151_936
    assert report["rows"] % 128 == 0 and report["rows"] >= tokenizer.vocab_size
    exported = megatron_to_hf(str(tmp_path / "megatron"), str(tmp_path / "back"), dtype="fp32")
    assert exported["tokenizer"] and exported["trimmed_rows"] == report["rows"] - tokenizer.vocab_size
    original, returned = _tensors(hf), _tensors(tmp_path / "back")
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        expected = extend_rows(original[key], tokenizer, report["rows"], 5, "description")[:tokenizer.vocab_size]
        assert torch.equal(returned[key], expected)
    assert all(torch.equal(returned[k], v) for k, v in original.items() if k not in ("model.embed_tokens.weight", "lm_head.weight"))


@pytest.fixture(scope="module")
def trained_export(shards, tmp_path_factory):
    """The tiny recipe trained 4 steps by `biomatrix pretrain` (2 processes, TP=2), exported."""
    root = tmp_path_factory.mktemp("trained")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "launch.cli", "pretrain", f"data.shards={shards}", f"output={root / 'run'}",
                           "data.split=100,0,0", "validation.every=0", "schedule.train_steps=4", "schedule.warmup_steps=1",
                           "parallel.tensor=2"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = megatron_to_hf(str(root / "run" / "checkpoints"), str(root / "hf"))
    return root / "hf", report


def _quick_start(card: str, model_dir: Path) -> str:
    """The card's Quick Start code, with the local directory for the hub name and no remote code."""
    text = (CARDS / card).read_text()
    code = re.search(r"## Quick Start\s*```python\n(.*?)```", text, re.S).group(1)
    code = re.sub(r'model_name = "[^"]+"', f"model_name = {str(model_dir)!r}", code)
    return code.replace("trust_remote_code=True", "trust_remote_code=False")


@pytest.mark.parametrize("card", ["model-card-1.7B-SFT.md", "model-card-4B-Base.md"])
def test_a_trained_checkpoint_exports_and_runs_the_model_card_quick_start(trained_export, card, tmp_path):
    model_dir, report = trained_export
    assert report["tokenizer"] and report["dtype"] == "bf16" and report["trimmed_rows"] > 0
    script = tmp_path / "quick_start.py"
    script.write_text(_quick_start(card, model_dir))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    if card == "model-card-4B-Base.md":
        assert done.stdout.startswith("<|mol_smi_start|>CC(=O)")
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    assert config.vocab_size == TokenizerConfig().build().vocab_size


def _rewrite_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_bad_inputs_are_refused_with_the_reason(tmp_path):
    other = _hf_model(tmp_path / "llama", "tied")
    _rewrite_config(other, model_type="llama", architectures=["LlamaForCausalLM"])
    with pytest.raises(ValueError, match="model_type 'llama'.*only qwen3"):
        hf_to_megatron(str(other), str(tmp_path / "out1"))
    shapes = _hf_model(tmp_path / "shapes", "tied")
    _rewrite_config(shapes, intermediate_size=128)
    with pytest.raises(ValueError, match="gate_proj.*does not fit"):
        hf_to_megatron(str(shapes), str(tmp_path / "out2"))
    extra = _hf_model(tmp_path / "extra", "tied")
    tensors = load_file(extra / "model.safetensors")
    tensors["model.layers.0.mlp.bias"] = torch.zeros(3)
    save_file(tensors, extra / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"unknown \['model.layers.0.mlp.bias'\]"):
        hf_to_megatron(str(extra), str(tmp_path / "out3"))
    untied = _hf_model(tmp_path / "untied", "untied")
    tensors = load_file(untied / "model.safetensors")
    del tensors["lm_head.weight"]
    save_file(tensors, untied / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="missing.*untied model needs lm_head"):
        hf_to_megatron(str(untied), str(tmp_path / "out4"))


def test_a_tokenizer_of_another_vocabulary_is_refused_on_export(converted, tmp_path):
    _, _, megatron, _ = converted
    with pytest.raises(ValueError, match="the tokenizer has .* tokens, the checkpoint's vocabulary 151936"):
        megatron_to_hf(str(megatron), str(tmp_path / "hf"), tokenizer=TokenizerConfig())
