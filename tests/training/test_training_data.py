"""The pipeline's shards through megatron-core's datasets: blend, splits, boundary options, and a
clear error where a split would leave a prefix without documents."""

import pytest

from megatron_bio.training.data import TrainDataConfig, build_datasets


def test_blend_splits_and_document_boundaries(shards, tokenizer, tmp_path):
    config = TrainDataConfig(shards=str(shards), split="60,40,0", reset_position_ids=True,
                             reset_attention_mask=True, eod_mask_loss=True)
    train, valid, test = build_datasets(config, tokenizer, 64, [40, 8, 0], tmp_path)
    assert len(train) >= 40 and len(valid) >= 8 and test is None
    assert any(tmp_path.glob("*GPTDataset-train-shuffle_index.npy"))  # the indices went to the cache folder given
    sample = train[0]
    tokens, labels, positions = sample["tokens"], sample["labels"], sample["position_ids"]
    assert tokens.shape == labels.shape == positions.shape == (64,)
    eods = (tokens == tokenizer.eod).nonzero().flatten().tolist()
    for eod in eods[:-1]:
        if eod + 1 < 64:
            assert positions[eod + 1] == 0  # positions restart after each document
    assert not sample["loss_mask"][tokens == tokenizer.eod].any()  # no loss across a document boundary


def test_a_split_without_documents_is_an_error_not_a_hang(shards, tokenizer, tmp_path):
    config = TrainDataConfig(shards=str(shards), split="98,2,0")
    with pytest.raises(ValueError, match="leave the valid split empty"):
        build_datasets(config, tokenizer, 64, [10, 4, 0], tmp_path)  # swissprot's 3 documents: 2% of them rounds to none
