"""How every stage opens and writes files: one decode policy, one atomic write, one way to name an
error in a rejection reason.

The decode policy: text streams decode UTF-8 with `surrogateescape`, so reading itself never fails
on a bad byte and no byte is silently replaced. An undecodable byte arrives as a lone surrogate
(U+DC80..U+DCFF); `undecodable` finds it, and the reader rejects the record that holds it, at the
record boundary, with its reason. File names are carried as `str(path)` gives them, which is
`os.fsdecode` (the same escape), and JSON is written escaped (`json.dumps`' default
`ensure_ascii`), so an odd name or byte never stops a report.
"""

from __future__ import annotations

import gzip
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Optional

_UNDECODABLE = re.compile("[\udc80-\udcff]")


def open_text(path: str | Path, newline: Optional[str] = None) -> IO[str]:
    """A UTF-8 text stream of a file, gunzipped when its name ends in `.gz`, under the decode policy."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape", newline=newline)
    return open(path, encoding="utf-8", errors="surrogateescape", newline=newline)


def open_binary(path: str | Path) -> IO[bytes]:
    """The bytes of a file, gunzipped when its name ends in `.gz`."""
    path = Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def undecodable(text: str) -> bool:
    """Whether text read under the decode policy holds a byte that was not UTF-8."""
    return _UNDECODABLE.search(text) is not None


def first_line(error: BaseException) -> str:
    """An exception as one line of a rejection reason (its first line, or its type when empty)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@contextmanager
def atomic(final: Path) -> Iterator[Path]:
    """A temporary path next to `final`, renamed onto it only if the block completes."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()
