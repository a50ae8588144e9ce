"""`biomatrix pretrain --config RECIPE [key=value ...]`: continual pretraining on megatron-core.

Run one process per device: `torchrun --nproc_per_node N -m launch.cli pretrain ...`, or srun tasks
(the torch.distributed variables are derived from Slurm's: `slurm/environment.py`). Per-step
metrics are printed as JSON lines by the logging rank. `--progress` prints the run's latest
checkpointed iteration and its last step, and trains nothing (what a batch script reads to
decide on a requeue).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from launch.commands import add_config_options, load

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


def _run(args: argparse.Namespace) -> int:
    from biomatrix_io.checkpoints import latest_iteration
    from megatron_bio.training.config import PretrainConfig
    from megatron_bio.training.loop import main
    from slurm import environment

    config = load(args, PretrainConfig, *args.overrides)
    if args.progress:
        print(latest_iteration(config.checkpoints) or 0, config.schedule.train_steps)
        return 0
    environment.apply()
    main(config)
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("pretrain", help="continual pretraining (under torchrun or srun)")
    add_config_options(parser, DEFAULT_CONFIG, "recipe YAML (default: %(default)s)")
    parser.add_argument("--progress", action="store_true", help="print: latest checkpointed iteration, last step")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="more overrides")
    parser.set_defaults(run=_run)
