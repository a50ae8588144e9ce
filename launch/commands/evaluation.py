"""`biomatrix eval run|tasks|metrics|score`: the evaluation job (`evals/job.py`, on
lm-evaluation-harness) and the suite's metrics (`evals/metrics/`).

`run` evaluates an HF directory or a Megatron checkpoint on suite tasks and writes lm-eval's results
and per-sample files plus the report; `tasks` lists the suite's tasks (`--write` regenerates the
lm-eval task folder `evals/tasks/` from `evals/suite.py`).

`metrics` lists every metric with its variants, the reference each reproduces, and whether it is
comparable to the published number (a stand-in for a metric that needs a model absent here is
not). `score` runs one metric over a predictions file (`evals/predictions.py` has the format) and
prints its JSON: the figures, the counts the metric keeps (invalid, empty, no answer...) and the
file's own accounting (lines read = scored + rejected, each rejection with its line number).
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

from biomatrix_io.config import ConfigError
from launch.commands import eval_import, existing_path


def _metrics(args: argparse.Namespace) -> int:
    from evals.metrics.registry import all_metrics

    for metric in all_metrics():
        row = {"metric": metric.name, "variant": metric.variant, "default": metric.default, "kind": metric.kind,
               "reference": metric.reference, "comparable": metric.comparable, "description": metric.description}
        print(json.dumps(row) if args.json else
              f"{metric.key:<40} {'default ' if metric.default else '        '}{metric.kind:<12} "
              f"{'' if metric.comparable else '(stand-in, not comparable) '}{metric.reference}")
    return 0


def _options(items: list[str]) -> dict[str, object]:
    """KEY=VALUE options; a value that reads as JSON (a number, a list such as k=[1000,10000]) is
    passed as that, anything else as its text (notation=selfies)."""
    options: dict[str, object] = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ConfigError(f"--option {item!r} is not KEY=VALUE", ("--option",))
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def _score(args: argparse.Namespace) -> int:
    from evals.metrics.registry import DISTRIBUTION, find
    from evals.predictions import score_file

    try:
        metric = find(args.metric)
    except KeyError as error:
        raise ConfigError(error.args[0], ("--metric",)) from None
    if args.train and metric.kind != DISTRIBUTION:
        raise ConfigError(f"{metric.key} scores pairs: --train is for distribution metrics", ("--train", "--metric"))
    if "train" in metric.needs and not args.train:
        raise ConfigError(f"{metric.key} needs the training set: --train FILE (one molecule per line)", ("--train",))
    options = _options(args.option)
    accepted = [name for name, p in inspect.signature(metric.score).parameters.items() if p.kind == p.KEYWORD_ONLY
                or (p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty and name != "train")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"{metric.key} takes no option {', '.join(unknown)} (its options: {', '.join(accepted) or 'none'})",
                          ("--option",))
    figures = score_file(metric, args.input, args.train, **options)
    print(json.dumps(figures, indent=2))
    return 0


def _run(args: argparse.Namespace) -> int:
    from evals.job import EvalRun, go_offline, run_evaluation

    go_offline()
    run = EvalRun(out=args.out, tasks=[t for item in args.tasks for t in item.split(",") if t], model=args.model,
                  checkpoint=args.checkpoint, data=args.data, backend=args.backend, constrain=args.constrain,
                  batch_size=args.batch_size, limit=args.limit, seed=args.seed, dtype=args.dtype, device=args.device,
                  tracking=not args.no_tracking, tracking_uri=args.tracking_uri, model_args=_options(args.model_arg),
                  metric_options=_options(args.metric_option))
    summary = run_evaluation(run)
    print(Path(summary["report"]).read_text())
    print(f"results: {summary['results_file']}; per-sample logs: {Path(args.out) / 'lm_eval'}; report: {summary['report']}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from evals.job import merge_runs

    summary = merge_runs(args.parts, Path(args.out), not args.no_tracking, args.tracking_uri)
    print(Path(summary["report"]).read_text())
    return 0


def _tasks(args: argparse.Namespace) -> int:
    from evals.suite import suite_tasks
    from evals.task_files import FOLDER, check_folder, write_folder

    if args.write:
        for path in write_folder(FOLDER):
            print(path)
        return 0
    check_folder(FOLDER)
    for task in suite_tasks():
        scores = ", ".join(score.name for score in task.scoring.scores)
        print(f"{task.name:<52} {task.category:<12} {'sampled' if task.scoring.sampled else 'greedy ':<8} {scores}")
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("eval", help="evaluation: the job on lm-evaluation-harness, tasks, metrics, scoring")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="evaluate a model on suite tasks (results, per-sample logs, report)")
    source = run.add_mutually_exclusive_group(required=False)
    source.add_argument("--model", help="a Hugging Face model directory (an exported BioMatrix release)")
    source.add_argument("--checkpoint", help="a Megatron checkpoint: exported to OUT/model first")
    run.add_argument("--tasks", action="append", required=True,
                     help="comma-separated: biomatrix, a category (molecule_1d...), a task, a family")
    run.add_argument("--data", help="folder holding records/test/<task>.jsonl (an SFT corpus; default $BIOMATRIX_EVAL_DATA)")
    run.add_argument("--out", required=True, help="output folder (results, lm_eval/ logs, cache/, report.md, plots/)")
    run.add_argument("--backend", default="hf", choices=("hf", "vllm", "oracle"),
                     help="hf (transformers), vllm (GPU), oracle (gold answers: checks data and scoring)")
    run.add_argument("--constrain", default="auto", choices=("auto", "off"),
                     help="modality-constrained decoding for structured answers (default auto: on where the answer is one)")
    run.add_argument("--batch-size", type=int, default=16, help="requests per generate call (16: >= 4x one at a time on CPU)")
    run.add_argument("--limit", type=int, help="at most this many records per task")
    run.add_argument("--seed", type=int, default=1234, help="sampling seed (each request derives its own from it)")
    run.add_argument("--dtype", default="auto", help="model dtype: auto, float32, bfloat16, float16")
    run.add_argument("--device", help="cpu, cuda, cuda:0 (default: cuda when available)")
    run.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                     help="another argument of the model class (e.g. max_length=4096)")
    run.add_argument("--metric-option", action="append", default=[], metavar="KEY=VALUE",
                     help="an option of the metrics that take it (e.g. train_size=2000 for the QM9 stand-in regressor)")
    run.add_argument("--no-tracking", action="store_true", help="do not log to mlflow")
    run.add_argument("--tracking-uri", help="mlflow tracking URI (default sqlite:///OUT/mlflow.db)")
    run.set_defaults(run=_run)
    merge = commands.add_parser("merge", help="one report from the parts of a run split over Slurm array tasks")
    merge.add_argument("parts", nargs="+", type=existing_path, help="the parts' output folders")
    merge.add_argument("--out", required=True, help="the merged run's folder")
    merge.add_argument("--no-tracking", action="store_true", help="do not log to mlflow")
    merge.add_argument("--tracking-uri", help="mlflow tracking URI (default sqlite:///OUT/mlflow.db)")
    merge.set_defaults(run=_merge)
    tasks = commands.add_parser("tasks", help="list the suite's tasks (checks the task folder)")
    tasks.add_argument("--write", action="store_true", help="rewrite evals/tasks/ from evals/suite.py")
    tasks.set_defaults(run=_tasks)
    listing = commands.add_parser("metrics", help="list the metrics, their variants and references")
    listing.add_argument("--json", action="store_true", help="one JSON object per metric")
    listing.set_defaults(run=_metrics)
    score = commands.add_parser("score", help="score a predictions file (JSON lines) with one metric")
    score.add_argument("--metric", required=True, help="NAME or NAME:VARIANT (default variant: the report's reference)")
    score.add_argument("--input", required=True, type=existing_path, help="JSON lines: prediction, reference(s)")
    score.add_argument("--train", type=existing_path, help="distribution metrics: training set, one molecule per line")
    score.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                       help="a metric's option, e.g. notation=selfies")
    score.set_defaults(run=_score)
    eval_import.add_parser(commands)
