"""Task families: protein 3D, over protein entities that carry `structure_codes` (one code of the
protein structure tokenizer per residue, computed in stage 1 from a structure source such as
`structure_chains`): folding, inverse folding, sequence-structure co-generation and backbones.

Co-generation and backbones are conditioned on the length only, as the evaluation samples them
(DPLM-2 protocol: so many samples per length). The PROMOD3 chains of the tokenizer's corpus
(`megatron_bio.structure.protein.corpus`) have no `biomatrix_io` reader, so they are no source
here yet.
"""

from __future__ import annotations

import random
from typing import Iterator

from .base import Example, Skip, TaskFamily, protein, protein_3d, require, text


def _chain(entity: dict) -> tuple[str, list[int]]:
    sequence, codes = require(entity, "sequence", "structure_codes")
    if len(codes) != len(sequence):
        raise Skip(f"{len(codes)} structure codes for {len(sequence)} residues")
    return sequence, codes


def _folding(entity: dict, rng: random.Random) -> Iterator[Example]:
    sequence, codes = _chain(entity)
    yield Example({"sequence": protein(sequence)}, (protein_3d(codes),), proteins=(sequence,), meta={"length": len(sequence)})


def _inverse_folding(entity: dict, rng: random.Random) -> Iterator[Example]:
    sequence, codes = _chain(entity)
    yield Example({"structure": protein_3d(codes)}, (protein(sequence),), proteins=(sequence,), meta={"length": len(sequence)})


def _co_generation(entity: dict, rng: random.Random) -> Iterator[Example]:
    sequence, codes = _chain(entity)
    yield Example({"length": text(str(len(sequence)))}, (protein(sequence), protein_3d(codes)), proteins=(sequence,),
                  meta={"length": len(sequence)})


def _backbone(entity: dict, rng: random.Random) -> Iterator[Example]:
    sequence, codes = _chain(entity)
    yield Example({"length": text(str(len(sequence)))}, (protein_3d(codes),), proteins=(sequence,), meta={"length": len(sequence)})


FAMILIES = (
    TaskFamily(
        name="protein_folding",
        category="protein_3d",
        kinds=("protein",),
        make=_folding,
        metric="structure_tm",
        description="sequence -> its structure as one structure token per residue",
        templates=(
            "Predict the 3D structure of this protein as structure tokens: {sequence}",
            "Fold the following sequence and write its backbone in structure tokens.\n{sequence}",
            "{sequence}\nWhat is the structure of this protein? Give one structure token per residue.",
            "Translate this amino-acid sequence into its structure-token representation: {sequence}",
            "Here is a protein sequence: {sequence}. Write down its folded structure.",
            "Give the structure tokens of the chain with the sequence {sequence}",
        ),
    ),
    TaskFamily(
        name="protein_inverse_folding",
        category="protein_3d",
        kinds=("protein",),
        make=_inverse_folding,
        metric="sequence_recovery",
        description="structure tokens -> the chain's sequence (one residue per token)",
        templates=(
            "Design a sequence that folds into this structure: {structure}",
            "Which amino-acid sequence has the following backbone?\n{structure}",
            "{structure}\nWrite a protein sequence for this structure, one residue per structure token.",
            "Inverse folding: give the sequence for the structure {structure}",
            "Here is a protein structure in structure tokens: {structure}. What is its sequence?",
            "Recover the amino-acid sequence of this chain from its structure: {structure}",
        ),
    ),
    TaskFamily(
        name="protein_co_generation",
        category="protein_3d",
        kinds=("protein",),
        make=_co_generation,
        metric="structure_tm",
        description="length -> a new protein: its sequence, then its structure tokens",
        templates=(
            "Generate a protein of {length} residues: give its sequence and its structure.",
            "Create a new protein with {length} amino acids. Write the sequence, then the structure tokens.",
            "Design a {length}-residue protein, both sequence and 3D structure.",
            "Invent a protein chain of length {length} and output its sequence followed by its structure.",
            "I need a protein {length} residues long: sequence and structure tokens, please.",
            "Sample a protein with {length} residues, sequence first, structure second.",
        ),
    ),
    TaskFamily(
        name="protein_backbone_generation",
        category="protein_3d",
        kinds=("protein",),
        make=_backbone,
        metric="structure_tm",
        description="length -> a protein backbone as structure tokens (scored by self-consistency: refold a designed sequence)",
        templates=(
            "Generate a protein backbone of {length} residues in structure tokens.",
            "Write the structure tokens of a plausible protein fold with {length} residues.",
            "Design a {length}-residue protein structure; output structure tokens only.",
            "Sample a protein backbone with {length} residues.",
            "Create a new protein fold, {length} residues long, as structure tokens.",
            "Give me the structure of some protein of length {length}.",
        ),
    ),
)
