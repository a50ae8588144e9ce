"""QM9 3D reader: bonds from QM9's own SMILES (the reader, `bonds_from_smiles`) against bonds from
the geometry alone (RDKit's xyz2mol, neutral: what the reader did before), side by side on the
same rows in one pass.

Per row, parsing is shared (`qm9_rows`, `qm9_atoms`) and each path's bond step is timed on its own,
so each path's throughput is rows / (parsing + its bonds). Figures: accepted and rejected rows per
path, rejections by reason; which connectivity rule gave the SMILES's graph; among the molecules
both paths accept, how many differ in chemistry (canonical SMILES with hydrogens and stereo) and
in structure tokens (the released checkpoint, open loop: the joint inventory's codes); and, over
each path's molecules, how many (symbol, code) occurrences lie outside the joint inventory, counted
by the unified tokenizer's fallback counter (`molecule_3d_fallbacks`).

`--every 1` reads all of QM9 (130,831 rows; tens of minutes on one core); the default is a sample
of every 25th row, whose parsing time includes reading the skipped rows' CSV (rows/s are then
under-estimates, the same for both paths). `--write` appends the figures, with date and machine, to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules_3d import CONNECTIVITY_RULES, bonds_from_smiles, geometry_graph, qm9_atoms, qm9_rows, smiles_template
from biomatrix_io.records import Rejection, reason_group
from megatron_bio.structure.molecule import MoleculeStructureTokenizer
from megatron_bio.structure.molecule.train import RELEASED_CHECKPOINT
from megatron_bio.tokenizer.segments import Modality, Segment
from megatron_bio.tokenizer_config import TokenizerConfig

RESULTS = Path(__file__).with_name("RESULTS.md")
PATHS = ("xyz2mol", "smiles")


def xyz2mol_bonds(mol):
    """The baseline: bonds, orders and charges from the geometry alone, or why not."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    mol = Chem.Mol(mol)
    try:
        rdDetermineBonds.DetermineBonds(mol, charge=0)
    except Exception as error:  # RDKit raises ValueError or RuntimeError, by version
        return "bonds cannot be derived from the geometry: " + str(error).splitlines()[0]
    return mol


def _rule_name(rule: dict) -> str:
    return f"covalent radii x {rule['covFactor']}" if rule else "connect-the-dots"


