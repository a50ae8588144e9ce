"""A build ends with one screen: per source, records read, written, rejected and the top reasons,
the same figures as build.json's `sources`."""

from data_pipeline.build import summary_table


def test_the_summary_table_shows_each_sources_figures_and_top_reasons():
    summary = {"sources": {
        "chebi": {"records": 300, "written": 280, "rejected": {"no SMILES": 12, "RDKit cannot parse": 7, "bad UTF-8": 1}},
        "pubmed": {"records": 10, "written": 10, "rejected": {}},
    }}
    lines = summary_table(summary, top=2).splitlines()
    assert lines[0].split()[:4] == ["source", "records", "written", "rejected"]
    assert lines[1].split()[:4] == ["chebi", "300", "280", "20"]
    assert lines[1].endswith("no SMILES (12); RDKit cannot parse (7)") and "bad UTF-8" not in lines[1]
    assert lines[2].split() == ["pubmed", "10", "10", "0", "-"]
