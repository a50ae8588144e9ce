"""Task families: molecule 1D, from real installable data (`../shared/notes/data-sources.md`).

- name conversion I2S, S2I, I2F, S2F: IUPAC names of the PubChem identifiers table (`chemicals`),
  B3DB and FreeSolv (readers put them in `properties["iupac_name"]`); formulas are RDKit's
  (Hill order), computed from the molecule, never the file's.
- captioning and text-based generation: ChEBI definitions (the entity's `description`).
- property regression: FreeSolv hydration free energy, Huuskonen logS (the ESOL stand-in), B3DB
  logBB, QM9 HOMO / LUMO / gap / dipole; each example names the property and unit in its prompt and
  carries the unit in `meta`. Classification: B3DB BBB+/BBB- as Yes / No.
- unconditional generation (point it at the MOSES train split only: `packaged:moses_train_csv`),
  SMILES <-> SELFIES translation.

A family reads the fields it needs and raises `Skip` naming the first one the entity lacks, so
that running every family over every molecule source only costs counted skips.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem, RDLogger
from rdkit.Chem import rdMolDescriptors

from .base import Example, Skip, TaskFamily, notation, number, require, selfies, smiles, text

RDLogger.DisableLog("rdApp.*")

BOTH = ("smiles", "selfies")
HARTREE_EV = 27.211386245988  # CODATA 2018: QM9 stores orbital energies in Hartree


def _iupac(entity: dict) -> str:
    name = (entity.get("properties") or {}).get("iupac_name")
    if not name:
        raise Skip("no IUPAC name")
    return name


def formula(smiles_string: str) -> str:
    """The molecular formula in Hill order with the net charge (RDKit), e.g. `C2H3O2-`."""
    mol = Chem.MolFromSmiles(smiles_string)
    if mol is None:
        raise Skip("RDKit cannot parse the SMILES")
    return rdMolDescriptors.CalcMolFormula(mol)


# Name conversion -----------------------------------------------------------------------------
def _i2s(entity: dict, rng) -> list[Example]:
    (smi,) = require(entity, "smiles")
    return [Example({"name": text(_iupac(entity)), "notation": notation()}, (smiles(smi),), (smi,))]


def _s2i(entity: dict, rng) -> list[Example]:
    (smi,) = require(entity, "smiles")
    return [Example({"molecule": smiles(smi)}, (text(_iupac(entity)),), (smi,))]


def _i2f(entity: dict, rng) -> list[Example]:
    (smi,) = require(entity, "smiles")
    return [Example({"name": text(_iupac(entity))}, (text(formula(smi)),), (smi,))]


def _s2f(entity: dict, rng) -> list[Example]:
    (smi,) = require(entity, "smiles")
    return [Example({"molecule": smiles(smi)}, (text(formula(smi)),), (smi,))]


# Captioning and text-based generation ----------------------------------------------------------
def _caption(entity: dict, rng) -> list[Example]:
    smi, description = require(entity, "smiles", "description")
    return [Example({"molecule": smiles(smi)}, (text(description),), (smi,))]


def _from_text(entity: dict, rng) -> list[Example]:
    smi, description = require(entity, "smiles", "description")
    return [Example({"description": text(description), "notation": notation()}, (smiles(smi),), (smi,))]


# Properties ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quantity:
    """A measured property as a prompt asks for it: its name (in `meta`; the example suffix when a
    family asks for several), the reader's property key, what the prompt calls it, the unit of
    the answer (`scale` converts the stored value into it), decimals."""

    name: str
    key: str
    label: str
    unit: str
    scale: float = 1.0
    digits: int = 2


FREESOLV = (Quantity("hydration_free_energy", "hydration_free_energy_kcal_per_mol", "hydration free energy", "kcal/mol"),)
SOLUBILITY = (Quantity("logS", "logS", "aqueous solubility logS", "log10(mol/L)"),)
LOGBB = (Quantity("logBB", "logBB", "blood-brain partition coefficient logBB", "log10(C_brain/C_blood)"),)
QM9 = (
    Quantity("homo", "homo_hartree", "HOMO energy", "eV", HARTREE_EV),
    Quantity("lumo", "lumo_hartree", "LUMO energy", "eV", HARTREE_EV),
    Quantity("gap", "gap_hartree", "HOMO-LUMO gap", "eV", HARTREE_EV),
    Quantity("mu", "mu_debye", "dipole moment", "debye"),
)


def _regression(quantities: tuple[Quantity, ...]):
    """A family's make: one example per quantity the entity has (told apart by suffix)."""

    def make(entity: dict, rng) -> list[Example]:
        (smi,) = require(entity, "smiles")
        values = entity.get("properties") or {}
        found = [q for q in quantities if values.get(q.key) is not None]
        if not found:
            raise Skip(f"no {' / '.join(q.key for q in quantities)} value")
        return [Example({"molecule": smiles(smi), "property": text(q.label), "unit": text(q.unit)},
                        (text(number(float(values[q.key]) * q.scale, q.digits)),), (smi,),
                        suffix=f":{q.name}" if len(quantities) > 1 else "", meta={"property": q.name, "unit": q.unit})
                for q in found]

    return make


