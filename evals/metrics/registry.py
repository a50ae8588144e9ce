"""Every metric of the evaluation suite by name and variant, with the reference it reproduces.

A metric family (e.g. `molecule_exact_match`) may have several variants because the reference
scripts that share a name disagree (denominators, invalid outputs, stereo, tokenization, stemming);
each variant is its own entry and the default is the reference of the benchmark the BioMatrix
report cites. Metrics a reference would compute with a model this machine cannot have are listed
with `comparable=False` stand-ins, so a result can never pass for the reference number.

Each metric module declares a `METRICS` table of `Metric` entries; this module only gathers them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Optional

# The modules whose METRICS tables make up the suite.
MODULES = ("evals.metrics.molecules", "evals.metrics.distribution", "evals.metrics.text",
           "evals.metrics.labels", "evals.metrics.structures", "evals.metrics.constraints", "evals.metrics.nucleic")

PAIRS = "pairs"  # scored on (prediction, references) per sample
DISTRIBUTION = "distribution"  # scored on a set of generated samples (optionally against a training set)


@dataclass(frozen=True)
class Metric:
    """One metric variant.

    `score` takes, for kind "pairs", `(predictions: list[str], references: list[list[str]])`
    (several accepted references per sample), and for kind "distribution",
    `(predictions: list[str], train: Optional[list[str]])`. It returns a dict holding the figures
    (floats or None when undefined, e.g. no valid prediction) and `counts` (at least `samples`,
    plus e.g. `invalid`, `no_answer`, `empty`: nothing dropped without being counted).
    """

    name: str
    variant: str
    reference: str  # the script or paper whose definition this reproduces
    kind: str
    score: Callable[..., dict]
    default: bool = False
    comparable: bool = True  # False for a stand-in of a metric that needs a model absent here
    description: str = ""
    needs: tuple[str, ...] = field(default_factory=tuple)  # extra inputs, e.g. ("train",) for novelty

    @property
    def key(self) -> str:
        return f"{self.name}:{self.variant}"


def all_metrics() -> list[Metric]:
    found: list[Metric] = []
    for module in MODULES:
        found.extend(importlib.import_module(module).METRICS)
    return found


def find(name: str, variant: Optional[str] = None) -> Metric:
    """The metric `name` (`name:variant` also accepted) in its default variant unless one is named;
    KeyError with the known names otherwise."""
    if variant is None and ":" in name:
        name, variant = name.split(":", 1)
    candidates = [m for m in all_metrics() if m.name == name]
    chosen = [m for m in candidates if (m.variant == variant if variant else m.default)]
    if not chosen:
        known = sorted({m.key for m in all_metrics()} if not candidates else {m.key for m in candidates})
        raise KeyError(f"no metric {name}{':' + variant if variant else ''}; known: {', '.join(known)}")
    return chosen[0]


def result(metric: Metric, figures: dict) -> dict:
    """A metric's output as every report shows it: which definition, and whether comparable."""
    return {"metric": metric.name, "variant": metric.variant, "reference": metric.reference,
            "comparable": metric.comparable, **figures}
