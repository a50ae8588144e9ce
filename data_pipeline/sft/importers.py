"""Importers of public instruction formats into the one chat record (`records.ChatRecord`).

Each format is a `Format` entry of a table, not a code path: where its turns come from (columns
joined into a user turn, as alpaca; or a list of role-tagged messages, as sharegpt), how its roles
map to ours, and how its strings map to typed segments (`CONTENT`: plain text, SMolInstruct's core
tags, Mol-Instructions' whole SELFIES / sequence fields, BioMatrix's rendered wrappers). Readers
yield `ChatRecord`s or `Rejection`s naming the record; a file whose first entry does not have the
format's shape is one rejection, "not a <format> file: <what it holds>", and is read no further.

Chat control strings (`<|im_start|>`) in text are left as text: the pipeline's one content check
rejects them for every source alike. What is rejected here is what only the format can tell: a
missing or unknown role, an empty answer, content that is not text, a molecule or protein span
that does not parse, a tag or wrapper this format or vocabulary does not have.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Union

from rdkit import RDLogger

from biomatrix_io.config import ConfigError
from biomatrix_io.files import open_text
from biomatrix_io.records import Provenance, Rejection
from megatron_bio.tokenizer.segments import Document, Modality, Segment

from .content import Rejected, check_segment, check_turns
from .records import ChatRecord
from .rendered import RenderedError, parse_rendered

RDLogger.DisableLog("rdApp.*")

Read = Union[ChatRecord, Rejection]

# Sources read by these readers are chat records already: the pipeline routes them around stage 1.
IMPORT_READERS = frozenset({"alpaca", "sharegpt", "smolinstruct", "mol_instructions", "biomatrix_sft"})




# Strings to segments ---------------------------------------------------------------------------
_SELFIES_LIKE = re.compile(r"(?:\[[^\[\]\s]+\]|\.)+")
_FENCE = re.compile(r"```[^\n`]*\n(.*?)\n?```", re.DOTALL)
_WHITESPACE = re.compile(r"\s")
_BLANK = re.compile(r"\s*")


def _text(value: str) -> Segment:
    return Segment(Modality.TEXT, value)


def _smiles(value: str) -> Segment:
    return check_segment(Segment(Modality.SMILES, value))


def _selfies(value: str) -> Segment:
    return check_segment(Segment(Modality.SELFIES, value))


def _protein(value: str) -> Segment:
    return check_segment(Segment(Modality.PROTEIN, value))


def _plain(value: str) -> Document:
    return [_text(value)]


# A span becomes a segment of its modality only through that modality's check.
_SEGMENT: dict[Modality, Callable[[str], Segment]] = {
    Modality.TEXT: _text,
    Modality.SMILES: _smiles,
    Modality.SELFIES: _selfies,
    Modality.PROTEIN: _protein,
}

# SMolInstruct's core tags and the modality of their spans (text: the tags are dropped).
SMOL_TAGS: dict[str, Modality] = {
    "SMILES": Modality.SMILES,
    "SELFIES": Modality.SELFIES,  # the dataset's SELFIES version
    "IUPAC": Modality.TEXT,
    "MOLFORMULA": Modality.TEXT,
    "NUMBER": Modality.TEXT,
    "BOOLEAN": Modality.TEXT,
}
_SMOL_SPAN = re.compile(r"<(%s)>(.*?)</\1>" % "|".join(SMOL_TAGS), re.DOTALL)
_TAG_LIKE = re.compile(r"</?[A-Z][A-Z0-9_]+>")


def _smol_tagged(value: str) -> Document:
    """SMolInstruct: each declared tag's span becomes a segment of its modality (`SMOL_TAGS`), text
    spans losing their tags; a tag the table does not declare is refused, not guessed at."""
    document: Document = []
    position = 0
    for match in _SMOL_SPAN.finditer(value):
        inner = match.group(2).strip()
        if not inner:
            raise Rejected(f"empty <{match.group(1)}> span")
        _refuse_tags(value[position:match.start()])
        modality = SMOL_TAGS[match.group(1)]
        if modality is Modality.TEXT:
            _refuse_tags(inner)
        document += [_text(value[position:match.start()]), _SEGMENT[modality](inner)]
        position = match.end()
    _refuse_tags(value[position:])
    return document + [_text(value[position:])]


def _refuse_tags(text: str) -> None:
    match = _TAG_LIKE.search(text)
    if match is not None:
        declared = match.group().strip("</>") in SMOL_TAGS
        raise Rejected(f"unbalanced tag {match.group()}" if declared else f"unmapped tag {match.group()}")


# A bare field of fewer capitals may be an acronym ("ATP", "DNA"), not a sequence.
MIN_BARE_PROTEIN = 10


def _typed_field(value: str) -> Document:
    """Mol-Instructions: a field that is entirely SELFIES (a reaction `A>>B` too) is that molecule;
    a fenced block is a sequence (SELFIES or a protein); a whole field of residue letters is a
    protein; anything else is text."""
    stripped = value.strip()
    molecule = _selfies_field(stripped)
    if molecule is not None:
        return molecule
    if len(stripped) >= MIN_BARE_PROTEIN and stripped.isascii() and stripped.isalpha() and stripped.isupper():
        return [_protein(stripped)]
    document: Document = []
    position = 0
    for match in _FENCE.finditer(value):
        body = _WHITESPACE.sub("", match.group(1))
        document += [_text(value[position:match.start()]), *(_selfies_field(body) or [_protein(body)])]
        position = match.end()
    return document + [_text(value[position:])]


def _selfies_field(value: str) -> Optional[Document]:
    """The segments of a field made of SELFIES (reactants `.`-joined, a reaction `>>`-joined),
    or None when it is not SELFIES-shaped at all."""
    parts = value.split(">>")
    if not all(_SELFIES_LIKE.fullmatch(part) for part in parts):
        return None
    document: Document = []
    for i, part in enumerate(parts):
        document += ([_text(">>")] if i else []) + [_selfies(part)]
    return document


def _rendered(value: str) -> Document:
    try:
        return parse_rendered(value)
    except RenderedError as error:
        raise Rejected(str(error)) from None


CONTENT: dict[str, Callable[[str], Document]] = {
    "text": _plain,
    "smol_tags": _smol_tagged,
    "typed_fields": _typed_field,
    "rendered": _rendered,
}


def _merge(document: Document) -> tuple[Segment, ...]:
    """Adjacent text joined, empty text dropped: the document `render` would give the same string for."""
    merged: list[Segment] = []
    for segment in document:
        if segment.modality is Modality.TEXT:
            if not segment.value:
                continue
            if merged and merged[-1].modality is Modality.TEXT:
                merged[-1] = _text(merged[-1].value + segment.value)
                continue
        merged.append(segment)
    return tuple(merged)


# The format table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Format:
    """Where a format's turns come from and how its strings become segments.

    Column layout (`response` set): `system`, then `history` pairs, then one user turn made of the
    `prompt` columns joined by a newline (the first is required), then the `response` column.
    Message layout (`messages` set): a list of objects, the role under `role_key` mapped by
    `roles`, the text under `content_key`; a `system` column, when set and present, comes first.
    Strings map to segments by `CONTENT[scheme]`, per column by `schemes`, else `scheme`.
    """

    name: str
    required: tuple[str, ...]  # keys an entry must have to be of this format at all
    prompt: tuple[str, ...] = ()
    response: Optional[str] = None
    history: Optional[str] = None
    messages: Optional[str] = None
    role_key: str = "role"
    content_key: str = "content"
    roles: Mapping[str, str] = field(default_factory=dict)
    system: Optional[str] = None
    scheme: str = "text"
    schemes: Mapping[str, str] = field(default_factory=dict)
    id_key: Optional[str] = "id"
    task_key: Optional[str] = None
    split_key: Optional[str] = None
    target_key: Optional[str] = None
    nested: Optional[str] = None  # an object column whose `task` and `split` count too; the rest goes to meta
    meta_keys: tuple[str, ...] = ()
    task_from_file: bool = False  # one file per task: the file's stem names the task the entry does not


_OURS = {"system": "system", "user": "user", "assistant": "assistant"}

FORMATS: dict[str, Format] = {
    # LLaMA-Factory's alpaca: user = instruction + "\n" + input; history = [[user, assistant], ...]
    "alpaca": Format("alpaca", required=("instruction", "output"), prompt=("instruction", "input"), response="output",
                     system="system", history="history"),
    # LLaMA-Factory's sharegpt: conversations of {from, value}, human / gpt / system
    "sharegpt": Format("sharegpt", required=("conversations",), messages="conversations", role_key="from",
                       content_key="value", roles={"human": "user", "gpt": "assistant", "system": "system"},
                       system="system"),
    # its OpenAI layout, taken by the sharegpt reader when the file's entries hold `messages`
    "openai": Format("sharegpt", required=("messages",), messages="messages", roles=_OURS, system="system"),
    "smolinstruct": Format("smolinstruct", required=("input", "output", "raw_input", "raw_output", "task"),
                           prompt=("input",), response="output", scheme="smol_tags", id_key="sample_id",
                           task_key="task", split_key="split", target_key="raw_output"),
    "mol_instructions": Format("mol_instructions", required=("instruction", "input", "output", "metadata"),
                               prompt=("instruction", "input"), response="output",
                               schemes={"input": "typed_fields", "output": "typed_fields"}, id_key=None,
                               target_key="output", nested="metadata", task_from_file=True),
    "biomatrix_sft": Format("biomatrix_sft", required=("id", "task", "messages"), messages="messages", roles=_OURS,
                            scheme="rendered", task_key="task", split_key="split", target_key="target",
                            meta_keys=("category", "template", "metric", "input", "provenance")),
}

# LLaMA-Factory's dataset_info names for the options a user may rename.
_ALPACA_COLUMNS = {"prompt", "query", "response", "system", "history"}
_SHAREGPT_COLUMNS = {"messages", "system"}
_SHAREGPT_TAGS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag"}


def alpaca_format(columns: Optional[dict] = None) -> Format:
    """The alpaca entry with LLaMA-Factory's `columns` renames (prompt, query, response, system,
    history); a key it does not know is the user's mistake."""
    columns = dict(columns or {})
    _known(columns, _ALPACA_COLUMNS, "alpaca columns")
    base = FORMATS["alpaca"]
    prompt = (columns.get("prompt", base.prompt[0]), columns.get("query", base.prompt[1]))
    return dataclasses.replace(base, prompt=prompt, required=(prompt[0], columns.get("response", base.response)),
                               response=columns.get("response", base.response),
                               system=columns.get("system", base.system), history=columns.get("history", base.history))


