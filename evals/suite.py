"""The BioMatrix evaluation suite as one table: every task of the SFT corpus (a family, once per
notation) is an lm-eval task scored with the metric library (`evals/metrics/`), never a second copy
of a metric.

A task's scoring follows its family's metric family (`data_pipeline.sft.tasks.base.METRICS`), with
per-family exceptions where the report's reference differs (Mol-Instructions' unstemmed ROUGE for
protein function; self-consistency stand-ins for unconditional protein design). The answer a model
owes is read from the gold answer of each record: one wrapped span of a modality (a molecule, a
sequence, structure codes), or plain text. That span is what the answer filter extracts and what
constrained decoding enforces.

The YAML files of `evals/tasks/` are written from this table (`biomatrix eval tasks --write`); a
test keeps them equal, so the table is the one place a task is defined.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Optional

from data_pipeline.sft.tasks import by_task
from megatron_bio.tokenizer.segments import Modality

SUITE = "biomatrix"
VERSION = 1  # bump when a task's prompt, data reading, generation or scoring changes
STOP = ("<|im_end|>",)  # the chat turn's end: SFT answers end with it


@dataclass(frozen=True)
class Score:
    """One reported number: lm-eval metric `name`, computed by the library metric `metric`
    (registry key) over the whole task, read from its output's `figure` (`counts.<key>` = that
    count over the samples)."""

    name: str
    metric: str
    figure: str = "value"
    higher_is_better: bool = True
    options: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Scoring:
    """How a task is scored and generated. `reference` says what the metric compares against:
    `target` (the record's raw answer), `answer` (the gold assistant turn as rendered, e.g. `<S_k>`
    tokens), `instruction` (meta + input molecule as JSON, for constraint checks), `property`
    (the conditioning value of a QM9 property, in the metric's unit). `sampled` tasks draw with
    nucleus sampling (the report: top-p 1.0) instead of greedy decoding; `train` gives the
    distribution metrics the training split's answers (novelty)."""

    scores: tuple[Score, ...]
    reference: str = "target"
    sampled: bool = False
    train: bool = False
    max_gen_toks: int = 256
    answer: Optional[Modality] = None  # the span scored when the gold answer holds several


def _molecule(*extra: Score) -> tuple[Score, ...]:
    return (Score("exact_match", "molecule_exact_match:llasmol"), Score("fts", "molecule_fingerprint_similarity:llasmol"),
            Score("validity", "molecule_validity:llasmol"), Score("invalid", "molecule_validity:llasmol", "counts.invalid", False),
            *extra)


_TEXT = (Score("bleu2", "bleu2:llasmol"), Score("bleu4", "bleu4:llasmol"), Score("meteor", "meteor:llasmol"),
         Score("rouge1", "rouge1:llasmol"), Score("rouge2", "rouge2:llasmol"), Score("rougeL", "rougeL:llasmol"))
_REGRESSION = (Score("rmse", "rmse:parsed", higher_is_better=False), Score("mae", "mae:parsed", higher_is_better=False),
               Score("pearson", "pearson:parsed"), Score("spearman", "spearman:parsed"),
               Score("invalid", "rmse:parsed", "counts.invalid", False))
_STRUCTURE = (Score("tm_score", "protein_tm_score:tmalign_ca"), Score("rmsd", "protein_rmsd:dplm2", higher_is_better=False),
              Score("invalid", "protein_tm_score:tmalign_ca", "counts.invalid", False),
              Score("wrong_length", "protein_tm_score:tmalign_ca", "counts.length_mismatch", False))
_BACKBONE = (Score("sc_tm_standin", "protein_sc_tm:esmfold_proteinmpnn"),
             Score("invalid", "protein_sc_tm:esmfold_proteinmpnn", "counts.invalid", False))
_STABILITY = (Score("atom_stability", "molecule_3d_stability:edm", "atom_stability"),
              Score("molecule_stability", "molecule_3d_stability:edm", "molecule_stability"),
              Score("validity", "molecule_3d_validity:edm"), Score("uniqueness", "molecule_3d_uniqueness:edm"),
              Score("invalid", "molecule_3d_validity:edm", "counts.invalid", False))

# Metric family (the SFT task entry's `metric`) -> how its tasks are scored.
SCORING: dict[str, Scoring] = {
    "molecule_match": Scoring(_molecule()),
    "name_match": Scoring((Score("exact_match", "split_match:llasmol"),)),
    "formula_match": Scoring((Score("exact_match", "formula_element_match:llasmol"),)),
    "text_generation": Scoring(_TEXT),
    "regression": Scoring(_REGRESSION),
    "classification": Scoring((Score("accuracy", "accuracy:exact"),)),
    "binary_classification": Scoring((Score("accuracy", "yes_no_accuracy:llasmol"),
                                      Score("invalid", "yes_no_accuracy:llasmol", "counts.invalid", False))),
    "set_f1": Scoring((Score("f1", "set_f1:opi", "f1"), Score("precision", "set_f1:opi", "precision"),
                       Score("recall", "set_f1:opi", "recall"))),
    "molecule_distribution": Scoring((Score("validity", "generation_validity:moses"),
                                      Score("uniqueness", "generation_uniqueness:moses", "unique_among_valid"),
                                      Score("novelty", "generation_novelty:moses"),
                                      Score("intdiv1", "internal_diversity:moses", "intdiv1"),
                                      Score("intdiv2", "internal_diversity:moses", "intdiv2")),
                                     sampled=True, train=True),
    "molecule_constraints": Scoring((Score("success_rate", "constraint_success:tomg"),
                                     Score("invalid", "constraint_success:tomg", "counts.invalid", False)),
                                    reference="instruction"),
    "protein_distribution": Scoring((Score("plddt_standin", "protein_plddt:esmfold"),
                                     Score("uniqueness", "protein_plddt:esmfold", "uniqueness"),
                                     Score("invalid", "protein_plddt:esmfold", "counts.invalid", False)),
                                    sampled=True, max_gen_toks=1024),
    "structure_tm": Scoring(_STRUCTURE, reference="answer", max_gen_toks=1100),
    "sequence_recovery": Scoring((Score("aar", "protein_aar:dplm2"),
                                  Score("invalid", "protein_aar:dplm2", "counts.invalid", False),
                                  Score("wrong_length", "protein_aar:dplm2", "counts.length_mismatch", False)),
                                 max_gen_toks=1100),
    "molecule_3d_stability": Scoring(_STABILITY, sampled=True),
    "molecule_3d_property": Scoring((Score("mae_standin", "qm9_property_mae:edm_egnn", higher_is_better=False),
                                     *_STABILITY[:2], Score("invalid", "molecule_3d_validity:edm", "counts.invalid", False)),
                                    reference="property", sampled=True),
    # DNA and RNA (issue 25). Translation: no exact length (a protein answer as any other); a
    # protein of up to 999 residues (data_pipeline.sft.tasks.nucleic.MAX_CDS_BASES).
    "translation": Scoring((Score("exact_match", "protein_exact_match:residues"), Score("identity", "protein_identity:needle"),
                            Score("invalid", "protein_exact_match:residues", "counts.invalid", False)), max_gen_toks=1100),
    # Scored against the prompt's protein and table (the record's instruction), not the natural gene:
    # any sequence that translates back is right. Stop codon counted: 3 x (residues + 1) bases.
    "back_translation": Scoring((Score("validity", "back_translation_validity:retranslation"),
                                 Score("invalid", "back_translation_validity:retranslation", "counts.invalid", False),
                                 Score("wrong_length", "back_translation_validity:retranslation", "counts.length_mismatch",
                                       False)),
                                reference="instruction", max_gen_toks=3100),
    "sequence_match": Scoring((Score("exact_match", "nucleotide_exact_match:letters"),
                               Score("invalid", "nucleotide_exact_match:letters", "counts.invalid", False)), max_gen_toks=512),
    "location_match": Scoring((Score("exact_match", "location_match:insdc"),
                               Score("invalid", "location_match:insdc", "counts.invalid", False))),
}

# Families whose reference scores them otherwise than their metric family.
FAMILY_SCORING: dict[str, Scoring] = {
    # Mol-Instructions' protein tasks: HF evaluate's ROUGE defaults (no stemmer).
    "protein_function": Scoring((Score("rouge1", "rouge1:unstemmed"), Score("rouge2", "rouge2:unstemmed"),
                                 Score("rougeL", "rougeL:unstemmed"))),
    # Unconditional design has no reference structure: DPLM-2's self-consistency (stand-in here).
    "protein_backbone_generation": Scoring(_BACKBONE, sampled=True, max_gen_toks=1100),
    "protein_co_generation": Scoring(_BACKBONE, sampled=True, max_gen_toks=2200, answer=Modality.PROTEIN_3D),
    # SMILES <-> SELFIES is exact: the notation is the point (the variant list says the answer's).
    "smiles_to_3d": Scoring(_STABILITY),
    # A gene's product name: ROUGE-L as OPI scores function text (stemmed), and exact match.
    "gene_product": Scoring((Score("rougeL", "rougeL:stemmed"), Score("exact_match", "accuracy:exact"))),
}

# Families whose answer has a known length: (where it is read, what): "prompt" counts the body
# tokens of the prompt's last span of that modality; "meta" reads the record's meta key.
LENGTH_RULES: dict[str, tuple[str, object]] = {
    "protein_folding": ("prompt", Modality.PROTEIN),
    "protein_inverse_folding": ("prompt", Modality.PROTEIN_3D),
    "protein_backbone_generation": ("meta", "length"),
    "dna_reverse_complement": ("prompt", Modality.DNA),
    # 3 x (the prompt's residues + 1): the stop codon counts (evals/metrics/nucleic.py).
    "dna_back_translation": ("meta", "length"),
}

# QM9 property names and units of the corpus -> the metric's (EDM's) names and unit factors.
QM9_PROPERTY_NAMES = {"cv": "Cv"}
QM9_UNIT_FACTORS = {"eV": 1000.0}  # HOMO / LUMO / gap: the metric takes meV


@dataclass(frozen=True)
class SuiteTask:
    """One lm-eval task of the suite."""

    task: str  # the SFT corpus's task id (`name_conversion_i2s.smiles`), also its data file's name
    family: str
    category: str
    scoring: Scoring
    length_rule: Optional[tuple[str, object]] = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        """The lm-eval task name."""
        return f"{SUITE}_{self.task}"

    @property
    def group(self) -> str:
        return f"{SUITE}_{self.category}"


@functools.lru_cache(maxsize=1)
def suite_tasks() -> tuple[SuiteTask, ...]:
    """Every task, in the SFT corpus's order (categories, then families)."""
    tasks = []
    for task_id, family in by_task().items():
        scoring = FAMILY_SCORING.get(family.name) or SCORING[family.metric]
        tasks.append(SuiteTask(task_id, family.name, family.category, scoring, LENGTH_RULES.get(family.name)))
    return tuple(tasks)


def by_name() -> dict[str, SuiteTask]:
    return {task.name: task for task in suite_tasks()}


def by_corpus_task() -> dict[str, SuiteTask]:
    return {task.task: task for task in suite_tasks()}


def categories() -> dict[str, list[SuiteTask]]:
    found: dict[str, list[SuiteTask]] = {}
    for task in suite_tasks():
        found.setdefault(task.category, []).append(task)
    return found


def generation_kwargs(scoring: Scoring) -> dict:
    """Explicit sampling values always (HF generate would otherwise apply the checkpoint's own
    generation config): greedy, or nucleus sampling with top-p 1.0 at temperature 1.0."""
    settings = {"until": list(STOP), "max_gen_toks": scoring.max_gen_toks}
    if scoring.sampled:
        return {**settings, "do_sample": True, "temperature": 1.0, "top_p": 1.0}
    return {**settings, "do_sample": False, "temperature": 0.0}
