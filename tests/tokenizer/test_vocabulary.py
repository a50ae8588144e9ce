"""Token families: counts, id order, padding, descriptions, discovery from a written directory."""

import pytest

from megatron_bio.tokenizer import BioMatrixTokenizer, Family
from megatron_bio.tokenizer.families import CONTROL_TOKENS, NUCLEIC_CONTROL_TOKENS, NUCLEOTIDES, RESIDUES
from megatron_bio.tokenizer.ranked_file import read_ranked_tokens
from megatron_bio.tokenizer.unified import DEFAULT_SELFIES_INVENTORY

from ..conftest import DATA

QWEN3_ENTRIES = 151_669


def test_family_counts_and_the_order_of_the_plan(tokenizer):
    selfies = read_ranked_tokens(DEFAULT_SELFIES_INVENTORY)
    joint = read_ranked_tokens(DATA / "molecule_3d_small.txt")
    expected = {"control": 14, "residue": 26, "selfies": len(selfies), "protein_3d": 4096, "molecule_3d": len(joint),
                "nucleotide": 16}
    assert tokenizer.family_counts() == expected
    assert tokenizer.base_vocab_size == QWEN3_ENTRIES
    assert tokenizer.vocab_size == QWEN3_ENTRIES + sum(expected.values())
    # The blocks of VOCABULARY_PLAN, contiguous and in order: the DNA/RNA wrappers and the nucleotides
    # come after the molecule-3D inventory, so every id of the report's five families is unchanged.
    blocks = [(Family.CONTROL, 10), (Family.RESIDUE, 26), (Family.SELFIES, len(selfies)), (Family.PROTEIN_3D, 4096),
              (Family.MOLECULE_3D, len(joint)), (Family.CONTROL, 4), (Family.NUCLEOTIDE, 16)]
    next_id, seen = QWEN3_ENTRIES, {family: 0 for family in Family}
    for family, count in blocks:
        assert tokenizer.family_ids[family][seen[family]:seen[family] + count] == list(range(next_id, next_id + count)), family
        next_id, seen[family] = next_id + count, seen[family] + count
    assert next_id == tokenizer.vocab_size
    assert [tokenizer.token(i) for i in tokenizer.family_ids[Family.CONTROL]] == [
        t for t, _ in CONTROL_TOKENS + NUCLEIC_CONTROL_TOKENS]
    assert [tokenizer.token(i) for i in tokenizer.family_ids[Family.NUCLEOTIDE]] == [f"<N_{n}>" for n, _ in NUCLEOTIDES]
    assert tokenizer.token(tokenizer.family_ids[Family.RESIDUE][22]) == "<A_W>"
    assert [tokenizer.token(i) for i in tokenizer.family_ids[Family.SELFIES]] == selfies
    assert tokenizer.token(tokenizer.family_ids[Family.PROTEIN_3D][-1]) == "<S_4095>"
    assert [tokenizer.token(i) for i in tokenizer.family_ids[Family.MOLECULE_3D]] == joint


def test_selfies_inventory_is_real_and_ranked():
    lines = [l for l in DEFAULT_SELFIES_INVENTORY.read_text().splitlines() if not l.startswith("#")]
    counts = [int(l.split("\t")[1]) for l in lines]
    assert counts == sorted(counts, reverse=True)
    symbols = [l.split("\t")[0] for l in lines]
    assert symbols[0] == "[C]" and {"[=O]", "[Branch1]", "[Ring1]", "[NH1+1]", "[C@@H1]"} <= set(symbols)
    assert 500 < len(symbols) < 3000


@pytest.mark.parametrize("tp, padded", [(1, 128), (2, 256), (8, 1024)])
def test_padded_vocab_size(tokenizer, tp, padded):
    size = tokenizer.padded_vocab_size(tp)
    assert size % padded == 0 and 0 <= size - tokenizer.vocab_size < padded


def test_megatron_ids(tokenizer):
    assert tokenizer.token(tokenizer.eod) == "<|endoftext|>"
    assert tokenizer.pad != tokenizer.eod


def test_descriptions_follow_the_papers_rules(tokenizer):
    by_token = {d["token"]: d for d in tokenizer.descriptions()}
    assert len(by_token) == tokenizer.vocab_size - tokenizer.base_vocab_size
    assert by_token["<|mol_smi_start|>"]["description"] == "Begins a molecule SMILES string"
    assert by_token["<|prot_3d_end|>"]["description"] == "Ends a protein 3D structure"
    assert by_token["<A_W>"]["description"] == "Tryptophan"
    assert by_token["<A_U>"]["description"] == "Selenocysteine"
    assert by_token["<A_X>"]["description"] == "any amino acid"
    assert len({by_token[f"<A_{letter}>"]["description"] for letter, _ in RESIDUES}) == 26
    assert by_token["<|dna_nt_start|>"]["description"] == "Begins a DNA nucleotide sequence"
    assert by_token["<|rna_nt_end|>"]["description"] == "Ends an RNA nucleotide sequence"
    assert by_token["<N_A>"]["description"] == "Adenine nucleotide (A) in a DNA or RNA sequence"
    assert by_token["<N_U>"]["description"] == "Uracil nucleotide (U) in an RNA sequence"
    assert len({by_token[f"<N_{letter}>"]["description"] for letter, _ in NUCLEOTIDES}) == 16
    for literal in ("[=O]", "<S_4012>", "[#N 497]"):
        assert by_token[literal]["description"] == literal


def test_written_directory_reloads_with_the_same_families(tokenizer, hf_dir):
    reloaded = BioMatrixTokenizer.from_dir(hf_dir)
    assert reloaded.family_ids == tokenizer.family_ids
    assert reloaded.descriptions() == tokenizer.descriptions()


def test_base_directory_without_biomatrix_tokens_is_rejected():
    from megatron_bio.tokenizer.base import default_base_dir

    with pytest.raises(ValueError, match="not a BioMatrix tokenizer"):
        BioMatrixTokenizer.from_dir(default_base_dir())


def test_inventory_with_misspelled_or_repeated_tokens_is_rejected(tmp_path):
    bad = tmp_path / "selfies.txt"
    bad.write_text("[C]\nC\n")
    with pytest.raises(ValueError, match="not spelled as a selfies token"):
        BioMatrixTokenizer.build(selfies_inventory=bad)
    bad.write_text("[C]\t10\n[O]\t4\n[C]\t1\n")
    with pytest.raises(ValueError, match="repeats line 1"):
        BioMatrixTokenizer.build(selfies_inventory=bad)


def test_base_that_already_holds_biomatrix_tokens_is_rejected(hf_dir):
    with pytest.raises(ValueError, match="already in the base vocabulary"):
        BioMatrixTokenizer.build(base_dir=hf_dir)
