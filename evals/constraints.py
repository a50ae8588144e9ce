"""Modality-constrained decoding, independent of the inference backend.

A structured answer (a molecule, a sequence, a structure) is exactly one wrapped span of its
modality followed by a stop token: `<|prot_3d_start|><S_12>...<S_7><|prot_3d_end|><|im_end|>`.
`ConstraintState` is the state machine that says which token ids may come next; the HF backend
applies it row by row in a logits processor (`evals.models.processors`), and `to_regex` writes the
same language as a regular expression over the decoded text for engines that take one (vLLM's
structured outputs: V1 has no per-request logits processors).

Body tokens per modality come from the tokenizer's own vocabulary, classified by the spelling
rules of `megatron_bio.tokenizer.families` (never by id ranges): SELFIES symbols and `.` in
SELFIES, `<A_*>` in protein sequences, `<S_k>` in protein structures, `[SYMBOL CODE]` in
molecule 3D, `<N_*>` of the molecule's own alphabet in DNA and RNA (`segments.NUCLEIC_ALPHABETS`:
no U in DNA, no T in RNA), and in SMILES the base-vocabulary BPE pieces whose text is made of SMILES
characters only (SMILES is written with the base vocabulary, so no token family marks it).

Length rules: folding answers carry as many `<S_k>` as the prompt has residues, inverse folding
as many residues as the prompt has codes (`count_in_prompt`), a reverse complement as many
nucleotides as the prompt's DNA, a back-translation 3 x (the prompt's residues + 1) nucleotides:
the stop codon counts (`evals.suite.LENGTH_RULES`); `max_length` bounds an open answer
so that it closes within the generation budget, which a near-flat model would otherwise never do.
"""

from __future__ import annotations

import enum
import functools
import weakref
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import torch

from megatron_bio.tokenizer.chat_template import TURN_END
from megatron_bio.tokenizer.families import Family, classify
from megatron_bio.tokenizer.segments import NUCLEIC_ALPHABETS, WRAPPERS, Modality
from megatron_bio.tokenizer.unified import EOD_TOKEN

# Wrapped modalities whose body is one token family, plus the base-vocabulary texts that also
# belong to it (SELFIES separates fragments with a plain `.`).
_BODY_FAMILY: dict[Modality, Family] = {
    Modality.SELFIES: Family.SELFIES,
    Modality.PROTEIN: Family.RESIDUE,
    Modality.PROTEIN_3D: Family.PROTEIN_3D,
    Modality.MOLECULE_3D: Family.MOLECULE_3D,
    Modality.DNA: Family.NUCLEOTIDE,  # only the letters of its alphabet (NUCLEIC_ALPHABETS)
    Modality.RNA: Family.NUCLEOTIDE,
}
_BODY_EXTRA_TEXT: dict[Modality, tuple[str, ...]] = {Modality.SELFIES: (".",)}
# SMILES pieces are BPE tokens: their number is no length, so only a bound in characters applies.
_COUNTABLE = frozenset(_BODY_FAMILY)
# Characters of RDKit's SMILES besides element-symbol letters: ring-bond digits and `%nn`,
# brackets, branches, bonds (`- = # $ : / \`), charges, chirality, fragments, wildcard atoms.
_SMILES_PUNCTUATION = "0123456789%[]()-=#$:/\\+@.*"
_REGEX_SPECIAL = frozenset("\\.^$*+?{}[]|()")
_CLASS_SPECIAL = frozenset("\\]^-[")


