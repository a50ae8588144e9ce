"""Stage 1: source records -> entities, every field computed once.

An entity is a JSON object: `key` (source:file:index, stable whatever the unit size), `kind`
(molecule, protein, text, affinity, complex), `source`, `id`, `where` (file:location), and the
fields composition draws from. Expensive fields (canonical SMILES, SELFIES, conformers, structure
codes) are computed here so that re-composing or re-tokenizing never recomputes them.

Accounting: each input item is either written or rejected with a reason. A record that keeps its
valid fields but loses one (a conformer that does not embed, a 3D structure the tokenizer refuses)
is written and the lost field is counted under `fields_dropped`, so nothing disappears unseen.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Iterator, Optional

from rdkit import Chem, RDLogger

from megatron_bio.tokenizer.molecule_forms import MoleculeFormError, canonical_selfies
from biomatrix_io.records import (
    AffinityRecord,
    ComplexRecord,
    Molecule3DRecord,
    MoleculeRecord,
    NucleotideRecord,
    ProteinRecord,
    Rejection,
    TextRecord,
    reason_group,
)
from megatron_bio.tokenizer.families import RESIDUES

from .config import NormalizeConfig, SourceConfig

RDLogger.DisableLog("rdApp.*")
_RESIDUE_LETTERS = frozenset(letter for letter, _ in RESIDUES)


class Rejected(ValueError):
    """A record that cannot become an entity; the message is the reason."""


@dataclass
class UnitStats:
    records: int = 0
    written: int = 0
    rejected: Counter = field(default_factory=Counter)
    fields_dropped: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    # Atoms of written 3D tokens whose code carries no geometry (degenerate released descriptors:
    # NaN or collinear references; `megatron_bio.structure.molecule.codec`).
    molecule_3d_degenerate_atoms: int = 0

    def as_dict(self) -> dict:
        return {"records": self.records, "written": self.written, "rejected": dict(sorted(self.rejected.items())),
                "fields_dropped": dict(sorted(self.fields_dropped.items())), "kinds": dict(sorted(self.kinds.items())),
                "molecule_3d_degenerate_atoms": self.molecule_3d_degenerate_atoms}


def _share(key: str, fraction: float) -> bool:
    """A fixed pseudo-random share of keys (by hash), the same on every run and machine."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return digest / 2**64 < fraction


def protein_structure_encoder(config: NormalizeConfig) -> tuple[Optional[Callable], str]:
    """The protein structure tokenizer's encoder (`auto`: the default one; or a name or file of
    `megatron_bio.structure.protein.codec.load`), else None and why not."""
    if config.protein_structure == "none":
        return None, "disabled by normalize.protein_structure=none"
    from megatron_bio.structure.protein.codec import DEFAULT, encode_chain, load

    tokenizer = load(DEFAULT if config.protein_structure == "auto" else config.protein_structure)
    return functools.partial(encode_chain, tokenizer), "megatron_bio.structure.protein"


