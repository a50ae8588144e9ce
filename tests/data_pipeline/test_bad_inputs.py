"""Bad input never stops a build: every bad record of every source type is rejected with its
reason and counted, records in = written + rejected, and a document the tokenizer refuses is
counted under its prefix."""

import gzip
import json

from data_pipeline.build import build
from data_pipeline.config import DataConfig, SourceConfig


def _write(path, text: bytes):
    path.write_bytes(text)
    return str(path)


def test_bad_records_are_counted_by_reason(tmp_path):
    smiles = _write(tmp_path / "mols.csv", b'SMILES\nCCO\nC1CC\n""\nc1ccccc1O\nC(C)(C)(C)(C)C\n')
    jsonl = _write(tmp_path / "texts.jsonl", b'{"text": "Aspirin inhibits cyclooxygenase."}\n'
                   b'{"text": "bad \xff byte"}\nnot json\n{"text": ""}\n{"other": 1}\n'
                   b'{"text": "A control token <|mol_smi_start|> in plain text."}\n')
    fasta = _write(tmp_path / "proteins.fasta", b">good\nMKTAYIAKQRQISFVKSHFSRQ\n>dna\nACGTACGTACGTACGTACGTACGTACGT\n>empty\n\n")
    affinity = tmp_path / "affinity.tsv.gz"
    with gzip.open(affinity, "wt") as handle:
        handle.write("smiles\tsequence\tvalue\tunit\tmeasure\nCCO\tMKTAYIAK\t12.5\tnM\tKi\nCCO\tMKTAYIAK\tabc\tnM\tKi\n"
                     "not_a_smiles\tMKTAYIAK\t3\tnM\tKi\n")
    config = DataConfig(out=str(tmp_path / "out"), records_per_unit=2, workers=1, sources={
        "mols": SourceConfig("smiles_table", [smiles]),
        "texts": SourceConfig("jsonl_text", [jsonl]),
        "proteins": SourceConfig("fasta", [fasta]),
        "affinity": SourceConfig("affinity_table", [str(affinity)]),
    })
    summary = build(config, workers=1, progress=False)
    sources = summary["sources"]
    for name, source in sources.items():
        assert source["records"] == source["written"] + sum(source["rejected"].values()), name
    # unclosed ring, empty SMILES, pentavalent carbon
    assert sources["mols"]["records"] == 5 and sources["mols"]["written"] == 2
    assert any("RDKit" in reason for reason in sources["mols"]["rejected"])
    assert sources["texts"]["written"] == 2 and sum(sources["texts"]["rejected"].values()) == 4
    assert sources["proteins"]["written"] == 1 and sum(sources["proteins"]["rejected"].values()) == 2
    assert sources["affinity"]["written"] == 1 and sum(sources["affinity"]["rejected"].values()) == 2
    manifest = json.loads((tmp_path / "out" / "shards" / "text" / "scientific.manifest.json").read_text())
    assert manifest["documents"] == 1 and sum(manifest["rejected"]["documents"].values()) == 1
    assert "control token" in next(iter(manifest["rejected"]["documents"]))
    assert sources["texts"]["documents_rejected"] == 1
