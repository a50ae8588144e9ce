"""Task families: general science text, a small share of plain question answering so that the model
keeps its text: GO term definitions (`go_terms` text entities, "name: definition") and ChEBI
definitions (`chebi_obo` molecule entities: `name`, `description`). "What is X?" -> the definition.

A ChEBI example shows no structure but is about one molecule: it lists that molecule's SMILES, so
the split table keeps the definition of a test molecule out of training.
"""

from __future__ import annotations

import random
from typing import Iterator

from .base import Example, Skip, TaskFamily, require, text


def _go_definition(entity: dict, rng: random.Random) -> Iterator[Example]:
    if not str(entity.get("id") or "").startswith("GO:"):
        raise Skip("not a GO term")
    body, name = require(entity, "text", "title")
    head = f"{name}: "
    if not body.startswith(head) or not body[len(head):].strip():
        raise Skip("text is not 'name: definition'")
    yield Example({"term": text(name)}, (text(body[len(head):].strip()),), meta={"go_id": entity["id"]})


def _chebi_definition(entity: dict, rng: random.Random) -> Iterator[Example]:
    name, definition, molecule = require(entity, "name", "description", "smiles")
    yield Example({"name": text(name)}, (text(definition),), molecules=(molecule,))


FAMILIES = (
    TaskFamily(
        name="go_term_definition",
        category="text",
        kinds=("text",),
        make=_go_definition,
        metric="text_generation",
        description="GO term name -> its definition (Gene Ontology, emboss-data 2013)",
        templates=(
            "What does the Gene Ontology term \"{term}\" mean?",
            "Define the biological term: {term}",
            "In the Gene Ontology, how is \"{term}\" defined?",
            "Explain briefly what {term} is.",
            "Give the definition of {term}.",
            "What is meant by \"{term}\" in molecular biology?",
        ),
    ),
    TaskFamily(
        name="chebi_definition",
        category="text",
        kinds=("molecule",),
        make=_chebi_definition,
        metric="text_generation",
        description="chemical entity name -> its ChEBI definition (emboss-data 2013)",
        templates=(
            "What is {name}?",
            "Describe the chemical entity called {name}.",
            "Give a short definition of {name}.",
            "Tell me what {name} is, in one or two sentences.",
            "How would a chemistry dictionary define {name}?",
            "Explain what the compound name \"{name}\" refers to.",
        ),
    ),
)
