"""An SFT corpus build: plan -> stage 1 (normalize, the pretraining build's own) -> examples ->
split table -> samples -> merge (pack, shards, records, manifest).

Layout under `config.out`:
  work/plan.json, work/stage1/<unit>.tar      as in a pretraining build (`data_pipeline.build`)
  work/examples/<unit>.jsonl (+ .done.json)   examples of every task reading the unit's source
  work/splits.json                            the entity-to-split table and the training repeats per task
  work/samples/<unit>/ (+ .done.json)         per split: token/mask/length/meta arrays and chat records
  shards/{train,valid}/                       packed indexed datasets (`shards.py`), shards/manifest.json
  records/{train,valid,test}/<task>.jsonl     the chat records (`records.py` format): what the
                                              evaluation job reads for test
Imported chat files (`importers.py` readers) skip stage 1: their records are examples already.
Every unit is idempotent (skipped when its done record has the current hash) and writes atomically;
the split table and the merge depend on the plan order alone, so any worker count gives the same
bytes. Accounting per task: entities offered = examples + skipped (by reason), examples = records
written + rejected (by reason).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from biomatrix_io.files import atomic
from biomatrix_io.records import Rejection, reason_group
from megatron_bio.tokenizer.segments import Modality, Segment

from ..build import Layout, build_tokenizer, finished, init_worker, read_entities, run_stage1, tokenizer_fingerprint
from ..units import PIPELINE_VERSION, Unit, digest, plan, read_done, units_of, write_json
from .config import SPLITS, SFTDataConfig
from .importers import IMPORT_READERS
from .packing import efficiency, pack
from .content import Rejected
from .render import ChatEncoder
from biomatrix_io.packed_sft import write_split
from .splits import entity_groups, example_split, molecule_entity, nucleotide_entity, organism_entity, protein_entity, split_table
from .tasks import by_task, families
from .tasks.base import Skip, fill, in_variant

SFT_VERSION = 1  # bump when a change alters output bytes for the same config and task code
PACKED_SPLITS = ("train", "valid")


@dataclass(frozen=True)
class SFTLayout(Layout):
    """A pretraining build's layout (plan, stage 1, shards) plus the SFT build's own folders."""

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def splits(self) -> Path:
        return self.work / "splits.json"

    def examples(self, unit: Unit) -> tuple[Path, Path]:
        return self.work / "examples" / f"{unit.id}.jsonl", self.work / "examples" / f"{unit.id}.done.json"

    def samples(self, unit: Unit) -> tuple[Path, Path]:
        return self.work / "samples" / unit.id, self.work / "samples" / f"{unit.id}.done.json"

    command = "sft-data"

    def outputs(self, unit: Unit, stage: str) -> tuple[Path, Path]:
        return {"normalize": self.stage1, "examples": self.examples, "samples": self.samples}[stage](unit)


def _imported(config: SFTDataConfig, unit: Unit) -> bool:
    return config.sources[unit.source].reader in IMPORT_READERS


def _task_code_digest() -> str:
    """The task families' source: changing a family's code reruns the examples stage."""
    folder = Path(__file__).parent / "tasks"
    return digest({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.py"))})


def _selected(key: str, task: str, fraction: float) -> bool:
    if fraction >= 1:
        return True
    return int.from_bytes(hashlib.sha256(f"{task}:{key}".encode()).digest()[:8], "big") / 2**64 < fraction


def _segments(document) -> list:
    return [[s.modality.value, list(s.value) if s.modality is Modality.PROTEIN_3D else s.value] for s in document]


def _document(raw) -> list[Segment]:
    return [Segment(Modality(m), v) for m, v in raw]


# Examples -------------------------------------------------------------------------------------------
def _entities_of(molecules, proteins, nucleotides=(), organisms=()) -> dict[str, str]:
    """Entity key -> molecule or organism group key, or the protein's or nucleotide sequence's
    sequence (grouped later, globally)."""
    found: dict[str, str] = {}
    for smiles in molecules:
        try:
            key, group = molecule_entity(smiles)
        except ValueError as error:
            raise Skip(f"entity: {error}") from None
        found[key] = group
    for sequence in proteins:
        found[protein_entity(sequence)] = sequence
    for sequence in nucleotides:
        found[nucleotide_entity(sequence)] = sequence
    for organism in organisms:
        key, group = organism_entity(organism)
        found[key] = group
    return found


def _document_entities(documents) -> dict[str, str]:
    """Entities of an imported record: the molecules (each fragment of a multi-fragment SMILES or
    SELFIES, as a reaction's reactants are) and proteins its segments hold. A molecule no parser
    reads is left out: the content check rejects its record with the reason."""
    import selfies as sf
    from rdkit import Chem

    molecules, proteins, nucleotides = [], [], []
    for document in documents:
        for segment in document:
            if segment.modality is Modality.SMILES:
                molecules.extend(segment.value.split("."))
            elif segment.modality is Modality.SELFIES:
                try:
                    molecules.extend((sf.decoder(segment.value) or "").split("."))
                except sf.DecoderError:
                    continue
            elif segment.modality is Modality.PROTEIN:
                proteins.append(segment.value)
            elif segment.modality in (Modality.DNA, Modality.RNA):
                nucleotides.append(segment.value)
    return _entities_of([m for m in molecules if m and Chem.MolFromSmiles(m) is not None], proteins, nucleotides)


def examples_hash(config: SFTDataConfig, unit: Unit, planned: dict) -> str:
    tasks = {name: asdict(t) for name, t in config.tasks.items() if unit.source in t.sources}
    upstream = (finished(SFTLayout(Path(config.out)), unit, "normalize")["config_hash"] if not _imported(config, unit)
                else digest({"unit": asdict(unit), "inputs": [planned["checksums"][p] for p in unit.paths],
                             "source": config.sources[unit.source]}))
    return digest({"upstream": upstream, "tasks": tasks, "seed": config.seed, "code": _task_code_digest(),
                   "version": [PIPELINE_VERSION, SFT_VERSION]})


def _built_examples(config: SFTDataConfig, unit: Unit, counts: dict) -> Iterator[dict]:
    known = families()
    readers = [(name, known[name], entry) for name, entry in config.tasks.items() if unit.source in entry.sources]
    for entity in read_entities(SFTLayout(Path(config.out)).stage1(unit)[0]):
        for name, family, entry in readers:
            if not _selected(entity["key"], name, entry.fraction):
                continue
            for variant, task in zip(family.variants, family.task_names()):
                tally = counts[task]
                tally["offered"] += 1
                try:
                    if entity["kind"] not in family.kinds:
                        raise Skip(f"a {entity['kind']} entity (the task reads {', '.join(family.kinds)})")
                    made = list(family.make(entity, random.Random(f"{config.seed}:{family.name}:{entity['key']}")))
                    for dropped in (m for m in made if isinstance(m, Skip)):
                        tally["dropped"][reason_group(str(dropped))] += 1
                    made = [m for m in made if not isinstance(m, Skip)]
                    if not made:
                        raise Skip("no example")
                    lines = [_example_line(task, variant, entity, example) for example in made]
                except Skip as error:
                    tally["skipped"][reason_group(str(error))] += 1
                    continue
                tally["used"] += 1
                tally["examples"] += len(lines)
                yield from lines


def _example_line(task: str, variant: str, entity: dict, example) -> dict:
    example = in_variant(example, variant)
    line = {"id": f"{task}:{entity['key']}{example.suffix}", "task": task, "where": entity["where"],
            "fields": {k: _segments([v])[0] for k, v in example.fields.items()},
            "answer": _segments(example.answer), "meta": example.meta,
            "entities": _entities_of(example.molecules, example.proteins, example.nucleotides, example.organisms),
            "declared": None}
    if example.encodes:
        line["links"] = [[nucleotide_entity(gene), protein_entity(protein)] for gene, protein in example.encodes]
    return line


def _imported_examples(config: SFTDataConfig, unit: Unit, counts: dict) -> Iterator[dict]:
    for key, item in unit.items(config):
        if isinstance(item, Rejection):
            tally = counts[f"{unit.source}"]
            tally["offered"] += 1
            tally["skipped"][reason_group(item.reason)] += 1
            continue
        task = f"{unit.source}:{item.task}" if item.task else unit.source  # never a built task's id
        tally = counts[task]
        tally["offered"] += 1
        tally["used"] += 1
        tally["examples"] += 1
        yield {"id": f"{task}:{key}", "task": task, "where": f"{item.provenance.path}:{item.provenance.location}",
               "messages": [[role, _segments(document)] for role, document in item.messages],
               "target": item.target, "meta": item.meta, "declared": item.split,
               "entities": _document_entities([document for _, document in item.messages])}


def run_examples(config: SFTDataConfig, unit: Unit, planned: dict) -> dict:
    layout = SFTLayout(Path(config.out))
    path, done_path = layout.examples(unit)
    config_hash = examples_hash(config, unit, planned)
    done = read_done(done_path, config_hash)
    if done and path.is_file():
        return {**done, "skipped": True}
    counts: dict = defaultdict(lambda: {"offered": 0, "used": 0, "examples": 0, "skipped": Counter(), "dropped": Counter()})
    lines = (_imported_examples if _imported(config, unit) else _built_examples)(config, unit, counts)
    with atomic(path) as temporary, open(temporary, "w") as handle:
        for line in lines:
            handle.write(json.dumps(line, sort_keys=True) + "\n")
    tasks = {t: {**c, "skipped": dict(sorted(c["skipped"].items())), "dropped": dict(sorted(c["dropped"].items()))}
             for t, c in sorted(counts.items())}
    for task, tally in tasks.items():
        if tally["offered"] != tally["used"] + sum(tally["skipped"].values()):
            raise RuntimeError(f"unit {unit.id}, task {task}: entities offered != used + skipped: {tally}")
    done = {"unit": unit.id, "stage": "examples", "config_hash": config_hash, "tasks": tasks}
    write_json(done_path, done)
    return done


def read_examples(path: Path) -> Iterator[dict]:
    with open(path) as handle:
        for line in handle:
            yield json.loads(line)


# Split table -------------------------------------------------------------------------------------
def ensure_splits(config: SFTDataConfig, units: list[Unit]) -> tuple[dict, str]:
    """The split table and the training repeats per task, computed once from every unit's examples
    (written atomically; concurrent writers write the same bytes)."""
    layout = SFTLayout(Path(config.out))
    hashes = [finished(layout, u, "examples")["config_hash"] for u in units]
    key = digest({"examples": hashes, "splits": config.splits, "mix": config.mix, "weights": {n: t.weight for n, t in config.tasks.items()},
                  "seed": config.seed})
    if layout.splits.is_file():
        stored = json.loads(layout.splits.read_text())
        if stored["hash"] == key:
            return stored, key
    entities: dict[str, str] = {}
    links: list[tuple[str, str]] = []
    forced: set[str] = set()
    for unit in units:
        for example in read_examples(layout.examples(unit)[0]):
            entities.update(example["entities"])
            links.extend(map(tuple, example.get("links", ())))
            if example["declared"] == "test":
                forced.update(example["entities"])
    table = split_table(entity_groups(entities, links, config.splits), forced, config.splits, config.seed)
    per_task: dict[str, Counter] = defaultdict(Counter)
    for unit in units:
        for example in read_examples(layout.examples(unit)[0]):
            per_task[example["task"]][_split_of(example, table, config)] += 1
    repeats = _repeats({t: c["train"] for t, c in per_task.items()}, config)
    stored = {"hash": key, "table": dict(sorted(table.items())), "repeats": repeats,
              "examples": {t: dict(sorted(c.items())) for t, c in sorted(per_task.items())},
              "entities": dict(Counter(table.values()))}
    write_json(layout.splits, stored)
    return stored, key


def _split_of(example: dict, table: dict, config: SFTDataConfig) -> str:
    return example_split(example["entities"], table, example["declared"], example["id"], config.splits, config.seed)


def _repeats(train_counts: dict[str, int], config: SFTDataConfig) -> dict[str, float]:
    """Training samples per example, per task (`MixConfig`): >= 1, at most max_repeats."""
    largest = max(train_counts.values(), default=0)
    repeats = {}
    for task, count in sorted(train_counts.items()):
        if not count:
            continue
        family = by_task().get(task)
        weight = config.tasks[family.name].weight if family is not None and family.name in config.tasks else 1.0
        target = largest * (count / largest) ** (1 / config.mix.temperature) * weight
        repeats[task] = round(min(config.mix.max_repeats, max(1.0, target / count)), 6)
    return repeats


def _draws(example_id: str, repeats: float, seed: int) -> int:
    whole = int(repeats)
    fraction = int.from_bytes(hashlib.sha256(f"{seed}:repeat:{example_id}".encode()).digest()[:8], "big") / 2**64
    return whole + (fraction < repeats - whole)


# Samples -----------------------------------------------------------------------------------------
def samples_hash(config: SFTDataConfig, unit: Unit, splits_hash: str) -> str:
    layout = SFTLayout(Path(config.out))
    return digest({"examples": finished(layout, unit, "examples")["config_hash"], "splits": splits_hash,
                   "tokenizer": tokenizer_fingerprint(config), "sequence_length": config.sequence_length,
                   "system": config.system_prompt, "seed": config.seed, "version": [PIPELINE_VERSION, SFT_VERSION]})


def _conversations(config: SFTDataConfig, example: dict, draws: int) -> list[tuple[int, list]]:
    """(template id, messages as (role, document)) per draw; a repeat draws the next template."""
    if "messages" in example:
        return [(-1, [(role, _document(raw)) for role, raw in example["messages"]])] * draws
    family = by_task()[example["task"]]
    fields = {k: Segment(Modality(m), v) for k, (m, v) in example["fields"].items()}
    first = int.from_bytes(hashlib.sha256(f"{config.seed}:template:{example['id']}".encode()).digest()[:8], "big")
    system = [("system", [Segment(Modality.TEXT, config.system_prompt)])] if config.system_prompt else []
    conversations = []
    for draw in range(draws):
        template = (first + draw) % len(family.templates)
        conversations.append((template, system + [("user", fill(family.templates[template], fields)),
                                                  ("assistant", _document(example["answer"]))]))
    return conversations


def _record(example: dict, split: str, template: int, messages: list[dict]) -> dict:
    """The chat record (`records.py`): what the evaluation job and a re-import read."""
    family = by_task().get(example["task"])
    if "messages" in example:
        target = example["target"] if example["target"] is not None else messages[-1]["content"]
        raw_input = {}
    else:
        answer = example["answer"]
        target = answer[0][1] if len(answer) == 1 else messages[-1]["content"]
        target = " ".join(map(str, target)) if isinstance(target, list) else target
        raw_input = {k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, (_, v) in example["fields"].items()}
    return {"id": example["id"], "task": example["task"], "category": family.category if family else "imported",
            "metric": family.metric if family else example["meta"].get("metric", "text_generation"),
            "messages": messages, "input": raw_input, "target": target, "template": template, "split": split,
            "meta": example["meta"], "provenance": example["where"]}


def run_samples(config: SFTDataConfig, unit: Unit, units: list[Unit]) -> dict:
    layout = SFTLayout(Path(config.out))
    folder, done_path = layout.samples(unit)
    stored, splits_hash = ensure_splits(config, units)
    config_hash = samples_hash(config, unit, splits_hash)
    done = read_done(done_path, config_hash)
    if done and folder.is_dir():
        return {**done, "skipped": True}
    encoder = ChatEncoder(build_tokenizer(config), config.sequence_length)
    arrays = {split: {"tokens": [], "masks": [], "meta": []} for split in PACKED_SPLITS}
    records: dict[str, list] = {split: [] for split in SPLITS}
    tasks: dict[str, dict] = defaultdict(lambda: {"examples": 0, "written": Counter(), "samples": Counter(),
                                                  "rejected": Counter()})
    task_index: dict[str, int] = {}
    batch: list[tuple[dict, str, list]] = []

    def flush() -> None:
        results = iter(encoder.samples([messages for _, _, draws in batch for _, messages in draws]))
        for example, split, draws in batch:
            encoded = [next(results) for _ in draws]
            tally = tasks[example["task"]]
            rejected = next((r for r in encoded if isinstance(r, Rejected)), None)
            if rejected is not None:  # an example trains with all its draws or not at all
                tally["rejected"][reason_group(str(rejected))] += 1
                continue
            records[split].append(_record(example, split, draws[0][0], draws[0][1]))
            tally["written"][split] += 1
            if split not in arrays:
                continue
            task_id = task_index.setdefault(example["task"], len(task_index))
            for (template, _), samples in zip(draws, encoded):
                for sample in samples:
                    arrays[split]["tokens"].append(sample.tokens)
                    arrays[split]["masks"].append(sample.loss_mask)
                    arrays[split]["meta"].append((task_id, template))
                tally["samples"][split] += len(samples)
        batch.clear()

    for example in read_examples(layout.examples(unit)[0]):
        tasks[example["task"]]["examples"] += 1
        split = _split_of(example, stored["table"], config)
        draws = _draws(example["id"], stored["repeats"].get(example["task"], 1.0), config.seed) if split == "train" else 1
        try:
            conversations = [(t, encoder.messages(m)) for t, m in _conversations(config, example, draws)]
        except Rejected as error:
            tasks[example["task"]]["rejected"][reason_group(str(error))] += 1
            continue
        batch.append((example, split, conversations))
        if len(batch) >= 128:
            flush()
    flush()
    _write_samples(folder, arrays, records)
    summary = {t: {"examples": c["examples"], "written": dict(sorted(c["written"].items())),
                   "samples": dict(sorted(c["samples"].items())), "rejected": dict(sorted(c["rejected"].items()))}
               for t, c in sorted(tasks.items())}
    for task, tally in summary.items():
        if tally["examples"] != sum(tally["written"].values()) + sum(tally["rejected"].values()):
            raise RuntimeError(f"unit {unit.id}, task {task}: examples != written + rejected: {tally}")
    done = {"unit": unit.id, "stage": "samples", "config_hash": config_hash, "tasks": summary,
            "task_index": list(task_index)}
    write_json(done_path, done)
    return done


def _write_samples(folder: Path, arrays: dict, records: dict) -> None:
    """The unit's samples as plain .npy arrays (the merge memory-maps them) and its chat records,
    in a folder renamed into place whole."""
    import os
    import shutil

    temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    for split, parts in arrays.items():
        lengths = np.array([len(t) for t in parts["tokens"]], dtype=np.int64)
        np.save(temporary / f"{split}.lengths.npy", lengths)
        np.save(temporary / f"{split}.tokens.npy", np.concatenate(parts["tokens"]) if parts["tokens"] else np.zeros(0, np.int32))
        np.save(temporary / f"{split}.loss_mask.npy", np.concatenate(parts["masks"]) if parts["masks"] else np.zeros(0, np.uint8))
        np.save(temporary / f"{split}.meta.npy", np.array(parts["meta"], dtype=np.int32).reshape(-1, 2))
    for split, lines in records.items():
        with open(temporary / f"{split}.records.jsonl", "w") as handle:
            for line in lines:
                handle.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.rename(temporary, folder)


# Merge -------------------------------------------------------------------------------------------
def task_order(config: SFTDataConfig, names: set[str]) -> list[str]:
    """Task ids: the configured families' tasks in registry order, then imported tasks by name."""
    ordered = [t for name, family in families().items() if name in config.tasks for t in family.task_names()]
    return [t for t in ordered if t in names] + sorted(names - set(ordered))


def _gather(layout: SFTLayout, units: list[Unit], split: str, global_id: dict, done: dict) -> dict:
    lengths, meta, tokens, masks = [], [], [], []
    for unit in units:
        folder = layout.samples(unit)[0]
        unit_lengths = np.load(folder / f"{split}.lengths.npy")
        if not len(unit_lengths):
            continue
        remap = np.array([global_id[t] for t in done[unit.id]["task_index"]], dtype=np.int32)
        unit_meta = np.load(folder / f"{split}.meta.npy")
        unit_meta[:, 0] = remap[unit_meta[:, 0]]
        starts = np.concatenate([[0], np.cumsum(unit_lengths)])
        unit_tokens = np.load(folder / f"{split}.tokens.npy", mmap_mode="r")
        unit_masks = np.load(folder / f"{split}.loss_mask.npy", mmap_mode="r")
        tokens.extend(unit_tokens[a:b] for a, b in zip(starts[:-1], starts[1:]))
        masks.extend(unit_masks[a:b] for a, b in zip(starts[:-1], starts[1:]))
        lengths.append(unit_lengths)
        meta.append(unit_meta)
    return {"lengths": np.concatenate(lengths) if lengths else np.zeros(0, np.int64),
            "meta": np.concatenate(meta) if meta else np.zeros((0, 2), np.int32), "tokens": tokens, "masks": masks}


def merge(config: SFTDataConfig, planned: dict) -> dict:
    """Pack each split, write the shards, the records per task and split, and the manifest."""
    layout = SFTLayout(Path(config.out))
    units = units_of(planned)
    stored, _ = ensure_splits(config, units)
    examples_done = {u.id: finished(layout, u, "examples") for u in units}
    samples_done = {u.id: finished(layout, u, "samples") for u in units}
    names = {t for d in examples_done.values() for t in d["tasks"]} | {t for d in samples_done.values() for t in d["tasks"]}
    order = task_order(config, names)
    global_id = {name: i for i, name in enumerate(order)}
    splits = {}
    per_task: dict[str, dict] = {t: {"offered": 0, "used": 0, "examples": 0, "skipped": Counter(), "dropped": Counter(),
                                     "written": Counter(),
                                     "rejected": Counter(), "samples": Counter(), "tokens": Counter(),
                                     "loss_tokens": Counter()} for t in order}
    for done in examples_done.values():
        for task, tally in done["tasks"].items():
            per_task[task]["offered"] += tally["offered"]
            per_task[task]["used"] += tally["used"]
            per_task[task]["examples"] += tally["examples"]
            per_task[task]["skipped"].update(tally["skipped"])
            per_task[task]["dropped"].update(tally.get("dropped", {}))
    for done in samples_done.values():
        for task, tally in done["tasks"].items():
            per_task[task]["written"].update(tally["written"])
            per_task[task]["rejected"].update(tally["rejected"])
            per_task[task]["samples"].update(tally["samples"])
    for split in PACKED_SPLITS:
        gathered = _gather(layout, units, split, global_id, samples_done)
        lengths = gathered["lengths"]
        packs = pack(lengths.tolist(), config.sequence_length, config.packer)
        packs = [packs[i] for i in np.random.default_rng(config.seed).permutation(len(packs))]
        write_split(layout.shards / split, packs, gathered["tokens"], gathered["masks"], gathered["meta"])
        loss = np.array([int(m.sum()) for m in gathered["masks"]], dtype=np.int64)
        for task_id, name in enumerate(order):
            chosen = gathered["meta"][:, 0] == task_id
            per_task[name]["tokens"][split] = int(lengths[chosen].sum())
            per_task[name]["loss_tokens"][split] = int(loss[chosen].sum())
        splits[split] = {"packs": len(packs), "samples": int(len(lengths)), "tokens": int(lengths.sum()),
                         "loss_tokens": int(loss.sum()), "packing_efficiency": round(efficiency(lengths.tolist(), packs, config.sequence_length), 6),
                         "samples_per_pack": round(len(lengths) / len(packs), 3) if packs else 0.0}
    record_counts = _merge_records(layout, units, order)
    manifest = _manifest(config, order, per_task, splits, record_counts, stored, units, planned["checksums"])
    write_json(layout.shards / "manifest.json", manifest)
    return manifest


def _merge_records(layout: SFTLayout, units: list[Unit], order: list[str]) -> dict:
    """records/<split>/<task>.jsonl, lines in plan order."""
    counts: dict[str, Counter] = {split: Counter() for split in SPLITS}
    for split in SPLITS:
        lines: dict[str, list[str]] = defaultdict(list)
        for unit in units:
            with open(layout.samples(unit)[0] / f"{split}.records.jsonl") as handle:
                for line in handle:
                    lines[json.loads(line)["task"]].append(line)
        folder = layout.records / split
        for stale in folder.glob("*.jsonl") if folder.is_dir() else ():
            if stale.stem not in lines:
                stale.unlink()
        for task in order:
            if task in lines:
                with atomic(folder / f"{task}.jsonl") as temporary:
                    temporary.write_text("".join(lines[task]))
                counts[split][task] = len(lines[task])
    return {split: dict(c) for split, c in counts.items()}


def _manifest(config: SFTDataConfig, order: list[str], per_task: dict, splits: dict, record_counts: dict,
              stored: dict, units: list[Unit], checksums: dict[str, str]) -> dict:
    tokenizer = build_tokenizer(config)
    tasks = []
    for task_id, name in enumerate(order):
        family = by_task().get(name)
        tasks.append({"id": task_id, "name": name, "family": family.name if family else None,
                      "category": family.category if family else "imported", "metric": family.metric if family else None,
                      "templates": len(family.templates) if family else 0,
                      "description": family.description if family else "imported chat records"})
    layout = SFTLayout(Path(config.out))
    sources: dict[str, dict] = {}
    for unit in units:
        # reader and files (with checksums) name what went in: a release's licence notices read them.
        entry = sources.setdefault(unit.source, {"reader": config.sources[unit.source].reader, "files": {},
                                                 "records": 0, "written": 0, "rejected": Counter()})
        entry["files"].update({path: checksums[path] for path in unit.paths})
        if _imported(config, unit):
            continue
        done = finished(layout, unit, "normalize")
        entry["records"] += done["records"]
        entry["written"] += done["written"]
        entry["rejected"].update(done["rejected"])
    return {
        "format": "biomatrix-sft-packed/1 (biomatrix_io/packed_sft.py)",
        "sequence_length": config.sequence_length, "packer": config.packer, "seed": config.seed,
        "tokenizer": {"vocab_size": tokenizer.vocab_size, "eod": tokenizer.eod, "pad": tokenizer.pad,
                      "fingerprint": tokenizer_fingerprint(config)},
        "tasks": tasks,
        "splits": splits,
        "records": {split: {"folder": f"../records/{split}", "records": sum(c.values())} for split, c in record_counts.items()},
        "per_task": {name: {"offered": t["offered"], "used": t["used"], "examples": t["examples"], "skipped": dict(sorted(t["skipped"].items())),
                            "dropped": dict(sorted(t["dropped"].items())), "written": dict(t["written"]), "rejected": dict(sorted(t["rejected"].items())),
                            "samples": dict(t["samples"]), "tokens": dict(t["tokens"]), "loss_tokens": dict(t["loss_tokens"]),
                            "repeats": stored["repeats"].get(name, 1.0)}
                     for name, t in per_task.items()},
        "entities": stored["entities"],
        "sources": {n: {**s, "rejected": dict(sorted(s["rejected"].items()))} for n, s in sorted(sources.items())},
    }


# Executors ---------------------------------------------------------------------------------------
STAGES = ("normalize", "examples", "samples")


def run_unit(config: SFTDataConfig, stage: str, unit_id: str) -> dict:
    """One unit of one stage, as a Slurm array task runs it."""
    planned = plan(config, Layout(Path(config.out)).work, verify_inputs=False)
    units = units_of(planned)
    by_id = {u.id: u for u in units}
    if unit_id not in by_id:
        raise KeyError(f"no unit {unit_id!r} in the plan ({len(units)} units: {units[0].id} .. {units[-1].id})")
    unit = by_id[unit_id]
    if stage == "normalize":
        if _imported(config, unit):
            return {"unit": unit.id, "stage": "normalize", "skipped": True, "why": "an imported chat file"}
        return run_stage1(config, unit, planned)
    if stage == "examples":
        return run_examples(config, unit, planned)
    return run_samples(config, unit, units)


def _job(args: tuple) -> dict:
    config, stage, unit_id = args
    return run_unit(config, stage, unit_id)


def build(config: SFTDataConfig, workers: Optional[int] = None, progress: bool = True) -> dict:
    from tqdm import tqdm

    workers = config.workers if workers is None else workers
    planned = plan(config, Layout(Path(config.out)).work)
    units = units_of(planned)
    for stage in STAGES:
        if stage == "samples":
            ensure_splits(config, units)  # once, before the workers need it
        jobs = [(config, stage, u.id) for u in units if stage != "normalize" or not _imported(config, u)]
        bar = tqdm(total=len(jobs), desc=f"{stage} ({workers} workers)", unit="unit", disable=not progress)
        if workers <= 1:
            init_worker()
            for job in jobs:
                _job(job)
                bar.update()
        else:
            with get_context("spawn").Pool(workers, initializer=init_worker) as pool:
                for _ in pool.imap_unordered(_job, jobs):
                    bar.update()
        bar.close()
    return merge(config, planned)
