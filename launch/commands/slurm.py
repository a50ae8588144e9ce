"""`biomatrix slurm submit shard|pretrain|convert --config SLURM_YAML [--dry-run]` and
`biomatrix slurm pipeline --config SLURM_YAML`: every stage as a Slurm job (`slurm/jobs.py`),
the whole chain raw data -> shards -> pretraining -> HF checkpoint with afterok dependencies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from launch.commands import add_config_options, load

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "slurm" / "local.yaml"


def _load(args: argparse.Namespace):
    from slurm.jobs import SlurmConfig

    return load(args, SlurmConfig)


def _scripts(stage: str, config) -> list:
    from slurm import jobs

    return {"shard": jobs.shard_scripts, "pretrain": lambda c: [jobs.pretrain_script(c)],
            "convert": lambda c: [jobs.convert_script(c)]}[stage](config)


def _submit(args: argparse.Namespace) -> int:
    from slurm.jobs import submit_chain

    config = _load(args)
    scripts = _scripts(args.stage, config)
    if args.dry_run:
        print("\n\n".join(script.text for script in scripts))
        return 0
    ids = submit_chain(scripts, config, args.after)
    print(json.dumps({"stage": args.stage, "jobs": dict(zip((s.name for s in scripts), ids))}))
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    """shard arrays -> merge -> pretrain (on those shards) -> convert, each after the previous succeeded."""
    from slurm import jobs

    config = _load(args)
    on_shards = (f"data.shards={jobs.shard_output(config)}",)
    scripts = [*jobs.shard_scripts(config), jobs.pretrain_script(config, on_shards), jobs.convert_script(config, on_shards)]
    if args.dry_run:
        print("\n\n".join(script.text for script in scripts))
        return 0
    ids = jobs.submit_chain(scripts, config)
    print(json.dumps({"stage": "pipeline", "jobs": dict(zip((s.name for s in scripts), ids))}))
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("slurm", help="submit stages as Slurm jobs")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, run, help_text in (("submit", _submit, "render and submit one stage's job(s); prints the job ids"),
                                 ("pipeline", _pipeline, "shard -> merge -> pretrain -> convert, chained by afterok")):
        sub = commands.add_parser(name, help=help_text)
        if name == "submit":
            sub.add_argument("stage", choices=("shard", "pretrain", "convert"))
            sub.add_argument("--after", help="job id this one waits for (afterok)")
        add_config_options(sub, DEFAULT_CONFIG, "Slurm YAML (default: %(default)s)")
        sub.add_argument("--dry-run", action="store_true", help="print the rendered script(s), submit nothing")
        sub.set_defaults(run=run)
