"""`evals/tasks/`, lm-eval's include folder for the suite, written from `evals/suite.py`, and the
check that refuses a task file lm-eval would misread.

One YAML per task (the settings it does not share), one shared template (`_biomatrix_template_yaml`:
no `.yaml` suffix, so lm-eval indexes it only through `include`), one group per category and the
`biomatrix` group over them. A user who runs `lm_eval --include_path evals/tasks` sees ordinary
lm-eval tasks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml
from lm_eval.api.task import TaskConfig

from biomatrix_io.config import ConfigError

from .suite import SUITE, VERSION, categories, generation_kwargs, suite_tasks

FOLDER = Path(__file__).parent / "tasks"
TEMPLATE = "_biomatrix_template_yaml"
HEADER = "# Written by `biomatrix eval tasks --write` from evals/suite.py: edit the table there, not this file.\n"


class _Function(str):
    """A `!function utils.<name>` reference, as lm-eval's YAML loader reads it."""


yaml.SafeDumper.add_representer(_Function, lambda dumper, value: dumper.represent_scalar("!function", str(value)))


def _dump(data: dict) -> str:
    return HEADER + yaml.safe_dump(data, sort_keys=False, width=120)


def _template() -> dict:
    return {
        "custom_dataset": _Function("utils.load"),
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": _Function("utils.prompt"),
        "doc_to_target": _Function("utils.target"),
        "process_results": _Function("utils.process_results"),
        "filter_list": [{"name": "answer", "filter": [{"function": "custom", "filter_fn": _Function("utils.extract_answers")}]}],
    }


def _task(task) -> dict:
    scores = [{"metric": s.name, "aggregation": _Function("utils.aggregate"), "higher_is_better": s.higher_is_better}
              for s in task.scoring.scores]
    scores.append({"metric": "no_answer", "aggregation": "mean", "higher_is_better": False})
    return {
        "include": TEMPLATE,
        "task": task.name,
        "dataset_kwargs": {"task": task.task},
        "generation_kwargs": generation_kwargs(task.scoring),
        "metric_list": scores,
        "metadata": {"version": VERSION, "category": task.category, "family": task.family},
    }


def rendered() -> dict[str, str]:
    """File name -> text of every file of the folder but utils.py."""
    files = {TEMPLATE: HEADER + yaml.safe_dump(_template(), sort_keys=False, width=120)}
    for task in suite_tasks():
        files[f"{task.task}.yaml"] = _dump(_task(task))
    for category, tasks in categories().items():
        files[f"_{SUITE}_{category}.yaml"] = _dump({"group": f"{SUITE}_{category}", "task": [t.name for t in tasks],
                                                    "metadata": {"version": VERSION}})
    files[f"_{SUITE}.yaml"] = _dump({"group": SUITE, "task": [f"{SUITE}_{c}" for c in categories()],
                                    "metadata": {"version": VERSION}})
    return files


def write_folder(folder: Path = FOLDER) -> list[Path]:
    """Write the folder's task files (utils.py is kept); stale task files of ours are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = rendered()
    for stale in folder.iterdir():
        if stale.name not in wanted and stale.read_text().startswith(HEADER):
            stale.unlink()
    written = []
    for name, text in wanted.items():
        (folder / name).write_text(text)
        written.append(folder / name)
    return written


def _loader():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: _Function(loader.construct_scalar(node)))
    return Loader


TASK_KEYS = {f.name for f in dataclasses.fields(TaskConfig)}
GROUP_KEYS = {"group", "group_alias", "task", "aggregate_metric_list", "metadata"}


def check_folder(folder: Path = FOLDER) -> list[str]:
    """The task names the folder defines. A file with a field lm-eval does not know, or a task that
    names a metric its family's scoring does not compute, is refused (ConfigError naming the file
    and the field), before lm-eval would ignore or misread it."""
    from .suite import by_name

    known = by_name()
    names = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.load(path.read_text(), Loader=_loader()) or {}
        allowed = GROUP_KEYS if "group" in data else TASK_KEYS | {"include"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"task file {path}: unknown field {', '.join(unknown)}", tuple(unknown))
        if "group" in data:
            continue
        task = known.get(data.get("task"))
        if task is None:
            raise ConfigError(f"task file {path}: task {data.get('task')!r} is not in the BioMatrix suite (evals/suite.py)",
                              ("task",))
        offered = {s.name for s in task.scoring.scores} | {"no_answer"}
        for entry in data.get("metric_list") or []:
            if entry.get("metric") not in offered:
                raise ConfigError(f"task file {path}: unknown metric {entry.get('metric')!r} for {task.name} "
                                  f"(its scores: {', '.join(sorted(offered))})", ("metric_list",))
        names.append(task.name)
    return names
