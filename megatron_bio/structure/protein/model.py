"""The learned protein backbone tokenizer (GCP-VQVAE in spirit, sized for CPU training):

- encoder: a graph network over each residue's nearest neighbours in space. Every input is a
  neighbour's atoms and orientation seen from the residue's own frame, its distance and its offset
  along the chain, so the codes cannot change under rotations or translations of the input, and a
  mirror image gets other codes (the frames are right-handed).
- vector quantizer: 4,096 codes, updated as exponential moving averages of the vectors assigned to
  them, initialized by k-means on encoder outputs, dead codes restarted from live encoder outputs.
- decoder: a bidirectional transformer over a window of codes (relative-position attention bias)
  that predicts every residue's rigid frame at once (6D rotation + translation, as ESM3's structure
  decoder does) and places an ideal N-CA-C template with it; errors therefore do not accumulate
  along the chain. Chains longer than the window are decoded in overlapping windows, each
  superposed on the one before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .frames import backbone_frames, place_template, rotation_from_6d

ANGSTROM_SCALE = 10.0  # coordinates enter and leave the networks in units of 10 A


@dataclass(frozen=True)
class TokenizerConfig:
    codes: int = 4096
    code_dim: int = 32
    width: int = 128
    neighbours: int = 16
    graph_layers: int = 3
    decoder_layers: int = 6
    heads: int = 8
    max_offset: int = 32  # chain offsets beyond this share one attention bias / edge embedding
    window: int = 128  # decoder window (training crop length)
    rbf_bins: int = 16
    ema_decay: float = 0.99

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(inputs: int, width: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, width), nn.GELU(), nn.Linear(width, outputs))


def _offset_buckets(offsets: torch.Tensor, max_offset: int) -> torch.Tensor:
    return offsets.clamp(-max_offset, max_offset) + max_offset


def _seen_from(rotations: torch.Tensor, origins: torch.Tensor, atoms: torch.Tensor) -> torch.Tensor:
    """atoms (L, K, 3, 3) of K residues per residue, in that residue's frame."""
    return torch.einsum("lji,lkaj->lkai", rotations, atoms - origins[:, None, None, :])


class GraphLayer(nn.Module):
    """Message passing over the neighbour lists. The message's first layer is split into per-node
    projections of sender and receiver plus the edge term, so only one width x width product is
    paid per edge."""

    def __init__(self, width: int):
        super().__init__()
        self.receiver, self.sender = nn.Linear(width, width), nn.Linear(width, width, bias=False)
        self.message = nn.Sequential(nn.GELU(), nn.Linear(width, width))
        self.update = _mlp(2 * width, 2 * width, width)
        self.norm_message, self.norm_update = nn.LayerNorm(width), nn.LayerNorm(width)

    def forward(self, nodes: torch.Tensor, edges: torch.Tensor, neighbours: torch.Tensor, edge_mask: torch.Tensor) -> torch.Tensor:
        messages = self.message(self.receiver(nodes)[:, None] + self.sender(nodes)[neighbours] + edges)
        weights = edge_mask[..., None].float()
        pooled = (messages * weights).sum(1) / weights.sum(1).clamp(min=1)
        nodes = nodes + self.update(torch.cat([nodes, self.norm_message(pooled)], -1))
        return self.norm_update(nodes)