def sharegpt_formats(columns: Optional[dict] = None, tags: Optional[dict] = None) -> tuple[Format, ...]:
    """The sharegpt layouts a file may have (conversations/from/value, messages/role/content), or
    the one the user's LLaMA-Factory `columns` and `tags` describe."""
    columns, tags = dict(columns or {}), dict(tags or {})
    _known(columns, _SHAREGPT_COLUMNS, "sharegpt columns")
    _known(tags, _SHAREGPT_TAGS, "sharegpt tags (tool turns are not imported)")
    if not columns and not tags:
        return FORMATS["sharegpt"], FORMATS["openai"]
    base = FORMATS["openai" if columns.get("messages") == "messages" else "sharegpt"]
    names = {ours: theirs for theirs, ours in base.roles.items()}
    roles = {tags.get(f"{ours}_tag", names[ours]): ours for ours in ("user", "assistant", "system")}
    messages = columns.get("messages", base.messages)
    return (dataclasses.replace(base, required=(messages,), messages=messages, system=columns.get("system", base.system),
                                role_key=tags.get("role_tag", base.role_key), roles=roles,
                                content_key=tags.get("content_tag", base.content_key)),)


def _known(options: dict, known: set[str], what: str) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{what}: unknown keys {unknown}; known: {sorted(known)}")
    for key, value in options.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{what}: {key} must name a field, got {value!r}")