class Normalizer:
    """Turns one source's items into entities; holds the structure tokenizers (loaded once per worker)."""

    def __init__(self, config: NormalizeConfig) -> None:
        from megatron_bio.structure.molecule.config import checkpoint_path
        from megatron_bio.structure.molecule.codec import MoleculeStructureTokenizer
        from megatron_bio.structure.molecule.conformers import ConformerConfig

        self.config = config
        self.molecule_structure = MoleculeStructureTokenizer.from_checkpoint(checkpoint_path(config.molecule_structure))
        self.conformer = ConformerConfig(seed=config.conformer_seed, max_heavy_atoms=config.max_heavy_atoms)
        self.protein_structure, self.protein_structure_status = protein_structure_encoder(config)

    def entities(self, source_name: str, source: SourceConfig, items: Iterable[tuple[str, object]],
                 stats: UnitStats) -> Iterator[dict]:
        """Entities of (key, item) pairs, in input order; molecules' 3D fields are encoded in batches."""
        batch: list[tuple[str, object]] = []
        for pair in items:
            batch.append(pair)
            if len(batch) == self.config.batch_size:
                yield from self._batch(source_name, source, batch, stats)
                batch = []
        yield from self._batch(source_name, source, batch, stats)

    def _batch(self, source_name: str, source: SourceConfig, batch: list, stats: UnitStats) -> Iterator[dict]:
        built: list[Optional[dict]] = []
        pending_3d: list[tuple[dict, str, object]] = []  # (field holder, key, RDKit mol with conformer)
        for key, item in batch:
            stats.records += 1
            if isinstance(item, Rejection):
                stats.rejected[reason_group(item.reason)] += 1
                built.append(None)
                continue
            try:
                entity = self._entity(key, source_name, source, item, pending_3d, stats)
            except Rejected as error:
                stats.rejected[reason_group(str(error))] += 1
                built.append(None)
                continue
            built.append(entity)
        self._encode_3d(pending_3d, stats)
        for entity in built:
            if entity is not None:
                stats.written += 1
                stats.kinds[entity["kind"]] += 1
                yield entity

    # One builder per record type ------------------------------------------------------------
    def _entity(self, key: str, source_name: str, source: SourceConfig, item, pending_3d: list, stats: UnitStats) -> dict:
        p = item.provenance
        head = {"key": key, "source": source_name, "id": p.record_id, "where": f"{p.path}:{p.location}"}
        build = _BUILDERS.get(type(item))
        if build is None:
            raise Rejected(f"no entity for a {type(item).__name__}")
        entity = build(self, key, source, item, pending_3d, stats)
        entity.update(head)  # in place: pending 3D encodings hold this very dict
        return entity

    def _molecule(self, key, source, record: MoleculeRecord, pending_3d, stats) -> dict:
        smiles, selfies = _forms(record.smiles)
        properties = {k: v for k, v in sorted(record.properties.items()) if k != "definition" and v not in (None, "")}
        entity = {"kind": "molecule", "smiles": smiles, "selfies": selfies, "name": _clean(record.name),
                  "description": _clean(record.properties.get("definition")), "properties": properties,
                  "molecule_3d": None, "lexicon": source.lexicon}
        if _share(key, source.conformer_fraction):
            self._generated_3d(entity, key, smiles, pending_3d, stats)
        return entity

    def _molecule_3d(self, key, source, record: Molecule3DRecord, pending_3d, stats) -> dict:
        try:
            smiles = Chem.MolToSmiles(Chem.RemoveHs(record.mol))
        except Exception as error:  # RDKit raises several unrelated types
            raise Rejected(f"RDKit cannot write the molecule: {str(error).splitlines()[0][:80]}") from None
        smiles, selfies = _forms(smiles)
        properties = {k: v for k, v in sorted(record.properties.items()) if k != "smiles" and v not in (None, "")}
        entity = {"kind": "molecule", "smiles": smiles, "selfies": selfies, "name": _clean(record.name),
                  "description": None, "properties": properties, "molecule_3d": None, "lexicon": source.lexicon}
        pending_3d.append((entity, key, record.mol))
        return entity

    def _protein(self, key, source, record: ProteinRecord, pending_3d, stats) -> dict:
        return {"kind": "protein", **self._chain(record, stats), "description": _clean(record.description),
                "annotations": [a for a in map(_clean, record.annotations) if a], "lexicon": source.lexicon}

    def _chain(self, record: ProteinRecord, stats: UnitStats) -> dict:
        sequence = record.sequence.strip().upper()
        if not sequence:
            raise Rejected("empty sequence")
        bad = sorted(set(sequence) - _RESIDUE_LETTERS)
        if bad:
            raise Rejected(f"sequence has non-residue characters {''.join(bad)[:10]!r}")
        codes = None
        if record.backbone is not None and self.protein_structure is not None:
            try:
                codes = [int(c) for c in self.protein_structure(record.backbone, sequence)]
            except ValueError as error:
                stats.fields_dropped[reason_group(f"protein structure: {error}")] += 1
        return {"sequence": sequence, "name": _clean(record.name), "structure_codes": codes}

    def _text(self, key, source, record: TextRecord, pending_3d, stats) -> dict:
        text = _clean(record.text)
        if not text:
            raise Rejected("empty text")
        return {"kind": "text", "text": text, "title": _clean(record.title), "category": source.text_category,
                "interleave": source.interleave}

    def _affinity(self, key, source, record: AffinityRecord, pending_3d, stats) -> dict:
        smiles, selfies = _forms(record.smiles)
        sequence = None
        if record.sequence:
            sequence = self._chain(ProteinRecord(record.provenance, record.sequence), stats)["sequence"]
        return {"kind": "affinity", "smiles": smiles, "selfies": selfies, "sequence": sequence,
                "target": _clean(record.target), "measure": record.measure, "value": record.value, "unit": record.unit}

    def _complex(self, key, source, record: ComplexRecord, pending_3d, stats) -> dict:
        proteins = [self._chain(chain, stats) for chain in record.proteins]
        ligands = []
        for index, ligand in enumerate(record.ligands):
            try:
                ligands.append(self._molecule_3d(f"{key}:ligand{index}", source, ligand, pending_3d, stats))
            except Rejected as error:
                stats.fields_dropped[reason_group(f"ligand: {error}")] += 1
        if len(proteins) + len(ligands) < 2 or not proteins:
            raise Rejected("complex: fewer than two entities (one of them a protein) left after normalization")
        return {"kind": "complex", "title": record.provenance.record_id, "proteins": proteins, "ligands": ligands,
                "contacts": [list(contact) for contact in record.contacts]}  # indices into proteins

    # 3D fields ---------------------------------------------------------------------------------
    def _generated_3d(self, entity: dict, key: str, smiles: str, pending_3d: list, stats: UnitStats) -> None:
        from megatron_bio.structure.molecule.conformers import generate_conformer
        from megatron_bio.structure.molecule.errors import StructureTokenError

        try:
            pending_3d.append((entity, key, generate_conformer(smiles, self.conformer, key)))
        except StructureTokenError as error:
            stats.fields_dropped[reason_group(f"conformer: {error.reason}")] += 1

    def _encode_3d(self, pending: list, stats: UnitStats) -> None:
        from megatron_bio.structure.molecule.errors import StructureTokenError

        results = self.molecule_structure.encode_many([mol for _, _, mol in pending], [key for _, key, _ in pending])
        for (entity, _, _), result in zip(pending, results):
            if isinstance(result, StructureTokenError):
                stats.fields_dropped[reason_group(f"molecule 3D: {result.reason}")] += 1
                entity["molecule_3d"] = None
            else:
                entity["molecule_3d"] = result.tokens
                stats.molecule_3d_degenerate_atoms += result.degenerate_atoms


    def _nucleotide(self, key, source, record: NucleotideRecord, pending_3d, stats) -> dict:
        """A DNA or RNA record whole, features included (its reader checked the letters and every
        kept CDS's translation): genome windows, gene-protein pairs and SFT tasks are cut from it
        downstream. `features` are `NucleotideFeature` fields (`NucleotideFeature(**f)` with `parts`
        as tuples gives the feature back)."""
        if not record.sequence:
            raise Rejected("empty sequence")
        return {"kind": "nucleotide", "molecule": record.molecule, "sequence": record.sequence,
                "description": _clean(record.description), "organism": _clean(record.organism),
                "taxonomy": list(record.taxonomy), "circular": record.circular,
                "features": [asdict(feature) for feature in record.features]}


_BUILDERS = {
    MoleculeRecord: Normalizer._molecule,
    Molecule3DRecord: Normalizer._molecule_3d,
    ProteinRecord: Normalizer._protein,
    TextRecord: Normalizer._text,
    AffinityRecord: Normalizer._affinity,
    ComplexRecord: Normalizer._complex,
    NucleotideRecord: Normalizer._nucleotide,
}


def _forms(smiles: str) -> tuple[str, str]:
    try:
        return canonical_selfies(smiles)
    except MoleculeFormError as error:
        raise Rejected(str(error)) from None


def _clean(text: Optional[str]) -> Optional[str]:
    """NFC, no control characters, trimmed; None when nothing is left."""
    if text is None:
        return None
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C").strip()
    return text or None
