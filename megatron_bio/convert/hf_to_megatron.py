"""A Hugging Face Qwen3 directory -> a megatron-core dist checkpoint (model weights only), optionally
growing the vocabulary to BioMatrix's with the description-based init in the same pass.

The directory may be a Qwen3 base (its 151,669 tokens are kept, the BioMatrix ones added) or a
BioMatrix export whose tokenizer predates the one given (its whole vocabulary is kept, checked to be
a prefix of the new one, and only the tokens added since are initialized: e.g. DNA/RNA). The
checkpoint records whether its vocabulary is a BioMatrix one (`BIOMATRIX_VOCABULARY`), which
`checkpoint.init_from` reads to grow it the same way.

Memory: the safetensors files are memory-mapped and read one tensor at a time into the one model
being filled, so the peak is one model in the target dtype plus the file cache. The checkpoint
records the model shape, the vocabulary size and the tokenizer (when grown), which the export and
`checkpoint.init_from` read back.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Optional

from safetensors import safe_open

from biomatrix_io.config import ConfigError
from megatron_bio.model.config import ModelConfig
from megatron_bio.model.distributed import initialize
from megatron_bio.model.vocabulary import BIOMATRIX_VOCABULARY, shared_prefix
from megatron_bio.tokenizer.hf_export import METADATA_FILE
from megatron_bio.tokenizer.unified import BioMatrixTokenizer, padded_vocab_size
from megatron_bio.tokenizer_config import TokenizerConfig

from .mapping import TIED_HF_KEYS, Mapping, VocabularyGrowth, expand
from .runtime import DTYPES, bare_model, peak_memory_gb

MODEL_FORMAT = "biomatrix-model-1"
ARCHITECTURES = ("Qwen3ForCausalLM",)
MODEL_TYPE = "qwen3"


class SafetensorsDirectory:
    """Tensors of an HF directory by name, read lazily from `model.safetensors` or the files of
    `model.safetensors.index.json`."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        index = folder / "model.safetensors.index.json"
        if index.exists():
            files = json.loads(index.read_text())["weight_map"]
        elif (folder / "model.safetensors").exists():
            with safe_open(folder / "model.safetensors", "pt") as handle:
                files = {key: "model.safetensors" for key in handle.keys()}
        else:
            raise ConfigError(f"{folder}: no model.safetensors or model.safetensors.index.json "
                                    "(only safetensors weights are read)")
        self.folder, self.files = folder, files

    def keys(self) -> set[str]:
        return set(self.files)

    def get(self, key: str):
        """One tensor, copied out of its file's memory map; the map is closed again at once, so
        the pages read do not pile up in this process's resident memory."""
        with safe_open(self.folder / self.files[key], "pt") as handle:
            return handle.get_tensor(key)

    def nbytes(self) -> int:
        return sum((self.folder / name).stat().st_size for name in set(self.files.values()))


def read_hf_config(folder: Path):
    """The directory's Qwen3Config; another architecture is refused by name."""
    from transformers import AutoConfig

    path = Path(folder) / "config.json"
    if not path.exists():
        raise ConfigError(f"{folder}: no config.json")
    raw = json.loads(path.read_text())
    architectures = raw.get("architectures") or []
    if raw.get("model_type") != MODEL_TYPE or not set(architectures) & set(ARCHITECTURES):
        raise ConfigError(f"{folder}: model_type {raw.get('model_type')!r}, architectures {architectures}: only "
                          f"{MODEL_TYPE} ({', '.join(ARCHITECTURES)}) converts")
    return AutoConfig.from_pretrained(folder)


def source_tokenizer(folder: Path) -> Optional[BioMatrixTokenizer]:
    """The BioMatrix tokenizer a directory was exported with, or None (a Qwen3 base)."""
    return BioMatrixTokenizer.from_dir(folder) if (Path(folder) / METADATA_FILE).is_file() else None


def check_keys(present: set[str], mappings: list[Mapping], tied: bool) -> None:
    expected = {key for mapping in mappings for key in mapping.hf}
    allowed = expected | (set(TIED_HF_KEYS) if tied else set())
    problems = []
    if expected - present:
        problems.append(f"missing {sorted(expected - present)[:8]}"
                        + (" (an untied model needs lm_head.weight)" if "lm_head.weight" in expected - present else ""))
    if present - allowed:
        problems.append(f"unknown {sorted(present - allowed)[:8]}")
    if problems:
        raise ConfigError("the weights do not match the Qwen3 config: " + "; ".join(problems))


def hf_to_megatron(hf_dir: str, out: str, dtype: Optional[str] = None, tokenizer: Optional[TokenizerConfig] = None,
                   vocabulary_init: str = "description", seed: int = 1234) -> dict:
    """Convert; with `tokenizer`, grow the vocabulary to it. Returns a report (sizes, seconds, peak memory)."""
    from megatron.core import dist_checkpointing

    started = time.perf_counter()
    hf_dir, out = Path(hf_dir), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty")
    hf_config = read_hf_config(hf_dir)
    model = ModelConfig.from_hf_config(hf_config)
    weights = SafetensorsDirectory(hf_dir)
    grown = tokenizer.build() if tokenizer else None
    source = source_tokenizer(hf_dir)
    if grown is not None and hf_config.vocab_size < grown.base_vocab_size:
        raise ConfigError(f"the tokenizer extends a {grown.base_vocab_size}-token base, but {hf_dir} has "
                          f"{hf_config.vocab_size} vocabulary rows: not that base model")
    kept = None
    if grown is not None and source is not None:
        try:
            kept = shared_prefix(source, grown)
        except ValueError as error:
            raise ConfigError(f"{hf_dir}'s tokenizer is not an older version of the given one: {error}") from None
    mappings = expand(model, VocabularyGrowth(grown, seed, vocabulary_init, kept) if grown is not None else None)
    check_keys(weights.keys(), mappings, model.tie_embeddings)
    vocab_size = grown.vocab_size if grown is not None else hf_config.vocab_size
    rows = padded_vocab_size(vocab_size)
    target = DTYPES[dtype] if dtype else weights.get(mappings[0].hf[0]).dtype
    initialize()
    megatron = bare_model(model, rows, target)
    parameters = dict(megatron.named_parameters())
    for mapping in mappings:
        tensors = [weights.get(key) for key in mapping.hf]
        value = mapping.to_megatron(tensors, model, rows)
        parameter = parameters[mapping.megatron]
        if tuple(value.shape) != tuple(parameter.shape):
            raise ValueError(f"{', '.join(mapping.hf)}: shape {tuple(t.shape for t in tensors)} does not fit "
                             f"{mapping.megatron} {tuple(parameter.shape)} of the config's Qwen3 shape")
        parameter.data.copy_(value)
    out.mkdir(parents=True, exist_ok=True)
    dist_checkpointing.save({
        "model": megatron.sharded_state_dict(), "format": MODEL_FORMAT, "vocab_size": vocab_size,
        BIOMATRIX_VOCABULARY: grown is not None or source is not None,
        "config": {"model": dataclasses.asdict(model), "tokenizer": dataclasses.asdict(tokenizer) if tokenizer else None},
        "source": str(hf_dir.resolve()),
    }, str(out))
    return {"from": str(hf_dir), "to": str(out), "vocab_size": vocab_size, "rows": rows,
            "grown_from": hf_config.vocab_size if grown is not None else None, "dtype": str(target).replace("torch.", ""),
            "source_bytes": weights.nbytes(), "seconds": time.perf_counter() - started, "peak_memory_gb": peak_memory_gb()}
