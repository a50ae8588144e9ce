"""Readers of measured molecule-protein interactions: generic affinity tables (SMILES, target
sequence, value, unit, measure) and the MoleculeACE benchmark (30 ChEMBL Ki/EC50 sets). Each
yields `AffinityRecord`s, or `Rejection`s for rows that are not a usable measurement. Readers
only parse: SMILES are canonicalized in stage 1 (`data_pipeline.normalize`)."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional, Union

from biomatrix_io.readers.tables import Row, table_rows
from biomatrix_io.records import AffinityRecord, Provenance, Rejection

Read = Union[AffinityRecord, Rejection]


def _rows(path: Path, required: list[str]) -> Iterator[Union[Row, Rejection]]:
    """The rows of an interaction table: tab-separated when its name says `.tsv`, else CSV."""
    return table_rows(path, required, delimiter="\t" if ".tsv" in path.suffixes else ",")


def _affinity(
    provenance: Provenance, smiles: str, sequence: Optional[str], value: str, unit: str, measure: str, target: Optional[str]
) -> Read:
    smiles, unit, measure = smiles.strip(), unit.strip(), measure.strip()
    if not smiles:
        return Rejection(provenance, "empty SMILES")
    try:
        number = float(value)
    except ValueError:
        return Rejection(provenance, f"non-numeric value {value!r}")
    if not math.isfinite(number):
        return Rejection(provenance, f"non-finite value {value!r}")
    if not unit:
        return Rejection(provenance, "empty unit")
    if not measure:
        return Rejection(provenance, "empty measure")
    return AffinityRecord(provenance, smiles, (sequence or "").strip() or None, number, unit, measure, (target or "").strip() or None)


def read_affinity_table(
    path: str | Path,
    smiles_column: str = "smiles",
    sequence_column: Optional[str] = "sequence",
    value_column: str = "value",
    unit_column: str = "unit",
    measure_column: str = "measure",
    target_column: Optional[str] = None,
) -> Iterator[Read]:
    """A CSV/TSV (optionally gzipped) of measured interactions, one row each. `sequence_column`
    None (or an empty cell) gives records whose sequence is None: the target is then known by
    `target_column` only. Rejected: empty SMILES, unit or measure; a value that is not a finite
    number; malformed rows."""
    path = Path(path)
    optional = [c for c in (sequence_column, target_column) if c]
    for item in _rows(path, [smiles_column, value_column, unit_column, measure_column, *optional]):
        if isinstance(item, Rejection):
            yield item
            continue
        provenance, row = item
        yield _affinity(
            provenance,
            row[smiles_column],
            row[sequence_column] if sequence_column else None,
            row[value_column],
            row[unit_column],
            row[measure_column],
            row[target_column] if target_column else None,
        )


# ChEMBL target id -> (UniProt accession, protein name) for the 30 MoleculeACE sets (29 targets;
# CHEMBL237 has both a Ki and an EC50 set). All human single proteins. Written down from
# knowledge of ChEMBL and UniProt, without access to either: the names agree with MoleculeACE's
# own dataset table, the accessions are not checked against a database here.
MOLECULEACE_TARGETS: dict[str, tuple[str, str]] = {
    "CHEMBL1862": ("P00519", "Tyrosine-protein kinase ABL1"),
    "CHEMBL1871": ("P10275", "Androgen receptor"),
    "CHEMBL2034": ("P04150", "Glucocorticoid receptor"),
    "CHEMBL2047": ("Q96RI1", "Bile acid receptor (farnesoid X receptor, FXR)"),
    "CHEMBL204": ("P00734", "Prothrombin (thrombin)"),
    "CHEMBL2147": ("P11309", "Serine/threonine-protein kinase PIM1"),
    "CHEMBL214": ("P08908", "5-hydroxytryptamine receptor 1A (serotonin 1a receptor)"),
    "CHEMBL218": ("P21554", "Cannabinoid receptor 1"),
    "CHEMBL219": ("P21917", "D(4) dopamine receptor"),
    "CHEMBL228": ("P31645", "Sodium-dependent serotonin transporter"),
    "CHEMBL231": ("P35367", "Histamine H1 receptor"),
    "CHEMBL233": ("P35372", "Mu-type opioid receptor"),
    "CHEMBL234": ("P35462", "D(3) dopamine receptor"),
    "CHEMBL235": ("P37231", "Peroxisome proliferator-activated receptor gamma"),
    "CHEMBL236": ("P41143", "Delta-type opioid receptor"),
    "CHEMBL237": ("P41145", "Kappa-type opioid receptor"),
    "CHEMBL238": ("Q01959", "Sodium-dependent dopamine transporter"),
    "CHEMBL239": ("Q07869", "Peroxisome proliferator-activated receptor alpha"),
    "CHEMBL244": ("P00742", "Coagulation factor X"),
    "CHEMBL262": ("P49841", "Glycogen synthase kinase-3 beta"),
    "CHEMBL264": ("Q9Y5N1", "Histamine H3 receptor"),
    "CHEMBL2835": ("P23458", "Tyrosine-protein kinase JAK1"),
    "CHEMBL287": ("Q99720", "Sigma non-opioid intracellular receptor 1"),
    "CHEMBL2971": ("O60674", "Tyrosine-protein kinase JAK2"),
    "CHEMBL3979": ("Q03181", "Peroxisome proliferator-activated receptor delta"),
    "CHEMBL4005": ("P42336", "Phosphatidylinositol 4,5-bisphosphate 3-kinase catalytic subunit alpha (PI3K p110-alpha)"),
    "CHEMBL4203": ("Q9HAZ1", "Dual specificity protein kinase CLK4"),
    "CHEMBL4616": ("Q92847", "Growth hormone secretagogue receptor type 1 (ghrelin receptor)"),
    "CHEMBL4792": ("O43614", "Orexin receptor type 2"),
}

_MOLECULEACE_NAME = re.compile(r"^(CHEMBL\d+)_(Ki|EC50|IC50|Kd)$")


def read_moleculeace(path: str | Path, target_sequences: bool = False) -> Iterator[Read]:
    """One MoleculeACE benchmark CSV (`CHEMBL<target>_<measure>.csv`: smiles, exp_mean [nM], ...):
    affinity in nM, the measure (Ki or EC50) and the ChEMBL target taken from the file name.

    `target` is the target's name and UniProt accession from `MOLECULEACE_TARGETS` (the ChEMBL id
    itself for a target not in that table): text a reader of the document can resolve. MoleculeACE
    ships no sequences, so `sequence` is None by default. With `target_sequences`, it is the
    accession's UniProt sequence from Debian metastudent-data (January 2014; it holds all 29, and
    their GO terms agree with the names above), looked up once per process
    (`moleculeace_target_sequences`); a target it lacks keeps None.
    """
    path = Path(path)
    match = _MOLECULEACE_NAME.match(Path(path.name.removesuffix(".gz")).stem)  # a gzipped copy keeps its name
    if match is None:
        yield Rejection(Provenance(str(path), "file", path.name), "file name is not CHEMBL<target>_<measure>.csv")
        return
    chembl_id, measure = match.groups()
    accession, name = MOLECULEACE_TARGETS.get(chembl_id, (chembl_id, ""))
    target = f"{name} (UniProt {accession})" if name else accession
    sequence = moleculeace_target_sequences().get(accession) if target_sequences else None
    for item in _rows(path, ["smiles", "exp_mean [nM]"]):
        if isinstance(item, Rejection):
            yield item
            continue
        provenance, row = item
        yield _affinity(provenance, row["smiles"], sequence, row["exp_mean [nM]"], "nM", measure, target)


@lru_cache(maxsize=1)
def moleculeace_target_sequences() -> dict[str, str]:
    """UniProt accession -> sequence of the MoleculeACE targets that metastudent-data holds."""
    from biomatrix_io.readers import packaged
    from biomatrix_io.readers.metastudent import sequences_by_accession

    pins = [packaged.metastudent_mfo(), packaged.metastudent_bpo(), packaged.metastudent_cco()]
    return sequences_by_accession([accession for accession, _ in MOLECULEACE_TARGETS.values()], pins)
