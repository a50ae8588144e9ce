"""The packer and the split table on their own (no build): whole samples, capacity respected,
fewer packs than the naive order; scaffolds and protein families held out together."""

from __future__ import annotations

import random

import pytest

from data_pipeline.sft.config import SplitConfig
from data_pipeline.sft.packing import PACKERS, efficiency, pack
from data_pipeline.sft.splits import example_split, molecule_entity, protein_entity, protein_groups, split_table


@pytest.mark.parametrize("packer", sorted(PACKERS))
def test_every_sample_lands_in_exactly_one_pack_within_capacity(packer):
    generator = random.Random(7)
    lengths = [min(512, int(generator.lognormvariate(4.5, 0.7)) + 8) for _ in range(3000)]
    packs = pack(lengths, 512, packer)
    assert sorted(i for p in packs for i in p) == list(range(len(lengths)))
    assert max(sum(lengths[i] for i in p) for p in packs) <= 512
    if packer != "naive":
        naive = pack(lengths, 512, "naive")
        assert len(packs) < len(naive)
        assert efficiency(lengths, packs, 512) > 0.97 > efficiency(lengths, naive, 512)


def test_a_sample_longer_than_a_pack_is_refused():
    with pytest.raises(ValueError, match="more than a pack's 16"):
        pack([4, 17], 16)


def test_scaffolds_and_protein_families_are_held_out_whole():
    config = SplitConfig(valid=0.2, test=0.3)
    benzenes = ["c1ccccc1C", "c1ccccc1CC", "c1ccccc1CCO", "c1ccccc1O"]
    others = ["CCO", "CCCN", "C1CCNCC1C", "O=C(O)c1ccncc1"]
    molecules = dict(molecule_entity(s) for s in benzenes + others)
    assert len({molecules[molecule_entity(s)[0]] for s in benzenes}) == 1  # one scaffold group
    lysozyme = "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL"
    variant = lysozyme[:40] + "A" + lysozyme[41:90] + "G" + lysozyme[91:]
    unrelated = "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQIVGGVYLLPRRGPRLGVRATRKTSERSQPRGRRQPIPKARRPEGRTWAQPGYPWPLYGNEGCGWAGWLLSPRGSRPSWGPTDPRRRSRNLGKVIDTLTCGFADLMGYIPLVGAPLGGAARALAHGVRVLEDGVNYATGNLPGCSFSIFLLALLSCLTVPASA"
    proteins = protein_groups({protein_entity(s): s for s in (lysozyme, variant, unrelated)}, config.protein_identity)
    assert proteins[protein_entity(lysozyme)] == proteins[protein_entity(variant)] != proteins[protein_entity(unrelated)]
    groups = {**molecules, **proteins}
    for seed in range(20):
        table = split_table(groups, [], config, seed)
        assert len({table[molecule_entity(s)[0]] for s in benzenes}) == 1
        assert table[protein_entity(lysozyme)] == table[protein_entity(variant)]
    forced = split_table(groups, [molecule_entity("c1ccccc1C")[0]], config, 0)
    assert {forced[molecule_entity(s)[0]] for s in benzenes} == {"test"}


def test_an_example_goes_to_the_most_held_out_split_of_its_entities():
    config = SplitConfig()
    table = {"mol:A": "train", "mol:B": "test", "prot:C": "valid"}
    assert example_split(["mol:A"], table, None, "x", config, 0) == "train"
    assert example_split(["mol:A", "prot:C"], table, None, "x", config, 0) == "valid"
    assert example_split(["mol:A", "mol:B", "prot:C"], table, None, "x", config, 0) == "test"
    assert example_split(["mol:A"], table, "test", "x", config, 0) == "test"
    assert {example_split([], table, None, f"q{i}", config, 0) for i in range(200)} == {"train", "valid", "test"}