# Readers ---------------------------------------------------------------------------------------
def read_alpaca(path: str | Path, task: Optional[str] = None, columns: Optional[dict] = None) -> Iterator[Read]:
    """Alpaca instructions (a JSON array or JSONL), as LLaMA-Factory describes them; `columns`
    renames fields the LLaMA-Factory way."""
    return _read(Path(path), (alpaca_format(columns),), task)


def read_sharegpt(path: str | Path, task: Optional[str] = None, columns: Optional[dict] = None,
                  tags: Optional[dict] = None) -> Iterator[Read]:
    """ShareGPT conversations (`conversations` of from/value, or `messages` of role/content: the
    first entry tells which), or the layout `columns` / `tags` declare, as LLaMA-Factory names them."""
    return _read(Path(path), sharegpt_formats(columns, tags), task)


def read_smolinstruct(path: str | Path, task: Optional[str] = None) -> Iterator[Read]:
    """SMolInstruct samples (JSONL of input, output, raw_input, raw_output, task, split, ...):
    tagged molecules become SMILES / SELFIES segments, raw_output the scoring target."""
    return _read(Path(path), (FORMATS["smolinstruct"],), task)


def read_mol_instructions(path: str | Path, task: Optional[str] = None) -> Iterator[Read]:
    """Mol-Instructions (a JSON array of instruction, input, output, metadata): SELFIES fields and
    protein sequences become typed segments; metadata's task and split are kept."""
    return _read(Path(path), (FORMATS["mol_instructions"],), task)


