"""`biomatrix tokenizer build|info|encode|decode|selfies-inventory`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from launch.commands import add_config_options, existing_path, load

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tokenizer.yaml"


def _config_args(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser, DEFAULT_CONFIG, "tokenizer YAML (default: %(default)s)")


def _load(args: argparse.Namespace):
    from megatron_bio.tokenizer import BioMatrixTokenizer
    from megatron_bio.tokenizer_config import TokenizerConfig

    if getattr(args, "dir", None):
        return BioMatrixTokenizer.from_dir(args.dir)
    return load(args, TokenizerConfig).build()


def _summary(tok) -> dict:
    return {
        "vocab_size": tok.vocab_size,
        "base_vocab_size": tok.base_vocab_size,
        "families": tok.family_counts(),
        "padded_vocab_size": {f"tp{tp}": tok.padded_vocab_size(tp) for tp in (1, 2, 4, 8)},
        "eod": tok.eod,
        "megatron_pad": tok.pad,
    }


def _build(args: argparse.Namespace) -> int:
    tok = _load(args)
    from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir

    out = write_hf_tokenizer_dir(tok, args.out)
    print(json.dumps({"out": str(out), **_summary(tok)}, indent=2))
    return 0


def _info(args: argparse.Namespace) -> int:
    print(json.dumps(_summary(_load(args)), indent=2))
    return 0


def _encode(args: argparse.Namespace) -> int:
    """JSON lines in (a document = a list of {"modality", "value"}), JSON lines of ids out."""
    from megatron_bio.tokenizer import Segment

    tok = _load(args)
    for line in sys.stdin:
        if line.strip():
            document = [Segment(s["modality"], s["value"]) for s in json.loads(line)]
            print(json.dumps(tok.encode(document)))
    if tok.molecule_3d_fallbacks:
        print(f"molecule-3D fallbacks: {sum(tok.molecule_3d_fallbacks.values())}", file=sys.stderr)
    return 0


def _decode(args: argparse.Namespace) -> int:
    """JSON lines of ids in, JSON lines of typed segments out."""
    tok = _load(args)
    for line in sys.stdin:
        if line.strip():
            segments = tok.decode(json.loads(line))
            print(json.dumps([{"modality": s.modality.value, "value": s.value} for s in segments]))
    return 0


def _selfies_inventory(args: argparse.Namespace) -> int:
    from megatron_bio.tokenizer.selfies_inventory import PAPER_SELFIES_COUNT, build_inventory

    rows, tallies = build_inventory(args.out, args.sources.split(","), args.limit, args.workers)
    print(f"{len(rows)} SELFIES symbols written to {args.out} (the report found {PAPER_SELFIES_COUNT})")
    for name, tally in tallies.items():
        print(f"  {name}: {tally.records} records, {tally.encoded} encoded, {sum(tally.rejected.values())} rejected")
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("tokenizer", help="the unified BioMatrix tokenizer")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="write the Hugging Face tokenizer directory")
    _config_args(build)
    build.add_argument("--out", required=True, help="output directory")
    build.set_defaults(run=_build)

    for name, run, help_text in (
        ("info", _info, "print vocabulary sizes and family counts"),
        ("encode", _encode, _encode.__doc__),
        ("decode", _decode, _decode.__doc__),
    ):
        command = commands.add_parser(name, help=help_text)
        _config_args(command)
        command.add_argument("--dir", type=existing_path, help="a built tokenizer directory (instead of --config)")
        command.set_defaults(run=run)

    inventory = commands.add_parser("selfies-inventory", help="count SELFIES symbols over real corpora")
    inventory.add_argument("--out", required=True)
    inventory.add_argument("--sources", default="moses,qm9,ccd,chebi", help="comma-separated (default: %(default)s)")
    inventory.add_argument("--limit", type=int, default=None, help="at most this many records per source")
    inventory.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    inventory.set_defaults(run=_selfies_inventory)
