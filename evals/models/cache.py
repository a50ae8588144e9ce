"""The request cache of our model classes: lm-eval's sqlite store (sqlitedict, one commit per
answer, so a killed run keeps every answer it had), keyed so that an answer is only ever served
back to the request that produced it.

lm-eval's own `--use_cache` keys a request by its prompt and generation settings: another model,
another dtype or a constrained run would be served the first one's answers, repeats of one
request (`repeats: N`) would all get the first answer, and sampled requests are never cached. Our
key adds the model's identity (hashes of its weight and tokenizer files, backend, dtype), the
record (task and doc id), the constraint and the repeat index; sampling is seeded per request (from the key), so a sampled
answer is reproducible and cached like a greedy one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                   "config.json")


def _file_digest(path: Path, digest) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)


def files_digest(folder: Path, names: list[str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0")
        _file_digest(folder / name, digest)
    return digest.hexdigest()


def model_identity(folder: str | Path, backend: str, dtype: str) -> dict:
    """What makes two runs' answers interchangeable: the same weights, tokenizer, backend, dtype."""
    folder = Path(folder)
    weights = [p.name for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file()]
    tokenizer = [name for name in TOKENIZER_FILES if (folder / name).is_file()]
    return {"weights": files_digest(folder, weights), "tokenizer": files_digest(folder, tokenizer),
            "backend": backend, "dtype": dtype}


def request_key(identity: dict, request: tuple, settings: dict, repeat: int, constraint: Optional[dict]) -> str:
    """`request`: (task, doc id, prompt). The record is part of the key: two records with the same
    prompt (an unconditional generation task's) are two samples, not one."""
    return hashlib.sha256(json.dumps([identity, request, settings, repeat, constraint], sort_keys=True).encode()).hexdigest()


def request_seed(seed: int, key: str) -> int:
    """A request's own sampling seed: the same request (repeat index included) draws the same
    tokens in any batch, order or rerun."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") & ((1 << 63) - 1)


class RequestCache:
    def __init__(self, path: Optional[str | Path]) -> None:
        self.path = Path(path) if path else None
        self._store = None
        if self.path:
            from sqlitedict import SqliteDict

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._store = SqliteDict(str(self.path), autocommit=True)

    def get(self, key: str) -> Optional[str]:
        return self._store.get(key) if self._store is not None else None

    def put(self, key: str, answer: str) -> None:
        if self._store is not None:
            self._store[key] = answer
