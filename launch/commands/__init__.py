"""Subcommands of `biomatrix`, one module per stage, each exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def config_command(commands: argparse._SubParsersAction, name: str, run: Callable, help_text: str,
                   default_config: Path) -> argparse.ArgumentParser:
    """A subcommand that reads a YAML config (`--config`) with dotted overrides (`--set`)."""
    sub = commands.add_parser(name, help=help_text)
    sub.add_argument("--config", default=str(default_config), help="YAML config (default: %(default)s)")
    sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    sub.set_defaults(run=run)
    return sub
