"""Where every benchmark's figures go: printed, and appended to benchmarks/RESULTS.md (or --results)."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def publish(lines: list[str], path: str | Path = RESULTS) -> None:
    text = "\n".join(lines) + "\n"
    print(text)
    with open(path, "a") as handle:
        handle.write(text)
