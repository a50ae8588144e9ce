"""`biomatrix pretrain --config RECIPE [key=value ...]`: continual pretraining on megatron-core.

One process per device. On one machine, `--nproc-per-node N` starts them (torch's elastic launcher,
as `torchrun --standalone` would) after the config and the shards were checked once, so a user's
mistake is one line and exit status 2, not one report per rank followed by torchrun's. Under
torchrun or srun (the torch.distributed variables are derived from Slurm's: `slurm/environment.py`)
each rank checks for itself and rank 0 alone prints the line. Without any of them, one process.
Per-step metrics are printed as JSON lines by the logging rank. `--progress` prints the run's
latest checkpointed iteration and its last step, and trains nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from launch.commands import add_config_options, load

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
USER_MISTAKE = 2  # the exit status of a ConfigError (launch/cli.py), printed by rank 0 alone


def _launch(args: argparse.Namespace, processes: int) -> int:
    """The same command, without `--nproc-per-node`, in `processes` local ranks. A rank that exits
    with a user's mistake has printed it: the launcher's failure report would only repeat it."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    command = ["pretrain", *(["--config", args.config] if args.config else []),
               *(f"--set={item}" for item in args.set), *args.overrides]
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    launcher = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={processes}", "--module",
                                             "launch.cli", *command])
    try:
        run(launcher)
    except ChildFailedError as failed:
        if any(f.exitcode == USER_MISTAKE for f in failed.failures.values()):
            return USER_MISTAKE
        raise
    return 0


def _run(args: argparse.Namespace) -> int:
    from biomatrix_io.blend import read_blend
    from biomatrix_io.checkpoints import latest_iteration
    from megatron_bio.model.execution import check_backend
    from megatron_bio.training.config import PretrainConfig
    from megatron_bio.training.loop import main
    from slurm import environment

    config = load(args, PretrainConfig, *args.overrides)
    if args.progress:
        print(latest_iteration(config.checkpoints) or 0, config.schedule.train_steps)
        return 0
    check_backend(config.parallel, config.precision)
    read_blend(Path(config.data.shards))
    if args.nproc_per_node:
        return _launch(args, args.nproc_per_node)
    environment.apply()
    main(config)
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("pretrain", help="continual pretraining (one process, --nproc-per-node N, torchrun or srun)")
    add_config_options(parser, DEFAULT_CONFIG, "recipe YAML (default: %(default)s)")
    parser.add_argument("--nproc-per-node", type=int, default=0, metavar="N",
                        help="start N local ranks (one per device) and wait for them")
    parser.add_argument("--progress", action="store_true", help="print: latest checkpointed iteration, last step")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="more overrides")
    parser.set_defaults(run=_run)
