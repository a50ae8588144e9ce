"""Task families: protein 1D. What a protein sequence does (GO terms, localization, function text,
annotation terms), and sequences from text or from nothing.

Sources: `metastudent` entities (UniProt, January 2014) carry their GO terms as
"GO:0005524 F:ATP binding" (`biomatrix_io.readers.metastudent`), one ontology per database:
F (MFO) and P (BPO) make GO prediction, C (CCO) makes localization. `swissprot` entities carry
the FUNCTION comment as `description` and, as `annotations`, GO term names followed by UniProt
keywords (the reader merges them, so the keyword family answers both). Any protein entity serves
unconditional generation.

Set answers are written "name (GO:id); name (GO:id)" (no GO name holds "; "), sorted by id, and
`meta["labels"]` holds the ids the scorer compares.
"""

from __future__ import annotations

import random
from typing import Iterator

from biomatrix_io.readers.metastudent import GO_ANNOTATION

from .base import Example, Skip, TaskFamily, protein, require, text

SEPARATOR = "; "
_ONTOLOGY = {"F": "molecular function", "P": "biological process", "C": "cellular component"}


def go_terms(entity: dict, aspect: str) -> list[tuple[str, str]]:
    """(GO id, name) of the entity's GO annotations of one aspect (F, P or C)."""
    matches = (GO_ANNOTATION.match(a) for a in entity.get("annotations") or ())
    return [(m.group(1), m.group(3)) for m in matches if m and m.group(2) == aspect]


def _go_set(aspect: str):
    def make(entity: dict, rng: random.Random) -> Iterator[Example]:
        (sequence,) = require(entity, "sequence")
        terms = go_terms(entity, aspect)
        if not terms:
            raise Skip(f"no GO {_ONTOLOGY[aspect]} terms")
        answer = SEPARATOR.join(f"{name} ({go_id})" for go_id, name in terms)
        yield Example({"sequence": protein(sequence)}, (text(answer),), proteins=(sequence,),
                      meta={"labels": [go_id for go_id, _ in terms], "separator": SEPARATOR, "accession": entity.get("name")})

    return make


def _function(entity: dict, rng: random.Random) -> Iterator[Example]:
    sequence, description = require(entity, "sequence", "description")
    yield Example({"sequence": protein(sequence)}, (text(description),), proteins=(sequence,))


def _keywords(entity: dict, rng: random.Random) -> Iterator[Example]:
    (sequence,) = require(entity, "sequence")
    terms = [a for a in entity.get("annotations") or () if not GO_ANNOTATION.match(a)]
    if not terms:
        raise Skip("no annotation terms")
    yield Example({"sequence": protein(sequence)}, (text(SEPARATOR.join(terms)),), proteins=(sequence,),
                  meta={"labels": terms, "separator": SEPARATOR})


def _design(entity: dict, rng: random.Random) -> Iterator[Example]:
    """Swiss-Prot: the FUNCTION comment; metastudent: the molecular-function terms, as the brief."""
    (sequence,) = require(entity, "sequence")
    functions = [name for _, name in go_terms(entity, "F")]
    if entity.get("description"):
        brief = entity["description"]
    elif functions:
        brief = "Gene Ontology molecular functions: " + SEPARATOR.join(functions)
    else:
        raise Skip("no function text or molecular-function terms")
    yield Example({"function": text(brief)}, (protein(sequence),), proteins=(sequence,),
                  meta={"reference_length": len(sequence)})


def _generation(entity: dict, rng: random.Random) -> Iterator[Example]:
    (sequence,) = require(entity, "sequence")
    yield Example({}, (protein(sequence),), proteins=(sequence,))


