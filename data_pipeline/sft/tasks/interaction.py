"""Task families: interaction. Molecule-protein affinity (MoleculeACE, with the target's UniProt
sequence) and protein-protein contact pairs from multi-chain PDB entries.

Affinity answers are on the p-scale, pX = -log10(X in mol/L) (an nM value v gives 9 - log10 v):
the scale the affinity benchmarks report RMSE in (pKd, pKi), where a 10-fold change is one unit.
`meta` keeps the source value and unit.

Contact pairs are what one deposited structure shows, not a curated interaction database:
- positive: two chains of one entry with at least `CONTACT_MIN_PAIRS` residue pairs within the
  reader's contact distance (`ComplexRecord.contacts`); chains of identical sequence pairs count
  once (a homotetramer is one positive, a homodimer contact);
- negative, built from the same entity so that no state crosses entities or units: one chain of
  the entry paired with a protein of another entry, a UniProt sequence drawn by the entity's own
  random generator from metastudent-data's molecular-function database (459,503 sequences), of
  a length within `DECOY_LENGTH_RATIO` of the chain's, and no homolog of any chain of the entry
  (local alignment, BLOSUM62, BLAST's gap costs: score under `RELATED_SCORE`; measured: unrelated
  UniProt pairs of similar length score 30-55, LDH against MDH, distant homologs, 65). "no"
  means "not observed together here", not a measured non-interaction. One negative per positive.
Chain pairs of one entry that do not touch are no negatives: in a homo-oligomer they have the
same sequences as a touching pair.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from typing import Iterator

from biomatrix_io.readers import packaged
from biomatrix_io.readers.metastudent import BlastDb, open_blast_db
from biomatrix_io.readers.proteins import sequence_problem

from .base import Example, Skip, TaskFamily, number, protein, smiles, text

# Concentration units -> mol/L; other units (kcal/mol, percent) are no p-scale value.
MOLAR = {"M": 1.0, "mM": 1e-3, "uM": 1e-6, "µM": 1e-6, "μM": 1e-6, "nM": 1e-9, "pM": 1e-12}


def _affinity(entity: dict, rng: random.Random) -> Iterator[Example]:
    if not entity.get("sequence"):
        raise Skip("no target sequence")
    if not entity.get("smiles"):
        raise Skip("no smiles")
    value, unit, measure = entity.get("value"), entity.get("unit"), entity.get("measure")
    if unit not in MOLAR:
        raise Skip(f"unit {unit!r} is not a concentration")
    if value is None or not value > 0:
        raise Skip(f"value {value!r} is not a positive concentration")
    p_value = -math.log10(value * MOLAR[unit])
    yield Example(
        {"molecule": smiles(entity["smiles"]), "target": protein(entity["sequence"]), "measure": text(f"p{measure}")},
        (text(number(p_value)),),
        molecules=(entity["smiles"],),
        proteins=(entity["sequence"],),
        meta={"measure": f"p{measure}", "unit": "-log10(mol/L)", "source_value": value, "source_unit": unit,
              "target_name": entity.get("target")},
    )


CONTACT_MIN_PAIRS = 10  # residue pairs in contact; 1-9 is a marginal touch: neither label
DECOY_LENGTH_RATIO = 1.5
RELATED_SCORE = 60.0
DECOY_DRAWS = 50
_BLOSUM_LETTERS = str.maketrans("UOJ", "XXX")  # residues BLOSUM62 lacks score as unknown


@lru_cache(maxsize=1)
def _aligner():
    from Bio.Align import PairwiseAligner, substitution_matrices

    return PairwiseAligner(mode="local", substitution_matrix=substitution_matrices.load("BLOSUM62"),
                           open_gap_score=-11, extend_gap_score=-1)


@lru_cache(maxsize=1)
def _decoy_database() -> BlastDb:
    return open_blast_db(packaged.metastudent_mfo())


def _decoy(chain: str, entry: list[str], rng: random.Random) -> tuple[str, str]:
    """(sequence, UniProt accession) of an unrelated protein of similar length (module docstring)."""
    db, aligner = _decoy_database(), _aligner()
    for _ in range(DECOY_DRAWS):
        oid = rng.randrange(len(db))
        sequence = db.sequence(oid)
        if sequence_problem(sequence) or not 1 / DECOY_LENGTH_RATIO <= len(sequence) / len(chain) <= DECOY_LENGTH_RATIO:
            continue
        if all(aligner.score(sequence.translate(_BLOSUM_LETTERS), other.translate(_BLOSUM_LETTERS)) < RELATED_SCORE
               for other in entry):
            return sequence, db.title(oid).split("|", 1)[0]
    raise Skip(f"no unrelated protein of similar length in {DECOY_DRAWS} draws")


def _contact_pairs(entity: dict, rng: random.Random) -> Iterator[Example]:
    chains = [chain["sequence"] for chain in entity.get("proteins") or ()]
    if len(chains) < 2:
        raise Skip("fewer than two protein chains")
    if not entity.get("contacts"):
        raise Skip("no chain contacts (read by a reader that does not compute them)")
    positives: dict[tuple[str, str], int] = {}
    for i, j, pairs in entity["contacts"]:
        if pairs >= CONTACT_MIN_PAIRS:
            key = tuple(sorted((chains[i], chains[j])))
            positives[key] = max(positives.get(key, 0), pairs)
    if not positives:
        raise Skip("no two chains in contact")
    entry = sorted(set(chains))
    for k, ((a, b), pairs) in enumerate(sorted(positives.items())):
        first, second = (a, b) if rng.random() < 0.5 else (b, a)
        yield Example({"first": protein(first), "second": protein(second)}, (text("yes"),), proteins=(first, second),
                      suffix=f":pos{k}", meta={"label": "yes", "entry": entity.get("title"), "contact_residue_pairs": pairs})
        chain = rng.choice(entry)
        decoy, accession = _decoy(chain, entry, rng)
        first, second = (chain, decoy) if rng.random() < 0.5 else (decoy, chain)
        yield Example({"first": protein(first), "second": protein(second)}, (text("no"),), proteins=(first, second),
                      suffix=f":neg{k}", meta={"label": "no", "entry": entity.get("title"), "decoy": f"UniProt {accession}"})


FAMILIES = (
    TaskFamily(
        name="molecule_protein_affinity",
        category="interaction",
        kinds=("affinity",),
        make=_affinity,
        metric="regression",
        variants=("smiles", "selfies"),
        description="molecule + target sequence -> pKi / pEC50 (MoleculeACE, ChEMBL; -log10 of the molar value)",
        templates=(
            "What is the {measure} of the molecule {molecule} against this protein? {target}",
            "Predict the measured {measure} (negative log10 of the molar value) for the compound {molecule} on the target {target}",
            "Molecule: {molecule}\nTarget protein: {target}\nEstimate the {measure} of this pair.",
            "How strongly does {molecule} act on the protein below? Answer as {measure}.\n{target}",
            "Give the {measure} you expect for the ligand {molecule} tested on {target}",
            "{target}\nFor this protein and the compound {molecule}, what {measure} would an assay report?",
        ),
    ),
    TaskFamily(
        name="protein_contact_pairs",
        category="interaction",
        kinds=("complex",),
        make=_contact_pairs,
        metric="binary_classification",
        description="two sequences -> yes if they are chains in contact in one PDB structure, no for a chain "
                    "and an unrelated UniProt protein (structure contacts, not a curated PPI database)",
        templates=(
            "Are these two protein chains in physical contact in a solved structure? Answer yes or no.\nFirst: {first}\nSecond: {second}",
            "Protein A: {first}\nProtein B: {second}\nDo A and B touch each other in a deposited 3D structure (yes/no)?",
            "Would the proteins {first} and {second} be seen in contact in a crystal structure? Reply yes or no.",
            "Decide whether these two sequences form an interface in a structure: {first} and {second}. Yes or no?",
            "{first}\n{second}\nIs there a structural contact between these two chains? Answer with yes or no.",
            "Do the chains {first} and {second} pack against each other in a protein structure? Say yes or no.",
        ),
    ),
)
