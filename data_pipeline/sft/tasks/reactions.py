"""Task families: forward and retro reactions, template-derived (datamol's templates), not USPTO.

There is no installable reaction database with real reactant/product records, so reactions are
made from datamol's 127 named templates (`packaged:datamol_reactions`) and real molecules: the
entity (a MOSES or ChEBI molecule, say) is the PRODUCT; a template's `retro_smarts` applied to it
with RDKit proposes the reactants, and a disconnection is kept only when every reactant sanitizes
and the same template's forward `syn_smarts` applied to those reactants gives the entity back. So
the product is always a real molecule, the reactants are the template's, and every example says
so: the family descriptions and each example's meta (`{"template": name, "origin": ORIGIN}`).

Per entity, a template is drawn uniformly among those with a kept disconnection (so the common
biaryl and amide templates do not crowd out the rest), then one of its disconnections. The
forward family keeps only disconnections whose forward reaction has ONE product (the answer is
then the template's unambiguous outcome); the retro family keeps all.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem, rdChemReactions

from biomatrix_io.readers.packaged import datamol_reactions

from .base import Example, Skip, TaskFamily, require, smiles

RDLogger.DisableLog("rdApp.*")  # rejected template outcomes are expected, not news
ORIGIN = "template-derived (datamol), not USPTO"


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    retro: rdChemReactions.ChemicalReaction
    forward: rdChemReactions.ChemicalReaction


@dataclass(frozen=True)
class Disconnection:
    """Reactants (canonical SMILES, in the forward template's order) that the template turns into
    the product, and how many distinct products that forward reaction gives."""

    template: str
    reactants: tuple[str, ...]
    outcomes: int


@functools.cache
def templates() -> tuple[Template, ...]:
    """datamol's templates, by name; both directions compiled once per process."""
    table = json.loads(datamol_reactions().read_text())
    found = []
    for name, entry in sorted(table.items()):
        retro = AllChem.ReactionFromSmarts(entry["retro_smarts"])
        forward = AllChem.ReactionFromSmarts(entry["syn_smarts"])
        retro.Initialize()
        forward.Initialize()
        found.append(Template(name, entry.get("long_name") or name, retro, forward))
    return tuple(found)


def _canonical(mol: Chem.Mol) -> Optional[str]:
    """The canonical SMILES of a reaction output, or None when it does not sanitize or re-read."""
    try:
        Chem.SanitizeMol(mol)
        written = Chem.MolToSmiles(mol)
    except Exception:  # RDKit raises several unrelated types
        return None
    return written if Chem.MolFromSmiles(written) is not None else None


def products(template: Template, reactants: tuple[str, ...]) -> set[str]:
    """The distinct sanitizable products of the template's forward reaction on `reactants`."""
    mols = tuple(Chem.MolFromSmiles(r) for r in reactants)
    if any(m is None for m in mols) or len(mols) != template.forward.GetNumReactantTemplates():
        return set()
    found = {_canonical(outcome[0]) for outcome in template.forward.RunReactants(mols)}
    return found - {None}


@functools.lru_cache(maxsize=512)
def disconnections(product: str) -> tuple[Disconnection, ...]:
    """Every kept disconnection of a canonical product SMILES, over all templates (cached: the
    forward and retro families read the same entity)."""
    mol = Chem.MolFromSmiles(product)
    if mol is None:
        return ()
    kept: list[Disconnection] = []
    for template in templates():
        seen: set[tuple[str, ...]] = set()
        for outcome in template.retro.RunReactants((mol,)):
            reactants = tuple(_canonical(m) for m in outcome)
            if None in reactants or reactants in seen or product in reactants:
                continue
            seen.add(reactants)
            made = products(template, reactants)
            if product in made:
                kept.append(Disconnection(template.name, reactants, len(made)))
    return tuple(kept)


def _draw(entity: dict, rng: random.Random, keep: Callable[[Disconnection], bool]) -> tuple[str, Disconnection]:
    (written,) = require(entity, "smiles")
    mol = Chem.MolFromSmiles(written)
    if mol is None:
        raise Skip("RDKit cannot read the SMILES")
    product = Chem.MolToSmiles(mol)
    by_template: dict[str, list[Disconnection]] = {}
    for found in disconnections(product):
        if keep(found):
            by_template.setdefault(found.template, []).append(found)
    if not by_template:
        raise Skip("no datamol template disconnects it and gives it back")
    return product, rng.choice(by_template[rng.choice(sorted(by_template))])


def _mixture(reactants: tuple[str, ...]) -> str:
    """The reactants as one canonical dot-separated SMILES."""
    return Chem.MolToSmiles(Chem.MolFromSmiles(".".join(reactants)))


def _meta(found: Disconnection) -> dict:
    title = next(t.title for t in templates() if t.name == found.template)
    return {"template": found.template, "reaction": title, "origin": ORIGIN, "reactants": list(found.reactants)}


def _forward(entity: dict, rng: random.Random) -> Iterator[Example]:
    product, found = _draw(entity, rng, lambda d: d.outcomes == 1)
    yield Example(fields={"reactants": smiles(_mixture(found.reactants))}, answer=(smiles(product),),
                  molecules=(*found.reactants, product), meta=_meta(found))


def _retro(entity: dict, rng: random.Random) -> Iterator[Example]:
    product, found = _draw(entity, rng, lambda d: True)
    yield Example(fields={"product": smiles(product)}, answer=(smiles(_mixture(found.reactants)),),
                  molecules=(*found.reactants, product), meta=_meta(found))


FORWARD_TEMPLATES = (
    "What is the main product when these reactants combine: {reactants}?",
    "Predict the product of the reaction between {reactants}.",
    "Given the starting materials {reactants}, give the structure of the product.",
    "These compounds react together: {reactants}. Which molecule forms?",
    "Complete this reaction with its product: {reactants} ->",
    "Suppose {reactants} undergo one standard synthetic step. What do they give?",
)
RETRO_TEMPLATES = (
    "Suggest reactants that could be used to make {product}.",
    "Propose a one-step retrosynthesis for {product}.",
    "Which starting materials would give {product} in a single step?",
    "Work backwards from {product}: what precursors react to form it?",
    "Give a plausible set of reactants for the synthesis of the molecule {product}.",
    "Disconnect {product} into the building blocks of one synthetic step.",
)

FAMILIES: tuple[TaskFamily, ...] = (
    TaskFamily(name="forward_reaction", category="molecule_1d", kinds=("molecule",), make=_forward,
               templates=FORWARD_TEMPLATES, metric="molecule_match", variants=("smiles", "selfies"),
               description=f"forward synthesis, {ORIGIN}: reactants from a datamol retro template on a real "
                           "molecule, which the forward template turns back into that molecule (its only product)"),
    TaskFamily(name="retro_reaction", category="molecule_1d", kinds=("molecule",), make=_retro,
               templates=RETRO_TEMPLATES, metric="molecule_match", variants=("smiles", "selfies"),
               description=f"single-step retrosynthesis, {ORIGIN}: a real molecule and the reactants a datamol "
                           "retro template gives, checked by running the forward template"),
)
