"""The evaluation report: per category, a markdown table of every task's scores with the BioMatrix
report's numbers and the best baseline it cites beside ours (`reference_numbers.py`), the shares of
invalid and unanswered samples, whether decoding was constrained, and a bar plot; read from
lm-eval's results JSON, so a merged or re-read results file gives the same report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from .metrics.registry import find
from .reference_numbers import CATEGORY_NOTES, REPORTED, UNPUBLISHED
from .suite import SUITE, categories

FILTER = "answer"  # the filter every task's scores are reported under
COUNT_SCORES = ("invalid", "no_answer", "wrong_length")
OTHER_DATA = ("Reported numbers were measured on each benchmark's official test set; ours on the test records this "
              "run read (the SFT corpus's held-out split unless an official file was imported): compare trends, "
              "not digits.")


def figure(results: dict, task: str, score: str) -> Optional[float]:
    value = results.get(task, {}).get(f"{score},{FILTER}")
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _fmt(value: Optional[float], percent: bool = False) -> str:
    if value is None:
        return "-"
    value = value * 100 if percent else value
    return f"{value:.2f}" if percent or abs(value) >= 10 else f"{value:.3f}"


def rows(results: dict, samples: dict, constrained: dict) -> dict[str, list[dict]]:
    """category -> one row per (task, reported score) of the tasks the results hold."""
    table: dict[str, list[dict]] = {}
    for category, members in categories().items():
        for entry in members:
            if entry.name not in results:
                continue
            for score in entry.scoring.scores:
                if score.name in COUNT_SCORES:
                    continue
                reported = REPORTED.get((entry.task, score.name))
                table.setdefault(category, []).append({
                    "task": entry.task, "score": score.name, "ours": figure(results, entry.name, score.name),
                    "reported": reported, "unpublished": UNPUBLISHED.get(entry.task),
                    "comparable": find(score.metric).comparable,
                    "invalid": figure(results, entry.name, "invalid"), "no_answer": figure(results, entry.name, "no_answer"),
                    "n": samples.get(entry.name), "constrained": constrained.get(entry.name, False),
                    "higher_is_better": score.higher_is_better})
    return table


def markdown(table: dict[str, list[dict]], header: str, skipped: dict[str, str], rejected: dict[str, int]) -> str:
    lines = [f"# {header}", "", OTHER_DATA, ""]
    for category, entries in table.items():
        note = [CATEGORY_NOTES[category], ""] if category in CATEGORY_NOTES else []
        lines += [f"## {category}", "", *note, f"![{category}](plots/{category}.png)", "",
                  "| task | score | ours | BioMatrix 1.7B | BioMatrix 4B | best baseline | n | invalid | no answer | constrained |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for row in entries:
            reported, unpublished = row["reported"], row["unpublished"]
            percent = bool(reported and reported.percent)
            ours = _fmt(row["ours"], percent) + ("" if row["comparable"] else " (stand-in)")
            if unpublished:
                published = ["none published", "none published", unpublished.comparable]
            else:
                published = [_fmt(reported.biomatrix_1p7b) if reported else "-", _fmt(reported.biomatrix_4b) if reported else "-",
                             f"{_fmt(reported.baseline)} ({reported.baseline_name})" if reported and reported.baseline is not None
                             else "-"]
            lines.append(
                f"| {row['task']} | {row['score']}{'' if row['higher_is_better'] else ' (lower is better)'} | {ours} | "
                f"{' | '.join(published)} | {row['n'] if row['n'] is not None else '-'} | {_fmt(row['invalid'])} | "
                f"{_fmt(row['no_answer'])} | {'yes' if row['constrained'] else 'no'} |")
        lines.append("")
    if skipped:
        lines += ["## Tasks not run", "", "| task | why |", "|---|---|",
                  *[f"| {task} | {why} |" for task, why in sorted(skipped.items())], ""]
    if any(rejected.values()):
        lines += ["## Rejected test records", "", "| task | records rejected |", "|---|---|",
                  *[f"| {task} | {count} |" for task, count in sorted(rejected.items()) if count], ""]
    return "\n".join(lines)


def plot(category: str, entries: list[dict], path: Path) -> Path:
    """Each task's first score (ours, and the report's 1.7B / 4B numbers where there are some)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = {}
    for row in entries:
        first.setdefault(row["task"], row)
    labels = [f"{task}\n{row['score']}" for task, row in first.items()]
    ours = [row["ours"] if row["ours"] is not None else 0.0 for row in first.values()]
    figure_, axis = plt.subplots(figsize=(max(6.0, 0.55 * len(labels) + 2), 4.5))
    positions = range(len(labels))
    axis.bar(positions, ours, color="#3b6ea5", label="ours")
    for key, marker, name in (("biomatrix_1p7b", "o", "BioMatrix 1.7B"), ("biomatrix_4b", "^", "BioMatrix 4B")):
        points = [(i, getattr(row["reported"], key) / (100 if row["reported"].percent else 1))
                  for i, row in enumerate(first.values()) if row["reported"] and getattr(row["reported"], key) is not None]
        if points:
            axis.scatter(*zip(*points), marker=marker, color="black", zorder=3, label=f"{name} (other test data)")
    axis.set_xticks(list(positions), labels, rotation=60, ha="right", fontsize=7)
    axis.set_title(f"{SUITE} {category}: first score per task")
    axis.legend(fontsize=7)
    figure_.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure_.savefig(path, dpi=110)
    plt.close(figure_)
    return path


def write_report(results: dict, samples: dict, constrained: dict, out: Path, header: str,
                 skipped: Optional[dict] = None, rejected: Optional[dict] = None) -> tuple[Path, list[Path]]:
    table = rows(results, samples, constrained)
    plots = [plot(category, entries, out / "plots" / f"{category}.png") for category, entries in table.items()]
    path = out / "report.md"
    path.write_text(markdown(table, header, skipped or {}, rejected or {}) + "\n")
    return path, plots
