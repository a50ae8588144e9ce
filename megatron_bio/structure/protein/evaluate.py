"""Reconstruction figures of a protein structure tokenizer on held-out chains: TM-score and
superposed backbone RMSD (mean, median, by length bin), codebook usage (used codes, perplexity),
encode/decode throughput in residues per second; next to the published anchors."""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np

from .corpus import ProteinChain
from .metrics import backbone_rmsd, tm_score

LENGTH_BINS = ((0, 100), (100, 200), (200, 300), (300, 10_000))
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


def evaluate(tokenizer: Tokenizer, chains: list[ProteinChain]) -> dict:
    rows, all_codes = [], []
    encode_s = decode_s = 0.0
    for chain in chains:
        start = time.perf_counter()
        codes = tokenizer.encode(chain.backbone)
        encode_s += time.perf_counter() - start
        start = time.perf_counter()
        decoded = tokenizer.decode(codes)
        decode_s += time.perf_counter() - start
        all_codes.append(codes)
        # Residues missing a backbone atom in the file (chains may lack up to 10%) are not scored.
        whole = ~np.isnan(chain.backbone).any(axis=(1, 2))
        letters = "".join(np.array(list(chain.sequence))[whole])
        rows.append((len(chain.sequence), tm_score(chain.backbone[whole], decoded[whole], letters),
                     backbone_rmsd(chain.backbone[whole], decoded[whole])))
    lengths, tms, rmsds = (np.array(column) for column in zip(*rows))
    residues = int(lengths.sum())
    bins = {f"{low}-{high if high < 10_000 else ''}": {"chains": int(m.sum()), "tm_mean": float(tms[m].mean()),
                                                        "rmsd_mean": float(rmsds[m].mean())}
            for low, high in LENGTH_BINS for m in [(lengths >= low) & (lengths < high)] if m.any()}
    return {"chains": len(chains), "residues": residues, "tm_mean": float(tms.mean()), "tm_median": float(np.median(tms)),
            "rmsd_mean": float(rmsds.mean()), "rmsd_median": float(np.median(rmsds)), "by_length": bins,
            **usage(np.concatenate(all_codes), tokenizer.size),
            "encode_residues_per_s": residues / encode_s, "decode_residues_per_s": residues / decode_s}