class Encoder(nn.Module):
    """One chain at a time (its whole length: a residue's neighbours may be anywhere along it)."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.config = config
        edge_inputs = 9 + 9 + config.rbf_bins
        self.offset = nn.Embedding(2 * config.max_offset + 1, config.width)
        self.edge_in = _mlp(edge_inputs, config.width, config.width)
        self.node_in = _mlp(7, config.width, config.width)
        self.layers = nn.ModuleList(GraphLayer(config.width) for _ in range(config.graph_layers))
        self.out = nn.Linear(config.width, config.code_dim)

    def features(self, backbone: torch.Tensor, present: torch.Tensor):
        """Invariant node and edge inputs of one chain: backbone (L, 3, 3) with NaN for missing atoms."""
        clean = torch.nan_to_num(backbone)
        rotations, origins = backbone_frames(clean)
        count = len(backbone)
        k = min(self.config.neighbours, max(count - 1, 1))
        distances = torch.cdist(origins, origins)
        blocked = ~(present[:, None] & present[None, :]) | torch.eye(count, dtype=torch.bool, device=backbone.device)
        distances = distances.masked_fill(blocked, float("inf"))
        nearest, neighbours = distances.topk(k, dim=1, largest=False)
        edge_mask = torch.isfinite(nearest)
        local_atoms = _seen_from(rotations, origins, clean[neighbours]).reshape(count, k, 9) / ANGSTROM_SCALE
        relative = torch.einsum("lji,lkjm->lkim", rotations, rotations[neighbours]).reshape(count, k, 9)
        centres = torch.linspace(2.0, 22.0, self.config.rbf_bins, device=backbone.device)
        rbf = torch.exp(-((nearest.clamp(max=1e3)[..., None] - centres) / 1.25) ** 2)
        offsets = _offset_buckets(neighbours - torch.arange(count, device=backbone.device)[:, None], self.config.max_offset)
        edges = self.edge_in(torch.cat([local_atoms, relative, rbf], -1)) + self.offset(offsets)
        own = _seen_from(rotations, origins, clean[:, None])[:, 0, [0, 2]].reshape(count, 6) / ANGSTROM_SCALE
        nodes = self.node_in(torch.cat([own, present[:, None].float()], -1))
        return nodes, edges * edge_mask[..., None], neighbours, edge_mask

    def forward(self, backbone: torch.Tensor) -> torch.Tensor:
        """(L, 3, 3) -> (L, code_dim) vectors to quantize."""
        present = ~torch.isnan(backbone).any(dim=(1, 2))
        nodes, edges, neighbours, edge_mask = self.features(backbone, present)
        for layer in self.layers:
            nodes = layer(nodes, edges, neighbours, edge_mask)
        return self.out(nodes)


class VectorQuantizer(nn.Module):
    """Nearest-code quantization with EMA codebook updates and a straight-through gradient."""

    def __init__(self, codes: int, dim: int, decay: float):
        super().__init__()
        self.decay = decay
        self.register_buffer("embedding", torch.randn(codes, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(codes))
        self.register_buffer("embedding_sum", self.embedding.clone())

    def nearest(self, vectors: torch.Tensor) -> torch.Tensor:
        distances = (vectors ** 2).sum(1, keepdim=True) - 2 * vectors @ self.embedding.T + (self.embedding ** 2).sum(1)
        return distances.argmin(1)

    def forward(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """vectors (N, dim) -> quantized (straight-through), codes, commitment loss."""
        codes = self.nearest(vectors.detach())
        quantized = self.embedding[codes]
        if self.training:
            self._ema_update(vectors.detach(), codes)
        commitment = F.mse_loss(vectors, quantized)
        return vectors + (quantized - vectors).detach(), codes, commitment

    @torch.no_grad()
    def _ema_update(self, vectors: torch.Tensor, codes: torch.Tensor) -> None:
        counts = torch.bincount(codes, minlength=len(self.embedding)).to(vectors.dtype)
        sums = torch.zeros_like(self.embedding).index_add_(0, codes, vectors)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embedding_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (total + len(self.embedding) * 1e-5) * total
        self.embedding.copy_(self.embedding_sum / smoothed[:, None])

    @torch.no_grad()
    def initialize(self, samples: torch.Tensor, iterations: int = 10, seed: int = 0) -> None:
        """k-means (Lloyd, from random samples) on encoder outputs: every code starts where data is."""
        generator = torch.Generator(device="cpu").manual_seed(seed)
        if len(samples) < len(self.embedding):
            raise ValueError(f"{len(samples)} encoder outputs cannot seed {len(self.embedding)} codes")
        centroids = samples[torch.randperm(len(samples), generator=generator)[:len(self.embedding)]].clone()
        for _ in range(iterations):
            self.embedding.copy_(centroids)
            codes = self.nearest(samples)
            counts = torch.bincount(codes, minlength=len(centroids)).to(samples.dtype)
            sums = torch.zeros_like(centroids).index_add_(0, codes, samples)
            live = counts > 0
            centroids[live] = sums[live] / counts[live, None]
        self.embedding.copy_(centroids)
        self.cluster_size.copy_(torch.bincount(self.nearest(samples), minlength=len(centroids)).to(samples.dtype).clamp(min=1))
        self.embedding_sum.copy_(self.embedding * self.cluster_size[:, None])

    @torch.no_grad()
    def restart_dead(self, samples: torch.Tensor, threshold: float, generator: torch.Generator) -> int:
        """Codes whose EMA use fell below `threshold` move onto random recent encoder outputs."""
        dead = (self.cluster_size < threshold).nonzero().squeeze(1)
        if len(dead) == 0:
            return 0
        picks = samples[torch.randint(len(samples), (len(dead),), generator=generator)]
        self.embedding[dead] = picks
        self.cluster_size[dead] = 1.0
        self.embedding_sum[dead] = picks
        return len(dead)


class RelativeAttentionLayer(nn.Module):
    """Pre-norm transformer layer whose attention carries a learned bias per chain offset and head."""

    def __init__(self, width: int, heads: int, max_offset: int):
        super().__init__()
        self.heads, self.max_offset = heads, max_offset
        self.norm_attention, self.norm_mlp = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.bias = nn.Embedding(2 * max_offset + 1, heads)
        self.mlp = _mlp(width, 4 * width, width)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm_attention(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        positions = torch.arange(length, device=x.device)
        bias = self.bias(_offset_buckets(positions[None, :] - positions[:, None], self.max_offset)).permute(2, 0, 1)
        bias = bias[None] + torch.where(key_mask, 0.0, float("-inf"))[:, None, None, :]
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = x + self.proj(attended.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp(self.norm_mlp(x))


class Decoder(nn.Module):
    """A bidirectional transformer over the codes whose head writes every residue's frame at once:
    a 6D rotation (Gram-Schmidt) and a translation, in one coordinate system shared by the window
    (which one is arbitrary: the losses are invariant to it)."""

    def __init__(self, config: TokenizerConfig):
        super().__init__()
        self.input = nn.Linear(config.code_dim, config.width)
        self.layers = nn.ModuleList(RelativeAttentionLayer(config.width, config.heads, config.max_offset)
                                    for _ in range(config.decoder_layers))
        self.norm = nn.LayerNorm(config.width)
        self.frame = nn.Linear(config.width, 9)

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, W, code_dim) quantized vectors -> rotations (B, W, 3, 3), origins (B, W, 3) in A."""
        x = self.input(vectors)
        for layer in self.layers:
            x = layer(x, mask)
        frame = self.frame(self.norm(x))
        return rotation_from_6d(frame[..., :6]), frame[..., 6:] * ANGSTROM_SCALE


class BackboneVQVAE(nn.Module):
    def __init__(self, config: TokenizerConfig = TokenizerConfig()):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.quantizer = VectorQuantizer(config.codes, config.code_dim, config.ema_decay)
        self.decoder = Decoder(config)

    def decode_window(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return place_template(*self.decoder(vectors, mask))
