"""Logits of packed rows against their sequences run alone, on the tiny model at the tensor-parallel
size of the launch (run under torchrun for TP > 1; one process otherwise). Reads `rows.npz` (per
case: `<case>.tokens` [s], `<case>.segments` [s], `<case>.lengths`: the sequences to compare, the
rest of the row being padding) and prints one JSON line per case on rank 0:
`packed` = largest |logit difference| of any sequence's tokens between the packed row with the
job's packed attention and the sequence alone; `causal` = the same with a plain causal mask over
the row (what packing without masks gives)."""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from biomatrix_io.config import load_config
from megatron_bio.model.distributed import initialize
from megatron_bio.model.gpt import build_gpt_model
from megatron_bio.training.config import PretrainConfig
from megatron_bio.training.packed_attention import attention_inputs, positions, transformer_overrides

TINY = Path(__file__).resolve().parents[2] / "launch" / "configs" / "tiny.yaml"


def _logits(model, tokens: np.ndarray, segments) -> torch.Tensor:
    ids = torch.from_numpy(tokens)[None]
    position_ids = torch.from_numpy(positions(segments if segments is not None else np.zeros(len(tokens), np.int64)))[None]
    attention = attention_inputs(None if segments is None else torch.from_numpy(segments)[None], False)
    with torch.no_grad():
        return model(ids, position_ids, runtime_gather_output=True, **attention)[0].float()


def main(rows: str) -> None:
    tensor = initialize(seed=1234)
    config = load_config(PretrainConfig, TINY, [f"parallel.tensor={tensor}", "model.max_position_embeddings=2048"])
    padded = config.tokenizer.build().padded_vocab_size(tensor)
    model = build_gpt_model(config.model, config.transformer_config(**transformer_overrides(True)), padded, 2048)
    model.eval()
    data = np.load(rows)
    for case in sorted({key.split(".")[0] for key in data.files}):
        tokens, segments, lengths = (data[f"{case}.{part}"] for part in ("tokens", "segments", "lengths"))
        packed, causal = _logits(model, tokens, segments), _logits(model, tokens, None)
        worst = {"packed": 0.0, "causal": 0.0}
        start = 0
        for length in lengths:
            alone = _logits(model, tokens[start:start + length], None)
            for name, row in (("packed", packed), ("causal", causal)):
                worst[name] = max(worst[name], float((row[start:start + length] - alone).abs().max()))
            start += length
        if dist.get_rank() == 0:
            print(json.dumps({"case": case, "tensor": tensor, **worst}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
