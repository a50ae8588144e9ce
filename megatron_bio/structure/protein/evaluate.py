"""Reconstruction figures of a protein structure tokenizer on held-out chains: TM-score and
superposed backbone RMSD (mean, median, by length bin with the share of chains at TM >= 0.9),
the chains under that, codebook usage (used codes, perplexity), encode/decode throughput in
residues per CPU second of the process (what else runs on the machine does not count); next to
the published anchors.

Also the TM-score after 1% of each chain's codes are replaced by random ones (seeded): a language
model writing structure tokens makes such errors, and how far one wrong code moves the rest of the
chain depends on the decoder (a torsion turns everything after it; a joint decoder is local).
"""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np

from .corpus import ProteinChain
from .metrics import backbone_rmsd, tm_score

# Short chains apart: TM-score's distance scale shrinks with length, so a chain under 50 residues
# needs far smaller absolute errors than a long one for the same score.
LENGTH_BINS = ((0, 50), (50, 100), (100, 300), (300, 10_000))
GOOD_TM = 0.9  # a chain at or above this TM-score counts as reconstructed
# Published reconstruction on their own held-out sets (CAMEO/CASP-style), for orientation only.
ANCHORS = {"GCP-VQVAE Large": (0.984, 0.62), "ESM3 structure tokenizer": (0.929, 2.89)}


class Tokenizer(Protocol):
    size: int  # codebook entries

    def encode(self, backbone: np.ndarray) -> np.ndarray: ...
    def decode(self, codes: np.ndarray) -> np.ndarray: ...


def usage(codes: np.ndarray, size: int) -> dict:
    """Used codes and the perplexity of their distribution (exp of its entropy)."""
    counts = np.bincount(np.asarray(codes), minlength=size)
    p = counts[counts > 0] / counts.sum()
    return {"used": int((counts > 0).sum()), "perplexity": float(np.exp(-(p * np.log(p)).sum()))}


NOISE = 0.01  # share of codes replaced for the robustness figure


def _with_random_codes(codes: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    noisy = codes.copy()
    where = rng.choice(len(codes), max(1, round(NOISE * len(codes))), replace=False)
    noisy[where] = rng.integers(size, size=len(where))
    return noisy


def evaluate(tokenizer: Tokenizer, chains: list[ProteinChain], seed: int = 0) -> dict:
    rows, all_codes = [], []
    rng = np.random.default_rng(seed)
    encode_s = decode_s = 0.0
    for chain in chains:
        start = time.process_time()
        codes = tokenizer.encode(chain.backbone)
        encode_s += time.process_time() - start
        start = time.process_time()
        decoded = tokenizer.decode(codes)
        decode_s += time.process_time() - start
        all_codes.append(codes)
        # Residues missing a backbone atom in the file (chains may lack up to 10%) are not scored.
        whole = ~np.isnan(chain.backbone).any(axis=(1, 2))
        letters = "".join(np.array(list(chain.sequence))[whole])
        noisy = tokenizer.decode(_with_random_codes(codes, tokenizer.size, rng))
        rows.append((len(chain.sequence), tm_score(chain.backbone[whole], decoded[whole], letters),
                     backbone_rmsd(chain.backbone[whole], decoded[whole]),
                     tm_score(chain.backbone[whole], noisy[whole], letters)))
    lengths, tms, rmsds, noisy_tms = (np.array(column) for column in zip(*rows))
    residues = int(lengths.sum())
    bins = {f"{low}-{high if high < 10_000 else ''}": {"chains": int(m.sum()), "tm_mean": float(tms[m].mean()),
                                                        "tm_good_share": float((tms[m] >= GOOD_TM).mean()),
                                                        "rmsd_mean": float(rmsds[m].mean())}
            for low, high in LENGTH_BINS for m in [(lengths >= low) & (lengths < high)] if m.any()}
    below = [(chain.name, int(length), float(tm)) for chain, length, tm in zip(chains, lengths, tms) if tm < GOOD_TM]
    return {"chains": len(chains), "residues": residues, "tm_mean": float(tms.mean()), "tm_median": float(np.median(tms)),
            "rmsd_mean": float(rmsds.mean()), "rmsd_median": float(np.median(rmsds)), "by_length": bins,
            "tm_good_share": float((tms >= GOOD_TM).mean()), "below_good_tm": sorted(below, key=lambda row: row[2]),
            "tm_mean_1pct_random_codes": float(noisy_tms.mean()),
            **usage(np.concatenate(all_codes), tokenizer.size),
            "encode_residues_per_s": residues / encode_s, "decode_residues_per_s": residues / decode_s}


def table(reports: dict[str, dict], files: dict[str, str]) -> list[str]:
    """Markdown lines: one row per tokenizer (name -> evaluate() report; files: name -> file name),
    the published anchors, then TM and RMSD by length bin."""
    first = next(iter(reports.values()))
    lines = [f"{first['chains']} held-out chains ({first['residues']:,} residues): whole sequence-similarity groups "
             "of the packages' chains, never trained on (megatron_bio/structure/protein/corpus.py).\n",
             f"| tokenizer | TM mean | TM median | TM >= {GOOD_TM} | RMSD mean A | RMSD median A | TM, 1% random codes | "
             "used codes | perplexity | encode res/CPU s | decode res/CPU s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} ({files[name]}) | {r['tm_mean']:.3f} | {r['tm_median']:.3f} | {r['tm_good_share']:.1%} | {r['rmsd_mean']:.2f} | "
              f"{r['rmsd_median']:.2f} | {r['tm_mean_1pct_random_codes']:.3f} | {r['used']} | {r['perplexity']:.0f} | {r['encode_residues_per_s']:,.0f} | "
              f"{r['decode_residues_per_s']:,.0f} |" for name, r in reports.items()]
    lines += [f"| {name} (published, its own test set) | {tm:.3f} | | | {rmsd:.2f} | | | | | | |" for name, (tm, rmsd) in ANCHORS.items()]
    lines += [""] + [f"By length, {name}: " + "; ".join(f"{b}: {v['chains']} chains, TM {v['tm_mean']:.3f} ({v['tm_good_share']:.0%} >= {GOOD_TM}), "
                                                       f"RMSD {v['rmsd_mean']:.2f}" for b, v in r["by_length"].items()) + "." for name, r in reports.items()]
    return lines
