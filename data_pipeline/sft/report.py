"""An SFT build on one screen, from its folders alone: per task the examples per split, samples,
tokens and rejections; per split the packing; one rendered record per category."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from megatron_bio.tokenizer.chat_template import render_chat


def read_manifest(shards: Path) -> dict:
    return json.loads((Path(shards) / "manifest.json").read_text())


def task_table(manifest: dict, top: int = 1) -> str:
    rows = [("task", "category", "offered", "skipped", "examples", "train", "valid", "test", "rejected", "samples", "tokens", "top reason")]
    categories = {t["name"]: t["category"] for t in manifest["tasks"]}
    for name, t in manifest["per_task"].items():
        reasons = Counter({**t["skipped"], **t["rejected"]}).most_common(top)
        rows.append((name, categories[name], str(t["offered"]), str(sum(t["skipped"].values())), str(t["examples"]),
                     *(str(t["written"].get(s, 0)) for s in ("train", "valid", "test")),
                     str(sum(t["rejected"].values())), str(sum(t["samples"].values())), str(sum(t["tokens"].values())),
                     "; ".join(f"{r} ({n})" for r, n in reasons) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(f"{v:<{w}}" if i < 2 else f"{v:>{w}}" for i, (v, w) in enumerate(zip(row, widths))) + "  " + row[-1]
             for row in rows]
    for split, s in manifest["splits"].items():
        lines.append(f"{split}: {s['packs']} packs of <= {manifest['sequence_length']} tokens, {s['samples']} samples, "
                     f"{s['tokens']} tokens ({s['loss_tokens']} loss tokens), packing efficiency {s['packing_efficiency']:.2%}")
    return "\n".join(lines)


def first_per_category(records: Path, split: str) -> dict[str, dict]:
    """category -> the first chat record of that category in `split` (tasks in name order)."""
    shown: dict[str, dict] = {}
    for path in sorted((Path(records) / split).glob("*.jsonl")):
        with open(path) as handle:
            first = handle.readline()
        if first:
            record = json.loads(first)
            shown.setdefault(record["category"], record)
    return shown


def examples_text(records: Path, split: str = "train", width: int = 600) -> str:
    """The first record of each category, rendered as the model sees it (the chat template)."""
    parts = []
    for category, record in sorted(first_per_category(records, split).items()):
        text = render_chat(record["messages"])
        text = text if len(text) <= width else text[:width // 2] + " ... " + text[-width // 2:]
        parts.append(f"--- {category}: {record['task']} (template {record['template']}, {record['provenance']})\n{text}")
    return "\n".join(parts)
