"""Success rate of instruction-constrained molecule answers (customized generation, editing,
optimization), as TOMG-Bench / S2-Bench score them: the share of ALL samples whose answer is a
valid molecule that satisfies the instruction (invalid and empty answers are failures, counted).

The instruction is the reference, as JSON: `{"meta": <the record's meta>, "input": <the input
molecule's SMILES, absent for customized generation>}`. The oracle is the one the SFT corpus
checked every target with (`data_pipeline.sft.tasks.molecule_oracle.satisfies`), so a gold answer
always scores 1 and the definition cannot drift between building and scoring. With
`notation="selfies"` answers (and inputs) are SELFIES, decoded first.
"""

from __future__ import annotations

import json
from typing import Optional

from biomatrix_io.config import ConfigError
from data_pipeline.sft.tasks.molecule_oracle import satisfies

from .molecules import as_smiles, canonical, check_notation
from .registry import PAIRS, Metric

TOMG = "TOMG-Bench / S2-Bench (phenixace/TOMG-Bench evaluate.py) success rate; our oracle (molecule_oracle.satisfies)"


def _instruction(text: str, sample: int) -> tuple[dict, Optional[str]]:
    try:
        given = json.loads(text)
        return dict(given["meta"]), given.get("input")
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"sample {sample}: reference {text[:60]!r} is not an instruction "
                          '{"meta": {...}, "input": SMILES}', ["references"]) from None


def success_rate(predictions: list[str], references: list[list[str]], notation: str = "smiles") -> dict:
    check_notation(notation)
    counts = {"samples": len(predictions), "empty": 0, "invalid": 0, "valid": 0, "satisfied": 0}
    for sample, (prediction, refs) in enumerate(zip(predictions, references)):
        meta, source = _instruction(refs[0], sample)
        smiles = as_smiles(prediction, notation)
        if smiles == "":
            counts["empty"] += 1
            continue
        if canonical(smiles) is None:
            counts["invalid"] += 1
            continue
        counts["valid"] += 1
        source_smiles = as_smiles(source, notation) if source else None
        counts["satisfied"] += bool(satisfies(meta, source_smiles, smiles))
    value = counts["satisfied"] / counts["samples"] if counts["samples"] else None
    return {"value": value, "counts": counts}


METRICS = [
    Metric("constraint_success", "tomg", TOMG, PAIRS, success_rate, default=True,
           description="Share of all samples whose answer parses and satisfies the instruction (atom / bond / "
                       "functional-group counts; an edit adding, deleting or substituting one group; an optimization "
                       "raising logP / QED / MR by the margin). Reference: the instruction as JSON "
                       '{"meta": ..., "input": SMILES}. Option: notation (smiles|selfies).'),
]
