"""Real megatron-core datasets read our ids through the adapter: dtype, EOD, pad."""

import warnings

import numpy as np
import torch
import torch.distributed as dist

from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder
from megatron_bio.tokenizer import Modality, Segment
from megatron_bio.tokenizer.megatron_adapter import MegatronTokenizerAdapter


def test_gpt_dataset_reads_documents_written_with_our_ids(tokenizer, tmp_path):
    adapter = MegatronTokenizerAdapter(tokenizer)
    documents = [
        [Segment(Modality.TEXT, f"Protein {i}: "), Segment(Modality.PROTEIN, "MKTAYIAKQR"[: 3 + i % 7]),
         Segment(Modality.TEXT, " binds "), Segment(Modality.SELFIES, "[C][C][=O]")]
        for i in range(40)
    ]
    encoded = [ids + [adapter.eod] for ids in tokenizer.encode_batch(documents)]
    prefix = str(tmp_path / "shard")
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=np.int32)
    for ids in encoded:
        builder.add_document(np.asarray(ids, dtype=np.int32), [len(ids)])
    builder.finalize(prefix + ".idx")
    indexed = IndexedDataset(prefix)
    assert indexed.index.dtype == np.int32 and len(indexed) == 40
    assert indexed[5].tolist() == encoded[5]
    assert adapter.tokenize(tokenizer.render(documents[5])).tolist() == encoded[5][:-1]

    if not dist.is_initialized():
        dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
    config = GPTDatasetConfig(
        random_seed=1, sequence_length=32, blend=([prefix], None), split="100,0,0",
        tokenizer=adapter, reset_position_ids=True, reset_attention_mask=True, eod_mask_loss=False,
        path_to_cache=str(tmp_path / "cache"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pad/eod collision warning would fail here
        train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [20, None, None], lambda: True, config).build()
    sample = train[0]
    stream = np.concatenate(encoded)
    tokens = sample["tokens"].numpy()
    assert len(tokens) == 32 and any(np.array_equal(stream[i : i + 32], tokens) for i in range(len(stream) - 32))
    eod_positions = torch.nonzero(sample["labels"] == adapter.eod).flatten()
    assert len(eod_positions) and bool(sample["loss_mask"][eod_positions].all())  # EOD keeps its loss
