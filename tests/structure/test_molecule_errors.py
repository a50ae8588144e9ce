"""Malformed structure strings and unusable molecules are rejected with the place and the reason."""

from __future__ import annotations

import pytest
from rdkit import Chem

from megatron_bio.structure.molecule import StructureTokenError
from megatron_bio.structure.molecule.conformers import ConformerConfig, generate_conformer


@pytest.mark.parametrize(
    "tokens, where, reason",
    [
        ("[C 3][C 12", "char 5", "not a [SYMBOL CODE] token"),
        ("[C 3] [O 4]", "char 5", "not a [SYMBOL CODE] token"),
        ("", "", "empty"),
        ("[C 3][Branch1 7][O 4]", "token 1", "needs code -1"),
        ("[C 3][O -1]", "token 1", "needs a code in 0..511"),
        ("[C 3][O 512]", "token 1", "needs a code in 0..511"),
        ("[C 3][Xx 4]", "", "not a valid SELFIES"),
    ],
)
def test_malformed_strings(released, tokens, where, reason):
    with pytest.raises(StructureTokenError) as error:
        released.decode(tokens, where="sample 7")
    assert error.value.where.startswith("sample 7") and where in error.value.where
    assert reason in error.value.reason


def test_decode_many_reports_each_bad_string_in_its_place(released, qm9_test):
    good = released.encode(qm9_test[0].mol).tokens
    results = released.decode_many([good, "[C 3][Branch1 7]", good])
    assert isinstance(results[1], StructureTokenError) and "string 1" in results[1].where
    assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception)


def test_molecules_that_cannot_be_encoded(released):
    without_hydrogens = Chem.RemoveHs(generate_conformer("CCO"))
    results = released.encode_many([without_hydrogens, Chem.AddHs(Chem.MolFromSmiles("CCO"))], ["implicit", "no conformer"])
    assert "implicit hydrogens" in results[0].reason and results[0].where == "implicit"
    assert "no conformer" in results[1].reason
    collapsed = generate_conformer("CCO")
    collapsed.GetConformer().SetAtomPosition(2, collapsed.GetConformer().GetAtomPosition(0))
    assert "atoms 0 and 2 coincide" in released.encode_many([collapsed])[0].reason


def test_conformers_are_seeded_and_failures_have_reasons():
    a = generate_conformer("CC(=O)Nc1ccc(O)cc1").GetConformer().GetPositions()
    b = generate_conformer("CC(=O)Nc1ccc(O)cc1").GetConformer().GetPositions()
    assert (a == b).all()
    with pytest.raises(StructureTokenError, match="cannot parse"):
        generate_conformer("C1CC", where="row 3")
    with pytest.raises(StructureTokenError, match="more than the limit"):
        generate_conformer("C" * 30, ConformerConfig(max_heavy_atoms=20))
    with pytest.raises(StructureTokenError, match="no parameters"):
        generate_conformer("[Xe](F)(F)")
