"""`biomatrix convert hf-to-megatron | megatron-to-hf | verify`: checkpoints between Hugging Face
Qwen3 directories and megatron-core dist checkpoints (`megatron_bio/convert/`)."""

from __future__ import annotations

import argparse
import json

from launch.commands import add_config_options, existing_path, load


def _tokenizer(args: argparse.Namespace):
    from megatron_bio.tokenizer_config import TokenizerConfig

    return load(args, TokenizerConfig) if args.config or args.set else None


def _hf_to_megatron(args: argparse.Namespace) -> int:
    from megatron_bio.convert.hf_to_megatron import hf_to_megatron
    from megatron_bio.tokenizer_config import TokenizerConfig

    tokenizer = (_tokenizer(args) or TokenizerConfig()) if args.extend_vocabulary else None
    print(json.dumps(hf_to_megatron(args.hf, args.out, args.dtype, tokenizer, args.vocabulary_init, args.seed), indent=1))
    return 0


def _megatron_to_hf(args: argparse.Namespace) -> int:
    from megatron_bio.convert.megatron_to_hf import megatron_to_hf

    report = megatron_to_hf(args.checkpoint, args.out, args.dtype, _tokenizer(args), int(args.max_shard_gb * 1024**3),
                            args.base_model, args.license, args.evaluation)
    print(json.dumps(report, indent=1))
    return 0


def _verify(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from megatron_bio.convert.verify import compare_logits

    report = compare_logits(args.hf, args.checkpoint, args.tokens)
    report["ok"] = report["max_abs_diff"] <= args.tolerance
    if dist.get_rank() == 0:
        print(json.dumps(report), flush=True)
    dist.destroy_process_group()
    return 0 if report["ok"] else 1


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("convert", help="checkpoints: Hugging Face Qwen3 <-> megatron-core")
    commands = parser.add_subparsers(dest="command", required=True)

    def tokenizer_options(sub: argparse.ArgumentParser) -> None:
        add_config_options(sub, None, "tokenizer YAML (launch/configs/tokenizer.yaml); default: the checkpoint's own / "
                           "BioMatrix's default", flag="--tokenizer-config", set_help="override a tokenizer key")

    sub = commands.add_parser("hf-to-megatron", help="an HF Qwen3 directory -> a dist checkpoint (loads at any TP/PP)")
    sub.add_argument("--hf", required=True, type=existing_path, help="HF directory (config.json + safetensors, sharded or not)")
    sub.add_argument("--out", required=True, help="new (empty) checkpoint folder")
    sub.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="default: the weights' own")
    sub.add_argument("--extend-vocabulary", action="store_true", help="grow the vocabulary to BioMatrix's")
    sub.add_argument("--vocabulary-init", choices=["description", "random"], default="description")
    sub.add_argument("--seed", type=int, default=1234)
    tokenizer_options(sub)
    sub.set_defaults(run=_hf_to_megatron)

    sub = commands.add_parser("megatron-to-hf", help="a dist checkpoint (training or converted) -> an HF directory, "
                              "released: model card, licence notices, provenance, SHA256SUMS")
    sub.add_argument("--checkpoint", required=True, type=existing_path, help="a checkpoint root (its latest iteration) or one iter_* folder")
    sub.add_argument("--out", required=True, help="new (empty) HF directory")
    sub.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    sub.add_argument("--max-shard-gb", type=float, default=2.0, help="largest safetensors file (default: %(default)s)")
    sub.add_argument("--base-model", help="the model card's base_model (a hub id); default: the released Qwen3 base "
                     "of the model's shape, none for another shape")
    sub.add_argument("--license", default="apache-2.0", help="the model card's license (default: %(default)s)")
    sub.add_argument("--evaluation", type=existing_path, help="an evaluation results file (lm-evaluation-harness JSON) "
                     "for the model card's evaluation table; without it the card says there is none yet")
    tokenizer_options(sub)
    sub.set_defaults(run=_megatron_to_hf)

    sub = commands.add_parser("verify", help="Megatron logits (TP = processes under torchrun) vs the HF model's")
    sub.add_argument("--hf", required=True, type=existing_path)
    sub.add_argument("--checkpoint", required=True, type=existing_path)
    sub.add_argument("--tokens", type=int, default=32)
    sub.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed absolute logit difference")
    sub.set_defaults(run=_verify)