def read_biomatrix_sft(path: str | Path, task: Optional[str] = None) -> Iterator[Read]:
    """This project's SFT JSONL read back: rendered messages parsed into segments."""
    return _read(Path(path), (FORMATS["biomatrix_sft"],), task)


def read_format(path: str | Path, fmt: Format, task: Optional[str] = None) -> Iterator[Read]:
    """Entries of a file in a `Format` declared outside this table: an evaluation benchmark's
    variant of one of its formats (`evals/importers.py`), read by the same rules."""
    return _read(Path(path), (fmt,), task)


def _read(path: Path, layouts: tuple[Format, ...], task: Optional[str]) -> Iterator[Read]:
    """Entries of a file in one of `layouts` (the first entry picks it); `task`, when given, names
    the task of every record, else the entry's own task field does (or the file's name, for a
    format that ships one file per task)."""
    chosen: Optional[Format] = None
    for location, entry in _entries(path):
        provenance = Provenance(str(path), location, f"{path.name}:{location}")
        if chosen is None:
            chosen = next((f for f in layouts if isinstance(entry, dict) and all(k in entry for k in f.required)), None)
            if chosen is None:
                yield Rejection(provenance, f"not a {layouts[0].name} file: {location} is {_describe(entry)}")
                return
        if isinstance(entry, _Unparsed):
            yield Rejection(provenance, entry.reason)
            continue
        if not isinstance(entry, dict):
            yield Rejection(provenance, f"not a JSON object but {type(entry).__name__}")
            continue
        provenance = _provenance(entry, chosen, provenance)
        try:
            yield _record(entry, chosen, provenance, task)
        except Rejected as error:
            yield Rejection(provenance, str(error))


@dataclass(frozen=True)
class _Unparsed:
    reason: str


def _entries(path: Path) -> Iterator[tuple[str, object]]:
    """(location, parsed entry) of a JSON array ("record N") or of JSONL ("line N"; a line that is
    not JSON is an `_Unparsed` entry, so the lines after it are still read). The array is decoded
    element by element, so one element's objects are alive at a time."""
    with open_text(path) as handle:
        if _first_character(handle) == "[":
            text = handle.read()
            yield from _array_elements(text, text.index("[") + 1)
            return
        for lineno, line in enumerate(handle, start=1):
            if line.strip():
                yield f"line {lineno}", _json_line(line)


def _first_character(handle) -> str:
    """The first non-blank character of a text stream (read from its start on, then rewound)."""
    while chunk := handle.read(4096):
        if stripped := chunk.lstrip():
            handle.seek(0)
            return stripped[0]
    return ""


def _array_elements(text: str, position: int) -> Iterator[tuple[str, object]]:
    decoder = json.JSONDecoder()
    position = _BLANK.match(text, position).end()
    if text.startswith("]", position):
        return
    index = 0
    while True:
        element, position = decoder.raw_decode(text, position)
        index += 1
        yield f"record {index}", element
        position = _BLANK.match(text, position).end()
        if text.startswith("]", position):
            return
        if not text.startswith(",", position):
            raise ValueError(f"JSON array: ',' or ']' expected after record {index} (char {position})")
        position = _BLANK.match(text, position + 1).end()


def _json_line(line: str) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        return _Unparsed(f"invalid JSON: {error.msg} (column {error.colno})")
    except ValueError as error:  # an integer of more digits than Python converts
        return _Unparsed(f"invalid JSON: {str(error)[:100]}")
    except RecursionError:
        return _Unparsed("invalid JSON: nested too deep")


def _describe(entry: object) -> str:
    """What a file's first entry holds, for the "not a <format> file" rejection; names the format
    it looks like when one fits."""
    if isinstance(entry, _Unparsed):
        return f"not JSON ({entry.reason})"
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an object"
    keys = ", ".join(repr(k) for k in list(entry)[:8]) or "no keys"
    looks = [f.name for f in FORMATS.values() if all(k in entry for k in f.required)]
    return f"an object with keys {keys}" + (f" (looks like {looks[-1]})" if looks else "")


def _provenance(entry: dict, fmt: Format, fallback: Provenance) -> Provenance:
    value = entry.get(fmt.id_key) if fmt.id_key else None
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
        return dataclasses.replace(fallback, record_id=str(value))
    return fallback


