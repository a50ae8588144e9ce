"""The BioMatrix report's numbers (Tables 3, 30, 31) for the suite's tasks, with the best baseline
it cites, so that a report shows ours beside them. They were measured on each benchmark's
official test set; ours on whatever test records the run read (the SFT corpus's held-out split
unless an official file was imported), so the report marks them as measured on other test data.

Keys: (SFT task id, score name). Values in the report's own scale: `percent` ones are multiplied
by 100 on our side before they are shown.

Tasks the BioMatrix report has no counterpart for (`UNPUBLISHED`: the DNA and RNA tasks of issue 25)
say so in the report's rows, beside what the closest published model reports for a comparable task.
For DNA and RNA that model is BSM (a mixed-modal DNA/RNA/protein sequence model, ICLR 2025
submission 9696); the part of its paper at hand (its abstract, `../shared/seeds/bsm-abstract.txt`)
reports no number for any task, so none is cited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Reported:
    benchmark: str
    biomatrix_1p7b: Optional[float]
    biomatrix_4b: Optional[float]
    baseline: Optional[float]
    baseline_name: str
    percent: bool = False


_MOSES = "MOSES (SELFIES)"
REPORTED: dict[tuple[str, str], Reported] = {
    ("unconditional_generation.selfies", "validity"): Reported(_MOSES, None, 0.998, 0.990, "OMG-GPT"),
    ("unconditional_generation.selfies", "uniqueness"): Reported(_MOSES, None, 1.0, 1.0, "OMG-GPT"),
    ("unconditional_generation.selfies", "novelty"): Reported(_MOSES, None, 0.925, 0.903, "OMG-GPT"),
    ("unconditional_generation.selfies", "intdiv1"): Reported(_MOSES, None, 0.868, 0.855, "OMG-GPT"),
    ("unconditional_generation.selfies", "intdiv2"): Reported(_MOSES, None, 0.861, 0.849, "OMG-GPT"),
    ("name_conversion_i2s.smiles", "exact_match"): Reported("SMolInstruct I2S", 87.22, 92.83, 84.40, "SciReasoner-8B", True),
    ("text_to_molecule.smiles", "exact_match"): Reported("SMolInstruct text-based generation", 56.35, 65.07, 48.00,
                                                         "SciReasoner-8B", True),
    ("text_to_molecule.smiles", "fts"): Reported("SMolInstruct text-based generation", 80.76, 85.47, None, "", True),
    ("protein_inverse_folding", "aar"): Reported("PDB date split (DPLM-2)", 75.20, 75.50, 61.67, "DPLM-2-3B", True),
    ("protein_folding", "rmsd"): Reported("PDB date split (DPLM-2)", 5.49, 5.38, 2.84, "ESMFold"),
    ("protein_folding", "tm_score"): Reported("PDB date split (DPLM-2)", 0.84, 0.84, 0.93, "ESMFold"),
    ("protein_co_generation", "sc_tm_standin"): Reported("DPLM-2 co-generation", 0.965, 0.965, 0.925, "DPLM-2-650M"),
    ("molecule_protein_affinity.smiles", "rmse"): Reported("BindingDB (PEER split)", 1.284, 1.030, 1.340, "best cited"),
    ("unconditional_3d", "atom_stability"): Reported("QM9 (NExT-Mol split)", 0.897, 0.897, 0.993, "NExT-Mol"),
    ("conditional_3d_mu", "mae_standin"): Reported("QM9 conditional (EDM)", None, 0.211, 0.507, "NExT-Mol"),
    ("conditional_3d_alpha", "mae_standin"): Reported("QM9 conditional (EDM)", None, 0.47, 1.16, "NExT-Mol"),
    ("conditional_3d_cv", "mae_standin"): Reported("QM9 conditional (EDM)", None, 0.288, 0.512, "NExT-Mol"),
    ("conditional_3d_homo", "mae_standin"): Reported("QM9 conditional (EDM), meV", None, 57, 205, "NExT-Mol"),
    ("conditional_3d_lumo", "mae_standin"): Reported("QM9 conditional (EDM), meV", None, 54, 235, "NExT-Mol"),
    ("conditional_3d_gap", "mae_standin"): Reported("QM9 conditional (EDM), meV", None, 81, 297, "NExT-Mol"),
}


@dataclass(frozen=True)
class Unpublished:
    """A task without a published BioMatrix number: the category note that says why, and what a
    comparable model reports (its number with the source, or that none is at hand)."""

    category: str
    comparable: str


# Said under a category's table, for its tasks in `UNPUBLISHED`.
CATEGORY_NOTES: dict[str, str] = {
    "nucleic": "No published BioMatrix number exists for these tasks: the BioMatrix report has no DNA or RNA task. "
               "BSM (a mixed-modal DNA/RNA/protein model, ICLR 2025 submission 9696) is the comparable model; the part "
               "of its paper at hand, its abstract, reports no number for any task, so none is cited.",
}
UNPUBLISHED: dict[str, Unpublished] = {
    task: Unpublished("nucleic", "BSM: none at hand")
    for task in ("dna_translation", "dna_back_translation", "gene_product", "cds_boundaries", "coding_frame",
                 "gene_protein_match", "rrna_genus", "dna_reverse_complement", "gc_content")
}
