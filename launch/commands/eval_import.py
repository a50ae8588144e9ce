"""`biomatrix eval import`: an official benchmark's test file (SMolInstruct, ChEBI-20, MOSES,
USPTO-50K, Mol-Instructions, OPI) as the evaluation job's test records (`evals/importers.py` has the
formats and the tasks each maps to). Writes `OUT/records/test/<task>.jsonl`, the folder `eval run`
reads as its data, and prints the accounting as JSON: lines read = written + rejected, each
rejection with its line number and reason."""

from __future__ import annotations

import argparse
import json

from launch.commands import add_config_options, existing_path, load

FORMATS_HELP = "smolinstruct, chebi20, moses, uspto50k, mol_instructions or opi"


def _import(args: argparse.Namespace) -> int:
    from evals.importers import import_benchmark
    from megatron_bio.tokenizer_config import TokenizerConfig

    tokenizer = load(args, TokenizerConfig).build() if args.config or args.set else None
    print(json.dumps(import_benchmark(args.format, args.input, args.out, args.task, tokenizer, progress=True), indent=2))
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """`import` under `biomatrix eval` (`commands`: the eval stage's subparsers)."""
    sub = commands.add_parser("import", help="an official benchmark's test file as test records")
    sub.add_argument("--format", required=True, help=f"the file's format: {FORMATS_HELP}")
    sub.add_argument("--input", required=True, type=existing_path, help="the benchmark's test file")
    sub.add_argument("--out", required=True, help="data folder: writes OUT/records/test/<task>.jsonl")
    sub.add_argument("--task", help="our task to import into: chebi20 and opi need one (a wrong one is answered with the "
                                    "choices), the others have a default; smolinstruct entries name their own")
    add_config_options(sub, None, "tokenizer YAML (launch/configs/tokenizer.yaml's keys); default: the default tokenizer",
                       flag="--tokenizer-config", set_help="override a tokenizer config key")
    sub.set_defaults(run=_import)
