"""`biomatrix eval metrics|score`: the evaluation suite's metrics (`evals/metrics/`).

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

from biomatrix_io.config import ConfigError
from launch.commands import existing_path


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


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("eval", help="evaluation: metrics and scoring")
    commands = parser.add_subparsers(dest="command", required=True)
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
