"""A megatron-core dist checkpoint (a training checkpoint at any TP/PP, or a converted one) -> a
Hugging Face directory that `transformers` loads without remote code: `config.json` for
Qwen3ForCausalLM with the real vocabulary size (padding rows trimmed), sharded safetensors with an
index, `generation_config.json` (its EOS chosen by the job that trained the model), and the
BioMatrix tokenizer files (chat template included). The export is a release: the model card, the
licence notices, the provenance manifest and the checksums come with it (`release.py`).

Only the model is read (optimizer state stays in the checkpoint). Memory: the one model, loaded
at TP=1 from the checkpoint's global layout, plus one output shard at a time.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

import torch

from biomatrix_io.checkpoints import resolve
from biomatrix_io.config import ConfigError, from_dict
from megatron_bio.model.config import ModelConfig
from megatron_bio.model.distributed import initialize
from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir
from megatron_bio.tokenizer_config import TokenizerConfig

from .mapping import expand
from .release import job as job_of, write_generation_settings, write_release
from .runtime import DTYPES, bare_model, peak_memory_gb

EMBEDDING = "embedding.word_embeddings.weight"
INDEX = "model.safetensors.index.json"


class ShardWriter:
    """Tensors -> `model-0000k-of-0000n.safetensors` files of at most `max_bytes` each, plus the index."""

    def __init__(self, folder: Path, max_bytes: int):
        self.folder, self.max_bytes = folder, max_bytes
        self.pending: dict[str, torch.Tensor] = {}
        self.pending_bytes = 0
        self.written: list[list[str]] = []
        self.total = 0

    def add(self, key: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.max_bytes:
            self._flush()
        self.pending[key] = tensor.contiguous()
        self.pending_bytes += size
        self.total += size

    def _flush(self) -> None:
        from safetensors.torch import save_file

        save_file(self.pending, str(self.folder / f"part-{len(self.written):05d}.safetensors"), metadata={"format": "pt"})
        self.written.append(list(self.pending))
        self.pending, self.pending_bytes = {}, 0

    def close(self) -> list[Path]:
        if self.pending:
            self._flush()
        count, names, weight_map = len(self.written), [], {}
        for i, keys in enumerate(self.written):
            name = f"model-{i + 1:05d}-of-{count:05d}.safetensors"
            (self.folder / f"part-{i:05d}.safetensors").rename(self.folder / name)
            names.append(self.folder / name)
            weight_map.update({key: name for key in keys})
        (self.folder / INDEX).write_text(json.dumps({"metadata": {"total_size": self.total}, "weight_map": weight_map},
                                                    indent=2))
        return names


def read_checkpoint(path: str) -> tuple[Path, dict, ModelConfig, dict]:
    """(folder, common entries, model shape, saved tensors' metadata); a checkpoint of another
    architecture or without this stack's entries is refused with the reason."""
    from megatron.core import dist_checkpointing

    folder = resolve(path)
    common = dist_checkpointing.load_common_state_dict(str(folder))
    model_entry = (common.get("config") or {}).get("model")
    if model_entry is None or "vocab_size" not in common:
        raise ConfigError(f"{folder}: no model config / vocab_size entries: not a checkpoint written by this stack")
    model = from_dict(ModelConfig, model_entry, "checkpoint config.model")
    saved = dist_checkpointing.load_tensors_metadata(str(folder))
    expected = {"decoder.layers.self_attention.linear_qkv.weight":
                (model.num_layers, (model.num_attention_heads + 2 * model.num_query_groups) * model.kv_channels,
                 model.hidden_size),
                "decoder.layers.mlp.linear_fc2.weight": (model.num_layers, model.hidden_size, model.ffn_hidden_size)}
    for key, shape in expected.items():
        found = tuple(saved[key].global_shape) if key in saved else None
        if found != shape:
            raise ConfigError(f"{folder}: {key} is {found}, a Qwen3 model of the recorded config has {shape}: "
                              "a checkpoint of another architecture")
    return folder, common, model, saved


def megatron_to_hf(path: str, out: str, dtype: str = "bf16", tokenizer: Optional[TokenizerConfig] = None,
                   max_shard_bytes: int = 2 * 1024**3, base_model: Optional[str] = None, license: str = "apache-2.0",
                   evaluation: Optional[str] = None) -> dict:
    """Export; `tokenizer` overrides the one the checkpoint records (imported plain Qwen3 records none).
    `base_model`, `license` and `evaluation` (a results file) go to the release (`release.write_release`)."""
    from megatron.core import dist_checkpointing
    from transformers import GenerationConfig

    started = time.perf_counter()
    given = tokenizer is not None
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty")
    folder, common, model, saved = read_checkpoint(path)
    job = job_of(common)
    vocab_size = common["vocab_size"]
    recorded = (common["config"] or {}).get("tokenizer")
    tokenizer = tokenizer or (from_dict(TokenizerConfig, recorded, "checkpoint config.tokenizer") if recorded else None)
    built = tokenizer.build() if tokenizer else None
    if built is not None and built.vocab_size != vocab_size:
        raise ConfigError(f"the tokenizer has {built.vocab_size} tokens, the checkpoint's vocabulary {vocab_size}: "
                          "not the tokenizer this model was trained with")
    rows = saved[EMBEDDING].global_shape[0]
    initialize()
    megatron = bare_model(model, rows, saved[EMBEDDING].dtype)
    loaded = dist_checkpointing.load({"model": megatron.sharded_state_dict()}, str(folder))
    megatron.load_state_dict(loaded["model"])
    del loaded
    parameters = dict(megatron.named_parameters())
    out.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(out, max_shard_bytes)
    target = DTYPES[dtype]
    count = 0
    for mapping in expand(model):
        with torch.no_grad():
            for key, tensor in zip(mapping.hf, mapping.to_hf(parameters[mapping.megatron], model, vocab_size)):
                writer.add(key, tensor.to(target))
                count += tensor.numel()
    shards = writer.close()
    hf_config = model.hf_config(vocab_size)
    hf_config.architectures = ["Qwen3ForCausalLM"]
    hf_config.dtype = target
    hf_config.save_pretrained(out)
    if built is None:
        GenerationConfig().save_pretrained(out)
    else:
        write_hf_tokenizer_dir(built, out)
        write_generation_settings(out, built.backend, job)
    export = {"checkpoint": str(folder), "dtype": dtype, "max_shard_bytes": max_shard_bytes,
              "tokenizer": dataclasses.asdict(tokenizer) if tokenizer else None, "tokenizer_given": given}
    release = write_release(out, folder, common, count, export, base_model, license,
                            Path(evaluation) if evaluation else None, built is not None)
    return {"from": str(folder), "to": str(out), "vocab_size": vocab_size, "trimmed_rows": rows - vocab_size,
            "dtype": dtype, "shards": len(shards), "bytes": writer.total, "tokenizer": built is not None,
            "release": release, "files": sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()),
            "seconds": time.perf_counter() - started, "peak_memory_gb": peak_memory_gb()}
