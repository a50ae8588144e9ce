import pytest

from megatron_bio.tokenizer.molecule_forms import MoleculeFormError, canonical_selfies, canonical_smiles


def test_canonical_forms_agree_across_spellings():
    assert canonical_smiles("OCC") == canonical_smiles("C(O)C") == "CCO"
    assert canonical_selfies("c1ccccc1O") == canonical_selfies("Oc1ccccc1")


@pytest.mark.parametrize("smiles, reason", [("C1CC", "RDKit cannot parse"), ("*CC", "selfies cannot encode it")])
def test_rejections_carry_their_reason(smiles, reason):
    with pytest.raises(MoleculeFormError, match=reason):
        canonical_selfies(smiles)
