"""3D structure (de)tokenizers: molecules (MolStrucTok-compatible) and, later, protein backbones,
over one shared geometry module."""
