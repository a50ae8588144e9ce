"""Task families whose targets RDKit checks: customized generation, editing and optimization.

Each example is made from one real molecule (MOSES through the `smiles_table` reader): the
constraint of a customized-generation example is read off the molecule that answers it; an edit or
an optimization answers with a single-group edit of the input molecule. Every example's `meta` is
the instruction in machine-checkable form, and `satisfies(meta, input, answer)` is the one oracle
that both builds (every target is checked before it is written) and scores (the evaluation job
calls it on the model's answer, SELFIES decoded to SMILES first):

- customized: `{"kind": "atom_count" | "bond_count" | "functional_group", "counts": {key: n}}`:
  the answer has exactly n of each (heavy atoms by element; bonds between heavy atoms by RDKit
  type after aromaticity perception, or rotatable bonds; group occurrences by the SMARTS of GROUPS);
- edit: `{"kind": "edit", "operation": "add" | "delete" | "substitute", "group": g}` (substitute:
  `"remove"`, `"add"`): the answer differs from the input and has one more / one fewer of the group
  (substitute: one fewer of `remove` and one more of `add`);
- optimize: `{"kind": "optimize", "property": p, "margin": m, ...}`: the answer differs from the
  input and its property is at least m higher (Crippen logP, QED, Crippen molar refractivity).

The families' own targets are stricter than the oracle asks: an edit keeps one fragment and leaves
the count of every other editable group unchanged.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from rdkit import Chem
from rdkit.Chem import QED, Crippen, rdMolDescriptors

from .base import Example, Skip, TaskFamily, notation, number, require, smiles, text


@dataclass(frozen=True)
class Group:
    """A functional group: `smarts` matches the group's own atoms (one match = one occurrence);
    `attach` is the group as SMILES whose first atom bonds to a carbon of the molecule (None: the
    group is counted, never added or removed)."""

    name: str
    phrase: str
    smarts: str
    attach: Optional[str] = None

    @functools.cached_property
    def pattern(self) -> Chem.Mol:
        return Chem.MolFromSmarts(self.smarts)


GROUPS: dict[str, Group] = {g.name: g for g in (
    Group("hydroxyl", "hydroxyl group", "[OX2H1;$(O[#6;!$([#6]=[O,S,N])])]", "O"),
    Group("amine", "primary amine group", "[NX3H2;$(N[#6;!$([#6]=[O,S,N])])]", "N"),
    Group("carboxylic acid", "carboxylic acid group", "[CX3;$(C[#6])](=O)[OX2H1]", "C(=O)O"),
    Group("fluoro", "fluorine substituent", "[F;$(F[#6])]", "F"),
    Group("chloro", "chlorine substituent", "[Cl;$(Cl[#6])]", "Cl"),
    Group("bromo", "bromine substituent", "[Br;$(Br[#6])]", "Br"),
    Group("nitro", "nitro group", "[NX3+;$(N[#6])](=O)[O-]", "[N+](=O)[O-]"),
    Group("methyl", "methyl group", "[CH3X4;$(C[#6])]", "C"),
    Group("nitrile", "nitrile group", "[CX2;$(C[#6])]#[NX1]", "C#N"),
    Group("amide", "amide group", "[NX3][CX3](=[OX1])[#6]"),
    Group("ester", "ester group", "[#6][CX3](=O)[OX2H0][#6]"),
    Group("ketone", "ketone group", "[#6][CX3](=O)[#6]"),
    Group("sulfonamide", "sulfonamide group", "[SX4](=O)(=O)[NX3]"),
    Group("benzene ring", "benzene ring", "c1ccccc1"),
)}
EDITABLE = tuple(name for name, group in GROUPS.items() if group.attach)

ELEMENTS = {"C": "carbon", "N": "nitrogen", "O": "oxygen", "S": "sulfur", "F": "fluorine", "Cl": "chlorine",
            "Br": "bromine", "I": "iodine", "P": "phosphorus", "B": "boron", "Si": "silicon", "Se": "selenium"}
BONDS = {"single": "non-aromatic single bond", "double": "non-aromatic double bond", "triple": "triple bond",
         "aromatic": "aromatic bond", "rotatable": "rotatable bond"}


@dataclass(frozen=True)
class Property:
    """A property the optimization families raise: RDKit's function, the declared margin the answer
    must clear, and how prompts write it."""

    name: str
    phrase: str
    compute: Callable[[Chem.Mol], float]
    margin: float
    digits: int


PROPERTIES: dict[str, Property] = {p.name: p for p in (
    Property("logP", "Crippen logP", Crippen.MolLogP, 0.5, 2),
    Property("QED", "QED drug-likeness score", QED.qed, 0.05, 3),
    Property("MR", "Crippen molar refractivity", Crippen.MolMR, 5.0, 2),
)}


# Counting: what the oracle measures ---------------------------------------------------------------
def group_count(mol: Chem.Mol, name: str) -> int:
    return len(mol.GetSubstructMatches(GROUPS[name].pattern, maxMatches=100000))


def atom_counts(mol: Chem.Mol) -> dict[str, int]:
    counts: dict[str, int] = {}
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() > 1:
            counts[atom.GetSymbol()] = counts.get(atom.GetSymbol(), 0) + 1
    return counts


def bond_counts(mol: Chem.Mol) -> dict[str, int]:
    counts = {"rotatable": rdMolDescriptors.CalcNumRotatableBonds(mol)}
    kinds = {Chem.BondType.SINGLE: "single", Chem.BondType.DOUBLE: "double", Chem.BondType.TRIPLE: "triple",
             Chem.BondType.AROMATIC: "aromatic"}
    for bond in mol.GetBonds():
        if bond.GetBeginAtom().GetAtomicNum() > 1 and bond.GetEndAtom().GetAtomicNum() > 1:
            kind = kinds.get(bond.GetBondType())
            if kind:
                counts[kind] = counts.get(kind, 0) + 1
    return counts


def group_counts(mol: Chem.Mol) -> dict[str, int]:
    return {name: group_count(mol, name) for name in GROUPS}


COUNTERS: dict[str, Callable[[Chem.Mol], dict[str, int]]] = {
    "atom_count": atom_counts, "bond_count": bond_counts, "functional_group": group_counts}


def _mol(value: Optional[str]) -> Optional[Chem.Mol]:
    return Chem.MolFromSmiles(value) if value else None


def _fragments(mol: Chem.Mol) -> int:
    return len(Chem.GetMolFrags(mol))


def satisfies(meta: dict, input_smiles: Optional[str], answer_smiles: str) -> bool:
    """Whether `answer_smiles` fulfils the instruction `meta` describes (the module docstring lists
    the kinds). An answer RDKit cannot read fails, and so does one that games the count with extra
    fragments (a customized answer is one molecule; an edit or an optimization keeps the input's
    number of fragments at most) or an edit or optimization that returns its input."""
    answer = _mol(answer_smiles)
    if answer is None:
        return False
    kind = meta["kind"]
    if kind in COUNTERS:
        found = COUNTERS[kind](answer)
        return _fragments(answer) == 1 and all(found.get(key, 0) == count for key, count in meta["counts"].items())
    source = _mol(input_smiles)
    if source is None or _fragments(answer) > _fragments(source):
        return False
    if Chem.MolToSmiles(source) == Chem.MolToSmiles(answer):
        return False
    if kind == "optimize":
        compute = PROPERTIES[meta["property"]].compute
        return compute(answer) - compute(source) >= meta["margin"]
    if kind == "edit":
        return all(group_count(answer, g) - group_count(source, g) == delta for g, delta in edit_deltas(meta).items())
    raise ValueError(f"unknown constraint kind {kind!r}")


def edit_deltas(meta: dict) -> dict[str, int]:
    """group -> the change in its count an edit instruction asks for."""
    operation = meta["operation"]
    if operation == "substitute":
        return {meta["remove"]: -1, meta["add"]: 1}
    return {meta["group"]: {"add": 1, "delete": -1}[operation]}


# Editing a molecule ----------------------------------------------------------------------------
def _finished(mol: Chem.RWMol) -> Optional[Chem.Mol]:
    """The edited molecule re-read from its canonical SMILES (so it is what a reader would see), or
    None when it is not a valid single-fragment molecule."""
    try:
        Chem.SanitizeMol(mol)
        written = Chem.MolToSmiles(mol)
    except Exception:  # RDKit raises several unrelated types
        return None
    final = Chem.MolFromSmiles(written)
    if final is None or "." in written:
        return None
    return final


def _anchors(mol: Chem.Mol, group: Group) -> list[int]:
    """Carbons a group may bond to: uncharged, not stereocentres, with a hydrogen to replace; a
    heteroatom group does not go on an sp3 carbon that already holds a heteroatom (no hemiaminals,
    gem-diols or alpha-halo ethers)."""
    hetero_group = Chem.MolFromSmiles(group.attach).GetAtomWithIdx(0).GetAtomicNum() != 6
    found = []
    for atom in mol.GetAtoms():
        if (atom.GetAtomicNum() != 6 or atom.GetTotalNumHs() == 0 or atom.GetFormalCharge()
                or atom.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED):
            continue
        saturated = atom.GetHybridization() == Chem.HybridizationType.SP3
        if hetero_group and saturated and any(n.GetAtomicNum() not in (1, 6) for n in atom.GetNeighbors()):
            continue
        found.append(atom.GetIdx())
    return found


def attach(mol: Chem.Mol, anchor: int, group: Group) -> Optional[Chem.Mol]:
    """The molecule with `group` bonded to atom `anchor` in place of one of its hydrogens."""
    edited = Chem.RWMol(mol)
    edited.InsertMol(Chem.MolFromSmiles(group.attach))
    edited.AddBond(anchor, mol.GetNumAtoms(), Chem.BondType.SINGLE)
    atom = edited.GetAtomWithIdx(anchor)
    if atom.GetNoImplicit():
        atom.SetNumExplicitHs(atom.GetNumExplicitHs() - 1)
    return _finished(edited)


def replace(mol: Chem.Mol, atoms: tuple[int, ...], new: Optional[Group]) -> Optional[Chem.Mol]:
    """The molecule with the group made of `atoms` removed (`new` None) or replaced by `new` on
    the same atom, when the group hangs on one carbon by one single bond; else None. The new group
    is added before the old one is removed, so the indices stay valid."""
    inside = set(atoms)
    outward = [b for a in atoms for b in mol.GetAtomWithIdx(a).GetBonds() if b.GetOtherAtomIdx(a) not in inside]
    if len(outward) != 1 or outward[0].GetBondType() != Chem.BondType.SINGLE:
        return None
    bond = outward[0]
    anchor = bond.GetEndAtomIdx() if bond.GetBeginAtomIdx() in inside else bond.GetBeginAtomIdx()
    if mol.GetAtomWithIdx(anchor).GetAtomicNum() != 6:
        return None
    edited = Chem.RWMol(mol)
    if new is not None:
        edited.InsertMol(Chem.MolFromSmiles(new.attach))
        edited.AddBond(anchor, mol.GetNumAtoms(), Chem.BondType.SINGLE)
    elif edited.GetAtomWithIdx(anchor).GetNoImplicit():
        edited.GetAtomWithIdx(anchor).SetNumExplicitHs(edited.GetAtomWithIdx(anchor).GetNumExplicitHs() + 1)
    for index in sorted(atoms, reverse=True):
        edited.RemoveAtom(index)
    return _finished(edited)


def _clean_edit(before: dict[str, int], after: Chem.Mol, deltas: dict[str, int]) -> bool:
    """The edit changed exactly the groups it names, by the amounts named, and no other editable group."""
    return all(group_count(after, g) - before[g] == deltas.get(g, 0) for g in EDITABLE)


def _edit_meta(key: tuple) -> dict:
    if key[0] == "substitute":
        return {"kind": "edit", "operation": "substitute", "remove": key[1], "add": key[2]}
    return {"kind": "edit", "operation": key[0], "group": key[1]}


def edits(mol: Chem.Mol, rng: random.Random, operations: tuple[str, ...] = ("add", "delete", "substitute"),
          attempts: int = 80) -> Iterator[tuple[dict, Chem.Mol]]:
    """Clean single-group edits of `mol` (`_clean_edit`) as (meta, edited molecule), lazily and in
    random order: every (operation, group) gets a turn before any gets a second one, so the first
    edit is a uniformly drawn kind of edit; at most `attempts` edits are tried."""
    moves: dict[tuple, list[Callable[[], Optional[Chem.Mol]]]] = {}
    if "add" in operations:
        for name in EDITABLE:
            for anchor in _anchors(mol, GROUPS[name]):
                moves.setdefault(("add", name), []).append(functools.partial(attach, mol, anchor, GROUPS[name]))
    for old in EDITABLE:
        for atoms in mol.GetSubstructMatches(GROUPS[old].pattern):
            if "delete" in operations:
                moves.setdefault(("delete", old), []).append(functools.partial(replace, mol, atoms, None))
            if "substitute" in operations:
                for new in EDITABLE:
                    if new != old:
                        swap = functools.partial(replace, mol, atoms, GROUPS[new])
                        moves.setdefault(("substitute", old, new), []).append(swap)
    keys = sorted(moves)
    rng.shuffle(keys)
    for tried in moves.values():
        rng.shuffle(tried)
    turns = itertools.chain.from_iterable(itertools.zip_longest(*([(key, m) for m in moves[key]] for key in keys)))
    before = {g: group_count(mol, g) for g in EDITABLE}
    for key, move in itertools.islice((turn for turn in turns if turn is not None), attempts):
        edited = move()
        meta = _edit_meta(key)
        if edited is not None and _clean_edit(before, edited, edit_deltas(meta)):
            yield meta, edited


# Families ----------------------------------------------------------------------------------------
def _molecule(entity: dict) -> tuple[str, Chem.Mol]:
    (written,) = require(entity, "smiles")
    mol = Chem.MolFromSmiles(written)
    if mol is None:
        raise Skip("RDKit cannot read the SMILES")
    return Chem.MolToSmiles(mol), mol


def _counted(count: int, phrase: str) -> str:
    return f"{count} {phrase}" + ("" if count == 1 else "s")


def _listed(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


_PHRASES: dict[str, Callable[[str], str]] = {
    "atom_count": lambda key: f"{ELEMENTS[key]} atom",
    "bond_count": lambda key: BONDS[key],
    "functional_group": lambda key: GROUPS[key].phrase,
}
_CHOOSABLE: dict[str, Callable[[str], bool]] = {
    "atom_count": lambda key: key in ELEMENTS,
    "bond_count": lambda key: key in BONDS,
    "functional_group": lambda key: True,
}


def _customized(kind: str, most: int) -> Callable[[dict, random.Random], Iterator[Example]]:
    """Customized generation: 1..`most` counts of the molecule become the constraint it answers."""

    def make(entity: dict, rng: random.Random) -> Iterator[Example]:
        written, mol = _molecule(entity)
        present = sorted(k for k, n in COUNTERS[kind](mol).items() if n > 0 and _CHOOSABLE[kind](k))
        if not present:
            raise Skip(f"no {kind.replace('_', ' ')} to constrain")
        chosen = sorted(rng.sample(present, rng.randint(1, min(most, len(present)))))
        counts = {key: COUNTERS[kind](mol)[key] for key in chosen}
        meta = {"kind": kind, "counts": counts}
        if not satisfies(meta, None, written):
            raise Skip("the oracle rejects the source molecule")
        constraint = "exactly " + _listed([_counted(n, _PHRASES[kind](k)) for k, n in counts.items()])
        yield Example(fields={"constraint": text(constraint), "notation": notation()}, answer=(smiles(written),),
                      molecules=(written,), meta=meta)

    return make


def _edit(operation: str) -> Callable[[dict, random.Random], Iterator[Example]]:
    """Editing: one clean single-group edit of the input of the given operation, drawn at random."""

    def make(entity: dict, rng: random.Random) -> Iterator[Example]:
        written, mol = _molecule(entity)
        meta, edited = next(edits(mol, rng, (operation,)), (None, None))
        if edited is None:
            raise Skip(f"no clean {operation} edit")
        answer = Chem.MolToSmiles(edited)
        if not satisfies(meta, written, answer):
            raise Skip("the oracle rejects the edit")
        fields = {"molecule": smiles(written)}
        if operation == "substitute":
            fields.update(old=text(GROUPS[meta["remove"]].phrase), new=text(GROUPS[meta["add"]].phrase))
        else:
            fields["group"] = text(GROUPS[meta["group"]].phrase)
        yield Example(fields=fields, answer=(smiles(answer),), molecules=(written, answer), meta=meta)

    return make


def _optimize(name: str) -> Callable[[dict, random.Random], Iterator[Example]]:
    """Optimization: a single-group edit of the input that raises the property by the margin."""
    prop = PROPERTIES[name]

    def make(entity: dict, rng: random.Random) -> Iterator[Example]:
        written, mol = _molecule(entity)
        start = prop.compute(mol)
        edited = next((e for _, e in edits(mol, rng, attempts=40) if prop.compute(e) - start >= prop.margin), None)
        if edited is None:
            raise Skip(f"no single-group edit tried raises {name} by {prop.margin}")
        answer = Chem.MolToSmiles(edited)
        meta = {"kind": "optimize", "property": name, "margin": prop.margin,
                "input_value": round(start, 4), "answer_value": round(prop.compute(edited), 4)}
        if not satisfies(meta, written, answer):
            raise Skip("the oracle rejects the optimized molecule")
        fields = {"molecule": smiles(written), "property": text(prop.phrase),
                  "value": text(number(start, prop.digits)), "margin": text(f"{prop.margin:g}")}
        yield Example(fields=fields, answer=(smiles(answer),), molecules=(written, answer), meta=meta)

    return make


CUSTOMIZED_TEMPLATES = (
    "Propose a molecule that contains {constraint}. Write it in {notation}.",
    "Design a small organic molecule with {constraint}, and reply with its {notation} only.",
    "I need a compound having {constraint}. Which molecule would do? Answer in {notation}.",
    "Suggest one valid chemical structure, as {notation}, that has {constraint}.",
    "Write down in {notation} a molecule meeting this requirement: it must have {constraint}.",
    "Come up with a drug-like molecule containing {constraint}; give it as {notation}.",
    "Generate a molecule whose structure includes {constraint}. Use {notation} notation.",
)
EDIT_TEMPLATES = {
    "add": (
        "Add one {group} to the molecule {molecule} and give the edited structure.",
        "Starting from {molecule}, attach an additional {group}. What molecule do you get?",
        "Edit {molecule} so that it carries one more {group} than it does now.",
        "Here is a molecule: {molecule}. Propose a close analogue with an extra {group}.",
        "Introduce a single {group} into {molecule} and return the new molecule.",
        "Please modify the structure {molecule} by adding one {group}.",
    ),
    "delete": (
        "Remove one {group} from the molecule {molecule} and give the edited structure.",
        "Starting from {molecule}, delete a single {group}. What molecule is left?",
        "Edit {molecule} so that it carries one {group} fewer than it does now.",
        "Here is a molecule: {molecule}. Propose a close analogue lacking one of its {group}s.",
        "Take away one {group} from {molecule} and return the new molecule.",
        "Please modify the structure {molecule} by stripping off one {group}.",
    ),
    "substitute": (
        "In the molecule {molecule}, replace one {old} with one {new}.",
        "Swap a single {old} of {molecule} for one {new} and give the resulting structure.",
        "Starting from {molecule}, exchange one {old} for one {new}. What molecule do you get?",
        "Edit {molecule}: one of its {old}s should become one {new}.",
        "Here is a molecule: {molecule}. Propose the analogue in which one {old} is substituted by one {new}.",
        "Please modify {molecule} by turning one {old} into one {new}.",
    ),
}
OPTIMIZE_TEMPLATES = (
    "The molecule {molecule} has a {property} of {value}. Suggest a similar molecule whose {property} is at least {margin} higher.",
    "Raise the {property} of {molecule} (currently {value}) by {margin} or more with a small structural change.",
    "Optimize {molecule} for a higher {property}: it now sits at {value}, and the new molecule should gain at least {margin}.",
    "Starting from {molecule} ({property} = {value}), propose an analogue that increases the {property} by no less than {margin}.",
    "Here is a molecule with a {property} of {value}: {molecule}. Edit it slightly so that the {property} goes up by at least {margin}.",
    "Improve {molecule}: give a closely related structure with a {property} at least {margin} above its present {value}.",
)

_VARIANTS = ("smiles", "selfies")
_CUSTOMIZED = {"atom_count": ("atom counts by element", 3), "bond_count": ("bond counts by type", 2),
               "functional_group": ("functional-group counts", 2)}

FAMILIES: tuple[TaskFamily, ...] = (
    *(TaskFamily(
        name=f"customized_{kind}", category="molecule_1d", kinds=("molecule",), make=_customized(kind, most),
        templates=CUSTOMIZED_TEMPLATES, metric="molecule_constraints", variants=_VARIANTS,
        description=f"customized generation: a molecule with exact {what}, read off a real MOSES molecule "
                    "(the answer); RDKit checks any answer (`satisfies`)")
      for kind, (what, most) in _CUSTOMIZED.items()),
    *(TaskFamily(
        name=f"edit_{operation}", category="molecule_1d", kinds=("molecule",), make=_edit(operation),
        templates=EDIT_TEMPLATES[operation], metric="molecule_constraints", variants=_VARIANTS,
        description=f"molecule editing ({operation} a functional group of a declared table) on real MOSES "
                    "molecules; the answer is an RDKit edit checked by substructure counts")
      for operation in EDIT_TEMPLATES),
    *(TaskFamily(
        name=f"optimize_{name.lower()}", category="molecule_1d", kinds=("molecule",), make=_optimize(name),
        templates=OPTIMIZE_TEMPLATES, metric="molecule_constraints", variants=_VARIANTS,
        description=f"molecule optimization: raise {prop.phrase} by at least {prop.margin} with a single-group "
                    "edit of a real MOSES molecule; RDKit computes both values")
      for name, prop in PROPERTIES.items()),
)