BBB_ANSWERS = {"BBB+": "Yes", "BBB-": "No"}


def _bbb(entity: dict, rng) -> list[Example]:
    (smi,) = require(entity, "smiles")
    label = (entity.get("properties") or {}).get("bbb")
    if label not in BBB_ANSWERS:
        raise Skip("no BBB+/BBB- label")
    return [Example({"molecule": smiles(smi)}, (text(BBB_ANSWERS[label]),), (smi,),
                    meta={"labels": ["Yes", "No"], "positive": "Yes"})]


# Generation and translation --------------------------------------------------------------------
def _unconditional(entity: dict, rng) -> list[Example]:
    (smi,) = require(entity, "smiles")
    return [Example({"notation": notation()}, (smiles(smi),), (smi,))]


def _to_selfies(entity: dict, rng) -> list[Example]:
    smi, sfi = require(entity, "smiles", "selfies")
    return [Example({"molecule": smiles(smi)}, (selfies(sfi),), (smi,))]


def _to_smiles(entity: dict, rng) -> list[Example]:
    smi, sfi = require(entity, "smiles", "selfies")
    return [Example({"molecule": selfies(sfi)}, (smiles(smi),), (smi,))]


# Prompt templates (our own words) ----------------------------------------------------------------
I2S = (
    "Write the structure of {name} in {notation}.",
    "Which molecule is called {name}? Answer with its {notation}.",
    "Convert this IUPAC name into a {notation} string: {name}",
    "IUPAC name: {name}\nGive the molecule in {notation} notation.",
    "Translate the systematic name {name} into {notation}.",
    "I have the chemical name {name}. What is its {notation}?",
    "Draw {name} as a {notation} string.",
)
S2I = (
    "What is the IUPAC name of {molecule}?",
    "Give the systematic (IUPAC) name of this molecule: {molecule}",
    "Name the compound {molecule} following IUPAC nomenclature.",
    "{molecule}\nWrite the IUPAC name of the molecule above.",
    "Which IUPAC name describes the structure {molecule}?",
    "Translate this structure into its systematic name: {molecule}",
)
I2F = (
    "What is the molecular formula of {name}?",
    "Give the chemical formula of the compound named {name}.",
    "IUPAC name: {name}\nWrite its molecular formula in Hill notation.",
    "Count the atoms of each element in {name} and answer with the molecular formula.",
    "Derive the elemental formula of {name}.",
    "Which molecular formula corresponds to the systematic name {name}?",
)
S2F = (
    "What is the molecular formula of {molecule}?",
    "Give the chemical formula of this molecule: {molecule}",
    "{molecule}\nWrite the molecular formula of this structure in Hill notation.",
    "Count the atoms of each element in {molecule} and answer with the molecular formula.",
    "Derive the elemental formula of the compound {molecule}.",
    "Which molecular formula does the structure {molecule} have?",
)
CAPTION = (
    "Describe the molecule {molecule}.",
    "What kind of compound is {molecule}? Give a short description.",
    "{molecule}\nWrite a brief chemical description of this molecule.",
    "Explain in one or two sentences what this structure is: {molecule}",
    "Give a textbook-style definition of the compound {molecule}.",
    "Tell me about the molecule {molecule}: what class it belongs to and what is known about it.",
)
FROM_TEXT = (
    "Give the molecule that fits this description, in {notation}: {description}",
    "Description: {description}\nWhich molecule is it? Answer in {notation}.",
    "Write, as {notation}, a molecule that matches the following text.\n{description}",
    "Here is a description of a compound: {description} Write its structure in {notation}.",
    "Which structure is described below? Reply with {notation} only.\n{description}",
    "Turn this definition into a molecule ({notation}): {description}",
)
REGRESSION = (
    "What is the {property} of {molecule}? Give the value in {unit}.",
    "Predict the {property} of the molecule {molecule} (in {unit}).",
    "{molecule}\nEstimate its {property}. Answer with a number in {unit}.",
    "Give a numeric estimate of the {property} of this compound, in {unit}: {molecule}",
    "For {molecule}, how large is the {property}? Reply in {unit}.",
    "Report the {property} ({unit}) you expect for {molecule}.",
)
BBB = (
    "Does {molecule} cross the blood-brain barrier? Answer Yes or No.",
    "Is the molecule {molecule} able to penetrate the blood-brain barrier? Reply with Yes or No.",
    "{molecule}\nCan this compound reach the brain by passing the blood-brain barrier? Yes or No.",
    "Predict whether {molecule} is blood-brain-barrier permeable. Answer Yes or No.",
    "Would {molecule} enter the central nervous system across the blood-brain barrier? Yes or No.",
    "Blood-brain barrier permeability of {molecule}: Yes (permeable) or No (not permeable)?",
)
UNCONDITIONAL = (
    "Generate a drug-like molecule in {notation}.",
    "Propose one new small molecule and write it as {notation}.",
    "Write down a random drug-like compound in {notation} notation.",
    "Give me a valid molecule ({notation}), anything drug-like.",
    "Sample a molecule from the space of lead-like compounds. Answer in {notation}.",
    "Invent a small organic molecule for a screening library; reply with its {notation}.",
)
TO_SELFIES = (
    "Convert this SMILES into SELFIES: {molecule}",
    "Rewrite {molecule} in SELFIES notation.",
    "{molecule}\nGive the same molecule as a SELFIES string.",
    "What is the SELFIES form of the SMILES {molecule}?",
    "Translate the SMILES string {molecule} to SELFIES.",
    "Express the molecule {molecule} with SELFIES tokens.",
)
TO_SMILES = (
    "Convert this SELFIES into SMILES: {molecule}",
    "Rewrite {molecule} in SMILES notation.",
    "{molecule}\nGive the same molecule as a SMILES string.",
    "What is the SMILES form of the SELFIES {molecule}?",
    "Translate the SELFIES string {molecule} to SMILES.",
    "Decode the SELFIES {molecule} and write the molecule as SMILES.",
)

