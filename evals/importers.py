"""Official benchmark test files as the evaluation job's test records, so that a user who holds a
benchmark's own file scores on it.

The job reads `<data_dir>/records/test/<task>.jsonl` in the SFT corpus's record format
(`data_pipeline/sft/build.py` `_record`); an import writes exactly that, one file per task. Formats
(`BENCHMARKS`), each -> our tasks, prompt, target:
- smolinstruct: SMolInstruct JSONL (input, output, raw_input, raw_output, task, split) -> the
  entry's task mapped by `SMOL_TASKS` (.smiles or .selfies, as its tags), its own prompt with the
  tagged spans as typed segments, target raw_output (every gold of the same input in
  `meta.references`);
- chebi20: ChEBI-20 TSV (CID, SMILES, description) -> molecule_captioning.* (target the
  description) or text_to_molecule.* (target the SMILES), template 0;
- moses: MOSES CSV (SMILES, SPLIT: test and test_scaffolds rows; or the package's one-column
  test files) -> unconditional_generation.*, template 0, target the molecule;
- uspto50k: USPTO-50K CSV (id, class, reactants>reagents>production) -> retro_reaction.*, template
  0 on the product, target the reactants, atom maps removed and canonical;
- mol_instructions: Mol-Instructions protein JSON (instruction, input, output, metadata) ->
  protein_function, its own prompt with the fenced sequence as a protein, target the output;
- opi: OPI JSON (instruction, input, output) -> go_molecular_function, protein_keywords,
  subcellular_localization or protein_function, its own prompt with the sequence as a protein,
  target the output (terms split on '; ' into `meta.labels`).
A `.selfies` task of a SMILES file writes its molecules as SELFIES, as the family's own variant
does (`tasks.base.in_variant`). The assistant turn is the gold answer as our family writes it (a
wrapped molecule, or text), so an oracle run reads the same answer span it would from the corpus.
Every entry read is written or rejected with its line (or record) number and reason: read =
written + rejected. A file that is not the format (a wrong header, a first entry of another shape,
no entries) is one `ConfigError` naming the file and what it holds.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Union

from rdkit import Chem
from tqdm import tqdm

from biomatrix_io.config import ConfigError
from biomatrix_io.files import atomic, open_text
from biomatrix_io.records import Provenance, Rejection, reason_group
from data_pipeline.sft.content import Rejected, check_turns
from data_pipeline.sft.importers import FORMATS, Format, read_format
from data_pipeline.sft.records import ChatRecord
from data_pipeline.sft.render import check_document
from data_pipeline.sft.tasks import by_task, families
from data_pipeline.sft.tasks.base import NOTATIONS, Example, Skip, fill, in_variant, notation, text
from data_pipeline.sft.tasks.molecule_1d import BBB_ANSWERS, SOLUBILITY
from data_pipeline.sft.tasks.protein_1d import SEPARATOR
from megatron_bio.tokenizer.segments import Document, Modality, Segment
from megatron_bio.tokenizer.unified import BioMatrixTokenizer

LISTED = 100  # rejections listed one by one in the accounting; all of them are counted by reason
TEST_SPLITS = (None, "test", "test_subset")  # a split field an imported entry may declare


# How an entry fills one of our task families -----------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """What a family takes from an imported entry: the template field its input `fills` (None: the
    family has no input) and what that input is (`molecule`, `text`, `protein`), what its answer
    is (`molecule`, or a key of `ANSWERS`), the family's other template fields (fixed for every
    entry) and the meta its scorer reads."""

    fills: Optional[str]
    given: Optional[str]
    answer: str
    fixed: Mapping[str, Segment] = field(default_factory=dict)
    meta: Mapping[str, object] = field(default_factory=dict)


_ESOL = SOLUBILITY[0]
SLOTS: dict[str, Slot] = {
    "name_conversion_i2s": Slot("name", "text", "molecule", {"notation": notation()}),
    "name_conversion_s2i": Slot("molecule", "molecule", "text"),
    "name_conversion_i2f": Slot("name", "text", "text"),
    "name_conversion_s2f": Slot("molecule", "molecule", "text"),
    "property_solubility": Slot("molecule", "molecule", "number", {"property": text(_ESOL.label), "unit": text(_ESOL.unit)},
                                {"property": _ESOL.name, "unit": _ESOL.unit}),
    "bbb_classification": Slot("molecule", "molecule", "yes_no",
                               meta={"labels": [BBB_ANSWERS["BBB+"], BBB_ANSWERS["BBB-"]], "positive": BBB_ANSWERS["BBB+"]}),
    "molecule_captioning": Slot("molecule", "molecule", "text"),
    "text_to_molecule": Slot("description", "text", "molecule", {"notation": notation()}),
    "forward_reaction": Slot("reactants", "molecule", "molecule"),
    "retro_reaction": Slot("product", "molecule", "molecule"),
    "unconditional_generation": Slot(None, None, "molecule", {"notation": notation()}),
    "protein_function": Slot("sequence", "protein", "text"),
    "go_molecular_function": Slot("sequence", "protein", "terms"),
    "protein_keywords": Slot("sequence", "protein", "terms"),
    "subcellular_localization": Slot("sequence", "protein", "terms"),
}

_MOLECULE = {"smiles": Modality.SMILES, "selfies": Modality.SELFIES}
_GIVEN: dict[str, Callable[[str, str], Segment]] = {
    "molecule": lambda value, written: Segment(_MOLECULE[written], value),
    "text": lambda value, written: text(value),
    "protein": lambda value, written: Segment(Modality.PROTEIN, value),
}


def _text(value: str) -> tuple[str, dict]:
    return value.strip(), {}


def _number(value: str) -> tuple[str, dict]:
    try:
        finite = math.isfinite(float(value))
    except ValueError:
        finite = False
    if not finite:
        raise Rejected(f"answer {value[:40]!r} is not a finite number")
    return value.strip(), {}


_YES_NO = {"yes": BBB_ANSWERS["BBB+"], "true": BBB_ANSWERS["BBB+"], "no": BBB_ANSWERS["BBB-"], "false": BBB_ANSWERS["BBB-"]}


def _yes_no(value: str) -> tuple[str, dict]:
    if value.strip().lower() not in _YES_NO:
        raise Rejected(f"answer {value[:40]!r} is not yes or no")
    return _YES_NO[value.strip().lower()], {}


def _terms(value: str) -> tuple[str, dict]:
    """A set answer as OPI writes it: terms joined by '; ' (our families' separator too). The labels
    are the terms as written (OPI compares names; our GO families' own labels are GO ids)."""
    labels = [term.strip() for term in value.split(SEPARATOR) if term.strip()]
    return value.strip(), {"labels": labels, "separator": SEPARATOR}


# A text answer -> (the target, meta its scorer reads).
ANSWERS: dict[str, Callable[[str], tuple[str, dict]]] = {"text": _text, "number": _number, "yes_no": _yes_no,
                                                          "terms": _terms}


@dataclass(frozen=True)
class Entry:
    """One benchmark entry mapped onto one of our tasks, before it is checked and rendered.
    `value` fills the family's input field, `answer` is the gold answer as the benchmark writes
    it; molecules are written in `notation`. `prompt` is the benchmark's own instruction as typed
    segments (None: the family's template 0)."""

    location: str
    task: str
    value: Optional[str]
    answer: Optional[str]
    notation: str = "smiles"
    prompt: Optional[Document] = None
    meta: dict = field(default_factory=dict)


def _record(entry: Entry, benchmark: str, path: Path, tokenizer: BioMatrixTokenizer) -> dict:
    """The test record of an entry (`data_pipeline/sft/build.py` `_record`), or Rejected."""
    family = by_task()[entry.task]
    slot = SLOTS[family.name]
    variant = dict(zip(family.task_names(), family.variants))[entry.task]
    fields = {key: text(NOTATIONS[entry.notation]) if key == "notation" else value for key, value in slot.fixed.items()}
    if slot.fills is not None:
        if not entry.value or not entry.value.strip():
            raise Rejected(f"no {slot.fills}")
        fields[slot.fills] = _GIVEN[slot.given](entry.value.strip(), entry.notation)
    if not entry.answer or not entry.answer.strip():
        raise Rejected("empty answer")
    meta = {**slot.meta}
    if slot.answer == "molecule":
        answer = Segment(_MOLECULE[entry.notation], entry.answer.strip())
    else:
        target, extra = ANSWERS[slot.answer](entry.answer)
        answer, meta = text(target), {**meta, **extra}
    example = Example(fields, (answer,))
    if variant != entry.notation:  # a SMILES file imported into a .selfies task
        try:
            example = in_variant(example, variant)
        except Skip as error:
            raise Rejected(str(error)) from None
    user = list(entry.prompt) if entry.prompt is not None else fill(family.templates[0], example.fields)
    reply = list(example.answer)
    check_turns([("user", user), ("assistant", reply)])
    check_document(tokenizer, user, "user turn")
    check_document(tokenizer, reply, "answer")
    return {"id": f"{entry.task}:{benchmark}:{path.name}:{entry.location.split()[-1]}", "task": entry.task,
            "category": family.category, "metric": family.metric,
            "messages": [{"role": "user", "content": tokenizer.render(user)},
                         {"role": "assistant", "content": tokenizer.render(reply)}],
            "input": {key: segment.value for key, segment in example.fields.items()}, "target": reply[0].value,
            "template": 0 if entry.prompt is None else -1, "split": "test",
            "meta": {**meta, **entry.meta, "benchmark": benchmark}, "provenance": f"{path}:{entry.location}"}


def _task_of(family: str, written: str) -> Optional[str]:
    """Our task id of a family for molecules written in `written` (None: the family has no such variant)."""
    known = families()[family]
    return dict(zip(known.variants, known.task_names())).get(written)


# JSON benchmark files, read by the SFT importers -------------------------------------------------
def _chat(path: Path, fmt: Format) -> Iterator[Union[ChatRecord, Rejection]]:
    """The file's test entries as chat records (an entry of another split is rejected); a first
    entry of another shape is the user's mistake."""
    for n, item in enumerate(read_format(path, fmt)):
        if n == 0 and isinstance(item, Rejection) and item.reason.startswith(f"not a {fmt.name} file"):
            raise ConfigError(f"{path}: {item.reason}", ("--input", "--format"))
        if isinstance(item, ChatRecord) and item.split not in TEST_SPLITS:
            item = Rejection(item.provenance, f"a {item.split!r} entry: only test entries are imported")
        yield item


def _user(record: ChatRecord) -> Document:
    return list([document for role, document in record.messages if role == "user"][-1])


# SMolInstruct task -> our family; the molecules' tags pick the notation variant.
SMOL_TASKS = {
    "name_conversion-i2s": "name_conversion_i2s",
    "name_conversion-s2i": "name_conversion_s2i",
    "name_conversion-i2f": "name_conversion_i2f",
    "name_conversion-s2f": "name_conversion_s2f",
    "property_prediction-esol": "property_solubility",
    "property_prediction-bbbp": "bbb_classification",
    "molecule_captioning": "molecule_captioning",
    "molecule_generation": "text_to_molecule",
    "forward_synthesis": "forward_reaction",
    "retrosynthesis": "retro_reaction",
}
SMOLINSTRUCT = replace(FORMATS["smolinstruct"], meta_keys=("raw_input",))


def _smolinstruct(path: Path, task: Optional[str]) -> Iterator[Union[Entry, Rejection]]:
    for item in _chat(path, SMOLINSTRUCT):
        if isinstance(item, Rejection):
            yield item
            continue
        family = SMOL_TASKS.get(item.task)
        if family is None:
            yield Rejection(item.provenance, f"no BioMatrix task for SMolInstruct task {item.task!r}")
            continue
        written = "selfies" if any(s.modality is Modality.SELFIES for _, turn in item.messages for s in turn) else "smiles"
        ours = _task_of(family, written)
        if ours is None:
            yield Rejection(item.provenance, f"{family} has no {written} variant")
            continue
        raw_input = item.meta.get("raw_input")
        yield Entry(item.provenance.location, ours, raw_input if isinstance(raw_input, str) else None, item.target,
                    written, _user(item), {"source_task": item.task})


# Protein instructions (Mol-Instructions, OPI): their instruction, the sequence typed.
OPI = Format("opi", required=("instruction", "input", "output"), prompt=("instruction", "input"), response="output",
             schemes={"input": "typed_fields"}, id_key=None, target_key="output")


def _protein_instructions(fmt: Format) -> Callable[[Path, Optional[str]], Iterator[Union[Entry, Rejection]]]:
    def read(path: Path, task: Optional[str]) -> Iterator[Union[Entry, Rejection]]:
        for item in _chat(path, fmt):
            if isinstance(item, Rejection):
                yield item
                continue
            user = _user(item)
            proteins = [s.value for s in user if s.modality is Modality.PROTEIN]
            if len(proteins) != 1:
                yield Rejection(item.provenance, f"the input holds {len(proteins)} protein sequences, not one")
                continue
            foreign = [s.modality.value for s in item.messages[-1][1] if s.modality is not Modality.TEXT]
            if foreign:
                yield Rejection(item.provenance, f"the answer holds a {foreign[0]} span, not text only")
                continue
            meta = {key: value for key, value in item.meta.items() if key != "format"}
            yield Entry(item.provenance.location, task, proteins[0], item.target, prompt=user,
                        meta={**meta, "source_task": item.task} if item.task else meta)

    return read


# Delimited files (ChEBI-20, MOSES, USPTO-50K) -----------------------------------------------------
@dataclass(frozen=True)
class Delimited:
    """A delimited format: the columns its header must name, its delimiter and quoting."""

    name: str
    columns: tuple[str, ...]
    delimiter: str = ","
    quoting: int = csv.QUOTE_MINIMAL

    @property
    def separated(self) -> str:
        return {"\t": "tab-separated", ",": "comma-separated"}[self.delimiter]


CHEBI20 = Delimited("chebi20", ("CID", "SMILES", "description"), "\t", csv.QUOTE_NONE)  # MolT5's test.txt
MOSES = Delimited("moses", ("SMILES",))  # dataset_v1.csv (SMILES,SPLIT) or the package's test*.csv.gz (SMILES)
USPTO50K = Delimited("uspto50k", ("id", "class", "reactants>reagents>production"))  # GLN / RetroXpert raw_test.csv


def _rows(path: Path, layout: Delimited) -> Iterator[Union[tuple[Provenance, dict], Rejection]]:
    """(provenance, column -> value) of each row after the header, or the row's rejection. A
    header without the format's columns is the user's mistake."""
    header: Optional[list[str]] = None
    with open_text(path, newline="") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            values = next(csv.reader([line.rstrip("\r\n")], delimiter=layout.delimiter, quoting=layout.quoting))
            if header is None:
                header = values
                if not set(layout.columns) <= set(header):
                    raise ConfigError(f"{path} is not a {layout.name} file: its header (line {lineno}) holds "
                                      f"{[v[:40] for v in header[:6]]}, not the columns {list(layout.columns)} ({layout.separated})",
                                      ("--input", "--format"))
                continue
            provenance = Provenance(str(path), f"line {lineno}", f"{path.name}:{lineno}")
            if len(values) < len(header):
                yield Rejection(provenance, f"missing column {header[len(values)]!r}")
            elif len(values) > len(header):
                yield Rejection(provenance, f"{len(values)} fields where the header names {len(header)}")
            else:
                yield provenance, dict(zip(header, values))
    if header is None:
        raise ConfigError(f"{path} is empty, not a {layout.name} file", ("--input",))


_CHEBI20_SIDES = {"molecule_captioning": ("SMILES", "description"), "text_to_molecule": ("description", "SMILES")}


def _chebi20(path: Path, task: Optional[str]) -> Iterator[Union[Entry, Rejection]]:
    given, answer = _CHEBI20_SIDES[by_task()[task].name]
    for row in _rows(path, CHEBI20):
        if isinstance(row, Rejection):
            yield row
            continue
        provenance, values = row
        yield Entry(provenance.location, task, values[given], values[answer], meta={"cid": values["CID"]})


MOSES_TEST = ("test", "test_scaffolds")


def _moses(path: Path, task: Optional[str]) -> Iterator[Union[Entry, Rejection]]:
    for row in _rows(path, MOSES):
        if isinstance(row, Rejection):
            yield row
            continue
        provenance, values = row
        split = values.get("SPLIT")
        if split is not None and split not in MOSES_TEST:
            yield Rejection(provenance, f"a {split!r} row: only {' and '.join(MOSES_TEST)} rows are test data")
            continue
        yield Entry(provenance.location, task, None, values["SMILES"], meta={"moses_split": split} if split else {})


def _unmapped(smiles: str, what: str) -> str:
    """Canonical SMILES with atom maps removed (USPTO-50K's reactions are atom-mapped)."""
    molecule = Chem.MolFromSmiles(smiles) if smiles else None
    if molecule is None:
        raise Rejected(f"{what} SMILES {smiles[:60]!r} that RDKit cannot parse")
    for atom in molecule.GetAtoms():
        atom.SetAtomMapNum(0)
    return Chem.MolToSmiles(molecule)


def _uspto50k(path: Path, task: Optional[str]) -> Iterator[Union[Entry, Rejection]]:
    for row in _rows(path, USPTO50K):
        if isinstance(row, Rejection):
            yield row
            continue
        provenance, values = row
        parts = values[USPTO50K.columns[2]].split(">")
        try:
            if len(parts) != 3:
                raise Rejected(f"{values[USPTO50K.columns[2]][:60]!r} is not a reaction (reactants>reagents>product)")
            reactants, product = _unmapped(parts[0], "reactants"), _unmapped(parts[2], "product")
        except Rejected as error:
            yield Rejection(provenance, str(error))
            continue
        yield Entry(provenance.location, task, product, reactants,
                    meta={"reaction_class": values["class"], "source_id": values["id"]})


# The format table ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Benchmark:
    """A benchmark file format: its reader, the task ids `--task` may name (empty: each entry
    names its own), the default (None: `--task` is required), and whether entries with the same
    input share their golds (SMolInstruct's scorer accepts any gold answer of the input)."""

    read: Callable[[Path, Optional[str]], Iterator[Union[Entry, Rejection]]]
    tasks: tuple[str, ...] = ()
    default: Optional[str] = None
    shared_golds: bool = False


BENCHMARKS: dict[str, Benchmark] = {
    "smolinstruct": Benchmark(_smolinstruct, shared_golds=True),
    "chebi20": Benchmark(_chebi20, ("molecule_captioning.smiles", "molecule_captioning.selfies",
                                    "text_to_molecule.smiles", "text_to_molecule.selfies")),
    "moses": Benchmark(_moses, ("unconditional_generation.smiles", "unconditional_generation.selfies"),
                       "unconditional_generation.smiles"),
    "uspto50k": Benchmark(_uspto50k, ("retro_reaction.smiles", "retro_reaction.selfies"), "retro_reaction.smiles"),
    "mol_instructions": Benchmark(_protein_instructions(FORMATS["mol_instructions"]), ("protein_function",),
                                  "protein_function"),
    "opi": Benchmark(_protein_instructions(OPI), ("go_molecular_function", "protein_keywords", "subcellular_localization",
                                                  "protein_function")),
}


def _chosen(name: str, benchmark: Benchmark, task: Optional[str]) -> Optional[str]:
    if not benchmark.tasks:
        if task:
            raise ConfigError(f"--format {name}: each entry names its own task, --task is not taken", ("--task",))
        return None
    task = task or benchmark.default
    if task is None:
        raise ConfigError(f"--format {name} needs --task: one of {', '.join(benchmark.tasks)}", ("--task",))
    if task not in benchmark.tasks:
        raise ConfigError(f"--format {name} imports into {', '.join(benchmark.tasks)}, not {task!r}", ("--task",))
    return task


def _share_golds(records: list[dict]) -> None:
    """`meta.references`: every distinct target of the task's records with the same input, when
    there are several (an input with more than one accepted answer)."""
    golds: dict[str, set] = defaultdict(set)
    for record in records:
        golds[json.dumps(record["input"], sort_keys=True)].add(record["target"])
    for record in records:
        found = golds[json.dumps(record["input"], sort_keys=True)]
        if len(found) > 1:
            record["meta"]["references"] = sorted(found)


def import_benchmark(fmt: str, path: str | Path, out: str | Path, task: Optional[str] = None,
                     tokenizer: Optional[BioMatrixTokenizer] = None, progress: bool = False) -> dict:
    """Import one benchmark file: write `<out>/records/test/<task>.jsonl` (replacing a file of that
    name) and return the accounting: read = written + rejected, per task, the files, rejections
    counted by reason and the first `LISTED` named by line. `tokenizer` renders and checks the
    turns (default: the default BioMatrix tokenizer); `progress` shows a bar of entries read (a
    MOSES test file is 176k rows, about two minutes)."""
    benchmark = BENCHMARKS.get(fmt)
    if benchmark is None:
        raise ConfigError(f"unknown benchmark format {fmt!r}; known: {', '.join(BENCHMARKS)}", ("--format",))
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file", ("--input",))
    chosen = _chosen(fmt, benchmark, task)
    if tokenizer is None:
        from megatron_bio.tokenizer_config import TokenizerConfig

        tokenizer = TokenizerConfig().build()
    records: dict[str, list[dict]] = defaultdict(list)
    rejections: list[Rejection] = []
    read = 0
    for item in tqdm(benchmark.read(path, chosen), desc=f"import {fmt}", unit=" entries", delay=2,
                     disable=not progress):
        read += 1
        if isinstance(item, Entry):
            try:
                records[item.task].append(_record(item, fmt, path, tokenizer))
                continue
            except Rejected as error:
                item = Rejection(Provenance(str(path), item.location, f"{path.name}:{item.location}"), str(error))
        rejections.append(item)
    if not read:
        raise ConfigError(f"{path} holds no {fmt} entries", ("--input",))
    files = {}
    for name, lines in sorted(records.items()):
        if benchmark.shared_golds:
            _share_golds(lines)
        files[name] = str(Path(out) / "records" / "test" / f"{name}.jsonl")
        with atomic(Path(files[name])) as temporary, open(temporary, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n" for line in lines)
    written = sum(map(len, records.values()))
    return {"format": fmt, "input": str(path), "read": read, "written": written, "rejected": len(rejections),
            "tasks": {name: len(lines) for name, lines in sorted(records.items())}, "files": files,
            "rejected_by_reason": dict(Counter(reason_group(r.reason) for r in rejections).most_common()),
            "rejections": [{"where": r.provenance.location, "reason": r.reason} for r in rejections[:LISTED]]}
