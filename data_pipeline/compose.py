"""Stage 2, first half: entities -> typed documents, following the report's composition.

- Molecules, proteins, interactions: each view of `ComposeConfig.views` samples which of the
  entity's fields appear and permutes their order (stochastic composition).
- Proteins with structure codes: the three views (1D only, 3D only, both in random order) replace
  the plain 1D view.
- Text: plain documents, or, when the source asks for it and the text mentions lexicon entities,
  interleaved documents with each linked entity's 1D form inserted after its first mention.
- DNA and RNA records: annotated windows, gene-protein pairs and interleaved text (`nucleic`).

Every random choice comes from a generator seeded by (seed, entity key): the documents of an entity
are the same whichever unit or worker composes it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

from biomatrix_io.config import ConfigError

from megatron_bio.tokenizer.segments import Document, Modality, Segment

from .nucleic import GENOME, INTERLEAVED, PAIRS, RNA, NucleicConfig, nucleotide_documents

Composed = tuple[str, Document]

# The dataset prefixes, one per category/view, and the paper's token budget for each (billions;
# report figure 2, model cards' per-part split): the default blend weights.
PAPER_BUDGET_B: dict[str, float] = {
    "text/general": 25.6,
    "text/scientific": 79.7,
    "molecule/1d": 32.1,
    "molecule/3d": 17.6,
    "molecule/other": 24.0,
    "protein/1d": 36.0,
    "protein/3d": 38.5,
    "protein/other": 2.9,
    "cross/interleaved": 17.1,
    "cross/3d": 11.4,
    "cross/other": 19.5,
}
# Prefixes beyond the report: DNA and RNA (`nucleic`). The paper has no nucleic share; these
# budgets (billions) are ours, the default of `DataConfig.nucleic_budget_b`: 30.0B beside the
# paper's 304.4B (about one 1D view of another modality: protein/1d 36.0B, molecule/1d 32.1B), so
# the nucleic prefixes are 9.0% of the blend and the paper's keep their ratios. Split by BSM's
# families: genome windows first (its main family), gene-protein pairs next (the family that ties
# DNA to the proteins BioMatrix already reads), interleaved text, then RNA windows (the named rRNA
# sources are few and short). data_pipeline/README.md, "Composition", shows the table.
NUCLEIC_BUDGET_B: dict[str, float] = {
    GENOME: 12.0,  # nucleic/genome
    RNA: 3.0,  # nucleic/rna
    PAIRS: 9.0,  # nucleic/gene_protein
    INTERLEAVED: 6.0,  # nucleic/interleaved
}
PREFIXES = tuple(PAPER_BUDGET_B) + tuple(NUCLEIC_BUDGET_B)


@dataclass
class ViewConfig:
    """One document view of an entity. The view is emitted (with `probability`) when the entity has
    a field of every anchor group; each present field then appears with its probability, at least
    one field of each anchor group always does, and the order of the fields is permuted."""

    prefix: str
    anchors: list[list[str]]
    fields: dict[str, float]
    probability: float = 1.0


@dataclass
class InterleaveConfig:
    min_name_length: int = 5  # shorter names (ions, "lead", "iron") give too many false mentions
    max_name_words: int = 6
    max_links: int = 8  # per document
    selfies_probability: float = 0.3  # a linked molecule is written as SELFIES instead of SMILES


def _views() -> dict[str, list[ViewConfig]]:
    return {
        "molecule": [
            ViewConfig("molecule/1d", [["smiles", "selfies"]], {"smiles": 0.8, "selfies": 0.7, "name": 0.3}),
            ViewConfig("molecule/3d", [["molecule_3d"]], {"molecule_3d": 1.0, "smiles": 0.5, "selfies": 0.3, "name": 0.2}),
            ViewConfig("molecule/other", [["description", "properties"]],
                       {"name": 0.9, "description": 0.9, "properties": 0.9, "smiles": 0.7, "selfies": 0.4}),
        ],
        "protein": [
            ViewConfig("protein/1d", [["sequence"]], {"sequence": 1.0, "name": 0.3}),
            ViewConfig("protein/other", [["description", "annotations"]],
                       {"name": 0.9, "description": 0.9, "annotations": 0.9, "sequence": 1.0}),
        ],
        "affinity": [
            ViewConfig("cross/other", [["smiles", "selfies"], ["sequence", "target"], ["affinity"]],
                       {"smiles": 0.8, "selfies": 0.4, "sequence": 1.0, "target": 0.6, "affinity": 1.0}),
        ],
        "complex": [
            ViewConfig("cross/3d", [["ligands_3d", "proteins_3d"], ["proteins", "proteins_3d"]],
                       {"ligands_3d": 1.0, "proteins_3d": 1.0, "proteins": 0.8, "ligands": 0.5, "title": 0.7}),
            # A complex holds two entities or more (normalize checks it): all of them, in 1D.
            ViewConfig("cross/other", [["proteins"]], {"proteins": 1.0, "ligands": 1.0, "title": 0.7}),
        ],
    }


@dataclass
class ComposeConfig:
    """Stage 2: documents from records. Randomness is drawn per record from (seed, record key),
    so the output does not depend on how records are split into units or workers."""

    seed: int = 1234
    views: dict[str, list[ViewConfig]] = field(default_factory=_views)
    # Proteins with structure codes: the report's three views (1D-only, 3D-only, joint in random order).
    three_view: bool = True
    interleave: InterleaveConfig = field(default_factory=InterleaveConfig)
    nucleic: NucleicConfig = field(default_factory=NucleicConfig)  # DNA and RNA records' documents
    batch_size: int = 256  # documents tokenized per backend call

    def __post_init__(self) -> None:
        for kind, views in self.views.items():
            for view in views:
                if view.prefix not in PREFIXES:
                    raise ConfigError(f"compose.views.{kind}: unknown prefix {view.prefix!r}; known: {list(PREFIXES)}",
                                      [f"views.{kind}"])
                unknown = sorted(set(view.fields) - set(RENDER) | {f for g in view.anchors for f in g} - set(view.fields))
                if unknown:
                    raise ConfigError(f"compose.views.{kind} ({view.prefix}): fields {unknown} are not renderable "
                                      f"fields of the view; known: {sorted(RENDER)}", [f"views.{kind}"])




def _text(value: str) -> list[Segment]:
    return [Segment(Modality.TEXT, value)]


def _properties(properties: dict) -> str:
    return "; ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in properties.items())


def _each(items: list, modality: Modality, key: str) -> list[Segment]:
    segments: list[Segment] = []
    for item in items:
        if item.get(key):
            segments += ([Segment(Modality.TEXT, "\n")] if segments else []) + [Segment(modality, item[key])]
    return segments


# field -> its segments, or [] when the entity lacks it. The one place a field's rendering is decided.
RENDER: dict[str, Callable[[dict], list[Segment]]] = {
    "smiles": lambda e: [Segment(Modality.SMILES, e["smiles"])] if e.get("smiles") else [],
    "selfies": lambda e: [Segment(Modality.SELFIES, e["selfies"])] if e.get("selfies") else [],
    "molecule_3d": lambda e: [Segment(Modality.MOLECULE_3D, e["molecule_3d"])] if e.get("molecule_3d") else [],
    "sequence": lambda e: [Segment(Modality.PROTEIN, e["sequence"])] if e.get("sequence") else [],
    "structure": lambda e: [Segment(Modality.PROTEIN_3D, tuple(e["structure_codes"]))] if e.get("structure_codes") else [],
    "name": lambda e: _text(f"Name: {e['name']}") if e.get("name") else [],
    "description": lambda e: _text(f"Description: {e['description']}") if e.get("description") else [],
    "properties": lambda e: _text(f"Properties: {_properties(e['properties'])}") if e.get("properties") else [],
    "annotations": lambda e: _text("Annotations: " + "; ".join(e["annotations"])) if e.get("annotations") else [],
    "target": lambda e: _text(f"Target: {e['target']}") if e.get("target") else [],
    "affinity": lambda e: _text(f"{e['measure']}: {e['value']:g} {e['unit']}") if e.get("measure") else [],
    "title": lambda e: _text(f"Structure {e['title']}") if e.get("title") else [],
    "proteins": lambda e: _each(e.get("proteins", []), Modality.PROTEIN, "sequence"),
    "proteins_3d": lambda e: _each(e.get("proteins", []), Modality.PROTEIN_3D, "structure_codes"),
    "ligands": lambda e: _each(e.get("ligands", []), Modality.SMILES, "smiles"),
    "ligands_3d": lambda e: _each(e.get("ligands", []), Modality.MOLECULE_3D, "molecule_3d"),
}


def _join(parts: list[list[Segment]]) -> Document:
    """Fields separated by newlines; neighbouring text merged into one segment."""
    document: Document = []
    for index, part in enumerate(parts):
        for segment in ([Segment(Modality.TEXT, "\n")] if index else []) + part:
            if document and segment.modality is Modality.TEXT and document[-1].modality is Modality.TEXT:
                document[-1] = Segment(Modality.TEXT, document[-1].value + segment.value)
            else:
                document.append(segment)
    return document


def compose_view(entity: dict, view: ViewConfig, rng: random.Random) -> Optional[Document]:
    rendered = {name: RENDER[name](entity) for name in view.fields}
    present = [name for name in view.fields if rendered[name]]
    if any(not any(name in present for name in group) for group in view.anchors):
        return None
    if rng.random() >= view.probability:
        return None
    chosen = [name for name in present if rng.random() < view.fields[name]]
    for group in view.anchors:
        if not any(name in chosen for name in group):
            chosen.append(rng.choice([name for name in group if name in present]))
    rng.shuffle(chosen)
    return _join([rendered[name] for name in chosen])


def three_views(entity: dict, rng: random.Random) -> list[Composed]:
    """1D only, 3D only, and both in random order (the report's pattern for proteins with structure)."""
    sequence, structure = RENDER["sequence"](entity), RENDER["structure"](entity)
    joint = [sequence, structure]
    rng.shuffle(joint)
    return [("protein/1d", sequence), ("protein/3d", structure), ("protein/3d", _join(joint))]


class Lexicon:
    """Entity names -> their 1D forms, matched as whole words (case-insensitive, longest first)."""

    _WORD = re.compile(r"\S+")
    _TRAILING = ".,;:!?)\"'"

    def __init__(self, entries: dict[str, dict], config: InterleaveConfig) -> None:
        self.entries = entries
        self.config = config

    @classmethod
    def from_entities(cls, entities, config: InterleaveConfig) -> "Lexicon":
        """First entity wins for a name: entities come in plan order, so the result is fixed."""
        entries: dict[str, dict] = {}
        for entity in entities:
            name = (entity.get("name") or "").lower()
            if not entity.get("lexicon") or len(name) < config.min_name_length or len(name.split()) > config.max_name_words:
                continue
            form = {k: entity[k] for k in ("smiles", "selfies", "sequence") if entity.get(k)}
            if form and name not in entries:
                entries[name] = form
        return cls(entries, config)

    def link(self, text: str, rng: random.Random) -> Document:
        """The text with the 1D form of each linked entity inserted after its first mention."""
        words = list(self._WORD.finditer(text))
        document: Document = []
        position, linked, index = 0, set(), 0
        while index < len(words) and len(linked) < self.config.max_links:
            match = self._longest(text, words, index)
            if match is None or match[1] in linked:
                index += 1
                continue
            end, name, span = match
            linked.add(name)
            document += [Segment(Modality.TEXT, text[position:end]), Segment(Modality.TEXT, " "), self._form(name, rng)]
            position, index = end, index + span
        if not linked:
            return []
        tail = text[position:]
        return _join([document + ([Segment(Modality.TEXT, tail)] if tail else [])])

    def _longest(self, text: str, words: list, index: int) -> Optional[tuple[int, str, int]]:
        for span in range(min(self.config.max_name_words, len(words) - index), 0, -1):
            start, end = words[index].start(), words[index + span - 1].end()
            candidate = text[start:end].rstrip(self._TRAILING)
            if candidate.lower() in self.entries:
                return start + len(candidate), candidate.lower(), span
        return None

    def _form(self, name: str, rng: random.Random) -> Segment:
        form = self.entries[name]
        if "sequence" in form:
            return Segment(Modality.PROTEIN, form["sequence"])
        if "selfies" in form and rng.random() < self.config.selfies_probability:
            return Segment(Modality.SELFIES, form["selfies"])
        return Segment(Modality.SMILES, form["smiles"])


def compose(entity: dict, config: ComposeConfig, lexicon: Lexicon) -> list[Composed]:
    """Every document of one entity, in a fixed order."""
    rng = random.Random(f"{config.seed}:{entity['key']}")
    if entity["kind"] == "text":
        body = f"{entity['title']}\n\n{entity['text']}" if entity.get("title") else entity["text"]
        linked = lexicon.link(body, rng) if entity.get("interleave") else []
        return [("cross/interleaved", linked)] if linked else [(entity["category"], _text(body))]
    if entity["kind"] == "nucleotide":
        return nucleotide_documents(entity, config.nucleic, rng)
    documents: list[Composed] = []
    with_structure = config.three_view and entity["kind"] == "protein" and entity.get("structure_codes")
    if with_structure:
        documents += three_views(entity, rng)
    for view in config.views.get(entity["kind"], []):
        if with_structure and view.prefix == "protein/1d":
            continue
        document = compose_view(entity, view, rng)
        if document:
            documents.append((view.prefix, document))
    return documents
