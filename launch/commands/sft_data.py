"""`biomatrix sft-data plan|build|run-unit|splits|merge|show`: real data and imported chat files -> the
SFT corpus (packed Megatron shards for training, chat records per task and split for evaluation).

The verbs are the `data` command's, over an SFT config (`launch/configs/sft_data/*.yaml`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from launch.commands import config_command, load
from launch.commands.data import print_plan, run_one_unit

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "sft_data"
DEFAULT_CONFIG = CONFIGS / "demo.yaml"


def _load(args: argparse.Namespace):
    from data_pipeline.sft.config import SFTDataConfig

    return load(args, SFTDataConfig)


def _plan(args: argparse.Namespace) -> int:
    return print_plan(_load(args))


def _build(args: argparse.Namespace) -> int:
    from data_pipeline.sft.build import SFTLayout, build
    from data_pipeline.sft.report import examples_text, task_table

    config = _load(args)
    manifest = build(config, workers=args.workers, progress=not args.quiet)
    layout = SFTLayout(Path(config.out))
    print(task_table(manifest))
    if args.examples:
        print()
        print(examples_text(layout.records))
    print(f"shards: {layout.shards} (manifest.json there); chat records per split and task: {layout.records}")
    return 0


def _run_unit(args: argparse.Namespace) -> int:
    from data_pipeline.sft.build import SFTLayout, run_unit

    return run_one_unit(args, _load(args), SFTLayout, run_unit)


def _splits(args: argparse.Namespace) -> int:
    """The split table, once, after every unit's examples (a Slurm step between two arrays)."""
    from data_pipeline.build import Layout
    from data_pipeline.sft.build import SFTLayout, ensure_splits
    from data_pipeline.units import plan, units_of

    config = _load(args)
    stored, _ = ensure_splits(config, units_of(plan(config, Layout(Path(config.out)).work, verify_inputs=False)))
    print(json.dumps({"entities": stored["entities"], "examples": stored["examples"], "repeats": stored["repeats"]}, indent=1))
    print(f"split table: {SFTLayout(Path(config.out)).splits}", file=sys.stderr)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from data_pipeline.build import Layout
    from data_pipeline.sft.build import SFTLayout, merge
    from data_pipeline.sft.report import task_table
    from data_pipeline.units import plan

    config = _load(args)
    manifest = merge(config, plan(config, Layout(Path(config.out)).work, verify_inputs=False))
    print(task_table(manifest))
    print(f"shards: {SFTLayout(Path(config.out)).shards} (manifest.json there)", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    """A built corpus from its folders alone: the task table and one rendered record per category."""
    from data_pipeline.sft.build import SFTLayout
    from data_pipeline.sft.report import examples_text, read_manifest, task_table

    config = _load(args)
    layout = SFTLayout(Path(config.out))
    print(task_table(read_manifest(layout.shards)))
    print()
    print(examples_text(layout.records, args.split))
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("sft-data", help="SFT corpus: tasks from real data and imported chat files -> packed shards")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        return config_command(commands, name, run, help_text, DEFAULT_CONFIG)

    command("plan", _plan, "plan (or re-plan) the work units; one per line: id, source, file[entries]")
    build = command("build", _build, "run every unit (local process pool), then merge; print the per-task table")
    build.add_argument("--workers", type=int, default=None, help="processes (default: the config's)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.add_argument("--examples", action="store_true", help="also print one rendered record per category")
    unit = command("run-unit", _run_unit, "run one unit of one stage (what a Slurm array task runs)")
    unit.add_argument("--stage", choices=("normalize", "examples", "samples"), required=True)
    which = unit.add_mutually_exclusive_group()
    which.add_argument("--unit", help="unit id (see `plan`)")
    which.add_argument("--index", type=int, help="position in the plan (default: $SLURM_ARRAY_TASK_ID)")
    command("splits", _splits, "the entity-to-split table and the training repeats, once, after every unit's examples")
    command("merge", _merge, "pack the finished units' samples; shards, records per task, manifest")
    show = command("show", _show, "the per-task table and one rendered record per category of a built corpus")
    show.add_argument("--split", choices=("train", "valid", "test"), default="train", help="records shown (default: %(default)s)")
