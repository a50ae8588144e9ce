"""Protein backbone internal coordinates, the torsion codebook's open-loop encoding (the baseline)
and the reconstruction metrics, on real THESEUS chains."""

import numpy as np
import pytest

from megatron_bio.structure.protein.backbone import rebuild, rebuild_exact, residue_torsions
from megatron_bio.structure.protein.torsion import TorsionCodebook
from biomatrix_io.readers.chains import read_chains
from megatron_bio.structure.protein.evaluate import usage
from megatron_bio.structure.protein.metrics import backbone_rmsd, tm_score

THESEUS = "/usr/share/doc/theseus/examples"


@pytest.fixture(scope="module")
def chains():
    records = [r for name in ("1s40", "2sdf", "1adz") for r in read_chains(f"{THESEUS}/{name}.pdb.gz")
               if hasattr(r, "backbone")]
    return [(r.sequence, np.asarray(r.backbone, dtype=np.float64)) for r in records]


def _rigid_motion(backbone: np.ndarray, seed: int) -> np.ndarray:
    rotation, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    rotation *= np.sign(np.linalg.det(rotation))
    return backbone @ rotation.T + np.array([12.0, -3.0, 40.0])


def test_nerf_rebuilds_a_real_chain_from_its_own_internal_coordinates(chains):
    for _, backbone in chains:
        assert backbone_rmsd(backbone, rebuild_exact(backbone)) < 1e-3


def test_torsions_follow_the_iupac_sign_and_rebuild_round_trips(chains):
    _, backbone = chains[0]
    table = residue_torsions(backbone)
    assert np.nanmedian(np.degrees(table[:, 0])) < -40  # phi of right-handed helices and strands
    assert abs(abs(np.nanmedian(np.degrees(table[:, 2]))) - 180) < 10  # trans peptides
    again = residue_torsions(rebuild(table))
    defined = ~np.isnan(table)
    assert np.allclose(np.angle(np.exp(1j * (again[defined] - table[defined]))), 0, atol=1e-6)


def test_metrics_are_invariant_to_rigid_motion(chains):
    sequence, backbone = chains[0]
    moved = _rigid_motion(backbone, 1)
    assert tm_score(backbone, moved, sequence) == pytest.approx(1.0)
    assert backbone_rmsd(backbone, moved) < 1e-6
    with pytest.raises(ValueError, match="residues"):
        tm_score(backbone, moved[:-1], sequence)


def test_torsion_baseline_codes_are_per_residue_invariant_and_stable(chains, tmp_path):
    book = TorsionCodebook.fit([b for _, b in chains[1:]], codes=32)
    book.closed_loop = False
    sequence, backbone = chains[0]
    codes = book.encode(backbone)
    assert codes.shape == (len(sequence),) and codes.max() < 32
    assert np.array_equal(book.encode(_rigid_motion(backbone, 2)), codes)
    decoded = book.decode(codes)
    assert decoded.shape == backbone.shape
    assert np.array_equal(book.encode(decoded)[1:-1], codes[1:-1])  # chain ends: undefined torsions
    assert 0.0 < tm_score(backbone, decoded, sequence) < 1.0
    counts = usage(codes, book.size)
    assert 1 <= counts["used"] <= 32 and 1.0 <= counts["perplexity"] <= counts["used"]
    book.save(tmp_path / "codebook.safetensors")
    assert np.array_equal(TorsionCodebook.load(tmp_path / "codebook.safetensors", closed_loop=False).encode(backbone), codes)
    with pytest.raises(ValueError, match="cannot seed"):
        TorsionCodebook.fit([backbone[:5]], codes=32)


def test_corpus_deduplicates_and_splits_by_similarity():
    from pathlib import Path

    from megatron_bio.structure.protein.corpus import read_corpus, similar, similarity_groups, split

    files = sorted(Path(THESEUS, "cytochromes").glob("*.pdb*")) + [Path(THESEUS, f"{n}.pdb.gz") for n in ("1s40", "2sdf", "1adz")]
    chains, rejected = read_corpus(files + files[:2])
    assert rejected["duplicate sequence"] >= 2  # the two files read twice
    assert rejected["non-protein chain: nucleic acid"] == 1  # 1adz holds DNA besides its protein
    assert len({c.sequence for c in chains}) == len(chains)
    cytochromes = [c for c in chains if c.name.startswith("d1")]
    assert len(cytochromes) >= 5
    assert similar(cytochromes[0].sequence, cytochromes[1].sequence, 0.3)
    unrelated = next(c for c in chains if c.name.startswith("1s40"))
    assert not similar(cytochromes[0].sequence, unrelated.sequence, 0.3)  # 108 vs 187 residues
    groups = similarity_groups([c.sequence for c in chains])
    assert len({g for c, g in zip(chains, groups) if c in cytochromes}) == 1
    train, held_out = split(chains, held_out=0.5)
    assert len(train) + len(held_out) == len(chains)
    assert not {c.sequence for c in cytochromes} & {c.sequence for c in train} or \
        not {c.sequence for c in cytochromes} & {c.sequence for c in held_out}  # a family stays on one side


def test_a_written_backbone_reads_back(chains, tmp_path):
    from megatron_bio.structure.protein.backbone import write_backbone

    sequence, backbone = chains[0]
    for suffix in (".pdb", ".cif"):
        path = write_backbone(backbone, sequence, tmp_path / f"chain{suffix}")
        (read,) = list(read_chains(path))
        assert read.sequence == sequence
        assert np.allclose(np.asarray(read.backbone), backbone, atol=1e-3)
    with pytest.raises(ValueError, match="letters"):
        write_backbone(backbone, sequence[:-1], tmp_path / "short.pdb")


def test_missing_atoms_are_refused_by_the_metric(chains):
    sequence, backbone = chains[0]
    holed = backbone.copy()
    holed[3, 0] = np.nan
    with pytest.raises(ValueError, match="missing atoms"):
        tm_score(holed, backbone, sequence)
