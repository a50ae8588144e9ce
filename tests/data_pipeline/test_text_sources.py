"""Text readers over the real registry data (PubMed, PMC, the World Factbook) and over damaged
copies of it: every entry is a record or a named rejection, never an exception."""

import gzip
import itertools
import json
import re

import pytest

from biomatrix_io.readers import packaged
from biomatrix_io.records import Rejection, TextRecord
from biomatrix_io.readers.text import read_factbook, read_jsonl_text, read_pmc_nxml, read_pubmed_xml


def _split(results):
    records = [r for r in results if isinstance(r, TextRecord)]
    rejections = [r for r in results if isinstance(r, Rejection)]
    assert len(records) + len(rejections) == len(results)
    return records, rejections


def _pubmed(name):
    return next(p for p in packaged.pubmed_xmls() if p.name == name)


def test_pubmed_baseline_file_accounts_for_every_article():
    path = _pubmed("pubmed20n0014.xml.gz")
    xml = gzip.open(path).read()
    records, rejections = _split(list(read_pubmed_xml(path)))
    assert len(records) + len(rejections) == xml.count(b"<PubmedArticle>") == 30_000
    assert len(records) == xml.count(b"<Abstract>")
    assert {r.reason for r in rejections} == {"no abstract"}
    first = records[0]
    assert first.provenance.record_id == "PMID:399296" and first.provenance.location == "record 1"
    assert first.title.startswith("Monitoring of bacteriological contamination")
    assert first.text.startswith("Two hundred and sixty nine beef")
    assert len({r.provenance.record_id for r in records}) == len(records)


def test_pubmed_structured_abstract_keeps_labels_and_inline_markup_text():
    (record,) = read_pubmed_xml(_pubmed("pubmed-29768149.xml"))
    assert record.provenance.record_id == "PMID:29768149"
    assert record.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    labels = [line.split(":", 1)[0] for line in record.text.split("\n")]
    assert labels == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert "fast-acting β 2-agonist" in record.text  # text of the <sub> element and its tail kept


def test_pubmed_update_file_streams():
    head = list(itertools.islice(read_pubmed_xml(_pubmed("pubmed21n1298.xml.gz")), 200))
    records, _ = _split(head)
    assert records[0].provenance.record_id == "PMID:10704411"
    assert records[0].text.startswith("BACKGROUND: Drugs of abuse")


def test_pmc_articles_read_title_abstract_and_body_in_order():
    paths = packaged.pmc_nxmls()
    assert len(paths) == 8
    records = [r for path in paths for r in read_pmc_nxml(path)]
    assert all(isinstance(r, TextRecord) for r in records) and len(records) == 8
    assert all(re.fullmatch(r"PMC:\d+", r.provenance.record_id) for r in records)
    by_id = {r.provenance.record_id: r for r in records}
    plos = by_id["PMC:1790863"]
    assert plos.title == "Quantifying Organismal Complexity using a Population Genetic Approach"
    lines = plos.text.split("\n")
    assert lines[0] == plos.title and lines[1] == "Background"
    sections = ["Background", "Methodology", "Introduction", "Model and Results", "Discussion", "Methods"]
    assert [lines.index(title) for title in sections] == sorted(lines.index(title) for title in sections)
    assert all(len(r.text) > 10_000 and not re.search(r"</?(italic|bold|xref|sup|sub|p|sec|title)\b", r.text) for r in records)


def test_factbook_profiles_are_plain_articles():
    paths = packaged.factbook_jsons()
    assert len(paths) == 256
    records = [r for path in paths for r in read_factbook(path)]
    assert all(isinstance(r, TextRecord) for r in records) and len(records) == 256
    assert sum(len(r.text.split()) for r in records) > 1_000_000
    france = next(r for r in records if r.provenance.record_id == "factbook:europe/fr")
    assert france.title == "France"
    assert france.text.startswith("Introduction\nBackground: France today is one of the most modern countries")
    assert "République française" in france.text  # HTML entities decoded
    assert "\nArea - note: the first numbers include" in france.text  # a note's own "note:" not doubled
    assert not any(re.search(r"<[a-z/][^>]*>|&[a-z]+;", r.text) for r in records)


# --------------------------------------------------------------------------------- bad input


def test_truncated_pubmed_xml_keeps_the_articles_before_the_damage(tmp_path):
    xml = gzip.open(_pubmed("pubmed20n0014.xml.gz")).read()
    cut = xml[: xml.index(b"<PubmedArticle>", 200_000) + 5_000]  # ends inside an article
    complete = cut.count(b"</PubmedArticle>")
    path = tmp_path / "cut.xml"
    path.write_bytes(cut)
    results = list(read_pubmed_xml(path))
    assert len(results) == complete + 1
    assert all(not isinstance(r, Rejection) or r.reason == "no abstract" for r in results[:-1])
    last = results[-1]
    assert isinstance(last, Rejection) and last.reason.startswith("unreadable:")
    assert last.provenance.location.startswith("line ") and last.provenance.record_id == f"cut.xml:record {complete + 1}"


