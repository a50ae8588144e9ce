"""`biomatrix`: one command, a subcommand per stage. Each stage module registers its own parser."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from biomatrix_io.config import ConfigError
from launch.commands import convert, data, demo, evaluation, model, sft_data, slurm, structure, tokenizer, train

STAGES = (tokenizer, structure, data, sft_data, model, train, convert, evaluation, slurm, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biomatrix", description=__doc__)
    stages = parser.add_subparsers(dest="stage", required=True)
    for stage in STAGES:
        stage.register(stages)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except ConfigError as error:  # the user's mistake: one line, like argparse's own, from one rank
        parser.exit(2, f"biomatrix: error: {error}\n" if _first_rank() else None)


def _first_rank() -> bool:
    """Rank 0 under torchrun (RANK) or srun (SLURM_PROCID), or a single process."""
    return os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) == "0"


if __name__ == "__main__":
    sys.exit(main())
