"""The joint inventory: the report's coverage rule, the default file, and the geometric fallback."""

from __future__ import annotations

from collections import Counter

import numpy as np

from megatron_bio.structure.molecule.inventory import (
    DEFAULT_INVENTORY,
    NearestCodeFallback,
    build_inventory,
    read_inventory,
    select_pairs,
)
from megatron_bio.structure.molecule.train import RELEASED_CHECKPOINT
from megatron_bio.tokenizer import Segment
from megatron_bio.tokenizer_config import TokenizerConfig
from megatron_bio.tokenizer.families import molecule_3d_token
from megatron_bio.tokenizer.ranked_file import read_ranked_sections, read_ranked_tokens


def test_select_pairs_covers_99_percent_and_every_symbol():
    counts = Counter({("[C]", 1): 900, ("[C]", 2): 95, ("[H]", 7): 4, ("[C]", 3): 1, ("[Branch1]", -1): 1})
    kept = dict(select_pairs(counts))
    assert ("[C]", 1) in kept and ("[C]", 2) in kept and ("[H]", 7) in kept  # 999 / 1001 > 99%
    assert ("[Branch1]", -1) in kept  # a symbol's top pair is always kept
    assert ("[C]", 3) not in kept


def test_build_inventory_on_real_molecules_then_only_appends(tmp_path):
    """A first build writes the rule's pairs; a build over more molecules keeps every existing line
    where it was (line order is token ids) and appends only the pairs it lacks, under a version line."""
    out = tmp_path / "joint.txt"
    first = build_inventory(out, RELEASED_CHECKPOINT, ["qm9"], {"qm9": 100}, workers=1)
    for tally in first.tallies.values():
        assert tally.records == tally.encoded + sum(tally.rejected.values())
    retained = read_inventory(out)
    assert first.version == 1 and first.appended == first.selected
    assert sum(len(v) for v in retained.values()) == len(first.selected)
    assert first.coverage_after > 0.99
    assert "[Branch1]" in retained and retained["[Branch1]"] == [-1]
    text, tokens = out.read_text(), read_ranked_tokens(out)
    second = build_inventory(out, RELEASED_CHECKPOINT, ["qm9"], {"qm9": 250}, workers=1)
    assert second.version == 2 and second.appended and out.read_text().startswith(text)
    added = [molecule_3d_token(s, c) for (s, c), _ in second.appended]
    assert read_ranked_sections(out) == [tokens, added]
    assert second.coverage_before < second.coverage_after
    unchanged = out.read_text()
    third = build_inventory(out, RELEASED_CHECKPOINT, ["qm9"], {"qm9": 100}, workers=1)
    assert third.appended == [] and third.version == 2 and out.read_text() == unchanged


def test_nearest_code_fallback_uses_codebook_distance():
    codebook = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.9, 0.1]])
    fallback = NearestCodeFallback(codebook)
    assert fallback("[C]", 3, [0, 1, 2]) == 1
    assert fallback("[C]", 2, [0, 1]) == 1


def test_default_tokenizer_has_the_joint_inventory_and_falls_back_geometrically(released, qm9_test):
    tokenizer = TokenizerConfig().build()
    retained = read_inventory(DEFAULT_INVENTORY)
    assert tokenizer.family_counts()["molecule_3d"] == sum(len(v) for v in retained.values())
    fallback = NearestCodeFallback.from_checkpoint(RELEASED_CHECKPOINT)
    for record in qm9_test[:20]:
        encoded = released.encode(record.mol)
        expected = [
            (symbol, code if code in retained[symbol] else fallback(symbol, code, retained[symbol]))
            for symbol, code in zip(encoded.layout.symbols, encoded.codes)
        ]
        ids = tokenizer.encode([Segment("molecule_3d", encoded.tokens)])
        assert tokenizer.decode(ids)[0].value == "".join(molecule_3d_token(s, c) for s, c in expected)
    symbol = "[C]"
    outside = next(c for c in range(512) if c not in retained[symbol])
    before = sum(tokenizer.molecule_3d_fallbacks.values())
    ids = tokenizer.encode([Segment("molecule_3d", f"[C {outside}]")])
    assert tokenizer.decode(ids)[0].value == f"[C {fallback(symbol, outside, retained[symbol])}]"
    assert sum(tokenizer.molecule_3d_fallbacks.values()) == before + 1
