"""`biomatrix model info`: a recipe's sizes, as megatron-core will build it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from launch.commands import config_command, load

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pretrain_1p7b.yaml"


def _info(args: argparse.Namespace) -> int:
    from megatron_bio.model.gpt import transformer_engine_available
    from megatron_bio.model.config import QWEN3_VOCAB_SIZE
    from megatron_bio.training.config import PretrainConfig

    config = load(args, PretrainConfig)
    tokenizer = config.tokenizer.build()
    padded = tokenizer.padded_vocab_size(config.parallel.tensor)
    print(json.dumps({
        "qwen3_base": config.model.parameter_count(QWEN3_VOCAB_SIZE),
        "biomatrix": config.model.parameter_count(tokenizer.vocab_size),
        "biomatrix_padded_for_tp": {"vocab_rows": padded, **config.model.parameter_count(padded)},
        "vocab_size": tokenizer.vocab_size,
        "layer_spec": "transformer_engine" if transformer_engine_available() else "local",
    }, indent=1))
    return 0


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("model", help="Qwen3 recipes as megatron-core models")
    commands = parser.add_subparsers(dest="command", required=True)
    config_command(commands, "info", _info, "parameter counts (Qwen3 base vocabulary, BioMatrix's, padded for TP)",
                   DEFAULT_CONFIG)
