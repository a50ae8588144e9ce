"""DNA and RNA, the sixth modality: appended tokens that move no existing id (also when the
molecule-3D inventory grows later), one token per nucleotide inside the wrappers with an exact
decode on real sequences, strict letters, the same ids from the exported Hugging Face directory."""

import itertools
import json
import shutil

import pytest
from transformers import AutoTokenizer

from biomatrix_io.readers import packaged
from biomatrix_io.readers.nucleic import IUPAC_NUCLEOTIDES, read_nucleotide_fasta, read_rrna_blast_db
from megatron_bio.model.vocabulary import shared_prefix
from megatron_bio.tokenizer import BioMatrixTokenizer, Family, Modality, Segment, TokenizationError
from megatron_bio.tokenizer.families import NUCLEIC_CONTROL_TOKENS, NUCLEOTIDES
from megatron_bio.tokenizer.ranked_file import VERSION_LINE, read_ranked_sections, write_ranked_tokens
from megatron_bio.tokenizer.segments import NUCLEIC_ALPHABETS

from ..conftest import DATA

AMBIGUOUS = "NRYSWKMBDHV"
SMALL_INVENTORY = DATA / "molecule_3d_small.txt"


@pytest.fixture(scope="module")
def older():
    """The vocabulary as it was before DNA/RNA (the session tokenizer's inventories)."""
    return BioMatrixTokenizer.build(molecule_3d_inventory=SMALL_INVENTORY, nucleic_acids=False)


@pytest.fixture(scope="module")
def sequences():
    """Real sequences: 3 windows of the C. diphtheriae chromosome (DNA) and 3 named 16S rRNAs (RNA),
    each with every ambiguity code spliced in."""
    genome = next(iter(read_nucleotide_fasta(packaged.pyrodigal_genome_fasta()))).sequence
    dna = [genome[start:start + 2000] for start in (0, 1_000_000, 2_400_000)]
    rna = [r.sequence for r in itertools.islice(read_rrna_blast_db(packaged.ncbi_16s_rrna()), 3)]
    return {Modality.DNA: [s[:700] + AMBIGUOUS + s[700:] for s in dna],
            Modality.RNA: [s[:700] + AMBIGUOUS + s[700:] for s in rna]}


def test_every_existing_id_keeps_its_meaning(tokenizer, older):
    before, after = older.backend.get_vocab(with_added_tokens=True), tokenizer.backend.get_vocab(with_added_tokens=True)
    assert all(after[token] == i for token, i in before.items())
    added = sorted((i, token) for token, i in after.items() if token not in before)
    assert [token for _, token in added] == [t for t, _ in NUCLEIC_CONTROL_TOKENS] + [f"<N_{n}>" for n, _ in NUCLEOTIDES]
    assert [i for i, _ in added] == list(range(older.vocab_size, older.vocab_size + 20)) == list(
        range(older.vocab_size, tokenizer.vocab_size))
    assert all(tokenizer.backend.get_added_tokens_decoder()[i].special for i, _ in added[:4])
    assert older.wrapped_modalities == tuple(m for m in Modality if m not in (Modality.TEXT, Modality.DNA, Modality.RNA))


def test_later_molecule_3d_inventory_versions_come_after_the_nucleotides(tokenizer, tmp_path):
    grown = tmp_path / "molecule_3d.txt"
    shutil.copy(SMALL_INVENTORY, grown)
    present = {t for section in read_ranked_sections(grown) for t in section}
    new_pairs = [t for t in ("[C 511]", "[C 510]", "[O 509]") if t not in present][:2]
    # As `biomatrix structure molecule inventory` appends a version (its header line spelled so).
    write_ranked_tokens(grown, [(t, 3) for t in new_pairs], [f"{VERSION_LINE.removeprefix('# ')}2: test pairs"],
                        append=True)
    assert [len(s) for s in read_ranked_sections(grown)] == [len(present), len(new_pairs)]
    rebuilt = BioMatrixTokenizer.build(molecule_3d_inventory=grown)
    assert shared_prefix(tokenizer, rebuilt) == tokenizer.vocab_size  # nucleotides included: nothing moved
    assert [rebuilt.backend.token_to_id(t) for t in new_pairs] == [tokenizer.vocab_size, tokenizer.vocab_size + 1]
    assert rebuilt.family_counts()["molecule_3d"] == len(present) + len(new_pairs)
    write_ranked_tokens(grown, [("[N 508]", 1)], ["inventory version 4: skips 3"], append=True)
    with pytest.raises(ValueError, match="not version 3"):
        read_ranked_sections(grown)


