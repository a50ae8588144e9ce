"""Protein structure tokenizers, side by side in one run on the held-out chains: ours (the torsion
codebook in closed loop with and without lookahead, the VQ-VAE) against the obvious baseline (the
same codebook in open loop: each residue's nearest torsions, rebuilt by NeRF). TM-score, RMSD,
codebook usage and encode/decode residues per CPU second; the table (with date and machine) is
appended to benchmarks/RESULTS.md. Lookahead against greedy by length, short chains included:
bench_protein_lookahead.py.

It is `biomatrix structure protein eval --results benchmarks/RESULTS.md`, which users run too.
"""

from __future__ import annotations

import sys

from results import RESULTS
from launch.cli import main

if __name__ == "__main__":
    sys.exit(main(["structure", "protein", "eval", "--results", str(RESULTS), *sys.argv[1:]]))
