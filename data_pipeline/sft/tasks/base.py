"""What a task family is: a small declarative entry the SFT corpus builder runs over entities.

A family reads stage-1 entities (`data_pipeline.normalize`: dicts with `kind`, `smiles`, `selfies`,
`name`, `description`, `properties`, `molecule_3d`, `sequence`, `structure_codes`, `features`, ...)
and makes `Example`s: the values its prompt templates name, the assistant's answer as typed
segments, and the molecules, proteins, nucleotide sequences and organisms the example mentions (the
split table keys them). It never picks a template or a split: the builder does, so every family
inherits the same leak-free split and the same template sampling.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Union

from megatron_bio.tokenizer.molecule_forms import MoleculeFormError, canonical_selfies
from megatron_bio.tokenizer.segments import Document, Modality, Segment

CATEGORIES = ("molecule_1d", "molecule_3d", "protein_1d", "protein_3d", "interaction", "text", "nucleic")

# Metric families the evaluation job scores a task with (evals/ maps each to its metrics).
METRICS = {
    "molecule_match": "exact match as molecules, fingerprint similarity, validity (a molecule answer)",
    "name_match": "exact match of a name after normalization (IUPAC / common names)",
    "formula_match": "element-count formula match",
    "text_generation": "BLEU-2/4, ROUGE-1/2/L, METEOR (free-text answers)",
    "regression": "RMSE, MAE, Pearson, Spearman (a number)",
    "classification": "accuracy, F1 (a label among a fixed set)",
    "set_f1": "per-sample set precision / recall / F1 (GO terms, keywords)",
    "molecule_distribution": "validity, uniqueness, novelty, diversity (unconditional molecules)",
    "molecule_constraints": "share of valid answers that satisfy the instruction, checked by RDKit",
    "protein_distribution": "validity, uniqueness, novelty, diversity (unconditional sequences)",
    "structure_tm": "TM-score / RMSD of the decoded backbone against the reference",
    "sequence_recovery": "amino-acid recovery (inverse folding, design)",
    "molecule_3d_stability": "atom / molecule stability and validity of decoded 3D molecules",
    "molecule_3d_property": "MAE between the target and the property a classifier trained on the other QM9 half "
                            "predicts for the decoded 3D molecule (EDM protocol), with its stability",
    "binary_classification": "accuracy, F1, AUROC (yes/no)",
    "translation": "exact match and sequence identity of a protein answer to the annotated translation",
    "back_translation": "share of DNA answers that translate back to the prompt's protein under its genetic code",
    "sequence_match": "exact match of a nucleotide sequence answer",
    "location_match": "exact match of a feature location (strand, start, end) written as INSDC writes it",
}


class Skip(ValueError):
    """An entity this family cannot use; the message is the reason, counted per task. A family
    that makes several examples from one entity (one per CDS of a genome) may instead yield a Skip
    for one candidate it drops: the builder counts it per task and reason, and keeps the others."""


@dataclass(frozen=True)
class Example:
    """One instruction before templating. `fields` fill the template's `{name}` placeholders;
    `answer` is the assistant's reply; `molecules` (SMILES), `proteins` and `nucleotides`
    (sequences) and `organisms` (names) are every entity the example holds, input and answer alike:
    the split table decides from them. `encodes` pairs a DNA or RNA sequence with the protein it
    encodes (a CDS and its translation): the two share a split group, so that a protein near-copy
    whose gene is not a DNA near-copy (synonymous codons) is held out with it."""

    fields: dict[str, Segment]
    answer: tuple[Segment, ...]
    molecules: tuple[str, ...] = ()
    proteins: tuple[str, ...] = ()
    nucleotides: tuple[str, ...] = ()
    organisms: tuple[str, ...] = ()
    encodes: tuple[tuple[str, str], ...] = ()
    suffix: str = ""  # tells apart several examples made from one entity (e.g. ":homo", ":edit2")
    meta: dict = field(default_factory=dict)  # what scoring needs beyond the target (a constraint, a unit)


Make = Callable[[dict, random.Random], Iterable[Union[Example, Skip]]]


@dataclass(frozen=True)
class TaskFamily:
    """One family: which entities it reads, how an example is made, at least six prompt templates
    in our own words, and how the evaluation job scores it. `variants` lists the molecule notations
    it is built in: a `selfies` variant is the same examples with every SMILES segment (input and
    answer) written as SELFIES."""

    name: str
    category: str
    kinds: tuple[str, ...]
    make: Make
    templates: tuple[str, ...]
    metric: str
    description: str
    variants: tuple[str, ...] = ("smiles",)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"task {self.name}: unknown category {self.category!r}")
        if self.metric not in METRICS:
            raise ValueError(f"task {self.name}: unknown metric family {self.metric!r}")
        if len(set(self.templates)) < 6:
            raise ValueError(f"task {self.name}: {len(set(self.templates))} distinct templates, at least 6 wanted")

    def task_names(self) -> list[str]:
        """The task ids this family writes: its name, or one per notation when it has several."""
        if len(self.variants) == 1:
            return [self.name]
        return [f"{self.name}.{variant}" for variant in self.variants]


# Building blocks the families share ---------------------------------------------------------------
def text(value: str) -> Segment:
    return Segment(Modality.TEXT, value)


def smiles(value: str) -> Segment:
    return Segment(Modality.SMILES, value)


def selfies(value: str) -> Segment:
    return Segment(Modality.SELFIES, value)


def protein(sequence: str) -> Segment:
    return Segment(Modality.PROTEIN, sequence)


def protein_3d(codes) -> Segment:
    return Segment(Modality.PROTEIN_3D, tuple(int(c) for c in codes))


def molecule_3d(tokens: str) -> Segment:
    return Segment(Modality.MOLECULE_3D, tokens)


def nucleic(sequence: str, molecule: str) -> Segment:
    """A DNA or RNA sequence in its molecule's wrapper ("DNA" or "RNA", as records name them)."""
    return Segment(Modality.RNA if molecule == "RNA" else Modality.DNA, sequence)


