"""The text format of token inventories (SELFIES symbols, molecule-3D joint tokens).

One token per line, most frequent first, optionally followed by a tab and its corpus count;
lines starting with `#` are comments (provenance, totals). Tokens never start with `#` (SELFIES
symbols and joint tokens start with `[`), so the format needs no escaping. The order of the lines
is the order of the token ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional


def read_ranked_tokens(path: str | Path) -> list[str]:
    tokens: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        token = line.split("\t", 1)[0]
        if token != token.strip() or not token:
            raise ValueError(f"{path}:{lineno}: token {token!r} has surrounding whitespace or is empty")
        if token in seen:
            raise ValueError(f"{path}:{lineno}: token {token!r} repeats line {seen[token]}")
        seen[token] = lineno
        tokens.append(token)
    return tokens


def write_ranked_tokens(
    path: str | Path, rows: Iterable[tuple[str, Optional[int]]], header: Iterable[str] = ()
) -> None:
    lines = [f"# {' '.join(h.split())}" for h in header]  # one line each, whatever the text holds
    lines += [token if count is None else f"{token}\t{count}" for token, count in rows]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