def smiles_alphabet() -> frozenset[str]:
    """Every character RDKit's SMILES can contain: the letters of the element symbols (aromatic
    atoms, `c` or `se`, are lower-case symbols, whose letters these include) and the punctuation
    above."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return frozenset({c for z in range(1, 119) for c in table.GetElementSymbol(z)} | set(_SMILES_PUNCTUATION))


# Regular expressions --------------------------------------------------------------------------
# Plain groups and escapes only: the engines behind structured outputs (xgrammar, outlines'
# interegular) parse a subset of Python's syntax and always match the whole output.
def _escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def _character_class(chars: Sequence[str]) -> str:
    return "[" + "".join("\\" + c if c in _CLASS_SPECIAL else c for c in sorted(chars)) + "]"


def _alternation(spellings: Sequence[str]) -> str:
    """A compact expression matching exactly these strings: their trie, where the characters
    that lead to the same rest share one character class (`<A_[A-Z]>`, `<S_(0>|1([0-9]>|...)...)`)."""
    trie: dict = {}
    for spelling in spellings:
        node = trie
        for char in spelling:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_pattern(trie)


def _trie_pattern(node: dict) -> str:
    rests: dict[str, list[str]] = {}
    for char, child in node.items():
        if char:
            rests.setdefault(_trie_pattern(child), []).append(char)
    if not rests:
        return ""
    parts = [(_escape(chars[0]) if len(chars) == 1 else _character_class(chars)) + rest
             for rest, chars in sorted(rests.items())]
    pattern = parts[0] if len(parts) == 1 else "(" + "|".join(parts) + ")"
    return f"({pattern})?" if "" in node else pattern


# The vocabulary -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModalityTokens:
    """One wrapped modality in one tokenizer: wrapper ids and texts, the ids allowed inside, the
    expression matching one body token's text, and the characters of each SMILES piece (SMILES
    bounds count characters; every other body token is one unit)."""

    start: int
    end: int
    start_text: str
    end_text: str
    body: frozenset[int]
    body_pattern: str
    widths: Mapping[int, int] = field(default_factory=dict)

    def width(self, token_id: int) -> int:
        return self.widths.get(token_id, 1)

    @functools.cached_property
    def widest(self) -> int:  # asked at every step of a SMILES answer: thousands of pieces
        return max(self.widths.values(), default=1)


_VOCABULARIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class ConstraintVocabulary:
    """The token sets constrained decoding needs, read once per tokenizer; the boolean masks over
    a model's vocabulary are built on first use and shared by every state."""

    def __init__(self, modalities: dict[Modality, ModalityTokens], stop_ids: frozenset[int], size: int):
        self.modalities = modalities
        self.stop_ids = stop_ids
        self.size = size
        self._ids: dict[tuple, frozenset[int]] = {}
        self._masks: dict[tuple, torch.Tensor] = {}
        self._biases: dict[tuple, torch.Tensor] = {}

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "ConstraintVocabulary":
        """`tokenizer`: a transformers tokenizer of an exported BioMatrix HF directory."""
        if tokenizer not in _VOCABULARIES:
            _VOCABULARIES[tokenizer] = cls._read(tokenizer)
        return _VOCABULARIES[tokenizer]

    @classmethod
    def _read(cls, tokenizer) -> "ConstraintVocabulary":
        size = len(tokenizer)
        texts = tokenizer.batch_decode([[i] for i in range(size)], skip_special_tokens=False)
        added = {i: token.content for i, token in tokenizer.added_tokens_decoder.items()}
        by_content = {content: i for i, content in added.items()}
        # DNA and RNA came after the report's five modalities: an older vocabulary may lack them.
        wrappers = {m: pair for m, pair in WRAPPERS.items() if m not in NUCLEIC_ALPHABETS or pair[0] in by_content}
        missing = [s for pair in wrappers.values() for s in pair if s not in by_content]
        if missing:
            raise ValueError(f"not a BioMatrix tokenizer: wrapper tokens {missing} are absent")
        family_ids: dict[Family, set[int]] = {family: set() for family in Family}
        for token_id, content in added.items():
            if found := classify(content):
                family_ids[found[0]].add(token_id)
        alphabet = smiles_alphabet()
        bodies = {modality: family_ids[family] for modality, family in _BODY_FAMILY.items()}
        for modality, letters in NUCLEIC_ALPHABETS.items():
            bodies[modality] = {i for i in bodies[modality] if classify(added[i])[1] in letters}
        bodies[Modality.SMILES] = {i for i in range(size) if i not in added and texts[i] and set(texts[i]) <= alphabet}
        for modality, extra in _BODY_EXTRA_TEXT.items():
            bodies[modality] |= {cls._single_id(tokenizer, text) for text in extra}
        modalities = {}
        for modality, (start, end) in wrappers.items():
            body = frozenset(bodies[modality])
            smiles = modality is Modality.SMILES
            modalities[modality] = ModalityTokens(
                by_content[start], by_content[end], texts[by_content[start]], texts[by_content[end]], body,
                _character_class(sorted(alphabet)) if smiles else _alternation(sorted({texts[i] for i in body})),
                {i: len(texts[i]) for i in body} if smiles else {},
            )
        stops = {by_content.get(TURN_END), by_content.get(EOD_TOKEN), tokenizer.eos_token_id} - {None}
        return cls(modalities, frozenset(stops), size)

    @staticmethod
    def _single_id(tokenizer, text: str) -> int:
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"{text!r} is not one token in this tokenizer")
        return ids[0]

    def ids(self, modality: Modality, key: str, room: Optional[int] = None) -> frozenset[int]:
        """The ids a phase of an answer allows (`key`: start, body, body_or_end, end, stop); with
        `room`, only the body tokens that fit in that many units."""
        cache_key = (modality, key, room)
        if cache_key not in self._ids:
            tokens = self.modalities[modality]
            ids = {"start": {tokens.start}, "body": tokens.body, "body_or_end": tokens.body | {tokens.end},
                   "end": {tokens.end}, "stop": self.stop_ids}[key]
            self._ids[cache_key] = frozenset(
                i for i in ids if room is None or i not in tokens.body or tokens.width(i) <= room)
        return self._ids[cache_key]

    def mask(self, modality: Modality, key: str, room: Optional[int], vocab_size: int,
             device: torch.device | str = "cpu") -> torch.Tensor:
        """`ids` as a boolean mask over a model's vocabulary (rows past the tokenizer's, padding,
        are never allowed). Shared: callers must not modify it."""
        if vocab_size < self.size:
            raise ValueError(f"a model vocabulary of {vocab_size} is smaller than the tokenizer's {self.size}")
        cache_key = (modality, key, room, vocab_size, torch.device(device))
        if cache_key not in self._masks:
            mask = torch.zeros(vocab_size, dtype=torch.bool)
            mask[sorted(self.ids(modality, key, room))] = True
            self._masks[cache_key] = mask.to(device)
        return self._masks[cache_key]

    def bias(self, modality: Modality, key: str, room: Optional[int], vocab_size: int,
             device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """`mask` as an additive bias over the logits: 0 where allowed, -inf elsewhere. Adding it
        to a row of logits is one vectorized pass, where filling a boolean mask into gathered rows
        takes several (the HF processor applies one to every constrained row at every step).
        Shared: callers must not modify it."""
        cache_key = (modality, key, room, vocab_size, torch.device(device), dtype)
        if cache_key not in self._biases:
            allowed = self.mask(modality, key, room, vocab_size, device)
            self._biases[cache_key] = torch.zeros(vocab_size, dtype=dtype, device=allowed.device).masked_fill_(
                ~allowed, float("-inf"))
        return self._biases[cache_key]


# Rules and states -----------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerRule:
    """The answer is one wrapped span of `modality` (start, >= 1 body tokens, end) and a stop
    token. `length`: exactly that many body tokens. `max_length`: at most that many units, tokens
    or, in SMILES (whose tokens are text pieces), characters; no unit takes two tokens, so the
    generation budget minus 3 (two wrappers, one stop) always leaves room to close."""

    modality: Modality
    length: Optional[int] = None
    max_length: Optional[int] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", Modality(self.modality))
        if self.modality not in WRAPPERS:
            raise ValueError(f"{self.modality.value} has no wrapper to constrain")
        for name in ("length", "max_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: an answer holds at least one body token")
        if self.length is not None and self.modality not in _COUNTABLE:
            raise ValueError(f"{self.modality.value} tokens are text pieces, not units: no exact length applies")
        if None not in (self.length, self.max_length) and self.length > self.max_length:
            raise ValueError(f"length {self.length} exceeds max_length {self.max_length}")


class _Phase(enum.Enum):
    START = "start"
    BODY = "body"
    STOP = "stop"
    DONE = "done"


_NEXT_PHASE = {_Phase.START: _Phase.BODY, _Phase.BODY: _Phase.STOP, _Phase.STOP: _Phase.DONE}


class ConstraintState:
    """Where one answer stands. `allowed()` is the mask of ids that may come next (None once the
    stop token is in: whatever follows is not the answer), `advance` takes the id that came.
    Masks live on `device` and span `vocab_size`, the model's (maybe padded) vocabulary."""

    def __init__(self, vocab: ConstraintVocabulary, rule: AnswerRule, vocab_size: int,
                 device: torch.device | str = "cpu"):
        self.rule = rule
        self._vocab = vocab
        self._tokens = vocab.modalities[rule.modality]
        self._size = vocab_size
        self._device = torch.device(device)
        self._upper = rule.length if rule.length is not None else rule.max_length
        self._phase = _Phase.START
        self._units = 0
        vocab.mask(rule.modality, "start", None, vocab_size, device)  # a too small vocabulary fails here

    @property
    def finished(self) -> bool:
        return self._phase is _Phase.DONE

    def _key(self) -> Optional[tuple[str, Optional[int]]]:
        """(phase key, room left when it is narrower than the widest body token) or None."""
        if self._phase is not _Phase.BODY:
            return None if self._phase is _Phase.DONE else (self._phase.value, None)
        room = None if self._upper is None else self._upper - self._units
        if room == 0:
            return "end", None
        short = self._units == 0 or (self.rule.length is not None and self._units < self.rule.length)
        return "body" if short else "body_or_end", None if room is None or room >= self._tokens.widest else room

    def allowed(self) -> Optional[torch.Tensor]:
        key = self._key()
        return None if key is None else self._vocab.mask(self.rule.modality, *key, self._size, self._device)

    def bias(self, dtype: torch.dtype = torch.float32) -> Optional[torch.Tensor]:
        """`allowed()` as an additive bias over the logits (0 allowed, -inf not), in their dtype."""
        key = self._key()
        return None if key is None else self._vocab.bias(self.rule.modality, *key, self._size, self._device, dtype)

    def advance(self, token_id: int) -> None:
        key = self._key()
        if key is None:
            return
        if token_id not in self._vocab.ids(self.rule.modality, *key):
            raise ValueError(f"token {token_id} is not allowed in phase {key[0]!r} of a {self.rule.modality.value} answer")
        if self._phase is _Phase.BODY and token_id != self._tokens.end:
            self._units += self._tokens.width(token_id)
        else:
            self._phase = _NEXT_PHASE[self._phase]


def count_in_prompt(token_ids: Sequence[int], modality: Modality, vocab: ConstraintVocabulary) -> Optional[int]:
    """Body tokens inside the prompt's last wrapper of `modality` (what a length rule reads);
    None when the prompt has no complete one."""
    tokens = vocab.modalities[Modality(modality)]
    ids = list(token_ids)
    starts = [i for i, token_id in enumerate(ids) if token_id == tokens.start]
    if not starts:
        return None
    inside = ids[starts[-1] + 1:]
    if tokens.end not in inside:
        return None
    return sum(token_id in tokens.body for token_id in inside[:inside.index(tokens.end)])


def to_regex(rule: AnswerRule, vocab: ConstraintVocabulary) -> str:
    """The answers `ConstraintState` allows, as an expression over their decoded text, matched
    whole: no anchors, which the structured-output engines reject and never need (the stop token
    is not text). Wrappers are spelled as their tokens, which are special: the answer's text must
    be decoded with `skip_special_tokens=False`. An engine may spell a body token with base-vocabulary
    pieces; the text, which is what is scored, is the same."""
    tokens = vocab.modalities[rule.modality]
    repeat = (f"{{{rule.length}}}" if rule.length is not None
              else "+" if rule.max_length is None else f"{{1,{rule.max_length}}}")
    return f"{_escape(tokens.start_text)}({tokens.body_pattern}){repeat}{_escape(tokens.end_text)}"
