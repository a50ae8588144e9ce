"""The MolStrucTok VQ-VAE: MLP encoder -> EMA vector quantizer (512 codes) -> branch-decoupled
decoder (one MLP head per descriptor component).

Two variants share this module. `released` has exactly the layers of BioMatrix's released checkpoint
(its keys and shapes, shared/notes/molstructok-compat.md). `contextual` (ours) adds what the SELFIES
string already tells the decoder about each atom: its element, its focal atom's element, the bond
order between them and its place in the walk. Codes then only carry the geometry the graph does not
fix, and the joint [SYMBOL CODE] token stays the interface.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .descriptors import denormalize

# Element buckets of the context (the rest share "other"); "none" stands for a missing focal atom.
ELEMENTS = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se", "other", "none")
ELEMENT_INDEX = {e: k for k, e in enumerate(ELEMENTS)}
MAX_BOND_ORDER = 3
WALK_PLACES = 4  # atom 0, 1, 2, and every later atom
# Checkpoint keys of the released model's older shared-trunk decoder, which its pipeline ignores.
LEGACY_PREFIXES = ("decoder.", "mu.", "sign_head.")


@dataclass(frozen=True)
class VQVAEConfig:
    hidden: int = 64
    codebook_size: int = 512
    contextual: bool = False
    decay: float = 0.99
    epsilon: float = 1e-5
    commitment: float = 0.25


def _mlp(width_in: int, hidden: int, width_out: int) -> nn.Sequential:
    """Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Linear (the checkpoint's indices 0/1/3/4/6)."""
    return nn.Sequential(
        nn.Linear(width_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, width_out),
    )


class EMAQuantizer(nn.Module):
    """Nearest-code quantizer (squared L2) whose codebook follows an exponential moving average of
    the encoder outputs assigned to it (no codebook gradient); dead codes restart on live outputs."""

    def __init__(self, size: int, dim: int, decay: float, epsilon: float) -> None:
        super().__init__()
        self.decay, self.epsilon = decay, epsilon
        self.embedding = nn.Embedding(size, dim)
        self.embedding.weight.requires_grad_(False)
        self.register_buffer("ema_cluster_size", torch.zeros(size))
        self.register_buffer("ema_cluster_sum", torch.zeros(size, dim))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Squared distances summed in the release's order (near ties follow the last bit); a NaN
        input (a degenerate released descriptor) has all-NaN distances, whose argmin is code 0."""
        codebook = self.embedding.weight
        distance = torch.sum(z**2, dim=1, keepdim=True) + torch.sum(codebook**2, dim=1) - 2 * torch.matmul(z, codebook.t())
        return distance.argmin(1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        codes = self.nearest(z)
        quantized = self.embedding(codes)
        if self.training:
            self._update(z.detach(), codes)
        commitment = F.mse_loss(z, quantized.detach())
        return z + (quantized - z).detach(), codes, commitment

    @torch.no_grad()
    def _update(self, z: torch.Tensor, codes: torch.Tensor) -> None:
        onehot = F.one_hot(codes, self.embedding.num_embeddings).type_as(z)
        self.ema_cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_cluster_sum.mul_(self.decay).add_(onehot.T @ z, alpha=1 - self.decay)
        total = self.ema_cluster_size.sum()
        size = (self.ema_cluster_size + self.epsilon) / (total + len(self.ema_cluster_size) * self.epsilon) * total
        self.embedding.weight.copy_(self.ema_cluster_sum / size[:, None])

    @torch.no_grad()
    def initialize(self, z: torch.Tensor, generator: torch.Generator) -> None:
        """Data-driven start: codes are random encoder outputs."""
        pick = torch.randint(len(z), (self.embedding.num_embeddings,), generator=generator)
        self.embedding.weight.copy_(z[pick])
        self.ema_cluster_sum.copy_(z[pick])
        self.ema_cluster_size.fill_(1.0)

    @torch.no_grad()
    def restart_dead(self, z: torch.Tensor, threshold: float, generator: torch.Generator) -> int:
        dead = torch.nonzero(self.ema_cluster_size < threshold).flatten()
        if len(dead):
            pick = torch.randint(len(z), (len(dead),), generator=generator)
            self.embedding.weight[dead] = z[pick]
            self.ema_cluster_sum[dead] = z[pick]
            self.ema_cluster_size[dead] = 1.0
        return len(dead)


class BranchDecoder(nn.Module):
    """One head per component, so that the bond length never competes with the angles for capacity."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gen_len_branch = _mlp(hidden, hidden, 1)
        self.gen_ang_branch = _mlp(hidden, hidden, 1)
        self.gen_tor_branch = _mlp(hidden, hidden, 1)
        self.sign_branch = _mlp(hidden, hidden, 3)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized (len, ang, tor) (k, 3) and sign logits (k, 3) for sign -1, 0, +1."""
        values = torch.cat([self.gen_len_branch(z), self.gen_ang_branch(z), self.gen_tor_branch(z)], dim=1)
        return values, self.sign_branch(z)


class Context(nn.Module):
    """An embedding of what the graph fixes about an atom (sum of four embeddings)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.element = nn.Embedding(len(ELEMENTS), hidden)
        self.focal_element = nn.Embedding(len(ELEMENTS), hidden)
        self.bond = nn.Embedding(MAX_BOND_ORDER + 1, hidden)
        self.place = nn.Embedding(WALK_PLACES, hidden)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return (
            self.element(context[:, 0]) + self.focal_element(context[:, 1])
            + self.bond(context[:, 2]) + self.place(context[:, 3])
        )


class MolStrucTokVQVAE(nn.Module):
    def __init__(self, config: VQVAEConfig = VQVAEConfig()) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = _mlp(4, h, h)
        self.quantizer = EMAQuantizer(config.codebook_size, h, config.decay, config.epsilon)
        self.multi_head_decoder = BranchDecoder(h)
        if config.contextual:
            self.encoder_context = Context(h)
            self.decoder_context = Context(h)

    def encode(self, features: torch.Tensor, context: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.config.contextual:
            return self.encoder(features)
        first, rest = self.encoder[0], self.encoder[1:]
        return rest(first(features) + self.encoder_context(context))

    def decode(self, quantized: torch.Tensor, context: Optional[torch.Tensor] = None):
        if self.config.contextual:
            quantized = quantized + self.decoder_context(context)
        return self.multi_head_decoder(quantized)

    def forward(self, features: torch.Tensor, context: Optional[torch.Tensor] = None):
        z = self.encode(features, context)
        quantized, codes, commitment = self.quantizer(z)
        values, sign_logits = self.decode(quantized, context)
        return values, sign_logits, codes, commitment

    @torch.no_grad()
    def codes_of(self, features: np.ndarray, context: Optional[np.ndarray] = None) -> np.ndarray:
        """Open-loop codes: each atom's own descriptor through the encoder and the quantizer."""
        self.eval()
        ctx = None if context is None else torch.as_tensor(context)
        return self.quantizer.nearest(self.encode(torch.as_tensor(features, dtype=torch.float32), ctx)).numpy()

    @torch.no_grad()
    def code_table(self, context: Optional[np.ndarray] = None) -> np.ndarray:
        """Raw descriptors (codebook_size, 4) that every code decodes to (in one context, if any):
        decoding is a table lookup, so codes can be chosen by where they put the atom."""
        self.eval()
        size = self.config.codebook_size
        ctx = None if context is None else torch.as_tensor(np.broadcast_to(context, (size, len(context))).copy())
        values, sign_logits = self.decode(self.quantizer.embedding.weight, ctx)
        features = np.concatenate([values.numpy(), sign_logits.argmax(1, keepdim=True).numpy() - 1.0], axis=1)
        table = denormalize(features)
        return table


def load_released(path: str | Path) -> MolStrucTokVQVAE:
    """BioMatrix's released checkpoint (a torch-saved state dict), loaded with weights_only=True."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = MolStrucTokVQVAE(VQVAEConfig())
    ours = set(model.state_dict())
    unknown = sorted(k for k in state if k not in ours and not k.startswith(LEGACY_PREFIXES))
    missing = sorted(ours - set(state))
    if unknown or missing:
        raise ValueError(f"{path}: not a MolStrucTok checkpoint (unknown keys {unknown[:5]}, missing {missing[:5]})")
    model.load_state_dict({k: v for k, v in state.items() if k in ours})
    return model.eval()


def save_safetensors(model: MolStrucTokVQVAE, path: str | Path, metadata: Optional[dict] = None) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"config": json.dumps(asdict(model.config)), **{k: json.dumps(v) for k, v in (metadata or {}).items()}}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=info)
    return path


def load_safetensors(path: str | Path) -> tuple[MolStrucTokVQVAE, dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        info = {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}
    if "config" not in info:
        raise ValueError(f"{path}: no model config in the safetensors metadata")
    model = MolStrucTokVQVAE(VQVAEConfig(**info.pop("config")))
    model.load_state_dict(load_file(str(path)))
    return model.eval(), info


def load_model(path: str | Path) -> tuple[MolStrucTokVQVAE, dict]:
    """A released `.bin` checkpoint (info `released`: its pipeline's conventions apply) or one of
    ours (`.safetensors`, config in its metadata)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_safetensors(path)
    return load_released(path), {"released": True}
