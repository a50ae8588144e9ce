"""Molecule structure tokenizer throughput, side by side in one run, on held-out QM9 molecules and
PDB components.

Contenders, same molecules, same model (the released checkpoint, open loop, so the tokens agree):
- batched: `encode_many` / `decode_many` over the whole list (descriptors and the rebuild are
  vectorized across molecules, the encoder runs once);
- one by one: the obvious baseline, `encode` / `decode` per molecule (what a naive port of the
  reference pipeline does).
Then ours (closed loop, batched), whose encoding does a code search per atom.
Appends the figures, with date and machine, to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import time
from pathlib import Path

from biomatrix_io.records import Molecule3DRecord
from megatron_bio.structure.molecule import MoleculeStructureTokenizer
from megatron_bio.structure.molecule.corpus import molecules
from megatron_bio.structure.molecule.train import DEFAULT_CHECKPOINT, RELEASED_CHECKPOINT

RESULTS = Path(__file__).with_name("RESULTS.md")


def _timed(run) -> tuple[float, list]:
    started = time.perf_counter()
    out = run()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--molecules", type=int, default=1000)
    args = parser.parse_args()
    corpora = {
        "QM9 test": [r.mol for r in itertools.islice(molecules("qm9:test"), args.molecules) if isinstance(r, Molecule3DRecord)],
        "PDB components": [r.mol for r in itertools.islice(molecules("ccd"), args.molecules // 4) if isinstance(r, Molecule3DRecord)],
    }
    released = MoleculeStructureTokenizer.from_checkpoint(RELEASED_CHECKPOINT)
    ours = MoleculeStructureTokenizer.from_checkpoint(DEFAULT_CHECKPOINT)
    rows = []
    for corpus, mols in corpora.items():
        mols = [m for m, e in zip(mols, released.encode_many(mols)) if not isinstance(e, Exception)]  # encodable ones
        atoms = sum(m.GetNumAtoms() for m in mols)
        contenders = [
            ("released, batched", lambda: released.encode_many(mols), lambda e: released.decode_many([x.tokens for x in e])),
            ("released, one by one", lambda: [released.encode(m) for m in mols], lambda e: [released.decode(x.tokens) for x in e]),
            ("ours (closed loop), batched", lambda: ours.encode_many(mols), lambda e: ours.decode_many([x.tokens for x in e])),
        ]
        for name, encode, decode in contenders:
            encode_s, encoded = _timed(encode)
            decode_s, _ = _timed(lambda: decode(encoded))
            rows.append((corpus, name, len(mols), atoms, encode_s, decode_s))
            print(rows[-1], flush=True)
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = [
        f"\n## Molecule structure tokenizer: throughput ({datetime.date.today()})\n",
        f"Machine: {machine}, no GPU. `benchmarks/bench_structure_molecule.py`. CPU figures: relative only.\n",
        "| molecules | contender | molecules | atoms | encode mol/s | decode mol/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {c} | {n} | {m} | {a} | {m / e:,.0f} | {m / d:,.0f} |" for c, n, m, a, e, d in rows]
    by = {(c, n): (m / e, m / d) for c, n, m, a, e, d in rows}
    for corpus in corpora:
        batched, single = by[(corpus, "released, batched")], by[(corpus, "released, one by one")]
        lines.append(f"\n{corpus}: batching encodes {batched[0] / single[0]:.1f}x and decodes {batched[1] / single[1]:.1f}x faster than one by one.")
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