def number(value: float, digits: int = 2) -> str:
    """A measured value as the answer writes it: fixed decimals, no exponent, '-' not '-0.00'."""
    written = f"{value:.{digits}f}"
    return "0." + "0" * digits if written == "-0." + "0" * digits else written


def require(entity: dict, *names: str) -> list:
    """The entity's fields, or Skip naming the first one it lacks."""
    values = []
    for name in names:
        value = entity.get(name)
        if value in (None, "", [], {}):
            raise Skip(f"no {name}")
        values.append(value)
    return values


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, fields: dict[str, Segment]) -> Document:
    """The user's message: the template's text with each `{name}` replaced by its segment."""
    document: Document = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > position:
            document.append(text(template[position:match.start()]))
        document.append(fields[match.group(1)])
        position = match.end()
    if position < len(template):
        document.append(text(template[position:]))
    return document


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def as_selfies(segment: Segment) -> Segment:
    """A SMILES segment written as SELFIES (other segments unchanged)."""
    if segment.modality is not Modality.SMILES:
        return segment
    try:
        return selfies(canonical_selfies(segment.value)[1])
    except MoleculeFormError as error:
        raise Skip(f"no SELFIES: {error}") from None


NOTATIONS = {"smiles": "SMILES", "selfies": "SELFIES"}


def notation() -> Segment:
    """The `{notation}` field of a template that asks for a molecule in no other way (a name or a
    text to a molecule, unconditional generation): it names SMILES, and `in_variant` renames it,
    so that the prompt asks for the notation the answer is written in."""
    return text(NOTATIONS["smiles"])


def in_variant(example: Example, variant: str) -> Example:
    """The example as a family's `variant` writes it: for `selfies`, every SMILES segment of the
    fields and the answer becomes SELFIES and a `notation` field names SELFIES."""
    if variant not in NOTATIONS:
        raise ValueError(f"unknown notation variant {variant!r}")
    if variant == "smiles":
        return example
    fields = {key: text(NOTATIONS[variant]) if key == "notation" else as_selfies(value)
              for key, value in example.fields.items()}
    return replace(example, fields=fields, answer=tuple(as_selfies(segment) for segment in example.answer))
