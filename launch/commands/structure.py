"""`biomatrix structure molecule encode|decode|train|eval|inventory`: the molecule 3D structure tokenizer
(`biomatrix structure protein ...`: launch/commands/protein_structure.py)."""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

from launch.commands import config_command, load, print_rejection, protein_structure

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "structure_molecule.yaml"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.md"


def _load(args: argparse.Namespace):
    from megatron_bio.structure.molecule.config import MoleculeStructureConfig

    return load(args, MoleculeStructureConfig)


def _items(args: argparse.Namespace):
    """Records of --input (an .sdf file or a QM9-layout .csv) or of --source (a named corpus)."""
    from biomatrix_io.readers.molecules_3d import read_qm9_3d, read_sdf
    from megatron_bio.structure.molecule.corpus import molecules

    if args.source:
        return molecules(args.source, args.limit)
    path = Path(args.input)
    readers = {".sdf": read_sdf, ".csv": read_qm9_3d}
    if path.suffix not in readers:
        raise SystemExit(f"{path}: expected an .sdf file or a QM9-layout .csv (or use --source)")
    return itertools.islice(readers[path.suffix](path), args.limit)


def _encode(args: argparse.Namespace) -> int:
    """JSON lines out: {"id", "where", "tokens", "codes"}; each rejection on stderr with its file,
    record and reason, then the counts by reason."""
    from megatron_bio.structure.molecule.inventory import Tally, encoded_stream

    config = _load(args)
    tokenizer = config.tokenizer()
    tally = Tally(on_rejection=print_rejection)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    with out:
        for record, encoded in encoded_stream(tokenizer, _items(args), tally, config.batch_size):
            p = record.provenance
            out.write(json.dumps({"id": p.record_id, "where": f"{p.path}:{p.location}", "tokens": encoded.tokens,
                                  "codes": list(encoded.codes)}) + "\n")
    _report(tally)
    return 0 if tally.encoded else 1


def _report(tally) -> None:
    rejected = sum(tally.rejected.values())
    print(f"{tally.records} records: {tally.encoded} encoded, {rejected} rejected", file=sys.stderr)
    for reason, count in tally.rejected.most_common():
        print(f"  {count}  {reason}", file=sys.stderr)


def _decode(args: argparse.Namespace) -> int:
    """Structure strings in (JSON lines with "tokens", or bare token lines), an SDF file out."""
    from rdkit import Chem

    config = _load(args)
    tokenizer = config.tokenizer()
    lines = [line.strip() for line in (open(args.input, encoding="utf-8") if args.input != "-" else sys.stdin) if line.strip()]
    rows = [json.loads(line) if line.startswith("{") else {"tokens": line} for line in lines]
    wheres = [f"{args.input}:{k + 1}" for k in range(len(rows))]
    results = tokenizer.decode_many([row["tokens"] for row in rows], config.refine or args.refine, wheres)
    failures = Counter()
    writer = Chem.SDWriter(args.out)
    for row, result in zip(rows, results):
        if isinstance(result, Exception):
            failures[result.reason] += 1
            print(f"rejected {result}", file=sys.stderr)
            continue
        result.SetProp("_Name", str(row.get("id", "")))
        writer.write(result)
    writer.close()
    print(f"{len(rows)} strings: {len(rows) - sum(failures.values())} decoded to {args.out}, {sum(failures.values())} rejected", file=sys.stderr)
    return 0 if len(rows) > sum(failures.values()) else 1


def _train(args: argparse.Namespace) -> int:
    from megatron_bio.structure.molecule.train import train

    config = _load(args)
    train(config.train, args.out)
    return 0


def _inventory(args: argparse.Namespace) -> int:
    from megatron_bio.structure.molecule.config import checkpoint_path
    from megatron_bio.structure.molecule.inventory import DEFAULT_INVENTORY, PAPER_JOINT_TOKENS, build_inventory

    config = _load(args).inventory
    out = args.out or config.out or DEFAULT_INVENTORY
    built = build_inventory(out, checkpoint_path(config.checkpoint), config.sources, config.limits, config.workers)
    print(f"{out}: inventory version {built.version}, {len(built.appended)} joint tokens written (the rule selects"
          f" {len(built.selected)} of {len(built.counts)} distinct pairs; coverage {built.coverage_before:.2%} ->"
          f" {built.coverage_after:.2%}); the report's inventory: {PAPER_JOINT_TOKENS}")
    for source, tally in built.tallies.items():
        print(f"  {source}: {tally.records} records, {tally.encoded} encoded, {sum(tally.rejected.values())} rejected")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from biomatrix_io.records import Rejection
    from megatron_bio.structure.molecule.codec import MoleculeStructureTokenizer
    from megatron_bio.structure.molecule.config import checkpoint_path
    from megatron_bio.structure.molecule.corpus import molecules, where_of
    from megatron_bio.structure.molecule.evaluate import evaluate
    from megatron_bio.structure.molecule.inventory import DEFAULT_INVENTORY, NearestCodeFallback, read_inventory

    config = _load(args)
    records = [r for r in molecules(config.eval.source, config.eval.molecules) if not isinstance(r, Rejection)]
    mols, wheres = [r.mol for r in records], [where_of(r) for r in records]
    inventory_path = Path(config.eval.inventory or config.inventory.out or DEFAULT_INVENTORY)
    inventory = read_inventory(inventory_path) if inventory_path.is_file() else None
    built_with = checkpoint_path(config.inventory.checkpoint)
    inventory_key = (built_with.resolve(), MoleculeStructureTokenizer.from_checkpoint(built_with).closed_loop)
    runs = [("released, open loop", "released", False), ("released, closed loop", "released", True),
            ("ours, closed loop", config.checkpoint, True)]

    evaluations = []
    for label, checkpoint, closed in runs:
        path = checkpoint_path(checkpoint)
        if not path.is_file():
            print(f"skipping {label}: {path} does not exist (train it with `biomatrix structure molecule train`)", file=sys.stderr)
            continue
        tokenizer = MoleculeStructureTokenizer.from_checkpoint(path, closed)
        # The joint inventory holds one model's codes; its fallback rate means something for that model only.
        same = inventory is not None and (path.resolve(), closed) == inventory_key
        evaluations.append(evaluate(tokenizer, mols, wheres, label, inventory if same else None,
                                    NearestCodeFallback.from_checkpoint(path) if same else None))
        print(json.dumps({"model": label, **evaluations[-1].figures}), flush=True)
    table = _table(evaluations, config.eval.source, len(mols), inventory_path if inventory else None)
    print(table)
    if args.results:
        with open(args.results, "a", encoding="utf-8") as handle:
            handle.write(table)
    return 0