_M = ("molecule",)

FAMILIES: tuple[TaskFamily, ...] = (
    TaskFamily("name_conversion_i2s", "molecule_1d", _M, _i2s, I2S, "molecule_match",
               "IUPAC name -> molecule (PubChem identifiers in `chemicals`, B3DB, FreeSolv names)", BOTH),
    TaskFamily("name_conversion_s2i", "molecule_1d", _M, _s2i, S2I, "name_match",
               "molecule -> IUPAC name (PubChem identifiers in `chemicals`, B3DB, FreeSolv names)", BOTH),
    TaskFamily("name_conversion_i2f", "molecule_1d", _M, _i2f, I2F, "formula_match",
               "IUPAC name -> molecular formula (formula computed by RDKit from the named molecule)"),
    TaskFamily("name_conversion_s2f", "molecule_1d", _M, _s2f, S2F, "formula_match",
               "molecule -> molecular formula (RDKit CalcMolFormula)", BOTH),
    TaskFamily("molecule_captioning", "molecule_1d", _M, _caption, CAPTION, "text_generation",
               "molecule -> its ChEBI definition (ChEBI-20-style captioning)", BOTH),
    TaskFamily("text_to_molecule", "molecule_1d", _M, _from_text, FROM_TEXT, "molecule_match",
               "ChEBI definition -> molecule (text-based generation)", BOTH),
    TaskFamily("property_hydration_free_energy", "molecule_1d", _M, _regression(FREESOLV), REGRESSION, "regression",
               "molecule -> experimental hydration free energy in kcal/mol (FreeSolv)", BOTH),
    TaskFamily("property_solubility", "molecule_1d", _M, _regression(SOLUBILITY), REGRESSION, "regression",
               "molecule -> aqueous solubility logS in log10(mol/L) (Huuskonen set, the installable "
               "stand-in for ESOL, which is not installable)", BOTH),
    TaskFamily("property_logbb", "molecule_1d", _M, _regression(LOGBB), REGRESSION, "regression",
               "molecule -> measured logBB (B3DB regression set)", BOTH),
    TaskFamily("property_qm9", "molecule_1d", _M, _regression(QM9), REGRESSION, "regression",
               "molecule -> DFT HOMO, LUMO, gap (eV, converted from Hartree) and dipole moment (debye) "
               "(QM9); one example per property, suffix :homo/:lumo/:gap/:mu", BOTH),
    TaskFamily("bbb_classification", "molecule_1d", _M, _bbb, BBB, "binary_classification",
               "molecule -> crosses the blood-brain barrier, Yes (BBB+) or No (BBB-) (B3DB classification set)", BOTH),
    TaskFamily("unconditional_generation", "molecule_1d", _M, _unconditional, UNCONDITIONAL, "molecule_distribution",
               "no input -> one drug-like molecule (MOSES train split only)", BOTH),
    TaskFamily("smiles_to_selfies", "molecule_1d", _M, _to_selfies, TO_SELFIES, "molecule_match",
               "SMILES -> SELFIES of the same molecule (uses both notations itself)"),
    TaskFamily("selfies_to_smiles", "molecule_1d", _M, _to_smiles, TO_SMILES, "molecule_match",
               "SELFIES -> SMILES of the same molecule (uses both notations itself)"),
)
