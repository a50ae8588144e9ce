"""Composition rules on real entities: the same key gives the same documents, anchors always
appear, fields are permuted, proteins with structure get three views, mentions are linked."""

from collections import Counter

import numpy as np
from rdkit import Chem

from data_pipeline.compose import Lexicon, compose
from data_pipeline.compose import ComposeConfig, InterleaveConfig
from megatron_bio.tokenizer.molecule_forms import canonical_selfies
from data_pipeline.shards import ModalityCounter, blend
from megatron_bio.tokenizer.segments import Modality


def _molecule(key: str, smiles: str = "CC(=O)Oc1ccccc1C(=O)O", name: str = "aspirin") -> dict:
    smiles, selfies = canonical_selfies(smiles)
    return {"key": key, "kind": "molecule", "smiles": smiles, "selfies": selfies, "name": name,
            "description": "A member of the class of benzoic acids.", "properties": {"logP": 1.19},
            "molecule_3d": None, "lexicon": True}


def test_same_key_same_documents_other_key_other_choices():
    config = ComposeConfig()
    lexicon = Lexicon({}, config.interleave)
    first = compose(_molecule("chebi:0:1"), config, lexicon)
    assert first == compose(_molecule("chebi:0:1"), config, lexicon)
    variants = {repr(compose(_molecule(f"chebi:0:{k}"), config, lexicon)) for k in range(40)}
    assert len(variants) > 10


def test_views_keep_their_anchors_and_permute_fields():
    config = ComposeConfig()
    lexicon = Lexicon({}, config.interleave)
    orders = Counter()
    for k in range(200):
        documents = dict(compose(_molecule(f"m:{k}"), config, lexicon))
        assert "molecule/3d" not in documents  # no 3D field, no 3D view
        one_d = [s.modality for s in documents["molecule/1d"]]
        assert Modality.SMILES in one_d or Modality.SELFIES in one_d
        other = "".join(s.value for s in documents["molecule/other"] if s.modality is Modality.TEXT)
        assert "Description:" in other or "Properties:" in other
        orders[tuple(m for m in one_d if m is not Modality.TEXT)] += 1
    assert orders[(Modality.SMILES, Modality.SELFIES)] and orders[(Modality.SELFIES, Modality.SMILES)]


def test_protein_with_structure_codes_gets_the_three_views():
    entity = {"key": "p:0:0", "kind": "protein", "sequence": "MKTAYIAK", "structure_codes": [5, 9, 4095, 0, 1, 2, 3, 4],
              "name": None, "description": None, "annotations": []}
    documents = compose(entity, ComposeConfig(), Lexicon({}, InterleaveConfig()))
    prefixes = [p for p, _ in documents]
    assert prefixes == ["protein/1d", "protein/3d", "protein/3d"]
    assert [s.modality for s in documents[0][1]] == [Modality.PROTEIN]
    assert [s.modality for s in documents[1][1]] == [Modality.PROTEIN_3D]
    assert {s.modality for s in documents[2][1]} == {Modality.PROTEIN, Modality.PROTEIN_3D, Modality.TEXT}


def test_interleaving_inserts_the_form_after_the_first_mention():
    config = ComposeConfig()
    lexicon = Lexicon.from_entities([_molecule("c:0:0", "CCO", "ethanol"), _molecule("c:0:1", "NC(N)=O", "urea")],
                                    config.interleave)
    assert set(lexicon.entries) == {"ethanol"}  # "urea" is shorter than min_name_length
    text = {"key": "t:0:0", "kind": "text", "text": "Ethanol, unlike urea, burns. Ethanol again.", "title": None,
            "category": "text/scientific", "interleave": True}
    (prefix, document), = compose(text, config, lexicon)
    assert prefix == "cross/interleaved"
    assert document[0].value == "Ethanol "
    assert document[1].modality in (Modality.SMILES, Modality.SELFIES)
    molecule = document[1].value if document[1].modality is Modality.SMILES else None
    assert molecule is None or Chem.MolFromSmiles(molecule) is not None
    assert document[2].value == ", unlike urea, burns. Ethanol again."
    plain = dict(text, text="Nothing to link here.")
    (prefix, document), = compose(plain, config, lexicon)
    assert prefix == "text/scientific" and [s.value for s in document] == ["Nothing to link here."]


def test_modality_counter_agrees_with_decoding(tokenizer):
    entity = _molecule("m:0:0")
    documents = compose(entity, ComposeConfig(), Lexicon({}, InterleaveConfig()))
    count = ModalityCounter(tokenizer)
    for _, document in documents:
        ids = np.asarray(tokenizer.encode(document) + [tokenizer.eod])
        counts = count(ids)
        wrapped = sum(1 for s in document if s.modality is not Modality.TEXT)
        assert counts["control"] == 2 * wrapped + 1
        assert counts.get("selfies", 0) == sum(len(tokenizer.encode([s])) - 2 for s in document if s.modality is Modality.SELFIES)
        assert sum(counts.values()) == len(ids)


def test_blend_weights_follow_the_paper_budget_over_present_prefixes():
    weights = blend({"text/scientific": 10, "molecule/1d": 5, "protein/3d": 0}, "paper")
    assert set(weights) == {"text/scientific", "molecule/1d"}
    assert abs(weights["text/scientific"] / weights["molecule/1d"] - 79.7 / 32.1) < 1e-4
    assert abs(sum(blend({"text/general": 3, "cross/3d": 1}, "counts").values()) - 1) < 1e-6
