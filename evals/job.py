"""The evaluation job: a thin launcher over lm-evaluation-harness's Python API.

It works offline (`HF_HUB_OFFLINE`, `HF_DATASETS_OFFLINE`: no hub or telemetry call), exports a
Megatron checkpoint first when given one, loads only the suite's task folder, registers our model
classes, applies the chat template once (lm-eval's `apply_chat_template`), and writes what lm-eval
writes (results JSON and per-sample JSONL, under `<out>/lm_eval/`) plus our report (`report.md`,
plots per category), and logs the figures to mlflow. Answers are cached per request under
`<out>/cache/`, so a killed run resumes with only the missing requests.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from biomatrix_io.config import ConfigError

from .suite import SUITE, SuiteTask, by_corpus_task, by_name, categories, suite_tasks
from .task_functions import DATA_ENV, expected, read_test_records, records_file

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
BACKENDS = ("hf", "vllm", "oracle")


def go_offline() -> None:
    """Before `datasets` / `transformers` are imported: they read these at import time."""
    os.environ.update(OFFLINE)


@dataclass
class EvalRun:
    out: str
    tasks: list[str]
    model: Optional[str] = None  # an HF directory
    checkpoint: Optional[str] = None  # or a Megatron checkpoint, exported to <out>/model first
    data: Optional[str] = None  # <data>/records/test/<task>.jsonl (default: $BIOMATRIX_EVAL_DATA)
    backend: str = "hf"
    constrain: str = "auto"
    batch_size: int = 16
    limit: Optional[int] = None  # records per task
    seed: int = 1234
    dtype: str = "auto"
    device: Optional[str] = None
    tracking: bool = True
    tracking_uri: Optional[str] = None
    model_args: dict = field(default_factory=dict)  # anything else for the model class
    metric_options: dict = field(default_factory=dict)  # options of the metrics that take them (train_size=2000)


def resolve_tasks(names: list[str], data: Path) -> tuple[list[SuiteTask], dict[str, str]]:
    """Suite tasks for the names a user gave (the suite, a category, a task by its lm-eval name or
    SFT task id, a family for all its notations) and the tasks of named groups that have no test
    records here (skipped, with the reason). A task named on its own without records is a mistake."""
    tasks_by_name, by_task = by_name(), by_corpus_task()
    groups = {SUITE: list(suite_tasks()), **{f"{SUITE}_{c}": m for c, m in categories().items()},
              **{c: m for c, m in categories().items()}}
    families: dict[str, list[SuiteTask]] = {}
    for task in suite_tasks():
        families.setdefault(task.family, []).append(task)
    chosen: dict[str, SuiteTask] = {}
    skipped: dict[str, str] = {}
    for name in names:
        task = tasks_by_name.get(name) or by_task.get(name)
        if task is not None:
            path = records_file(data, task.task)
            if not path.is_file():
                raise ConfigError(f"task {task.task}: no test records at {path}", ("--data", "--tasks"))
            chosen.setdefault(task.name, task)
            continue
        if name not in groups and name not in families:
            raise ConfigError(f"--tasks: {name!r} is no task, family or group of the suite "
                              f"(groups: {', '.join(groups)}; `biomatrix eval tasks` lists the tasks)", ("--tasks",))
        for task in groups.get(name) or families[name]:
            path = records_file(data, task.task)
            if path.is_file():
                chosen.setdefault(task.name, task)
            else:
                skipped[task.task] = f"no test records at {path}"
    if not chosen:
        raise ConfigError(f"--tasks {','.join(names)}: none of these tasks has test records under {data}", ("--tasks",))
    return list(chosen.values()), {k: v for k, v in skipped.items() if k not in {t.task for t in chosen.values()}}


def _model_dir(run: EvalRun) -> str:
    if bool(run.model) == bool(run.checkpoint):
        raise ConfigError("give exactly one of --model HF_DIR and --checkpoint DIR", ("--model", "--checkpoint"))
    if run.model:
        if not (Path(run.model) / "config.json").is_file():
            raise ConfigError(f"--model {run.model}: not a Hugging Face model directory (no config.json)", ("--model",))
        return run.model
    exported = Path(run.out) / "model"
    if not (exported / "config.json").is_file():
        from megatron_bio.convert.megatron_to_hf import megatron_to_hf

        megatron_to_hf(run.checkpoint, str(exported), dtype="fp32")
    return str(exported)


def build_model(run: EvalRun, model_dir: Optional[str]):
    """The lm-eval model object of the chosen backend (our classes, registered on import)."""
    cache = str(Path(run.out) / "cache" / "requests.db")
    if run.backend == "oracle":
        from .models.oracle import OracleLM

        return OracleLM(**run.model_args)
    if run.backend == "vllm":
        from .models.vllm import build_vllm

        return build_vllm(pretrained=model_dir, constrain=run.constrain, seed=run.seed, cache=cache,
                          dtype=run.dtype, batch_size=run.batch_size, **run.model_args)
    from .models.hf import BioMatrixHF

    return BioMatrixHF(pretrained=model_dir, constrain=run.constrain, seed=run.seed, cache=cache, dtype=run.dtype,
                       batch_size=run.batch_size, device=run.device or ("cuda" if _cuda() else "cpu"), **run.model_args)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def constrained_tasks(tasks: list[SuiteTask], data: Path, constrain: str) -> dict[str, bool]:
    """Whether decoding was constrained for each task (its records' answers are one structured span)."""
    if constrain == "off":
        return {task.name: False for task in tasks}
    found = {}
    for task in tasks:
        docs, _ = read_test_records(records_file(data, task.task))
        found[task.name] = bool(docs) and expected(docs[0]).single and expected(docs[0]).modality is not None
    return found


def run_evaluation(run: EvalRun) -> dict:
    """Run the tasks, write lm-eval's files and the report; returns the summary (also written as
    `<out>/summary.json`)."""
    go_offline()
    if run.backend not in BACKENDS:
        raise ConfigError(f"--backend {run.backend!r}: one of {', '.join(BACKENDS)}", ("--backend",))
    data = Path(run.data or os.environ.get(DATA_ENV) or "")
    if not run.data and DATA_ENV not in os.environ:
        raise ConfigError(f"no evaluation data: --data DIR (an SFT corpus or imported benchmark files) or ${DATA_ENV}",
                          ("--data",))
    from .task_files import FOLDER, check_folder

    check_folder(FOLDER)
    tasks, skipped = resolve_tasks(run.tasks, data)
    out = Path(run.out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = None if run.backend == "oracle" else _model_dir(run)
    started = time.time()

    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    rejected = {task.task: len(read_test_records(records_file(data, task.task))[1]) for task in tasks}
    metadata = {"data_dir": str(data), "metric_options": run.metric_options}
    manager = TaskManager(include_path=str(FOLDER), include_defaults=False, metadata=metadata)
    tracker = EvaluationTracker(output_path=str(out / "lm_eval"))
    results = lm_eval.simple_evaluate(
        model=build_model(run, model_dir), tasks=[task.name for task in tasks], task_manager=manager, limit=run.limit,
        apply_chat_template=True, log_samples=True, evaluation_tracker=tracker, bootstrap_iters=0,
        random_seed=run.seed, numpy_random_seed=run.seed, torch_random_seed=run.seed, fewshot_random_seed=run.seed,
        metadata=metadata)
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for name in results["configs"]:
        tracker.save_results_samples(task_name=name, samples=samples[name])
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str, sort_keys=True) + "\n")
    summary = {"run": asdict(run), "model_dir": model_dir, "tasks": [t.name for t in tasks], "skipped": skipped,
               "rejected_records": rejected,
               "constrained": constrained_tasks(tasks, data, "off" if run.backend == "oracle" else run.constrain),
               "samples": {name: n.get("effective") for name, n in results.get("n-samples", {}).items()},
               "results": results["results"], "results_file": str(out / "results.json"),
               "seconds": round(time.time() - started, 1)}
    return finish(summary, out, run)


