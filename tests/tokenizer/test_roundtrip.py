"""Real molecules and proteins through encode -> ids -> decode, and back to the same entity."""

import gzip
import itertools
import random

import selfies as sf
from Bio import SeqIO
from rdkit import Chem

from biomatrix_io.readers import packaged
from biomatrix_io.readers.molecules import read_smiles_table
from megatron_bio.tokenizer import Family, Modality, Segment


def _real_smiles(n_per_source: int) -> list[str]:
    moses = read_smiles_table(packaged.moses_csvs()[1])  # the MOSES test split
    qm9 = read_smiles_table(packaged.qm9_csvs()[1], id_column="XYZ_file")
    pick = lambda records: [r.smiles for r in itertools.islice(records, 0, n_per_source * 7, 7)]
    return pick(moses) + pick(qm9)


def test_thousands_of_real_molecules_roundtrip_through_selfies_ids(tokenizer):
    smiles_list = _real_smiles(2000)
    assert len(smiles_list) == 4000
    documents, canonical = [], []
    for smiles in smiles_list:
        mol = Chem.MolFromSmiles(smiles)
        canonical.append(Chem.MolToSmiles(mol))
        documents.append(
            [Segment(Modality.TEXT, "SELFIES: "), Segment(Modality.SELFIES, sf.encoder(canonical[-1])),
             Segment(Modality.TEXT, " SMILES: "), Segment(Modality.SMILES, canonical[-1])]
        )
    selfies_ids = set(tokenizer.family_ids[Family.SELFIES])
    for document, ids, expected in zip(documents, tokenizer.encode_batch(documents), canonical):
        symbols = list(sf.split_selfies(document[1].value))
        start = ids.index(tokenizer.wrapper_ids(Modality.SELFIES)[0])
        assert ids[start + 1 : start + 1 + len(symbols)] == [tokenizer.backend.token_to_id(s) for s in symbols]
        assert set(ids[start + 1 : start + 1 + len(symbols)]) <= selfies_ids  # one token per symbol
        decoded = tokenizer.decode(ids)
        assert decoded == document
        assert Chem.MolToSmiles(Chem.MolFromSmiles(sf.decoder(decoded[1].value))) == expected
        assert decoded[3].value == expected


def test_multi_fragment_selfies_use_the_base_dot(tokenizer):
    document = [Segment(Modality.SELFIES, sf.encoder("[Na+].[Cl-]"))]
    ids = tokenizer.encode(document)
    assert ids[2] == tokenizer.backend.token_to_id(".")
    assert tokenizer.decode(ids) == document


def _real_proteins():
    for path in packaged.pyrodigal_protein_fastas():
        with gzip.open(path, "rt") as handle:
            for record in SeqIO.parse(handle, "fasta"):
                yield record.id, str(record.seq).rstrip("*")


def test_real_proteins_one_token_per_residue(tokenizer):
    proteins = list(_real_proteins())
    assert len(proteins) > 1000
    residue_ids = set(tokenizer.family_ids[Family.RESIDUE])
    documents = [[Segment(Modality.TEXT, f"{name} "), Segment(Modality.PROTEIN, seq)] for name, seq in proteins]
    for document, ids in zip(documents, tokenizer.encode_batch(documents)):
        sequence = document[1].value
        body = ids[ids.index(tokenizer.wrapper_ids(Modality.PROTEIN)[0]) + 1 : -1]
        assert len(body) == len(sequence) and set(body) <= residue_ids
        assert tokenizer.decode(ids) == document


def test_structure_tokens_roundtrip(tokenizer):
    rng = random.Random(0)
    codes = tuple(rng.randrange(4096) for _ in range(300)) + (0, 4095)
    document = [Segment(Modality.PROTEIN, "M" * len(codes)), Segment(Modality.PROTEIN_3D, codes),
                Segment(Modality.MOLECULE_3D, "[C 3][Branch1 -1][H 305][#N 497]")]
    ids = tokenizer.encode(document)
    assert len(ids) == 2 * len(codes) + 4 + 4 + 2
    assert tokenizer.decode(ids) == document
