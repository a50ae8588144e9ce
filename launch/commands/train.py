"""`biomatrix pretrain | sft --config RECIPE [key=value ...]`: the training jobs on megatron-core,
one loop (`megatron_bio.training.loop`), the job named by the recipe's config class.

One process per device. On one machine, `--nproc-per-node N` starts them (torch's elastic launcher,
as `torchrun --standalone` would) after the config and the data were checked once, so a user's
mistake is one line and exit status 2, not one report per rank followed by torchrun's. Under
torchrun or srun (the torch.distributed variables are derived from Slurm's: `slurm/environment.py`)
each rank checks for itself and rank 0 alone prints the line. Without any of them, one process.
Per-step metrics are printed as JSON lines by the logging rank. `--progress` prints the run's
latest checkpointed iteration and its last step, and trains nothing.

`checkpoint.init_from` may name a Hugging Face directory (a Qwen3 base, or a BioMatrix export): it
is imported once into `<output>/init_from_hf` by `biomatrix convert hf-to-megatron` in a process of
its own (one rank converts, the others wait on a file lock), and the run starts from that.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from launch.commands import add_config_options, load

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
USER_MISTAKE = 2  # the exit status of a ConfigError (launch/cli.py), printed by rank 0 alone
DISTRIBUTED_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                         "GROUP_RANK", "ROLE_RANK", "TORCHELASTIC_RUN_ID")
# stage -> (config class in megatron_bio.training.config, default recipe, help)
JOBS = {
    "pretrain": ("PretrainConfig", CONFIGS / "tiny.yaml",
                 "continual pretraining (one process, --nproc-per-node N, torchrun or srun)"),
    "sft": ("SFTConfig", CONFIGS / "sft_tiny.yaml",
            "supervised fine-tuning on a packed SFT corpus (one process, --nproc-per-node N, torchrun or srun)"),
}


def _launch(args: argparse.Namespace, processes: int) -> int:
    """The same command, without `--nproc-per-node`, in `processes` local ranks. A rank that exits
    with a user's mistake has printed it: the launcher's failure report would only repeat it."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    command = [args.stage, *(["--config", args.config] if args.config else []),
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


def import_hf_start(config) -> None:
    """Point `checkpoint.init_from` at a dist checkpoint: an HF directory there is imported once."""
    from filelock import FileLock

    source = config.checkpoint.init_from
    if not source or not (Path(source) / "config.json").is_file():
        return
    target = Path(config.output) / "init_from_hf"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{target}.lock"):
        if not (target / "metadata.json").is_file():
            environment = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_VARIABLES}
            done = subprocess.run([sys.executable, "-m", "launch.cli", "convert", "hf-to-megatron", "--hf", str(source),
                                   "--out", str(target)], env=environment, capture_output=True, text=True)
            if done.returncode:
                sys.stderr.write(done.stderr)
                raise SystemExit(done.returncode)
    config.checkpoint.init_from = str(target)


def _run(args: argparse.Namespace) -> int:
    from biomatrix_io.checkpoints import latest_iteration
    from megatron_bio.training import config as configs
    from megatron_bio.training.loop import check_job, main
    from slurm import environment

    config = load(args, getattr(configs, JOBS[args.stage][0]), *args.overrides)
    if args.progress:
        print(latest_iteration(config.checkpoints) or 0, config.schedule.train_steps)
        return 0
    check_job(config, config.job())
    config.job().check_data()
    if args.nproc_per_node:
        return _launch(args, args.nproc_per_node)
    environment.apply()
    import_hf_start(config)
    main(config)
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    for stage, (_, default, description) in JOBS.items():
        parser = stages.add_parser(stage, help=description)
        add_config_options(parser, default, "recipe YAML (default: %(default)s)")
        parser.add_argument("--nproc-per-node", type=int, default=0, metavar="N",
                            help="start N local ranks (one per device) and wait for them")
        parser.add_argument("--progress", action="store_true", help="print: latest checkpointed iteration, last step")
        parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="more overrides")
        parser.set_defaults(run=_run)