def test_one_token_per_nucleotide_and_an_exact_decode(tokenizer, sequences):
    letter_ids = {letter: tokenizer.backend.token_to_id(f"<N_{letter}>") for letter in IUPAC_NUCLEOTIDES}
    for modality, batch in sequences.items():
        documents = [[Segment(Modality.TEXT, f"{modality.value} window {k}: "), Segment(modality, s),
                      Segment(Modality.TEXT, " done.")] for k, s in enumerate(batch)]
        start, end = tokenizer.wrapper_ids(modality)
        for document, ids in zip(documents, tokenizer.encode_batch(documents)):
            sequence = document[1].value
            first = ids.index(start)
            assert ids[first + 1 + len(sequence)] == end and ids.count(start) == 1
            assert ids[first + 1:first + 1 + len(sequence)] == [letter_ids[n] for n in sequence]
            assert tokenizer.decode(ids) == document
    # DNA and RNA share each letter's token but T and U.
    dna = tokenizer.encode([Segment(Modality.DNA, "ACGTN")])
    rna = tokenizer.encode([Segment(Modality.RNA, "ACGUN")])
    assert dna[1:6:2] == rna[1:6:2] and dna[4] != rna[4] and dna[0] != rna[0]


def test_the_letters_are_the_readers_iupac_set():
    assert "".join(letter for letter, _ in NUCLEOTIDES) == IUPAC_NUCLEOTIDES
    assert set(NUCLEIC_ALPHABETS[Modality.DNA]) | set(NUCLEIC_ALPHABETS[Modality.RNA]) == set(IUPAC_NUCLEOTIDES)
    assert set(NUCLEIC_ALPHABETS[Modality.DNA]) ^ set(NUCLEIC_ALPHABETS[Modality.RNA]) == {"T", "U"}


@pytest.mark.parametrize("modality, sequence, position, reason", [
    (Modality.DNA, "ACGUA", 3, "'U' is not one of the DNA letters"),
    (Modality.RNA, "ACGTA", 3, "'T' is not one of the RNA letters"),
    (Modality.DNA, "ACgt", 2, "'g' is not one of the DNA letters"),
    (Modality.RNA, "AUGE", 3, "'E' is not one of the RNA letters"),
    (Modality.DNA, "AC-GT", 2, "'-' is not one of the DNA letters"),
])
def test_wrong_letters_are_refused_at_their_position(tokenizer, modality, sequence, position, reason):
    with pytest.raises(TokenizationError, match=rf"segment 1 \({modality.value}\), nucleotide {position}: {reason}"):
        tokenizer.encode([Segment(Modality.TEXT, "x "), Segment(modality, sequence)])


def test_bad_nucleic_ids_and_texts_are_refused(tokenizer, older):
    dna_start, dna_end = tokenizer.wrapper_ids(Modality.DNA)
    u, a = tokenizer.backend.token_to_id("<N_U>"), tokenizer.backend.token_to_id("<N_A>")
    with pytest.raises(TokenizationError, match=r"id position 2: '<N_U>' is not a DNA letter"):
        tokenizer.decode([dna_start, a, u, dna_end])
    residue = tokenizer.backend.token_to_id("<A_A>")
    with pytest.raises(TokenizationError, match=r"id position 1: '<A_A>' is not a nucleotide token"):
        tokenizer.decode([dna_start, residue, dna_end])
    with pytest.raises(TokenizationError, match="empty DNA sequence"):
        tokenizer.encode([Segment(Modality.DNA, "")])
    with pytest.raises(TokenizationError, match=r"char 4: text contains the control token '<\|rna_nt_start\|>'"):
        tokenizer.encode([Segment(Modality.TEXT, "see <|rna_nt_start|>AUG")])
    with pytest.raises(TokenizationError, match="this vocabulary has no dna tokens"):
        older.encode([Segment(Modality.DNA, "ACGT")])


def test_the_hf_directory_gives_our_ids_and_reloads_the_families(tokenizer, hf_dir, sequences):
    hf = AutoTokenizer.from_pretrained(str(hf_dir))
    documents = [[Segment(Modality.TEXT, "The gene "), Segment(Modality.DNA, sequences[Modality.DNA][0][:300]),
                  Segment(Modality.TEXT, " is transcribed to "), Segment(Modality.RNA, sequences[Modality.RNA][0][:300]),
                  Segment(Modality.TEXT, " and translated to "), Segment(Modality.PROTEIN, "MKTAYIAKQR")]]
    documents.append([Segment(Modality.RNA, AMBIGUOUS + "ACGU"), Segment(Modality.DNA, AMBIGUOUS + "ACGT")])
    rendered = [tokenizer.render(d) for d in documents]
    assert rendered[1] == ("<|rna_nt_start|>" + "".join(f"<N_{n}>" for n in AMBIGUOUS + "ACGU") + "<|rna_nt_end|>"
                           "<|dna_nt_start|>" + "".join(f"<N_{n}>" for n in AMBIGUOUS + "ACGT") + "<|dna_nt_end|>")
    assert hf(rendered)["input_ids"] == tokenizer.encode_batch(documents)
    reloaded = BioMatrixTokenizer.from_dir(hf_dir)
    assert reloaded.family_ids[Family.NUCLEOTIDE] == tokenizer.family_ids[Family.NUCLEOTIDE]
    assert reloaded.wrapped_modalities == tokenizer.wrapped_modalities
    families = json.loads((hf_dir / "biomatrix_tokenizer.json").read_text())["families"]
    first = tokenizer.family_ids[Family.NUCLEOTIDE][0]
    assert families["nucleotide"]["ranges"] == [[first, first + 15]]
    assert families["control"]["ranges"] == [[151_669, 151_678], [first - 4, first - 1]]