def test_truncated_gzip_and_bad_bytes_in_pubmed(tmp_path):
    truncated = tmp_path / "truncated.xml.gz"
    truncated.write_bytes(_pubmed("pubmed20n0014.xml.gz").read_bytes()[:200_000])
    results = list(read_pubmed_xml(truncated))
    assert len(results) > 10 and isinstance(results[-1], Rejection)
    assert results[-1].provenance.location == "end of stream"

    article = _pubmed("pubmed-29768149.xml").read_bytes()
    bad = tmp_path / "bad.xml"
    bad.write_bytes(article.replace(b"In patients with mild asthma", b"In patients \xff with mild asthma", 1))
    (rejection,) = read_pubmed_xml(bad)
    assert rejection.provenance.location == "file" and "not well-formed" in rejection.reason


def test_pubmed_article_without_abstract_or_pmid(tmp_path):
    path = tmp_path / "two.xml"
    path.write_text(
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>7</PMID><Article><ArticleTitle>T</ArticleTitle>"
        "</Article></MedlineCitation></PubmedArticle><PubmedArticle><MedlineCitation><Article><Abstract>"
        "<AbstractText>Some text.</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    )
    first, second = read_pubmed_xml(path)
    assert first == Rejection(first.provenance, "no abstract") and first.provenance.record_id == "PMID:7"
    assert isinstance(second, TextRecord) and second.provenance.record_id == "two.xml:record 2" and second.title is None


def test_bad_pmc_files(tmp_path):
    real = packaged.pmc_nxmls()[0].read_bytes()
    truncated = tmp_path / "truncated.nxml"
    truncated.write_bytes(real[: len(real) // 2])
    (rejection,) = read_pmc_nxml(truncated)
    assert rejection.provenance.location == "file" and rejection.reason.startswith("unreadable:")
    empty = tmp_path / "empty.nxml"
    empty.write_text('<article><front><article-meta><article-id pub-id-type="pmid">5</article-id></article-meta></front></article>')
    (rejection,) = read_pmc_nxml(empty)
    assert rejection.provenance.record_id == "PMID:5" and rejection.reason == "no abstract or body text"


def test_jsonl_round_trip_of_real_abstracts_and_every_bad_line(tmp_path):
    abstracts = [r for r in itertools.islice(read_pubmed_xml(_pubmed("pubmed20n0014.xml.gz")), 100) if isinstance(r, TextRecord)]
    lines = [json.dumps({"id": r.provenance.record_id, "text": r.text}).encode() for r in abstracts[:5]]
    lines += [
        b'{"text": "caf\xe9"}',  # Latin-1, not UTF-8
        b'{"text": "unterminated',
        b'["text"]',
        b'{"body": "no text field"}',
        b'{"text": 42}',
        b'{"text": "   "}',
        b"",  # blank: not an entry
        lines[0],
    ]
    path = tmp_path / "mixed.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    results = list(read_jsonl_text(path, id_field="id"))
    records, rejections = _split(results)
    assert len(results) == len(lines) - 1
    assert [r.text for r in records] == [a.text for a in abstracts[:5]] + [abstracts[0].text]
    assert records[0].provenance.record_id == abstracts[0].provenance.record_id
    assert [(r.provenance.location, r.reason.split(":")[0].split(" (")[0]) for r in rejections] == [
        ("line 6", "bad UTF-8 at byte 13"),
        ("line 7", "invalid JSON"),
        ("line 8", "not a JSON object but list"),
        ("line 9", "no 'text' field"),
        ("line 10", "'text' is int, not a string"),
        ("line 11", "empty 'text'"),
    ]


def test_truncated_jsonl_gzip_is_one_rejection(tmp_path):
    payload = b"".join(json.dumps({"text": f"line {i} " * 20}).encode() + b"\n" for i in range(2_000))
    path = tmp_path / "truncated.jsonl.gz"
    path.write_bytes(gzip.compress(payload)[:3_000])
    records, rejections = _split(list(read_jsonl_text(path)))
    assert len(rejections) == 1 and rejections[0].reason.startswith("unreadable:")
    assert rejections[0].provenance.location == f"line {len(records) + 1}"


def test_bad_factbook_files(tmp_path):
    broken = tmp_path / "xx.json"
    broken.write_bytes(packaged.factbook_jsons()[0].read_bytes()[:1_000])
    (rejection,) = read_factbook(broken)
    assert rejection.provenance.location == "file" and rejection.reason.startswith("unreadable:")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "empty.json").write_text('{"Geography": {"Area": {}}}')
    assert next(read_factbook(tmp_path / "list.json")).reason == "not a JSON object but list"
    assert next(read_factbook(tmp_path / "empty.json")).reason == "no text fields"


@pytest.mark.parametrize("reader", [read_pubmed_xml, read_pmc_nxml, read_jsonl_text, read_factbook])
def test_missing_file_raises(tmp_path, reader):
    with pytest.raises(FileNotFoundError):
        list(reader(tmp_path / "absent.xml"))