def _record(entry: dict, fmt: Format, provenance: Provenance, task: Optional[str]) -> ChatRecord:
    turns = _message_turns(entry, fmt) if fmt.messages else _column_turns(entry, fmt)
    messages = []
    for i, (role, document) in enumerate(turns, start=1):
        segments = _merge(document)
        for segment in segments:
            if segment.modality is Modality.TEXT:
                try:
                    check_segment(segment)
                except Rejected as error:
                    raise Rejected(f"turn {i}: {error}") from None
        messages.append((role, segments))
    check_turns(messages)
    nested = entry.get(fmt.nested) if fmt.nested else None
    if nested is not None and not isinstance(nested, dict):
        raise Rejected(f"{fmt.nested!r} is {type(nested).__name__}, not an object")
    nested = nested or {}
    meta = {"format": fmt.name, **{k: entry[k] for k in fmt.meta_keys if k in entry},
            **{k: v for k, v in nested.items() if k not in ("task", "split")}}
    return ChatRecord(
        provenance=provenance,
        messages=tuple(messages),
        task=task or _field(entry, fmt.task_key) or _field(nested, "task") or _file_task(provenance, fmt),
        split=_field(entry, fmt.split_key) or _field(nested, "split"),
        target=_field(entry, fmt.target_key),
        meta=meta,
    )


def _file_task(provenance: Provenance, fmt: Format) -> Optional[str]:
    return Path(provenance.path).name.split(".")[0] if fmt.task_from_file else None


def _field(entry: dict, key: Optional[str]) -> Optional[str]:
    """A text field, None when absent or null; anything but text is refused."""
    value = entry.get(key) if key else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected(f"{key!r} is {type(value).__name__}, not text")
    return value or None


def _content(value: object, what: str, scheme: str) -> Document:
    if value is None:
        raise Rejected(f"{what}: missing")
    if not isinstance(value, str):
        raise Rejected(f"{what}: non-text content ({type(value).__name__})")
    try:
        return CONTENT[scheme](value)
    except Rejected as error:
        raise Rejected(f"{what}: {error}") from None


def _system_turn(entry: dict, fmt: Format) -> list:
    value = entry.get(fmt.system) if fmt.system else None
    if value is None or value == "":
        return []
    return [("system", _content(value, repr(fmt.system), fmt.schemes.get(fmt.system, fmt.scheme)))]


def _column_turns(entry: dict, fmt: Format) -> list:
    turns = _system_turn(entry, fmt)
    history = entry.get(fmt.history) if fmt.history else None
    if history is not None:
        if not isinstance(history, list):
            raise Rejected(f"{fmt.history!r} is {type(history).__name__}, not a list of [user, assistant] pairs")
        for n, pair in enumerate(history, start=1):
            if not isinstance(pair, list) or len(pair) != 2:
                raise Rejected(f"{fmt.history!r} item {n} is not a [user, assistant] pair")
            turns += [("user", _content(pair[0], f"{fmt.history!r} item {n} user", fmt.scheme)),
                      ("assistant", _content(pair[1], f"{fmt.history!r} item {n} assistant", fmt.scheme))]
    prompt: Document = []
    for column in fmt.prompt:
        value = entry.get(column)
        if column != fmt.prompt[0] and value in (None, ""):
            continue
        part = _content(value, repr(column), fmt.schemes.get(column, fmt.scheme))
        prompt += ([_text("\n")] if prompt else []) + part
    answer = _content(entry.get(fmt.response), repr(fmt.response), fmt.schemes.get(fmt.response, fmt.scheme))
    return turns + [("user", prompt), ("assistant", answer)]


def _message_turns(entry: dict, fmt: Format) -> list:
    listed = entry.get(fmt.messages)
    if listed is None:
        raise Rejected(f"no {fmt.messages!r} list")
    if not isinstance(listed, list):
        raise Rejected(f"{fmt.messages!r} is {type(listed).__name__}, not a list of messages")
    turns = _system_turn(entry, fmt)
    for i, message in enumerate(listed, start=1):
        if not isinstance(message, dict):
            raise Rejected(f"message {i} is {type(message).__name__}, not an object")
        if message.get(fmt.role_key) is None:
            raise Rejected(f"message {i}: missing role ({fmt.role_key!r})")
        role = fmt.roles.get(message[fmt.role_key]) if isinstance(message[fmt.role_key], str) else None
        if role is None:
            raise Rejected(f"message {i}: unknown role {message[fmt.role_key]!r} (known: {sorted(fmt.roles)})")
        turns.append((role, _content(message.get(fmt.content_key), f"message {i}", fmt.scheme)))
    return turns


