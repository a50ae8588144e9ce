"""The inverse of `BioMatrixTokenizer.render`: typed segments back from a rendered string.

A BioMatrix SFT file stores each message as the string `render` gives (wrapper tokens around
molecules and proteins, residue and structure tokens inside), which is what a Hugging Face
tokenizer and a user read. Re-importing such a file must not need a tokenizer (readers are built
from config options only), so the string is parsed with the spelling rules alone: the wrapper pairs
of `segments.WRAPPERS` and the token spellings of `families.classify`.
"""

from __future__ import annotations

import re

from megatron_bio.tokenizer.families import Family, classify
from megatron_bio.tokenizer.segments import WRAPPERS, Document, Modality, Segment


class RenderedError(ValueError):
    """A rendered string that no document renders to; the message says where and why."""


_START = {start: modality for modality, (start, _) in WRAPPERS.items()}
_END = {end: modality for modality, (_, end) in WRAPPERS.items()}
# The wrapper namespace (`<|mol_..._start|>`, `<|prot_..._end|>`), from the wrappers themselves: a
# spelling in it that is none of ours is a modality this vocabulary does not have.
_NAMESPACES = sorted({start[2:].split("_")[0] for start, _ in WRAPPERS.values()})
WRAPPER_LIKE = re.compile(r"<\|(?:%s)_[^|<>\s]*?_(?:start|end)\|>" % "|".join(map(re.escape, _NAMESPACES)))
_TOKEN = re.compile(r"<[^<>]*>")

# What a wrapper's body holds: one of the tokens of a family, each turned into its key.
_TOKEN_BODIES = {Modality.PROTEIN: Family.RESIDUE, Modality.PROTEIN_3D: Family.PROTEIN_3D,
                 Modality.DNA: Family.NUCLEOTIDE, Modality.RNA: Family.NUCLEOTIDE}
_LETTER_BODIES = frozenset({Family.RESIDUE, Family.NUCLEOTIDE})  # bodies read back as a string of letters


def unknown_wrapper(text: str) -> str | None:
    """The first wrapper-like spelling in `text` that is not one of `WRAPPERS`' tokens, or None."""
    for match in WRAPPER_LIKE.finditer(text):
        if match.group() not in _START and match.group() not in _END:
            return match.group()
    return None


def parse_rendered(content: str) -> Document:
    """Segments of a rendered string: text outside wrappers, each wrapped span as its modality.
    Wrappers must be ours, balanced and not nested; a protein or structure body must be made of
    that family's tokens only (`RenderedError` otherwise)."""
    foreign = unknown_wrapper(content)
    if foreign is not None:
        raise RenderedError(f"unknown modality wrapper {foreign!r} at char {content.index(foreign)}")
    document: Document = []
    position = 0
    for match in WRAPPER_LIKE.finditer(content):
        token = match.group()
        if match.start() < position:
            continue
        if token in _END:
            raise RenderedError(f"{token!r} at char {match.start()} closes a wrapper that was never opened")
        modality = _START[token]
        end = WRAPPERS[modality][1]
        close = content.find(end, match.end())
        if close < 0:
            raise RenderedError(f"{token!r} at char {match.start()} is never closed")
        body = content[match.end():close]
        inner = WRAPPER_LIKE.search(body)
        if inner is not None:
            raise RenderedError(f"{inner.group()!r} inside the {modality.value} wrapper opened at char {match.start()}")
        if match.start() > position:
            document.append(Segment(Modality.TEXT, content[position:match.start()]))
        document.append(Segment(modality, _body(modality, body, match.end())))
        position = close + len(end)
    if position < len(content):
        document.append(Segment(Modality.TEXT, content[position:]))
    return document


def _body(modality: Modality, body: str, offset: int):
    if not body:
        raise RenderedError(f"empty {modality.value} wrapper at char {offset}")
    family = _TOKEN_BODIES.get(modality)
    if family is None:
        return body
    keys, position = [], 0
    for match in _TOKEN.finditer(body):
        found = classify(match.group())
        if match.start() != position or found is None or found[0] is not family:
            break
        keys.append(found[1])
        position = match.end()
    if position != len(body):
        raise RenderedError(f"not a {family.value} token inside the {modality.value} wrapper, char {offset + position}: "
                            f"{body[position:position + 20]!r}")
    return "".join(keys) if family in _LETTER_BODIES else tuple(keys)
