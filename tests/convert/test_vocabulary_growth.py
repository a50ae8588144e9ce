"""A model trained before the DNA/RNA tokens meets the tokenizer that has them: the conversion's
vocabulary growth keeps every row it had and adds the 20 new ones by the description init, so
the grown model computes the same logits as before on inputs without nucleic acids; starting a
run from the older checkpoint (`checkpoint.init_from`) grows it the same way."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from biomatrix_io.config import load_config
from megatron_bio.convert.hf_to_megatron import hf_to_megatron
from megatron_bio.convert.megatron_to_hf import megatron_to_hf
from megatron_bio.model.vocabulary import extend_rows
from megatron_bio.tokenizer import BioMatrixTokenizer, Modality, Segment
from megatron_bio.tokenizer.hf_export import write_hf_tokenizer_dir
from megatron_bio.tokenizer_config import TokenizerConfig
from megatron_bio.training import checkpoint
from megatron_bio.training.config import PretrainConfig
from megatron_bio.training.setup import build_model

from ..conftest import DATA

TINY = Path(__file__).resolve().parents[2] / "launch" / "configs" / "tiny.yaml"
SMALL_INVENTORY = DATA / "molecule_3d_small.txt"
EMBEDDING = "model.embed_tokens.weight"
SEED = 5
# Text, SMILES, SELFIES, a protein with its structure, molecule 3D: every modality but the new ones.
DOCUMENT = [Segment(Modality.TEXT, "Aspirin "), Segment(Modality.SMILES, "CC(=O)Oc1ccccc1C(=O)O"),
            Segment(Modality.TEXT, " is "), Segment(Modality.SELFIES, "[C][C][=Branch1][C][=O][O]"),
            Segment(Modality.TEXT, "; it binds "), Segment(Modality.PROTEIN, "MKTAYIAKQRQISFVKSHFSRQ"),
            Segment(Modality.PROTEIN_3D, (12, 4012, 7, 7, 300)), Segment(Modality.MOLECULE_3D, "[C 3][Branch1 -1]"),
            Segment(Modality.TEXT, " in the pocket.")]


@pytest.fixture(scope="module")
def older_export(tmp_path_factory):
    """A tiny BioMatrix model of the vocabulary before DNA/RNA as an export holds one: random Qwen3
    weights of the tiny recipe's shape, the older tokenizer beside them."""
    from transformers import Qwen3ForCausalLM

    older = BioMatrixTokenizer.build(molecule_3d_inventory=SMALL_INVENTORY, nucleic_acids=False)
    folder = tmp_path_factory.mktemp("older_export")
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(load_config(PretrainConfig, TINY).model.hf_config(older.vocab_size))
    with torch.no_grad():
        model.model.embed_tokens.weight.normal_(0, 1)  # rows of visible size, so that a changed row shows
    model.save_pretrained(folder)
    write_hf_tokenizer_dir(older, folder)
    return folder, older


@pytest.fixture(scope="module")
def grown(older_export, tmp_path_factory, megatron_single_process):
    """The older export imported with the newer tokenizer (grown), then exported again."""
    folder, _ = older_export
    root = tmp_path_factory.mktemp("grown")
    report = hf_to_megatron(str(folder), str(root / "megatron"), dtype="fp32", seed=SEED,
                            tokenizer=TokenizerConfig(molecule_3d_inventory=str(SMALL_INVENTORY)))
    exported = megatron_to_hf(str(root / "megatron"), str(root / "hf"), dtype="fp32")
    return root, report, exported


def _embedding(folder: Path) -> torch.Tensor:
    return next(load_file(path)[EMBEDDING] for path in folder.glob("*.safetensors") if EMBEDDING in load_file(path))


def test_the_grown_import_keeps_every_row_and_adds_the_new_ones(older_export, grown, tokenizer):
    folder, older = older_export
    root, report, exported = grown
    assert report["vocab_size"] == tokenizer.vocab_size == older.vocab_size + 20 and report["grown_from"] == older.vocab_size
    assert exported["tokenizer"] and exported["vocab_size"] == tokenizer.vocab_size
    before, after = _embedding(folder), _embedding(root / "hf")
    assert torch.equal(after[:older.vocab_size], before)
    expected = extend_rows(before, tokenizer, report["rows"], SEED, "description", kept=older.vocab_size)
    assert torch.equal(after, expected[:tokenizer.vocab_size])
    assert BioMatrixTokenizer.from_dir(root / "hf").wrapped_modalities == tokenizer.wrapped_modalities


def test_the_grown_model_gives_the_same_logits_without_nucleic_acids(older_export, grown, tokenizer):
    from transformers import Qwen3ForCausalLM

    folder, older = older_export
    root, _, _ = grown
    ids = tokenizer.encode(DOCUMENT)
    assert ids == older.encode(DOCUMENT) and max(ids) < older.vocab_size
    models = [Qwen3ForCausalLM.from_pretrained(path, dtype=torch.float32).eval() for path in (folder, root / "hf")]
    with torch.no_grad():
        before, after = (model(input_ids=torch.tensor([ids])).logits for model in models)
    assert after.shape[-1] == tokenizer.vocab_size
    # The layers and the rows the input reads are the same tensors, so the hidden states are equal;
    # each kept logit is the dot product of one hidden state with one unchanged row, computed by
    # the same float32 GEMM in the same reduction order (observed bitwise equal here). A tolerance
    # of 1e-6 relative to the logit scale would only admit a BLAS that blocks differently by width.
    scale = before.abs().max()
    assert torch.allclose(after[..., :older.vocab_size], before, rtol=0, atol=1e-6 * float(scale))
    assert not torch.equal(after[..., older.vocab_size:], torch.zeros_like(after[..., older.vocab_size:]))


def test_init_from_the_older_checkpoint_grows_it_the_same_way(older_export, grown, tokenizer, tmp_path):
    folder, older = older_export
    root, report, _ = grown
    hf_to_megatron(str(folder), str(tmp_path / "plain"), dtype="fp32")  # imported as it is: older vocabulary
    recipe = load_config(PretrainConfig, TINY)
    model, _ = build_model(recipe, tokenizer.padded_vocab_size(1))
    done = checkpoint.load_weights(str(tmp_path / "plain"), model, tokenizer, "description", seed=SEED)
    assert done["grown"] and done["kept_rows"] == older.vocab_size and done["vocabulary_rows"] == tokenizer.vocab_size
    table = model[0].module.state_dict()["embedding.word_embeddings.weight"]
    before = _embedding(folder)
    assert torch.equal(table, extend_rows(before, tokenizer, report["rows"], SEED, "description", kept=older.vocab_size))
