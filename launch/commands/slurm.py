"""`biomatrix slurm submit shard|pretrain|sft-data|sft|convert|eval --config SLURM_YAML [--after ID] [--dry-run]`
and `biomatrix slurm pipeline --config SLURM_YAML [--dry-run]`: every stage as a Slurm job
(`slurm/jobs.py`), the whole chain with afterok dependencies: raw data -> shards -> pretraining ->
SFT corpus -> SFT (from the pretraining checkpoint, on that corpus) -> HF directory -> evaluation
report.

`submit convert` and the pipeline's convert export the same run: the training job `convert.run`
names (`sft` by default; `--set convert.run=pretrain` exports the pretrained model instead).
`submit eval` and the pipeline's eval score that export (unless `eval.model` or `eval.checkpoint`
names another) on the `sft_data` build's test records (unless `eval.data` names another folder):
an array of one task group (`eval.groups`) per task, then a merge into `<eval.out>/report.md`.

A dry run prints each script under a `####` header (its job, what it waits for, where it would be
written) and then the dependency graph, and submits nothing. A submission prints one JSON line,
`{"stage": ..., "jobs": {name: id}}`, last on stdout (what scripts read), then on stderr where the
scripts and the logs went.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from launch.commands import add_config_options, load

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "slurm" / "local.yaml"
STAGES = ("shard", "pretrain", "sft-data", "sft", "convert", "eval")  # the pipeline's order


def _load(args: argparse.Namespace):
    from slurm.jobs import SlurmConfig

    return load(args, SlurmConfig)


def _label(script) -> str:
    return f"{script.name} [array {script.array}]" if script.array else script.name


def _dry_run(scripts: list, config, after: Optional[str]) -> None:
    """Each script under its header, then the chain: every job waits for the one before it."""
    from slurm.jobs import script_path

    waits = [f"job {after}" if after else None, *(script.name for script in scripts)]
    for script, waited in zip(scripts, waits):
        path = script_path(script, config.cluster, stamp="<time>")
        dependency = f" (after: {waited})" if waited else ""
        print(f"#### {_label(script)}{dependency} -> would be written to {path}\n{script.text}")
    print("#### dependency graph (each arrow: afterok; a failed job cancels the jobs after it)")
    print(" -> ".join([*([f"job {after}"] if after else []), *map(_label, scripts)]))


def _report(stage: str, submitted: list, config) -> None:
    from slurm.jobs import logs_folder, scripts_folder

    print(json.dumps({"stage": stage, "jobs": {s.script.name: s.job for s in submitted}}), flush=True)
    lines = [f"wrote {len(submitted)} script(s) to {scripts_folder(config.cluster)}/ and submitted them:",
             *(f"  job {s.job}: {s.path}" for s in submitted),
             f"logs: {logs_folder(config.cluster).resolve()}/<job name>-<job id>.out "
             "(array tasks: <job name>-<job id>_<task>.out)"]
    print("\n".join(lines), file=sys.stderr)


def _run(stage: str, scripts: list, config, after: Optional[str], dry_run: bool) -> int:
    from slurm.jobs import submit_chain

    if dry_run:
        _dry_run(scripts, config, after)
    else:
        _report(stage, submit_chain(scripts, config, after), config)
    return 0


def _submit(args: argparse.Namespace) -> int:
    from slurm import jobs

    config = _load(args)
    if args.stage in jobs.ARRAY_BUILDS:
        scripts = jobs.array_build_scripts(config, args.stage)
    elif args.stage in jobs.TRAINING_STAGES:
        scripts = [jobs.training_script(config, args.stage)]
    elif args.stage == "eval":
        scripts = jobs.eval_scripts(config)
    else:
        scripts = [jobs.convert_script(config)]
    return _run(args.stage, scripts, config, args.after, args.dry_run)


def _pipeline(args: argparse.Namespace) -> int:
    """shard -> pretrain (on those shards) -> sft-data -> sft (from that run, on that corpus) -> convert
    -> eval (of that export, on that corpus's test records), each after the previous succeeded."""
    from slurm import jobs

    config = _load(args)
    return _run("pipeline", jobs.pipeline_scripts(config), config, None, args.dry_run)


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("slurm", help="submit stages as Slurm jobs")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, run, help_text in (("submit", _submit, "render and submit one stage's job(s); prints the job ids"),
                                 ("pipeline", _pipeline, "shard -> pretrain -> sft-data -> sft -> convert -> eval, chained by afterok")):
        sub = commands.add_parser(name, help=help_text)
        if name == "submit":
            sub.add_argument("stage", choices=STAGES)
            sub.add_argument("--after", help="job id this one waits for (afterok)")
        add_config_options(sub, DEFAULT_CONFIG, "Slurm YAML (default: %(default)s)")
        sub.add_argument("--dry-run", action="store_true",
                         help="print each rendered script under a header and the dependency graph; submit nothing")
        sub.set_defaults(run=run)
