"""The evaluation metrics: plain functions, each reproducing its named reference script's exact
definition (`registry.py` lists them, with variants where references disagree)."""
