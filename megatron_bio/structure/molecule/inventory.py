"""The joint molecule-3D vocabulary: which (SELFIES symbol, code) pairs become tokens.

The report's rule: count pairs over a corpus, keep the most frequent until they cover more than 99%
of occurrences. One addition: every symbol seen keeps at least its most frequent pair, so that any
molecule of the corpus stays encodable (its rare pairs fall back instead of failing). A pair outside
the inventory falls back to the nearest retained code of its symbol by codebook distance (squared L2
between the codes' embeddings), see `NearestCodeFallback`.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from biomatrix_io.records import Molecule3DRecord, Rejection, reason_group
from megatron_bio.tokenizer.families import molecule_3d_token
from megatron_bio.tokenizer.ranked_file import VERSION_LINE, read_ranked_sections, read_ranked_tokens, write_ranked_tokens
from megatron_bio.tokenizer.unified import DEFAULT_MOLECULE_3D_INVENTORY

from .codec import EncodedMolecule, MoleculeStructureTokenizer
from .corpus import molecules, where_of
from .errors import StructureTokenError

PAPER_JOINT_TOKENS = 11_294
COVERAGE = 0.99
DEFAULT_INVENTORY = DEFAULT_MOLECULE_3D_INVENTORY


@dataclass
class Tally:
    records: int = 0
    encoded: int = 0
    rejected: Counter = field(default_factory=Counter)
    on_rejection: Optional[Callable[[str, str], None]] = None  # told (where, reason) of each rejection

    def reject(self, where: str, reason: str) -> None:
        self.rejected[reason_group(reason)] += 1
        if self.on_rejection:
            self.on_rejection(where, reason)


def encoded_stream(
    tokenizer: MoleculeStructureTokenizer, items: Iterable, tally: Tally, batch_size: int = 256
) -> Iterator[tuple[Molecule3DRecord, EncodedMolecule]]:
    """Encode a stream of records in batches; rejections (from the reader or the encoder) are
    counted by reason in `tally`, so records in = encoded + rejected."""
    batch: list[Molecule3DRecord] = []

    def flush() -> Iterator[tuple[Molecule3DRecord, EncodedMolecule]]:
        results = tokenizer.encode_many([r.mol for r in batch], [where_of(r) for r in batch])
        for record, result in zip(batch, results):
            if isinstance(result, StructureTokenError):
                tally.reject(result.where, "encode: " + result.reason)
            else:
                tally.encoded += 1
                yield record, result
        batch.clear()

    for item in items:
        tally.records += 1
        if isinstance(item, Rejection):
            tally.reject(where_of(item), item.reason)
            continue
        batch.append(item)
        if len(batch) == batch_size:
            yield from flush()
    yield from flush()


def count_pairs(encoded: Iterable[EncodedMolecule]) -> Counter:
    counts: Counter = Counter()
    for molecule in encoded:
        counts.update(zip(molecule.layout.symbols, molecule.codes))
    return counts


def select_pairs(counts: Counter, coverage: float = COVERAGE) -> list[tuple[tuple[str, int], int]]:
    """Most frequent pairs until their share exceeds `coverage`, plus each symbol's top pair."""
    ranked = counts.most_common()
    total = sum(counts.values())
    kept, covered = [], 0
    for pair, count in ranked:
        if covered > coverage * total:
            break
        kept.append((pair, count))
        covered += count
    symbols = {pair[0] for pair, _ in kept}
    for pair, count in ranked:
        if pair[0] not in symbols:
            kept.append((pair, count))
            symbols.add(pair[0])
    return kept


@dataclass
class InventoryBuild:
    """What one `build_inventory` did: the pairs the rule selected over this count, the pairs it
    appended to the file (all of them for a new file), the version the file is now at, and the
    share of this count's occurrences the file covered before and covers after."""

    selected: list
    appended: list
    version: int
    coverage_before: float
    coverage_after: float
    tallies: dict[str, Tally]
    counts: Counter


