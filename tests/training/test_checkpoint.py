"""Starting from a base model's weights (checkpoint.init_from): the vocabulary tables grow to the
BioMatrix vocabulary on the way in (old rows kept, added rows by the description formula, padding
rows zero), every other weight is the base's; a weights-only checkpoint is refused as a run to resume."""

from pathlib import Path

import pytest
import torch

from biomatrix_io import checkpoints
from biomatrix_io.config import ConfigError, load_config
from megatron_bio.model.config import QWEN3_VOCAB_SIZE
from megatron_bio.model.vocabulary import extend_rows
from megatron_bio.training import checkpoint
from megatron_bio.training.config import PretrainConfig
from megatron_bio.training.setup import build_model, build_optimizer

TINY = Path(__file__).resolve().parents[2] / "launch" / "configs" / "tiny.yaml"
EMBEDDING = "embedding.word_embeddings.weight"


@pytest.fixture(scope="module")
def base(megatron_single_process, tmp_path_factory):
    """A Qwen3-vocabulary model (151,936 rows) saved as model weights only, as the HF import writes one."""
    from megatron.core import dist_checkpointing

    recipe = load_config(PretrainConfig, TINY)
    model, _ = build_model(recipe, QWEN3_VOCAB_SIZE)
    folder = tmp_path_factory.mktemp("base")
    dist_checkpointing.save({"model": model[0].module.sharded_state_dict()}, str(folder))
    return folder, {k: v.clone() for k, v in model[0].module.state_dict().items() if not k.endswith("_extra_state")}


@pytest.mark.parametrize("init", ["description", "random"])
def test_init_from_a_base_grows_the_vocabulary(base, init):
    folder, weights = base
    recipe = load_config(PretrainConfig, TINY)
    tokenizer = recipe.tokenizer.build()
    padded = tokenizer.padded_vocab_size(1)
    model, _ = build_model(recipe, padded)
    done = checkpoint.load_weights(str(folder), model, tokenizer, init, seed=7)
    assert done["grown"] and done["base_rows"] == QWEN3_VOCAB_SIZE and done["vocabulary_rows"] == tokenizer.vocab_size
    loaded = model[0].module.state_dict()
    table = loaded[EMBEDDING]
    kept = tokenizer.base_vocab_size
    assert table.shape[0] == padded
    assert torch.equal(table[:kept], weights[EMBEDDING][:kept])
    assert torch.equal(table, extend_rows(weights[EMBEDDING], tokenizer, padded, 7, init))
    assert not table[tokenizer.vocab_size:].any()
    assert all(torch.equal(loaded[k], v) for k, v in weights.items() if k != EMBEDDING)


def test_a_weights_only_checkpoint_is_not_a_run_to_resume(base):
    recipe = load_config(PretrainConfig, TINY)
    model, _ = build_model(recipe, recipe.tokenizer.build().padded_vocab_size(1))
    optimizer, scheduler = build_optimizer(recipe, model)
    with pytest.raises(ValueError, match="not a training checkpoint.*init_from"):
        checkpoint.load(base[0], model, optimizer, scheduler)


def test_a_folder_without_checkpoints_is_named(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        checkpoints.resolve(str(tmp_path))
