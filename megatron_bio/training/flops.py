"""Model FLOPs and MFU, counted the way Megatron-LM and PaLM report them: matmul FLOPs only, the
backward pass twice the forward, attention scores over the full sequence (no causal discount), no
recomputation, the logit layer over the padded vocabulary. MFU divides by the device's dense
bf16 peak (FP8 runs are reported against the same peak, as Megatron does).
"""

from __future__ import annotations

from typing import Optional

import torch

from megatron_bio.model.config import ModelConfig

# Dense bf16 tensor-core peaks (TFLOP/s) of the accelerators this stack targets, by device-name substring.
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 NVL": 835.0, "H100 PCIe": 756.0,
                    "H100": 989.4, "A100": 312.0}


def training_flops_per_token(model: ModelConfig, padded_vocab_size: int, sequence_length: int) -> float:
    h, d = model.hidden_size, model.kv_channels
    heads, groups = model.num_attention_heads, model.num_query_groups
    per_layer = (2 * h * (heads + 2 * groups) * d      # QKV projection
                 + 2 * 2 * sequence_length * heads * d  # scores and weighted values
                 + 2 * heads * d * h                    # output projection
                 + 2 * 3 * h * model.ffn_hidden_size)   # SwiGLU: gate, up, down
    forward = model.num_layers * per_layer + 2 * h * padded_vocab_size
    return 3.0 * forward


def peak_tflops(device_name: Optional[str] = None) -> Optional[float]:
    """The device's dense bf16 peak, None on a CPU or an accelerator outside the table."""
    if device_name is None:
        if not torch.cuda.is_available():
            return None
        device_name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in device_name), None)
