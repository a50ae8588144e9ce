"""`biomatrix structure protein baseline|encode|decode|eval`: protein backbone structure tokens.

Today the tokenizer behind these commands is the non-learned baseline (torsion k-means + NeRF,
`megatron_bio/structure/protein/baseline.py`), fitted on the training side of the corpus split;
the learned tokenizer of issue 8 takes the same commands.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"


def _corpus(args: argparse.Namespace):
    from megatron_bio.structure.protein.corpus import read_corpus, split, structure_files

    chains, rejected = read_corpus(structure_files())
    train, held_out = split(chains, args.held_out)
    print(json.dumps({"chains": len(chains), "train": len(train), "held_out": len(held_out), "rejected": rejected}),
          file=sys.stderr)
    return train, held_out


def _baseline(args: argparse.Namespace) -> int:
    from megatron_bio.structure.protein.baseline import TorsionCodebook

    train, _ = _corpus(args)
    book = TorsionCodebook.fit([c.backbone for c in train], codes=args.codes, seed=args.seed)
    book.save(Path(args.out))
    print(json.dumps({"codebook": args.out, "codes": args.codes, "train_residues": sum(len(c.sequence) for c in train)}))
    return 0


def _encode(args: argparse.Namespace) -> int:
    from megatron_bio.structure.protein.baseline import TorsionCodebook
    from megatron_bio.structure.protein.chains import read_chains

    book = TorsionCodebook.load(Path(args.codebook))
    out = open(args.out, "w") if args.out else sys.stdout
    for read in read_chains(args.input):
        if not hasattr(read, "backbone"):
            print(json.dumps({"id": read.provenance.record_id, "rejected": read.reason}), file=out)
            continue
        codes = book.encode(read.backbone).tolist()
        print(json.dumps({"id": read.provenance.record_id, "sequence": read.sequence, "codes": codes,
                          "tokens": "".join(f"<S_{c}>" for c in codes)}), file=out)
    return 0


def _decode(args: argparse.Namespace) -> int:
    import numpy as np

    from megatron_bio.structure.protein.baseline import TorsionCodebook
    from megatron_bio.structure.protein.chains import write_backbone

    book = TorsionCodebook.load(Path(args.codebook))
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for line in Path(args.input).read_text().splitlines():
        record = json.loads(line)
        if "codes" not in record:
            continue
        path = folder / f"{record['id'].replace(':', '_')}.pdb"
        write_backbone(book.decode(np.array(record["codes"])), record["sequence"], path)
        print(path)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from megatron_bio.structure.protein.baseline import TorsionCodebook
    from megatron_bio.structure.protein.evaluate import ANCHORS, evaluate

    _, held_out = _corpus(args)
    report = evaluate(TorsionCodebook.load(Path(args.codebook)), held_out)
    print(json.dumps(report, indent=1))
    if args.results:
        lines = [f"\n## Protein structure tokenizer: held-out chains ({datetime.date.today()}, {platform.machine()}, CPU)\n",
                 f"{report['chains']} held-out chains ({report['residues']:,} residues), split by sequence-similarity "
                 "groups from the training chains (megatron_bio/structure/protein/corpus.py).\n",
                 "| tokenizer | TM mean | TM median | RMSD mean A | RMSD median A | used codes | perplexity | "
                 "encode res/s | decode res/s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                 f"| torsion k-means + NeRF (baseline, {Path(args.codebook).name}) | {report['tm_mean']:.3f} | "
                 f"{report['tm_median']:.3f} | {report['rmsd_mean']:.2f} | {report['rmsd_median']:.2f} | {report['used']} | "
                 f"{report['perplexity']:.0f} | {report['encode_residues_per_s']:,.0f} | "
                 f"{report['decode_residues_per_s']:,.0f} |"]
        lines += [f"| {name} (published) | {tm:.3f} | | {rmsd:.2f} | | | | | |" for name, (tm, rmsd) in ANCHORS.items()]
        lines += ["", "By length: " + "; ".join(f"{b}: {v['chains']} chains, TM {v['tm_mean']:.3f}, RMSD {v['rmsd_mean']:.2f}"
                                             for b, v in report["by_length"].items())]
        with open(args.results, "a") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


def register_into(kinds: argparse._SubParsersAction) -> None:
    protein = kinds.add_parser("protein", help="protein backbone structure tokens (<S_k>, one per residue)")
    commands = protein.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str, split: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        if split:  # the commands that read the corpus
            sub.add_argument("--held-out", type=float, default=0.2, help="share of similarity groups held out")
        sub.set_defaults(run=run)
        return sub

    baseline = command("baseline", _baseline, "fit the torsion k-means baseline on the training chains", split=True)
    baseline.add_argument("--out", required=True, help=".safetensors codebook to write")
    baseline.add_argument("--codes", type=int, default=4096)
    baseline.add_argument("--seed", type=int, default=0)
    encode = command("encode", _encode, "a PDB/mmCIF file -> codes and <S_k> tokens per chain (JSON lines)")
    encode.add_argument("--codebook", required=True)
    encode.add_argument("--input", required=True, help="PDB or mmCIF file, gzipped or not")
    encode.add_argument("--out", help="JSON lines file (default: stdout)")
    decode = command("decode", _decode, "codes (encode's JSON lines) -> backbone PDB files")
    decode.add_argument("--codebook", required=True)
    decode.add_argument("--input", required=True)
    decode.add_argument("--out", required=True, help="folder for the PDB files")
    evaluation = command("eval", _eval, "reconstruction on the held-out chains (TM-score, RMSD, usage, speed)",
                         split=True)
    evaluation.add_argument("--codebook", required=True)
    evaluation.add_argument("--results", help=f"append the table to this file (e.g. {RESULTS})")
