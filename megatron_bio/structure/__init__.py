"""3D structure (de)tokenizers, the codec layer above the vocabulary: molecules
(MolStrucTok-compatible) and protein backbones, over one shared geometry module."""