COLUMNS = [
    ("dr_A", "abs dr (A)"), ("dtheta_deg", "abs dtheta (deg)"), ("dphi_deg", "abs dphi (deg)"),
    ("rmsd_median_A", "RMSD median (A)"), ("rmsd_mean_A", "RMSD mean"), ("rmsd_max_A", "RMSD max"),
    ("heavy_rmsd_median_A", "heavy RMSD median"), ("heavy_rmsd_mean_A", "heavy RMSD mean"),
    ("bond_length_mae_A", "bond length MAE (A)"),
    ("raw_atom_stability", "atom stab. raw"), ("raw_molecule_stability", "mol stab. raw"),
    ("mmff_atom_stability", "atom stab. MMFF"), ("mmff_molecule_stability", "mol stab. MMFF"),
    ("used_codes", "used codes"), ("perplexity", "perplexity"),
    ("fallback_rate", "fallback rate"), ("rmsd_mean_with_fallback_A", "RMSD mean w/ fallback"),
    ("encode_per_s", "encode mol/s"), ("decode_per_s", "decode mol/s"),
]


def _table(evaluations, source: str, count: int, inventory) -> str:
    keys = [k for k, _ in COLUMNS]
    lines = [
        f"\n## Molecule structure tokenizer: {source}, {count} held-out molecules ({time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()}, {platform.processor() or 'cpu'}, no GPU)\n",
        "`biomatrix structure molecule eval`. Raw = decoded without MMFF. Input geometries' own EDM atom/molecule "
        f"stability: {evaluations[0].figures.get('input_atom_stability', 0):.4f} / "
        f"{evaluations[0].figures.get('input_molecule_stability', 0):.4f}. Fallback rate: share of atom tokens outside "
        f"the joint inventory ({inventory or 'none'}), for the model it was built with.\n" if evaluations else "",
        "| model | " + " | ".join(title for _, title in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    lines += ["| " + " | ".join(e.row(keys)) + " |" for e in evaluations]
    return "\n".join(lines) + "\n"


def register(stages: argparse._SubParsersAction) -> None:
    parser = stages.add_parser("structure", help="3D structure tokenizers")
    kinds = parser.add_subparsers(dest="kind", required=True)
    molecule = kinds.add_parser("molecule", help="the molecule 3D structure tokenizer (MolStrucTok-compatible)")
    commands = molecule.add_subparsers(dest="command", required=True)

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:
        return config_command(commands, name, run, help_text, DEFAULT_CONFIG)

    encode = command("encode", _encode, "3D molecules -> [SYMBOL CODE] strings (JSON lines)")
    source = encode.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help=".sdf file or QM9-layout .csv")
    source.add_argument("--source", help="named corpus: qm9[:train|test], ccd, moses, chebi, sdf:PATH")
    encode.add_argument("--limit", type=int, default=None)
    encode.add_argument("--out", help="JSON lines file (default: stdout)")

    decode = command("decode", _decode, "[SYMBOL CODE] strings -> SDF with 3D coordinates")
    decode.add_argument("--input", required=True, help="JSON lines with a 'tokens' field, or token lines; - for stdin")
    decode.add_argument("--out", required=True, help="SDF file to write")
    decode.add_argument("--refine", action="store_true", help="one MMFF optimization after the rebuild")

    train = command("train", _train, "train our VQ-VAE on QM9's training split")
    train.add_argument("--out", required=True, help=".safetensors file to write")

    inventory = command("inventory", _inventory, "count (symbol, code) pairs and write the joint inventory")
    inventory.add_argument("--out", help="inventory file (default: the config's)")

    evaluation = command("eval", _eval, "reconstruction figures, released vs ours, on held-out QM9")
    evaluation.add_argument("--results", help=f"append the table to this file (e.g. {RESULTS})")
    protein_structure.register_into(kinds)
