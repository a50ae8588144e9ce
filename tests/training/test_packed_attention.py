"""Packed rows never attend across their sequences: on the tiny model at TP=1 and TP=2 (torchrun),
every SFT sample of a real packed row of the demo corpus, and every document of a real pretraining
row under `data.reset_attention_mask`, gets the logits it gets alone, while a plain causal mask over
the same row does not (so the check can fail). Also: labels never cross a boundary, and the
attention inputs follow the layer spec (mask on the local spec, THD parameters for Transformer
Engine, built here without it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from biomatrix_io.config import load_config
from biomatrix_io.packed_sft import PackedSplit
from megatron_bio.training.config import PretrainConfig
from megatron_bio.training.job import labels_within
from megatron_bio.training.packed_attention import (attention_inputs, block_causal_mask, segments_after_eod,
                                                    segments_from_lengths)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("packed_logits.py")
# Measured: a sequence's logits in its packed row and alone differ by at most ~5e-7 in float32 (TP=1
# and TP=2: the same products summed over other lengths); a plain causal mask over the same row moves
# them by ~0.5. 1e-5 is 20x the noise and 1/50,000 of the effect.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def rows(sft_corpus, shards, megatron_single_process, tmp_path_factory):
    """A real SFT pack (the demo corpus's first valid pack, padded to 2,048) and a real pretraining
    row that holds at least one document boundary, as `packed_logits.py` reads them."""
    config, _ = sft_corpus
    pack = PackedSplit(Path(config.out) / "shards" / "valid")[0]
    sft_tokens = np.concatenate([pack.tokens, np.zeros(2048 - len(pack.tokens), np.int32)]).astype(np.int64)
    recipe = load_config(PretrainConfig, ROOT / "launch" / "configs" / "tiny.yaml",
                         [f"data.shards={shards}", "data.split=50,50,0", "data.reset_attention_mask=true",
                          f"output={tmp_path_factory.mktemp('pretrain_rows')}"])
    job = recipe.job()
    job.build(recipe.tokenizer.build(), 64, 0)
    item = next(job.item("train", i) for i in range(64) if 2 <= len(set(job.item("train", i)["segments"])) <= 4)
    documents = np.bincount(item["segments"])
    path = tmp_path_factory.mktemp("rows") / "rows.npz"
    np.savez(path, **{"sft.tokens": sft_tokens, "sft.segments": segments_from_lengths(pack.lengths, 2048),
                      "sft.lengths": pack.lengths, "pretrain.tokens": item["tokens"].astype(np.int64),
                      "pretrain.segments": item["segments"], "pretrain.lengths": documents})
    return path, len(pack.lengths), len(documents)


def _measure(rows: Path, processes: int) -> dict[str, dict]:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else []
    done = subprocess.run([sys.executable, *launcher, str(SCRIPT), str(rows)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    return {r["case"]: r for r in map(json.loads, (line for line in done.stdout.splitlines() if line.startswith("{")))}


@pytest.mark.parametrize("processes", [1, 2], ids=["tp1", "tp2"])
def test_each_packed_sequence_gets_its_own_logits_and_a_causal_mask_would_not(rows, processes):
    path, samples, documents = rows
    assert samples >= 3 and documents >= 2
    measured = _measure(path, processes)
    for case in ("sft", "pretrain"):
        assert measured[case]["tensor"] == processes
        assert measured[case]["packed"] < TOLERANCE, measured[case]
        assert measured[case]["causal"] > 100 * TOLERANCE, measured[case]


def test_document_boundaries_follow_gpt_dataset_eod_rule():
    """GPTDataset (reset_attention_mask): nothing after an EOD attends to the EOD or before it."""
    segments = segments_after_eod(np.array([5, 6, 0, 7, 0, 0, 8]), eod=0)
    assert segments.tolist() == [0, 0, 0, 1, 1, 2, 3]


def test_labels_never_cross_a_sample_boundary():
    tokens = np.array([10, 11, 12, 20, 21, 22, 0, 0])
    segments = segments_from_lengths(np.array([3, 3]), 8)
    targets = np.array([0, 1, 1, 0, 1, 1, 0, 0])
    labels, mask = labels_within(tokens, segments, targets)
    assert labels[:6].tolist() == [11, 12, 20, 21, 22, 0]
    # 10->11 and 11->12 inside sample 0, 20->21 and 21->22 inside sample 1; never 12->20, never padding.
    assert mask.tolist() == [1, 1, 0, 1, 1, 0, 0, 0]


def test_attention_inputs_follow_the_layer_spec():
    segments = torch.from_numpy(segments_from_lengths(np.array([2, 3]), 7))[None]
    local = attention_inputs(segments, transformer_engine=False)
    expected = torch.tensor([[0, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1], [1, 1, 0, 1, 1, 1, 1], [1, 1, 0, 0, 1, 1, 1],
                             [1, 1, 0, 0, 0, 1, 1], [1, 1, 1, 1, 1, 0, 1], [1, 1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(local["attention_mask"][0, 0], expected)
    assert torch.equal(block_causal_mask(segments), local["attention_mask"])
    te = attention_inputs(segments, transformer_engine=True)
    params = te["packed_seq_params"]
    assert te["attention_mask"] is None and params.qkv_format == "thd"
    assert params.cu_seqlens_q.tolist() == [0, 2, 5, 7] and params.cu_seqlens_q.dtype == torch.int32
    assert params.max_seqlen_q == 3
    assert attention_inputs(None, transformer_engine=False) == {"attention_mask": None}
