"""Samples -> packs of at most `capacity` tokens, each sample whole.

`best_fit_decreasing` (the default) places samples from the longest down, each into the open pack
it fills most tightly; `first_fit_decreasing` into the first pack it fits; `naive` fills packs in
the samples' own order and opens a new pack when the next sample does not fit (the baseline).
Ties are broken by sample index, so the packs depend on the lengths and their order alone, never on
how many workers made the samples. Packing efficiency = real tokens / (packs x capacity).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def _decreasing(lengths: Sequence[int]) -> list[int]:
    return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Open packs are kept in buckets by free space; a sample of length L goes to the fullest
    pack with at least L free (the first bucket from L up), O(capacity) per sample at worst."""
    packs: list[list[int]] = []
    free_of: list[int] = []
    buckets: list[list[int]] = [[] for _ in range(capacity + 1)]  # free space -> packs (stack)
    for index in _decreasing(lengths):
        length = lengths[index]
        chosen = next((free for free in range(length, capacity + 1) if buckets[free]), None)
        if chosen is None:
            pack = len(packs)
            packs.append([])
            free_of.append(capacity)
        else:
            pack = buckets[chosen].pop()
        packs[pack].append(index)
        free_of[pack] -= length
        buckets[free_of[pack]].append(pack)
    return packs


def first_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    packs: list[list[int]] = []
    free = np.zeros(0, dtype=np.int64)
    for index in _decreasing(lengths):
        fits = np.flatnonzero(free >= lengths[index])
        if fits.size:
            pack = int(fits[0])
        else:
            pack = len(packs)
            packs.append([])
            free = np.append(free, capacity)
        packs[pack].append(index)
        free[pack] -= lengths[index]
    return packs


def naive(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    packs: list[list[int]] = []
    used = capacity
    for index, length in enumerate(lengths):
        if used + length > capacity:
            packs.append([])
            used = 0
        packs[-1].append(index)
        used += length
    return packs


PACKERS: dict[str, Callable[[Sequence[int], int], list[list[int]]]] = {
    "best_fit_decreasing": best_fit_decreasing,
    "first_fit_decreasing": first_fit_decreasing,
    "naive": naive,
}


def pack(lengths: Sequence[int], capacity: int, packer: str = "best_fit_decreasing") -> list[list[int]]:
    too_long = [i for i, n in enumerate(lengths) if n > capacity]
    if too_long:
        raise ValueError(f"sample {too_long[0]} has {lengths[too_long[0]]} tokens, more than a pack's {capacity}")
    return PACKERS[packer](lengths, capacity)


def efficiency(lengths: Sequence[int], packs: list[list[int]], capacity: int) -> float:
    return float(sum(lengths)) / (len(packs) * capacity) if packs else 0.0