class Tally:
    """One path's counts: rows, time, rejections by reason, token pairs and fallbacks."""

    def __init__(self) -> None:
        self.rows = self.accepted = self.pairs = 0
        self.seconds = 0.0
        self.rejected: Counter = Counter()
        self.unencodable: Counter = Counter()
        self.tokenizer = TokenizerConfig().build()  # its own fallback counter

    def count_tokens(self, tokens: str) -> None:
        self.tokenizer.encode([Segment(Modality.MOLECULE_3D, tokens)])
        self.pairs += tokens.count("[")

    @property
    def fallbacks(self) -> int:
        return sum(self.tokenizer.molecule_3d_fallbacks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", type=int, default=25, help="read every k-th row (1: all of QM9)")
    parser.add_argument("--write", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    parser.add_argument("--examples", type=Path, help="write row ids of each outcome (JSON) here")
    args = parser.parse_args()
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    structure = MoleculeStructureTokenizer.from_checkpoint(RELEASED_CHECKPOINT)
    tallies = {path: Tally() for path in PATHS}
    rules: Counter = Counter()
    compared = Counter()
    examples: dict[str, list] = {}
    parse_seconds = 0.0
    batch: list = []

    def encode_batch() -> None:
        """Structure tokens of each path's molecules; token and chemistry differences between paths."""
        for path in PATHS:
            mols = [(i, m[path]) for i, m in enumerate(batch) if not isinstance(m[path], str)]
            for (i, _), encoded in zip(mols, structure.encode_many([m for _, m in mols])):
                if isinstance(encoded, Exception):
                    tallies[path].unencodable[reason_group(encoded.reason)] += 1
                    continue
                batch[i][path + " tokens"] = encoded.tokens
                tallies[path].count_tokens(encoded.tokens)
        for item in batch:
            old, new = item["xyz2mol"], item["smiles"]
            if isinstance(old, str) or isinstance(new, str):
                continue
            compared["both accept"] += 1
            same_chemistry = Chem.MolToSmiles(old) == Chem.MolToSmiles(new)
            same_tokens = item.get("xyz2mol tokens") == item.get("smiles tokens")
            outcome = ("same" if same_chemistry else "different") + " chemistry, " + ("same" if same_tokens else "different") + " tokens"
            compared[outcome] += 1
            if not same_chemistry or not same_tokens:
                examples.setdefault(outcome, []).append((item["id"], item["qm9 smiles"], Chem.MolToSmiles(Chem.RemoveHs(old)), Chem.MolToSmiles(Chem.RemoveHs(new))))
        batch.clear()

    rows = itertools.islice(itertools.chain.from_iterable(qm9_rows(p) for p in packaged.qm9_csvs()), 0, None, args.every)
    while True:
        started = time.perf_counter()
        item = next(rows, None)
        if item is None:
            break
        if isinstance(item, Rejection):
            raise SystemExit(f"unexpected rejection of the table: {item.reason}")
        provenance, row = item
        atoms = qm9_atoms(row)
        parse_seconds += time.perf_counter() - started
        entry = {"id": provenance.record_id, "qm9 smiles": row["SMILES"]}
        for path, bonds in (("xyz2mol", xyz2mol_bonds), ("smiles", lambda m: bonds_from_smiles(m, row["SMILES"]))):
            tally = tallies[path]
            tally.rows += 1
            started = time.perf_counter()
            entry[path] = atoms if isinstance(atoms, str) else bonds(atoms)
            tally.seconds += time.perf_counter() - started
            if isinstance(entry[path], str):
                tally.rejected[reason_group(entry[path])] += 1
            else:
                tally.accepted += 1
        if not isinstance(entry["smiles"], str):  # which rule gave the graph (not timed: the reader found it already)
            rules[_rule_name(geometry_graph(atoms, smiles_template(row["SMILES"]))[1])] += 1
        outcome = {(False, False): "both reject", (True, False): "only xyz2mol accepts",
                   (False, True): "only the SMILES path accepts", (True, True): None}[
            (not isinstance(entry["xyz2mol"], str), not isinstance(entry["smiles"], str))]
        if outcome:
            compared[outcome] += 1
            examples.setdefault(outcome, []).append((entry["id"], row["SMILES"], entry["xyz2mol"] if isinstance(entry["xyz2mol"], str) else "",
                                                     entry["smiles"] if isinstance(entry["smiles"], str) else ""))
        batch.append(entry)
        if len(batch) == 256:
            encode_batch()
            print({path: (t.rows, t.accepted) for path, t in tallies.items()}, flush=True)
    encode_batch()
    report(args, tallies, rules, compared, parse_seconds)
    if args.examples:
        args.examples.write_text(json.dumps(examples, indent=1))


def report(args, tallies: dict[str, Tally], rules: Counter, compared: Counter, parse_seconds: float) -> None:
    rows = tallies["smiles"].rows
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    sample = "all of QM9" if args.every == 1 else f"every {args.every}th row of QM9"
    lines = [
        f"\n## QM9 3D reader: bonds from QM9's SMILES ({datetime.date.today()})\n",
        f"Machine: {machine}, no GPU. `benchmarks/bench_qm9_reader.py --every {args.every}` ({sample}: {rows:,} rows), one pass,"
        " both paths on each row. Before: bonds, orders and charges from the geometry alone (RDKit xyz2mol, neutral)."
        " After: connectivity from the geometry (the first rule whose graph is the SMILES's), bond orders and charges"
        " from QM9's SMILES (`AssignBondOrdersFromTemplate`). CPU figures: relative only.\n",
        "| path | accepted | rejected | rows/s (parse + bonds) |",
        "|---|---:|---:|---:|",
    ]
    names = {"xyz2mol": "before: xyz2mol", "smiles": "after: SMILES template"}
    for path, t in tallies.items():
        lines.append(f"| {names[path]} | {t.accepted:,} | {sum(t.rejected.values()):,} ({sum(t.rejected.values()) / rows:.2%}) | {rows / (parse_seconds + t.seconds):,.0f} |")
    lines += ["", "Rejections by reason:", "", "| path | reason | rows |", "|---|---|---:|"]
    for path, t in tallies.items():
        lines += [f"| {names[path]} | {reason} | {n:,} |" for reason, n in t.rejected.most_common()] or [f"| {names[path]} | (none) | 0 |"]
    lines += ["", "Connectivity rule that gave the SMILES's graph (after):", "", "| rule | molecules |", "|---|---:|"]
    lines += [f"| {rule} | {n:,} |" for rule, n in sorted(rules.items(), key=lambda r: [_rule_name(x) for x in CONNECTIVITY_RULES].index(r[0]))]
    lines += ["", "Rows by outcome of the two paths (chemistry: canonical SMILES with hydrogens and stereo; tokens: released"
              " checkpoint, open loop):", "", "| outcome | rows |", "|---|---:|"]
    lines += [f"| {outcome} | {n:,} |" for outcome, n in compared.most_common()]
    lines += ["", "Structure tokens over each path's molecules, against the joint inventory (`molecule_3d_tokens.txt`, unchanged):",
              "", "| path | molecules encoded | not encodable | (symbol, code) occurrences | outside the inventory (nearest-code fallback) |",
              "|---|---:|---:|---:|---:|"]
    for path, t in tallies.items():
        encoded = t.accepted - sum(t.unencodable.values())
        lines.append(f"| {names[path]} | {encoded:,} | {sum(t.unencodable.values()):,} | {t.pairs:,} | {t.fallbacks:,} ({t.fallbacks / max(t.pairs, 1):.3%}) |")
    print("\n".join(lines))
    if args.write:
        with open(RESULTS, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