def finish(summary: dict, out: Path, run: EvalRun) -> dict:
    """Report, summary file and mlflow for one run or for merged parts."""
    from .report import write_report

    model = Path(summary["model_dir"]).name if summary.get("model_dir") else "oracle"
    header = f"BioMatrix evaluation: {model} ({run.backend}, constrain={run.constrain})"
    report, plots = write_report(summary["results"], summary["samples"], summary["constrained"], out, header,
                                 summary["skipped"], summary["rejected_records"])
    summary["report"] = str(report)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    if run.tracking:
        _log_to_mlflow(run, summary, [Path(summary["results_file"]), report, *plots])
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary


def merge_runs(parts: list[Path], out: Path, tracking: bool = True, tracking_uri: Optional[str] = None) -> dict:
    """One report from the parts of a run split over Slurm array tasks (each part a `run_evaluation`
    output folder): their results, sample counts and accounting joined; a task skipped by one part
    but run by another is not skipped."""
    summaries = []
    for part in parts:
        path = Path(part) / "summary.json"
        if not path.is_file():
            raise ConfigError(f"{part}: no summary.json (did that part finish?)", ("parts",))
        summaries.append(json.loads(path.read_text()))
    merged: dict = {"parts": [str(p) for p in parts], "model_dir": summaries[0].get("model_dir"), "tasks": [],
                    "skipped": {}, "rejected_records": {}, "constrained": {}, "samples": {}, "results": {}}
    for summary in summaries:
        merged["tasks"] += summary["tasks"]
        for key in ("skipped", "rejected_records", "constrained", "samples", "results"):
            merged[key].update(summary[key])
    merged["skipped"] = {task: why for task, why in merged["skipped"].items() if f"{SUITE}_{task}" not in merged["results"]}
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "results.json"
    results_file.write_text(json.dumps({"results": merged["results"], "parts": merged["parts"]}, indent=1, sort_keys=True) + "\n")
    merged["results_file"] = str(results_file)
    run = EvalRun(**{**summaries[0]["run"], "out": str(out), "tracking": tracking, "tracking_uri": tracking_uri})
    merged["run"] = asdict(run)
    return finish(merged, out, run)


def _log_to_mlflow(run: EvalRun, summary: dict, files: list[Path]) -> None:
    import math

    from megatron_bio.training.tracking import Tracker, TrackingSettings

    tracker = Tracker(TrackingSettings(uri=run.tracking_uri, experiment="biomatrix-eval"), Path(run.out))
    tracker.log_config({k: v for k, v in asdict(run).items() if k != "model_args"})
    metrics = {f"{task}/{key.split(',')[0]}": float(value) for task, figures in summary["results"].items()
               for key, value in figures.items()
               if isinstance(value, (int, float)) and "stderr" not in key and not math.isnan(float(value))}
    tracker.log_metrics(metrics, step=0)
    for path in files:
        tracker.log_file(Path(path), "plots" if Path(path).suffix == ".png" else None)
    tracker.finish()
    summary["mlflow_run_id"] = tracker.run_id