FAMILIES = (
    TaskFamily(
        name="go_molecular_function",
        category="protein_1d",
        kinds=("protein",),
        make=_go_set("F"),
        metric="set_f1",
        description="sequence -> its GO molecular-function terms (metastudent-data MFO, UniProt 2014)",
        templates=(
            "Which Gene Ontology molecular-function terms describe this protein? {sequence}",
            "List the molecular functions (GO terms with their ids) of the protein below.\n{sequence}",
            "{sequence}\nWhat does this protein do at the molecular level? Answer with GO molecular-function terms.",
            "Annotate the following sequence with Gene Ontology molecular-function terms: {sequence}",
            "Give the GO molecular-function annotation of this amino-acid sequence, as terms separated by semicolons. {sequence}",
            "Here is a protein: {sequence}. Which GO terms of the molecular-function ontology apply to it?",
        ),
    ),
    TaskFamily(
        name="go_biological_process",
        category="protein_1d",
        kinds=("protein",),
        make=_go_set("P"),
        metric="set_f1",
        description="sequence -> its GO biological-process terms (metastudent-data BPO, UniProt 2014)",
        templates=(
            "Which biological processes (Gene Ontology terms) is this protein involved in? {sequence}",
            "List the GO biological-process terms, with ids, for the protein below.\n{sequence}",
            "{sequence}\nIn which cellular or organismal processes does this protein take part? Answer with GO terms.",
            "Annotate this sequence with terms of the Gene Ontology biological-process branch: {sequence}",
            "Predict the GO biological-process annotation of the following protein, terms separated by semicolons. {sequence}",
            "Here is an amino-acid sequence: {sequence}. Which GO biological processes does it belong to?",
        ),
    ),
    TaskFamily(
        name="subcellular_localization",
        category="protein_1d",
        kinds=("protein",),
        make=_go_set("C"),
        metric="set_f1",
        description="sequence -> where it is found: GO cellular-component terms (metastudent-data CCO, UniProt 2014)",
        templates=(
            "Where in the cell is this protein found? Answer with Gene Ontology cellular-component terms. {sequence}",
            "Give the subcellular location of the protein below as GO cellular-component terms.\n{sequence}",
            "{sequence}\nWhich cellular compartments or complexes does this protein belong to (GO terms)?",
            "Predict the localization of this sequence in GO cellular-component terms, separated by semicolons: {sequence}",
            "In which part of the cell would you expect to find this protein? {sequence}",
            "Here is a protein: {sequence}. List the GO cellular components it is annotated with.",
        ),
    ),
    TaskFamily(
        name="protein_function",
        category="protein_1d",
        kinds=("protein",),
        make=_function,
        metric="text_generation",
        description="sequence -> the UniProt FUNCTION comment (Swiss-Prot entries)",
        templates=(
            "Describe the function of this protein: {sequence}",
            "What is the biological role of the protein with the following sequence?\n{sequence}",
            "{sequence}\nExplain in a few sentences what this protein does.",
            "Write the function annotation a curator would give this sequence: {sequence}",
            "Here is an amino-acid sequence: {sequence}. Summarize its function.",
            "Tell me what the following protein is for. {sequence}",
        ),
    ),
    TaskFamily(
        name="protein_keywords",
        category="protein_1d",
        kinds=("protein",),
        make=_keywords,
        metric="set_f1",
        description="sequence -> its Swiss-Prot annotation terms: GO term names and UniProt keywords, as the entry lists them",
        templates=(
            "List the annotation keywords of this protein: {sequence}",
            "Which UniProt keywords and GO terms fit the protein below?\n{sequence}",
            "{sequence}\nGive the functional and structural keywords of this sequence, separated by semicolons.",
            "Annotate this protein with keywords: {sequence}",
            "What terms would a protein database attach to this sequence? {sequence}",
            "Here is a protein: {sequence}. Name its keywords.",
        ),
    ),
    # Metric: a design brief admits many sequences, and amino-acid recovery needs one reference of
    # equal length aligned position by position, so recovery against the one natural protein would
    # mostly score length; the evaluation of text-based design (ProDVa) judges the designs as a set
    # (plausibility, repetition, diversity), which is `protein_distribution`.
    TaskFamily(
        name="protein_design",
        category="protein_1d",
        kinds=("protein",),
        make=_design,
        metric="protein_distribution",
        description="function text (Swiss-Prot FUNCTION comment, or GO molecular functions) -> a protein sequence",
        templates=(
            "Design a protein sequence that fits this description: {function}",
            "Write an amino-acid sequence for a protein with the following function.\n{function}",
            "{function}\nPropose a protein sequence that could carry out this role.",
            "I need a protein that does the following: {function} Give me its sequence.",
            "Generate a plausible protein for this functional brief: {function}",
            "Create the sequence of a protein matching this annotation: {function}",
        ),
    ),
    TaskFamily(
        name="protein_generation",
        category="protein_1d",
        kinds=("protein",),
        make=_generation,
        metric="protein_distribution",
        description="unconditional protein sequences (any protein source)",
        templates=(
            "Generate a protein sequence.",
            "Write the amino-acid sequence of a natural-looking protein.",
            "Give me a protein sequence of your choice.",
            "Produce one realistic protein sequence.",
            "Sample a protein: output its sequence only.",
            "Invent a protein and write down its sequence.",
        ),
    ),
)
