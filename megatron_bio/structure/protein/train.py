"""Training of the VQ-VAE backbone tokenizer on the corpus's training chains, on the CPU, sized for
two cores (about 0.5 s a step with the shipped config).

Schedule: `autoencoder_steps` without quantization (the encoder and decoder learn a continuous
code first), then the codebook is initialized by k-means on encoder outputs and quantization is
switched on; dead codes are restarted every `restart_every` steps. Each step takes `batch` chains;
the encoder reads each chain whole (a residue's neighbours may lie anywhere along it), the decoder
a random window of `model.window` residues of it, as it will at decode time.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from .codec import VQVAE_CHECKPOINT, ProteinStructureTokenizer
from .corpus import ProteinChain
from .evaluate import evaluate
from .frames import backbone_frames, place_template
from .losses import distance_error, fape, orientation_error
from .model import BackboneVQVAE, TokenizerConfig


@dataclass
class ProteinTrainConfig:
    model: dict = field(default_factory=dict)  # TokenizerConfig fields
    sources: list = field(default_factory=lambda: ["packages"])  # packages | promod3 (see corpus.py)
    held_out: float = 0.2
    steps: int = 6000
    batch: int = 8
    lr: float = 1.0e-3
    warmup: int = 200
    autoencoder_steps: int = 400
    init_samples: int = 40000
    restart_every: int = 100
    dead_below: float = 0.01  # EMA uses per step under which a code is restarted
    commitment: float = 0.25
    distance_weight: float = 0.5
    orientation_weight: float = 1.0
    validate_every: int = 500
    validation_chains: int = 24
    checkpoint_every: int = 500
    seed: int = 0
    threads: int = 2
    out: str = str(VQVAE_CHECKPOINT)


def _tensors(chains: list[ProteinChain]) -> list[torch.Tensor]:
    return [torch.from_numpy(np.asarray(c.backbone, dtype=np.float32)) for c in chains]


def _window(backbone: torch.Tensor, length: int, generator: torch.Generator) -> slice:
    if len(backbone) <= length:
        return slice(0, len(backbone))
    start = int(torch.randint(len(backbone) - length + 1, (1,), generator=generator))
    return slice(start, start + length)


def _pad(tensors: list[torch.Tensor], length: int) -> torch.Tensor:
    out = tensors[0].new_zeros((len(tensors), length, *tensors[0].shape[1:]))
    for i, t in enumerate(tensors):
        out[i, :len(t)] = t
    return out


class Trainer:
    def __init__(self, config: ProteinTrainConfig, train: list[ProteinChain], held_out: list[ProteinChain],
                 log: Callable[[dict], None] = lambda record: print(json.dumps(record), flush=True)):
        torch.manual_seed(config.seed)
        torch.set_num_threads(config.threads)
        self.config, self.log = config, log
        self.model = BackboneVQVAE(TokenizerConfig(**config.model))
        self.chains = _tensors(train)
        self.held_out = held_out[:config.validation_chains]
        self.generator = torch.Generator().manual_seed(config.seed)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=0.01)
        self.step = 0
        # Chains drawn in proportion to their length (capped at a window): every residue counts alike.
        lengths = torch.tensor([min(len(c), self.model.config.window) for c in self.chains], dtype=torch.float)
        self.weights = lengths / lengths.sum()

    def learning_rate(self) -> float:
        c = self.config
        if self.step < c.warmup:
            return c.lr * (self.step + 1) / c.warmup
        progress = (self.step - c.warmup) / max(1, c.steps - c.warmup)
        return c.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    def _sample(self) -> list[torch.Tensor]:
        picks = torch.multinomial(self.weights, self.config.batch, replacement=True, generator=self.generator)
        return [self.chains[int(i)] for i in picks]

    def _encode(self, chains: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[slice]]:
        windows = [_window(c, self.model.config.window, self.generator) for c in chains]
        return [self.model.encoder(c)[w] for c, w in zip(chains, windows)], windows

    def loss(self, chains: list[torch.Tensor], quantize: bool) -> tuple[torch.Tensor, dict]:
        vectors, windows = self._encode(chains)
        lengths = [len(v) for v in vectors]
        flat = torch.cat(vectors)
        if quantize:
            flat, codes, commitment = self.model.quantizer(flat)
        else:
            codes, commitment = None, flat.new_zeros(())
        width = max(lengths)
        true = _pad([c[w] for c, w in zip(chains, windows)], width)
        inside = _pad([torch.ones(n, dtype=torch.bool) for n in lengths], width)
        mask = inside & ~torch.isnan(true).any(dim=(-1, -2))  # scored: inside the window, atoms present
        true = torch.nan_to_num(true)
        rotations, origins = self.model.decoder(_pad(list(flat.split(lengths)), width), inside)
        atoms = place_template(rotations, origins)
        true_rotations, true_origins = backbone_frames(true)
        frame_error = fape((rotations, origins, atoms), (true_rotations, true_origins, true), mask)
        distances = distance_error(atoms[:, :, 1], true[:, :, 1], mask)
        orientations = orientation_error(rotations, true_rotations, mask)
        total = (frame_error + self.config.distance_weight * distances + self.config.orientation_weight * orientations
                 + self.config.commitment * commitment)
        figures = {"fape": frame_error.item(), "distance": distances.item(), "orientation": orientations.item(),
                   "commitment": commitment.item()}
        return total, {**figures, "codes": codes, "vectors": flat.detach()}

    def _initialize_codebook(self) -> None:
        samples = []
        with torch.no_grad():
            while sum(len(s) for s in samples) < self.config.init_samples:
                vectors, _ = self._encode(self._sample())
                samples.extend(vectors)
        self.model.quantizer.initialize(torch.cat(samples), seed=self.config.seed)
        self.log({"step": self.step, "event": "codebook initialized by k-means",
                  "samples": int(sum(len(s) for s in samples))})

    def validate(self) -> dict:
        self.model.eval()
        report = evaluate(ProteinStructureTokenizer(self.model), self.held_out)
        self.model.train()
        return {k: report[k] for k in ("tm_mean", "tm_median", "rmsd_mean", "used", "perplexity")}

    def run(self, checkpoint: Optional[Path] = None) -> dict:
        c = self.config
        self.model.train()
        recent: list[torch.Tensor] = []
        started = time.perf_counter()
        while self.step < c.steps:
            quantize = self.step >= c.autoencoder_steps
            if self.step == c.autoencoder_steps:
                self._initialize_codebook()
            for group in self.optimizer.param_groups:
                group["lr"] = self.learning_rate()
            total, figures = self.loss(self._sample(), quantize)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.step += 1
            recent = (recent + [figures["vectors"]])[-8:]
            record = {"step": self.step, "loss": total.item(), **{k: v for k, v in figures.items() if k not in ("codes", "vectors")},
                      "grad_norm": float(grad_norm), "lr": self.learning_rate(), "quantized": quantize,
                      "elapsed_s": round(time.perf_counter() - started, 1)}
            if quantize and self.step % c.restart_every == 0:
                record["restarted_codes"] = self.model.quantizer.restart_dead(torch.cat(recent), c.dead_below, self.generator)
            if self.step % c.validate_every == 0 or self.step == c.steps:
                record["validation"] = self.validate()
            if checkpoint is not None and (self.step % c.checkpoint_every == 0 or self.step == c.steps):
                self.save(checkpoint)
            if self.step % 10 == 0 or "validation" in record:
                self.log(record)
        return record

    def save(self, path: Path) -> Path:
        return ProteinStructureTokenizer(self.model).save(path, {"step": self.step, "train_config": self.config.__dict__})
