"""Molecule metric throughput on 10,000 real molecules, each against the obvious baseline in the
same run (issue 22: exact match, fingerprint similarity, IntDiv as a bulk computation).

Molecules: the first `--molecules` SMILES of the MOSES test split (`biomatrix_io.readers.packaged`).
Pairs, seeded: every sample's reference is its molecule, one in five with a second accepted answer
(the next molecule, so reference strings recur across samples as SMolInstruct's answer sets do);
the prediction is the molecule in another (random) SMILES writing (40%), another molecule (30%),
an earlier prediction repeated (10%), the molecule cut short (10%, mostly invalid) or empty (10%).

- exact match (LlaSMol) and fingerprint similarity (LlaSMol: MACCS, RDK, Morgan count): the
  metric as shipped (each distinct string canonicalized and fingerprinted once, references'
  fingerprints compared in one BulkTanimotoSimilarity call) vs per-sample recomputation (the same
  code sample by sample with its memos taken out: every string canonicalized, identified and
  fingerprinted each time it appears, as the reference scripts' loops do). The shipped metric
  starts from empty caches; the results must agree.
- IntDiv1/2 (MOSES) over the valid canonical predictions: the bulk path (0/1 matrix, intersections
  by matrix products in row chunks) vs a per-row loop of `DataStructs.BulkTanimotoSimilarity` and a
  Python double loop of `DataStructs.TanimotoSimilarity`, both on the first rows only and scaled to
  all rows (the pair count grows as rows x molecules); their row means must agree with the bulk ones.

Seconds are wall seconds and the process's CPU seconds (other jobs may share the cores: compare the
contenders, not the absolute figures). Appends to benchmarks/RESULTS.md (`--results`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import os
import platform
import random
import time

import numpy as np
import rdkit
import torch
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdFingerprintGenerator
from results import RESULTS, publish

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_smiles_table
from biomatrix_io.records import MoleculeRecord
from evals.metrics import distribution, molecules

CACHED = ("canonical", "llasmol_canonical", "llasmol_identity", "fingerprints")


def clear_caches() -> None:
    for name in CACHED:
        getattr(molecules, name).cache_clear()


@contextlib.contextmanager
def uncached():
    """The metrics' own code with every memo taken out (module globals swapped for the functions
    they wrap): each sample's strings are canonicalized and fingerprinted again, as the reference
    scripts' loops do."""
    cached = {name: getattr(molecules, name) for name in CACHED}
    try:
        for name, function in cached.items():
            setattr(molecules, name, function.__wrapped__)
        yield
    finally:
        for name, function in cached.items():
            setattr(molecules, name, function)


