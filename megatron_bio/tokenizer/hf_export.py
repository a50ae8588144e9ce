"""Write the BioMatrix tokenizer as a Hugging Face directory.

`AutoTokenizer.from_pretrained(dir)` loads it as a plain `Qwen2Tokenizer` (no remote code): the
extended vocabulary lives entirely in `tokenizer.json`'s added tokens. The chat template is plain
ChatML without think blocks (`chat_template.py` says why: training renders equal inference renders). Two BioMatrix files ride along for the stack's own use: `biomatrix_tokenizer.json` (families,
sizes, the ids Megatron needs) and `token_descriptions.json` (the text behind each new token, for
the description-based embedding initialization).
Nothing here depends on the modalities: the DNA/RNA wrappers and nucleotide tokens ride in
`tokenizer.json` like every other added token, and the chat template needs no change for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from .chat_template import CHAT_TEMPLATE
from .families import Family
from .unified import BioMatrixTokenizer

METADATA_FILE = "biomatrix_tokenizer.json"
DESCRIPTIONS_FILE = "token_descriptions.json"
# Keys of the base tokenizer_config.json that describe the base files, not the exported ones.
_STALE_CONFIG_KEYS = ("added_tokens_decoder", "name_or_path", "tokenizer_file", "auto_map")


def _added_tokens_decoder(tokenizer: BioMatrixTokenizer) -> dict:
    return {
        str(token_id): {
            "content": added.content,
            "lstrip": added.lstrip,
            "normalized": added.normalized,
            "rstrip": added.rstrip,
            "single_word": added.single_word,
            "special": added.special,
        }
        for token_id, added in sorted(tokenizer.backend.get_added_tokens_decoder().items())
    }


def _ranges(ids: list[int]) -> list[list[int]]:
    """[first, last] of each run of consecutive ids: a family may span several blocks of the plan
    (the DNA/RNA wrappers come long after the other control tokens)."""
    runs: list[list[int]] = []
    for token_id in ids:
        if runs and token_id == runs[-1][1] + 1:
            runs[-1][1] = token_id
        else:
            runs.append([token_id, token_id])
    return runs


def write_hf_tokenizer_dir(tokenizer: BioMatrixTokenizer, directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.backend.save(str(directory / "tokenizer.json"))

    config = {k: v for k, v in tokenizer.hf_config.items() if k not in _STALE_CONFIG_KEYS}
    config.setdefault("tokenizer_class", "Qwen2Tokenizer")
    config["added_tokens_decoder"] = _added_tokens_decoder(tokenizer)
    config["chat_template"] = CHAT_TEMPLATE
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")

    metadata = {
        "vocab_size": tokenizer.vocab_size,
        "base_vocab_size": tokenizer.base_vocab_size,
        "padded_vocab_size_tp1": tokenizer.padded_vocab_size(1),
        "eod": tokenizer.eod,
        "megatron_pad": tokenizer.pad,
        "families": {
            family.value: {
                "count": len(tokenizer.family_ids[family]),
                "first_id": min(tokenizer.family_ids[family], default=None),
                "last_id": max(tokenizer.family_ids[family], default=None),
                "ranges": _ranges(tokenizer.family_ids[family]),
            }
            for family in Family
        },
        "modalities": [modality.value for modality in tokenizer.wrapped_modalities],
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    (directory / DESCRIPTIONS_FILE).write_text(
        json.dumps(tokenizer.descriptions(), indent=0, ensure_ascii=False) + "\n"
    )
    return directory
