"""`biomatrix structure protein train|fit-torsion|encode|decode|eval`: protein backbone structure tokens.

Every command that takes `--tokenizer` accepts a name of `megatron_bio.structure.protein.codec`
(`torsion`, the default: closed loop with lookahead; `torsion-greedy`: the closed loop without it;
`baseline`: open loop; `vqvae`) or a path to either kind of file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

from launch.commands import config_command, existing_path, load, print_rejection

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "structure_protein.yaml"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"


def _train(args: argparse.Namespace) -> int:
    from megatron_bio.structure.protein.corpus import training_corpus
    from megatron_bio.structure.protein.train import ProteinTrainConfig, Trainer

    config = load(args, ProteinTrainConfig)
    train, held_out, report = training_corpus(config.sources, config.held_out)
    print(json.dumps({"corpus": report, "train_chains": len(train), "train_residues": sum(len(c.sequence) for c in train)}),
          flush=True)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".log.jsonl"), "a") as log_file:
        def log(record: dict) -> None:
            line = json.dumps(record)
            print(line, flush=True)
            log_file.write(line + "\n")
            log_file.flush()

        Trainer(config, train, held_out, log).run(checkpoint=out)
    print(json.dumps({"weights": str(out)}))
    return 0


def _fit_torsion(args: argparse.Namespace) -> int:
    from megatron_bio.structure.protein.corpus import training_corpus
    from megatron_bio.structure.protein.torsion import TorsionCodebook

    train, _, report = training_corpus(args.sources, args.held_out)
    book = TorsionCodebook.fit([c.backbone for c in train], codes=args.codes, seed=args.seed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    book.save(Path(args.out))
    print(json.dumps({"codebook": args.out, "codes": args.codes, "corpus": report,
                      "train_residues": sum(len(c.sequence) for c in train)}))
    return 0


def _encode(args: argparse.Namespace) -> int:
    """JSON lines: {"id", "sequence", "codes", "tokens"} per kept chain, {"id", "rejected"} per other;
    each rejection also on stderr with its file, chain and reason, then the counts."""
    from biomatrix_io.readers.chains import read_chains
    from megatron_bio.structure.protein.codec import load, structure_tokens

    tokenizer = load(args.tokenizer)
    out = open(args.out, "w") if args.out else sys.stdout
    kept = rejected = 0
    for read in (read for path in args.input for read in read_chains(path)):
        p = read.provenance
        if not hasattr(read, "backbone"):
            rejected += 1
            print_rejection(f"{p.path}:{p.location} ({p.record_id})", read.reason)
            print(json.dumps({"id": p.record_id, "rejected": read.reason}), file=out)
            continue
        codes = tokenizer.encode(read.backbone).tolist()
        kept += 1
        print(json.dumps({"id": p.record_id, "sequence": read.sequence, "codes": codes,
                          "tokens": structure_tokens(codes)}), file=out)
    print(json.dumps({"chains": kept, "rejected": rejected}), file=sys.stderr)
    return 0 if kept else 1


def _decode(args: argparse.Namespace) -> int:
    """encode's JSON lines -> one backbone file per chain (N, CA, C; residue names from the sequence)."""
    import numpy as np

    from megatron_bio.structure.protein.backbone import write_backbone
    from megatron_bio.structure.protein.codec import load

    tokenizer = load(args.tokenizer)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for number, line in enumerate(Path(args.input).read_text().splitlines(), 1):
        record = json.loads(line)
        if "codes" not in record:
            continue
        sequence = record.get("sequence") or "X" * len(record["codes"])
        if len(sequence) != len(record["codes"]):
            raise ValueError(f"{args.input}:{number} ({record.get('id')}): {len(sequence)} residues, {len(record['codes'])} codes")
        path = folder / f"{record.get('id', number)}.{args.format}".replace(":", "_").replace("/", "_")
        write_backbone(tokenizer.decode(np.array(record["codes"])), sequence, path)
        print(path)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from megatron_bio.structure.protein.codec import TOKENIZERS, checkpoint_path, load
    from megatron_bio.structure.protein.corpus import read_corpus, split, structure_files
    from megatron_bio.structure.protein.evaluate import evaluate, table

    chains, rejected = read_corpus(structure_files())
    _, held_out = split(chains, args.held_out)
    print(json.dumps({"chains": len(chains), "held_out": len(held_out), "rejected": rejected}), file=sys.stderr)
    reports = {name: evaluate(load(name), held_out) for name in args.tokenizer or list(TOKENIZERS)}
    print(json.dumps(reports, indent=1))
    if args.results:
        lines = [f"\n## Protein structure tokenizers: held-out chains ({datetime.date.today()}, {platform.machine()}, CPU)\n",
                 *table(reports, {name: checkpoint_path(name).name for name in reports})]
        with open(args.results, "a") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


def register_into(kinds: argparse._SubParsersAction) -> None:
    protein = kinds.add_parser("protein", help="protein backbone structure tokens (<S_k>, one per residue)")
    commands = protein.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(run=run)
        return sub

    def held_out(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--held-out", type=float, default=0.2, help="share of similarity groups held out")

    def tokenizer(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--tokenizer", default="torsion", help="torsion | torsion-greedy | baseline | vqvae | a .safetensors path")

    config_command(commands, "train", _train, "train the VQ-VAE tokenizer (config: structure_protein.yaml)", DEFAULT_CONFIG)
    fit = command("fit-torsion", _fit_torsion, "fit the 4,096-code torsion codebook (k-means) on the training chains")
    held_out(fit)
    fit.add_argument("--sources", nargs="+", default=["packages"], help="packages [promod3] (see corpus.py)")
    fit.add_argument("--out", required=True, help=".safetensors codebook to write")
    fit.add_argument("--codes", type=int, default=4096)
    fit.add_argument("--seed", type=int, default=0)
    encode = command("encode", _encode, "a PDB/mmCIF file -> codes and <S_k> tokens per chain (JSON lines)")
    tokenizer(encode)
    encode.add_argument("--input", required=True, nargs="+", type=existing_path, help="PDB or mmCIF files, gzipped or not")
    encode.add_argument("--out", help="JSON lines file (default: stdout)")
    decode = command("decode", _decode, "codes (encode's JSON lines) -> backbone PDB/mmCIF files")
    tokenizer(decode)
    decode.add_argument("--input", required=True)
    decode.add_argument("--out", required=True, help="folder for the structure files")
    decode.add_argument("--format", choices=("pdb", "cif"), default="pdb")
    evaluation = command("eval", _eval, "reconstruction on the held-out chains (TM-score, RMSD, usage, speed)")
    held_out(evaluation)
    evaluation.add_argument("--tokenizer", action="append", help="torsion | torsion-greedy | baseline | vqvae | a path; "
                            "repeat to compare (default: all four)")
    evaluation.add_argument("--results", help=f"append the table to this file (e.g. {RESULTS})")