def timed(run) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = run()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def real_pairs(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    smiles = [r.smiles for r in itertools.islice(read_smiles_table(packaged.moses_csvs()[1]), n) if isinstance(r, MoleculeRecord)]
    rng = random.Random(seed)
    predictions, references = [], []
    for i, written in enumerate(smiles):
        references.append([written] if rng.random() < 0.8 else [written, smiles[(i + 1) % n]])
        draw = rng.random()
        if draw < 0.4:
            predictions.append(Chem.MolToSmiles(Chem.MolFromSmiles(written), doRandom=True))
        elif draw < 0.7:
            predictions.append(smiles[rng.randrange(n)])
        elif draw < 0.8 and predictions:
            predictions.append(predictions[rng.randrange(len(predictions))])
        elif draw < 0.9:
            predictions.append(written[: max(1, len(written) * 2 // 3)])
        else:
            predictions.append("")
    return predictions, references


def per_sample(metric, predictions: list[str], references: list[list[str]]) -> list[dict]:
    """The baseline: every sample scored alone, with nothing remembered."""
    with uncached():
        return [metric([prediction], [refs]) for prediction, refs in zip(predictions, references)]


def pairs_rows(predictions, references) -> list[tuple]:
    rows = []
    contenders = [("exact match (LlaSMol)", "as shipped (each distinct string canonicalized once)",
                   molecules.llasmol_exact_match, lambda r: r["matches"]),
                  ("fingerprint similarity (LlaSMol)", "as shipped (distinct strings once, one bulk Tanimoto per sample)",
                   molecules.llasmol_similarity, lambda r: (r["morgan"] or 0) * r["scored"])]
    for name, shipped, metric, total in contenders:  # total: the figure summed over samples (matches, Morgan similarity)
        clear_caches()
        ours = timed(lambda: metric(predictions, references))
        baseline = timed(lambda: per_sample(metric, predictions, references))
        together, alone = total(ours[2]), sum(total(r) for r in baseline[2])
        if abs(together - alone) > 1e-6 * max(1.0, abs(alone)):
            raise AssertionError(f"{name}: {together} vs {alone}")
        rows.append((name, shipped, len(predictions), "samples", ours[0], ours[1]))
        rows.append((name, "per-sample recomputation (no caching)", len(predictions), "samples", baseline[0], baseline[1]))
        print(rows[-2:], flush=True)
    return rows


def intdiv_rows(predictions: list[str], loop_rows: int, pair_rows: int) -> tuple[list[tuple], dict]:
    clear_caches()
    total = timed(lambda: distribution.moses_internal_diversity(predictions))
    valid = [c for c in map(molecules.canonical, predictions) if c is not None]
    n = len(valid)
    bits = distribution.morgan_bit_matrix(valid)
    bulk = timed(lambda: distribution.tanimoto_power_means(bits, np.ones(n), (1, 2)))
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=distribution.MORGAN_BITS)
    vectors = [generator.GetFingerprint(molecules.parse(s)) for s in valid]
    by_row = timed(lambda: [np.mean(DataStructs.BulkTanimotoSimilarity(vectors[i], vectors)) for i in range(loop_rows)])
    pairwise = timed(lambda: [np.mean([DataStructs.TanimotoSimilarity(vectors[i], v) for v in vectors]) for i in range(pair_rows)])
    agreement = max(float(np.max(np.abs(np.array(by_row[2]) - bulk[2][1][:loop_rows]))),
                    float(np.max(np.abs(np.array(pairwise[2]) - bulk[2][1][:pair_rows]))))
    if agreement > 1e-6:
        raise AssertionError(f"row means disagree by {agreement}")
    rows = [
        ("IntDiv1/2 (MOSES), whole metric", "bulk (canonicalize, fingerprint, matrix products)", len(predictions), "samples",
         total[0], total[1]),
        ("IntDiv1/2 (MOSES), similarities only", "bulk: float32 matrix products, 1,024-row chunks", n * n, "pairs", bulk[0], bulk[1]),
        ("IntDiv1/2 (MOSES), similarities only", f"per-row BulkTanimotoSimilarity ({loop_rows} rows, scaled)", n * n, "pairs",
         by_row[0] * n / loop_rows, by_row[1] * n / loop_rows),
        ("IntDiv1/2 (MOSES), similarities only", f"Python double loop of TanimotoSimilarity ({pair_rows} rows, scaled)", n * n,
         "pairs", pairwise[0] * n / pair_rows, pairwise[1] * n / pair_rows),
    ]
    print(rows, flush=True)
    return rows, {"intdiv1": total[2]["intdiv1"], "intdiv2": total[2]["intdiv2"], "agreement": agreement, "valid": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--molecules", type=int, default=10000)
    parser.add_argument("--loop-rows", type=int, default=1000, help="rows of the per-row BulkTanimotoSimilarity baseline")
    parser.add_argument("--pair-rows", type=int, default=100, help="rows of the Python double-loop baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=RESULTS)
    args = parser.parse_args()
    with rdBase.BlockLogs():
        predictions, references = real_pairs(args.molecules, args.seed)
        rows = pairs_rows(predictions, references)
        more, figures = intdiv_rows(predictions, args.loop_rows, args.pair_rows)
    rows += more
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, no GPU, Python {platform.python_version()}"
    lines = [
        f"\n## Molecule metric throughput: bulk and cached vs per-sample baselines ({datetime.date.today()})\n",
        f"Machine: {machine}; rdkit {rdkit.__version__}, numpy {np.__version__}, torch {torch.__version__} (unused here). "
        f"`benchmarks/bench_metrics.py`: {len(predictions):,} MOSES test molecules as pairs (40% rewritten, 30% another "
        "molecule, 10% repeated, 10% cut short, 10% empty; 20% with a second reference). Wall and process CPU seconds; "
        "other jobs shared the cores, so compare contenders within the run.\n",
        "| metric | contender | items | wall s | CPU s | items/s (wall) | wall time vs the first |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for metric, group in itertools.groupby(rows, key=lambda r: r[0]):
        group = list(group)
        for name, contender, n, unit, wall, cpu in group:
            lines.append(f"| {name} | {contender} | {n:,} {unit} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} | {wall / group[0][4]:.1f}x |")
    lines.append(f"\nThe contenders agree (exact-match count and Morgan similarity sum; IntDiv row means within "
                 f"{figures['agreement']:.1e}). IntDiv1 {figures['intdiv1']:.4f}, IntDiv2 {figures['intdiv2']:.4f} over the "
                 f"{figures['valid']:,} valid predictions (pairs = valid squared, self pairs included).")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
