"""The readers a data config can name, and where `packaged:NAME` paths point.

A table, so that adding a format is one line: reader name -> (module, function, fixed keyword
arguments). Modules are imported on first use; a reader's own options come from the config.
"""

from __future__ import annotations

import glob
import importlib
from pathlib import Path
from typing import Callable, Iterator

from biomatrix_io.boundary import guarded
from biomatrix_io.config import ConfigError

_SOURCES = "biomatrix_io.readers"

READERS: dict[str, tuple[str, str, dict]] = {
    "smiles_table": (f"{_SOURCES}.molecules", "read_smiles_table", {}),
    "smi": (f"{_SOURCES}.molecules", "read_smi", {}),
    "chebi_obo": (f"{_SOURCES}.molecules", "read_chebi_obo", {}),
    "ccd": (f"{_SOURCES}.molecules", "read_ccd", {"with_ideal_coordinates": True}),
    "drugs": (f"{_SOURCES}.molecules", "read_drug_names", {}),
    "qm9_3d": (f"{_SOURCES}.molecules_3d", "read_qm9_3d", {}),
    "sdf": (f"{_SOURCES}.molecules_3d", "read_sdf", {}),
    "chemicals_pubchem": (f"{_SOURCES}.chemistry_tables", "read_table", {"layout": "chemicals_pubchem"}),
    "b3db_classification": (f"{_SOURCES}.chemistry_tables", "read_table", {"layout": "b3db_classification"}),
    "b3db_regression": (f"{_SOURCES}.chemistry_tables", "read_table", {"layout": "b3db_regression"}),
    "freesolv": (f"{_SOURCES}.chemistry_tables", "read_table", {"layout": "freesolv"}),
    "solubility_sdf": (f"{_SOURCES}.chemistry_tables", "read_sdf_table", {"layout": "huuskonen_solubility"}),
    "fasta": (f"{_SOURCES}.proteins", "read_fasta", {}),
    "swissprot": (f"{_SOURCES}.proteins", "read_swissprot", {}),
    "go_terms": (f"{_SOURCES}.proteins", "read_go_terms", {}),
    "metastudent": (f"{_SOURCES}.metastudent", "read_metastudent", {}),
    "structure_chains": (f"{_SOURCES}.structures", "read_structure_chains", {}),
    "complexes": (f"{_SOURCES}.structures", "read_complexes", {}),
    "pubmed_xml": (f"{_SOURCES}.text", "read_pubmed_xml", {}),
    "pmc_nxml": (f"{_SOURCES}.text", "read_pmc_nxml", {}),
    "jsonl_text": (f"{_SOURCES}.text", "read_jsonl_text", {}),
    "factbook": (f"{_SOURCES}.text", "read_factbook", {}),
    "affinity_table": (f"{_SOURCES}.interactions", "read_affinity_table", {}),
    "moleculeace": (f"{_SOURCES}.interactions", "read_moleculeace", {}),
    # DNA and RNA; options: nucleotide_fasta and rrna_blast_db take `molecule` (DNA | RNA)
    "genbank": (f"{_SOURCES}.nucleic", "read_genbank", {}),
    "embl": (f"{_SOURCES}.nucleic", "read_embl", {}),
    "nucleotide_fasta": (f"{_SOURCES}.nucleic", "read_nucleotide_fasta", {}),
    "rrna_blast_db": (f"{_SOURCES}.nucleic", "read_rrna_blast_db", {}),
    # SFT imports: chat records already (data_pipeline.sft.importers.IMPORT_READERS), not stage-1 entities
    "alpaca": ("data_pipeline.sft.importers", "read_alpaca", {}),
    "sharegpt": ("data_pipeline.sft.importers", "read_sharegpt", {}),
    "smolinstruct": ("data_pipeline.sft.importers", "read_smolinstruct", {}),
    "mol_instructions": ("data_pipeline.sft.importers", "read_mol_instructions", {}),
    "biomatrix_sft": ("data_pipeline.sft.importers", "read_biomatrix_sft", {}),
}


def reader(name: str, options: dict) -> Callable[[Path], Iterator]:
    """The reader, behind the record boundary (`biomatrix_io.boundary`): planning and building
    count the same entries, and no file's failure escapes as an exception."""
    module, function, fixed = READERS[name]
    read = getattr(importlib.import_module(module), function)
    return guarded(lambda path: read(path, **fixed, **options))


def resolve_paths(patterns: list[str], where: str) -> list[Path]:
    """Files of a source, in a fixed order: `packaged:NAME` entries, globs, plain paths. A path
    that names no file is the user's mistake, found before any work starts (`ConfigError`)."""
    from biomatrix_io.readers import packaged

    files: list[Path] = []
    for pattern in patterns:
        if pattern.startswith("packaged:"):
            locate = getattr(packaged, pattern.partition(":")[2], None)
            if locate is None:
                raise ConfigError(f"{where}: no packaged data named {pattern!r}")
            found = locate()
            files.extend(found if isinstance(found, list) else [found])
        elif glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise ConfigError(f"{where}: no file matches {pattern!r}")
            folders = [m for m in matches if not Path(m).is_file()]
            if folders:
                raise ConfigError(f"{where}: {pattern!r} matches {len(folders)} folder(s), e.g. {folders[0]}: "
                                  "make the glob match files only")
            files.extend(Path(m) for m in matches)
        else:
            path = Path(pattern)
            if path.is_dir():
                raise ConfigError(f"{where}: {path} is a folder; name its files (a glob such as {path}/*)")
            if not path.is_file():
                raise ConfigError(f"{where}: {path} does not exist")
            files.append(path)
    return files
