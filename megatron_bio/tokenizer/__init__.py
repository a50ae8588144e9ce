"""The unified tokenizer: Qwen3's vocabulary extended with BioMatrix's token families."""

from .errors import TokenizationError
from .families import Family
from .segments import WRAPPERS, Document, Modality, Segment
from .unified import BioMatrixTokenizer, most_frequent_code

__all__ = [
    "BioMatrixTokenizer",
    "Document",
    "Family",
    "Modality",
    "Segment",
    "TokenizationError",
    "WRAPPERS",
    "most_frequent_code",
]
