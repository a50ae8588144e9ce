"""Protein structure tokenizers: a backbone (N, CA, C per residue) <-> one structure code per
residue, written as `<S_k>` tokens next to the residue tokens. GCP-VQVAE's weights, which BioMatrix
used, are not obtainable here; these are ours, each shipped in `data/` and named:

- `torsion` (the default): the 4,096-code torsion codebook with closed-loop encoding and lookahead
  (`torsion.py`: beam search over the decoded chain, `torsion.BEAM` wide), decoded by NeRF;
- `torsion-greedy`: the same codebook and decoder, the greedy closed loop (beam width 1: each
  residue's nearest placement, no lookahead); its codes are those `torsion` gave before lookahead;
- `baseline`: the same codebook and decoder, open-loop encoding (nearest torsions per residue);
- `vqvae`: the learned VQ-VAE (`model.py`, trained by `biomatrix structure protein train`).

All torsion-codebook names decode alike: any of their codes is valid for the others. Reconstruction
figures on the held-out chains are in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from biomatrix_io.config import ConfigError
from megatron_bio.structure.geometry import kabsch

from .model import BackboneVQVAE, TokenizerConfig
from .torsion import BEAM, KIND, TorsionCodebook

DATA = Path(__file__).resolve().parent / "data"
VQVAE_CHECKPOINT = DATA / "biomatrix_backbone_vqvae.safetensors"
TORSION_CODEBOOK = DATA / "biomatrix_torsion_4096.safetensors"
# Names usable wherever a tokenizer path is expected: (file, the encoder's settings for a torsion codebook).
TOKENIZERS = {"torsion": (TORSION_CODEBOOK, {"closed_loop": True, "beam": BEAM}),
              "torsion-greedy": (TORSION_CODEBOOK, {"closed_loop": True, "beam": 1}),
              "baseline": (TORSION_CODEBOOK, {"closed_loop": False}),
              "vqvae": (VQVAE_CHECKPOINT, {})}
DEFAULT = "torsion"
MIN_RESIDUES = 2  # a code sequence of one residue says nothing of shape


def structure_tokens(codes) -> str:
    return "".join(f"<S_{int(c)}>" for c in codes)


def encode_chain(tokenizer, backbone: np.ndarray, sequence: str) -> np.ndarray:
    """The data pipeline's hook: codes aligned one to one with the sequence's residues."""
    if len(sequence) != len(backbone):
        raise ValueError(f"{len(sequence)} residue letters for {len(backbone)} backbone residues")
    return tokenizer.encode(backbone)


class ProteinStructureTokenizer:
    def __init__(self, model: BackboneVQVAE):
        self.model = model
        self.config = model.config

    @classmethod
    def from_checkpoint(cls, path: str | Path = VQVAE_CHECKPOINT) -> "ProteinStructureTokenizer":
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = checkpoint_path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no protein structure tokenizer weights (train one with "
                                    "`biomatrix structure protein train`)")
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        if "config" not in metadata:
            raise ValueError(f"{path}: not a protein structure tokenizer checkpoint (no config in its metadata)")
        model = BackboneVQVAE(TokenizerConfig(**json.loads(metadata["config"])))
        model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
        # Inference in float64: a rigid motion of the input then moves encoder outputs by ~1e-15,
        # far too little to move any residue to another code (float32 would, at near-ties).
        return cls(model.double().eval())

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        """Weights in float16 (small enough to ship), codebook included, config in the metadata."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in self.model.state_dict().items()}
        save_file(tensors, str(path), metadata={"config": json.dumps(self.config.to_dict()),
                                                **{k: json.dumps(v) for k, v in (metadata or {}).items()}})
        return Path(path)

    @torch.no_grad()
    def encode(self, backbone: np.ndarray) -> np.ndarray:
        """(residues, 3, 3) N/CA/C in angstroms, NaN for missing atoms -> (residues,) codes."""
        backbone = np.asarray(backbone, dtype=np.float64)
        if backbone.ndim != 3 or backbone.shape[1:] != (3, 3):
            raise ValueError(f"a backbone is (residues, 3, 3) N/CA/C coordinates, got shape {backbone.shape}")
        present = ~np.isnan(backbone).any(axis=(1, 2))
        if present.sum() < MIN_RESIDUES:
            raise ValueError(f"{int(present.sum())} residues with N, CA and C: at least {MIN_RESIDUES} are needed")
        vectors = self.model.encoder(torch.from_numpy(backbone).to(self.model.quantizer.embedding.dtype))
        return self.model.quantizer.nearest(vectors).numpy()

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(residues,) codes -> (residues, 3, 3) N/CA/C with ideal residue geometry."""
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.long)
        if codes.ndim != 1 or len(codes) == 0 or int(codes.min()) < 0 or int(codes.max()) >= self.config.codes:
            raise ValueError(f"codes must be a non-empty list of integers in [0, {self.config.codes})")
        vectors = self.model.quantizer.embedding[codes]
        return stitch([(start, self._window(vectors[start:stop])) for start, stop in windows(len(codes), self.config.window)])

    def _window(self, vectors: torch.Tensor) -> np.ndarray:
        mask = torch.ones(1, len(vectors), dtype=torch.bool)
        return self.model.decode_window(vectors[None], mask)[0].double().numpy()

    @property
    def size(self) -> int:
        return self.config.codes


def checkpoint_path(name_or_path: str | Path) -> Path:
    return Path(TOKENIZERS[name_or_path][0]) if name_or_path in TOKENIZERS else Path(name_or_path)


def load(name_or_path: str | Path = DEFAULT):
    """A tokenizer by name (see the module docstring) or file: the VQ-VAE or a torsion codebook,
    whichever the file holds (a torsion codebook file encodes as `torsion` does)."""
    from safetensors import safe_open

    path = checkpoint_path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"{path}: no protein structure tokenizer there (names: {', '.join(TOKENIZERS)})")
    with safe_open(str(path), "np") as handle:
        kind = (handle.metadata() or {}).get("kind")
    if kind == KIND:
        return TorsionCodebook.load(path, **TOKENIZERS.get(name_or_path, (path, {}))[1])
    return ProteinStructureTokenizer.from_checkpoint(path)


def windows(length: int, window: int) -> list[tuple[int, int]]:
    """Decoder windows covering [0, length), each overlapping the one before by half a window."""
    if length <= window:
        return [(0, length)]
    stride = window // 2
    starts = list(range(0, length - window, stride)) + [length - window]
    return [(start, start + window) for start in starts]


def stitch(pieces: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Windows (start, (W, 3, 3)) -> one chain: each window is superposed on the chain built so far
    over their overlap, and its residues from the middle of that overlap on replace the chain's."""
    start, first = pieces[0]
    chain = first.copy()
    for start, piece in pieces[1:]:
        overlap = len(chain) - start
        rotation, shift = kabsch(piece[:overlap].reshape(-1, 3), chain[start:].reshape(-1, 3))
        placed = piece @ rotation.T + shift
        keep = start + overlap // 2
        chain = np.concatenate([chain[:keep], placed[keep - start:]])
    return chain