def build_inventory(
    out: str | Path, checkpoint: str | Path, sources: Sequence[str], limits: dict[str, int], workers: int = 2
) -> InventoryBuild:
    """Count pairs over the sources with the checkpoint's tokenizer and write the inventory file.

    An inventory that exists is a vocabulary in use (its line order is the token ids): its lines are
    never rewritten or reordered. The selected pairs it lacks are appended after it under a
    version line, so that their ids come after every existing id (molecule-3D is the vocabulary's
    last family; the conversion's vocabulary growth gives them rows); a count that selects nothing
    new leaves the file as it was."""
    out = Path(out)
    tokenizer = MoleculeStructureTokenizer.from_checkpoint(checkpoint)
    counts: Counter = Counter()
    tallies: dict[str, Tally] = {}
    started = time.time()
    for source in sources:
        tally = tallies[source] = Tally()
        items = molecules(source, limits.get(source.split(":")[0]), workers)
        counts.update(count_pairs(m for _, m in encoded_stream(tokenizer, items, tally)))
    kept = select_pairs(counts)
    total = sum(counts.values()) or 1
    present = set(read_ranked_tokens(out)) if out.is_file() else set()
    appended = [(pair, n) for pair, n in kept if molecule_3d_token(*pair) not in present]
    before = sum(n for pair, n in counts.items() if molecule_3d_token(*pair) in present) / total
    after = before + sum(n for _, n in appended) / total
    digest = hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()
    built = (f"Built by `biomatrix structure molecule inventory` in {time.time() - started:.0f} s;"
             f" checkpoint {Path(checkpoint).name} sha256 {digest}, {'closed' if tokenizer.closed_loop else 'open'}-loop codes.")
    sources_lines = []
    for source, tally in tallies.items():
        reasons = ", ".join(f"{reason}: {n}" for reason, n in tally.rejected.most_common(6))
        sources_lines.append(f"source {source}: {tally.records} records, {tally.encoded} encoded,"
                             f" rejected {sum(tally.rejected.values())} ({reasons})")
    rows = [(molecule_3d_token(s, c), n) for (s, c), n in appended]
    if not present:
        write_ranked_tokens(out, rows, [
            "BioMatrix molecule-3D joint tokens: [SELFIES-SYMBOL CODE], most frequent first, tab, count.",
            built,
            f"Rule: most frequent pairs until > {COVERAGE:.0%} of occurrences, plus each symbol's top pair.",
            f"{len(kept)} tokens of {len(counts)} distinct pairs cover {after:.4%} of {total} occurrences"
            f" (the report's inventory: {PAPER_JOINT_TOKENS}).",
            *sources_lines,
        ])
        return InventoryBuild(kept, appended, 1, 0.0, after, tallies, counts)
    version = len(read_ranked_sections(out))
    if appended:
        version += 1
        write_ranked_tokens(out, rows, [
            f"{VERSION_LINE.removeprefix('# ')}{version}: {len(appended)} pairs appended after the file's {len(present)}"
            f" tokens (versions 1-{version - 1}); over this count ({len(counts)} distinct pairs, {total} occurrences) they raise the"
            f" coverage from {before:.4%} to {after:.4%}.",
            built, *sources_lines,
        ], append=True)
    return InventoryBuild(kept, appended, version, before, after, tallies, counts)


class NearestCodeFallback:
    """The retained code of a symbol nearest to an out-of-inventory code in the codebook."""

    def __init__(self, codebook: np.ndarray) -> None:
        self.codebook = np.asarray(codebook, dtype=np.float64)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path) -> "NearestCodeFallback":
        from .vqvae import load_model

        model, _ = load_model(checkpoint)
        return cls(model.quantizer.embedding.weight.detach().numpy())

    def __call__(self, symbol: str, code: int, retained: Sequence[int]) -> int:
        retained = [c for c in retained if c >= 0]
        if code < 0 or code >= len(self.codebook) or not retained:
            raise ValueError(f"{molecule_3d_token(symbol, code)!r}: no codebook neighbour to fall back to")
        distance = ((self.codebook[retained] - self.codebook[code]) ** 2).sum(axis=1)
        return int(retained[int(np.argmin(distance))])


def read_inventory(path: str | Path) -> dict[str, list[int]]:
    """Symbol -> its retained codes, most frequent first, from an inventory file."""
    from megatron_bio.tokenizer.unified import parse_molecule_3d

    retained: dict[str, list[int]] = {}
    for token in read_ranked_tokens(path):
        ((symbol, code),) = parse_molecule_3d(token, str(path))
        retained.setdefault(symbol, []).append(code)
    return retained
