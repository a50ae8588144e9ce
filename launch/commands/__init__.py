"""Subcommands of `biomatrix`, one module per stage, each exposing `register(subparsers)`.

Every command that reads a YAML config with dotted overrides declares `--config`/`--set` through
`add_config_options` and reads them through `load`, so the options mean the same everywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Optional, TypeVar

from biomatrix_io.config import load_config

T = TypeVar("T")


def add_config_options(parser: argparse.ArgumentParser, default_config: Optional[Path],
                       config_help: str = "YAML config (default: %(default)s)", *, flag: str = "--config",
                       set_help: str = "override a config key") -> None:
    """Add the config file option and the repeatable `--set KEY=VALUE` to `parser`.

    The file lands in `args.config` whatever `flag` is called (convert's `--tokenizer-config`),
    so that `load` reads every command the same way; the help still names the flag's own metavar.
    """
    parser.add_argument(flag, dest="config", metavar=flag.lstrip("-").replace("-", "_").upper(),
                        default=None if default_config is None else str(default_config), help=config_help)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)


def existing_path(value: str) -> str:
    """argparse `type=` for a file or folder the user names: one argparse line when it is absent,
    before any work starts ('-', standard input, passes)."""
    if value != "-" and not Path(value).exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file or folder")
    return value


def config_command(commands: argparse._SubParsersAction, name: str, run: Callable, help_text: str,
                   default_config: Path) -> argparse.ArgumentParser:
    """A subcommand that reads a YAML config (`--config`) with dotted overrides (`--set`)."""
    sub = commands.add_parser(name, help=help_text)
    add_config_options(sub, default_config)
    sub.set_defaults(run=run)
    return sub


def load(args: argparse.Namespace, cls: type[T], *overrides: str) -> T:
    """`cls` read from the options of `add_config_options`; `overrides` apply after `--set`'s."""
    return load_config(cls, args.config, [*args.set, *overrides])


def print_rejection(where: str, reason: str) -> None:
    """One rejected record on stderr as it happens, named by file and record: a count at the end
    says how many, these lines say which and why."""
    print(f"rejected {where}: {reason}", file=sys.stderr)
