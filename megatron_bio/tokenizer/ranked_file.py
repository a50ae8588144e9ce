"""The text format of token inventories (SELFIES symbols, molecule-3D joint tokens).

One token per line, most frequent first, optionally followed by a tab and its corpus count;
lines starting with `#` are comments (provenance, totals). Tokens never start with `#` (SELFIES
symbols and joint tokens start with `[`), so the format needs no escaping. The order of the lines
is the order of the token ids.

An inventory in use grows only by appending: a comment line `# inventory version N: ...` starts
the tokens of version N (the lines before the first one are version 1). The vocabulary places the
versions apart (`families.VOCABULARY_PLAN`), so `read_ranked_sections` returns them one by one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Optional

VERSION_LINE = "# inventory version "
_VERSION = re.compile(re.escape(VERSION_LINE) + r"(\d+)\b")


def read_ranked_tokens(path: str | Path) -> list[str]:
    return [token for section in read_ranked_sections(path) for token in section]


def read_ranked_sections(path: str | Path) -> list[list[str]]:
    """The tokens of each version of the file, version 1 first; a version line out of sequence
    (not the next number) is an error, as is a token repeated anywhere in the file."""
    sections: list[list[str]] = [[]]
    seen: dict[str, int] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(VERSION_LINE):
            version = _VERSION.match(line)
            if version is None or int(version.group(1)) != len(sections) + 1:
                raise ValueError(f"{path}:{lineno}: {line[:40]!r} is not version {len(sections) + 1}, the next one")
            sections.append([])
            continue
        if not line.strip() or line.startswith("#"):
            continue
        token = line.split("\t", 1)[0]
        if token != token.strip() or not token:
            raise ValueError(f"{path}:{lineno}: token {token!r} has surrounding whitespace or is empty")
        if token in seen:
            raise ValueError(f"{path}:{lineno}: token {token!r} repeats line {seen[token]}")
        seen[token] = lineno
        sections[-1].append(token)
    return sections


def write_ranked_tokens(
    path: str | Path, rows: Iterable[tuple[str, Optional[int]]], header: Iterable[str] = (), append: bool = False
) -> None:
    """Write (or, with `append`, add after the file's last line: later ids) a header and token rows."""
    lines = [f"# {' '.join(h.split())}" for h in header]  # one line each, whatever the text holds
    lines += [token if count is None else f"{token}\t{count}" for token, count in rows]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("a" if append else "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
