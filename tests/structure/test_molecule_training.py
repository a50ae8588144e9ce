"""Training from scratch runs, learns, and writes a checkpoint the tokenizer loads."""

from __future__ import annotations

from megatron_bio.structure.molecule import MoleculeStructureTokenizer
from megatron_bio.structure.molecule.train import TrainConfig, train


def test_train_a_small_model(tmp_path, qm9_test):
    logged = []
    out = tmp_path / "tiny.safetensors"
    config = TrainConfig(sources=["qm9:train"], molecules=400, steps=300, batch_size=512, restart_every=100, workers=1)
    metadata = train(config, out, logged.append)
    assert metadata["final"]["cartesian_A2"] < 0.2 and metadata["molecules"] > 350
    assert metadata["final"]["used_codes"] > 100
    tokenizer = MoleculeStructureTokenizer.from_checkpoint(out)
    assert tokenizer.closed_loop and tokenizer.contextual
    encoded = tokenizer.encode(qm9_test[0].mol)
    assert tokenizer.decode(encoded.tokens).GetNumAtoms() == qm9_test[0].mol.GetNumAtoms()
