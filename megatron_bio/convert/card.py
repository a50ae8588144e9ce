"""What a release says about itself: the model card (`README.md`, with the YAML front matter the
Hugging Face hub reads) and the licence notices (`NOTICE.md`), written from the checkpoint's
lineage (`lineage.py`) and the licence table (`licences.py`). Our own text, in the layout of the
BioMatrix model cards: front matter (license, base_model, tags, pipeline_tag, library_name), what
the model is, a Quick Start, the training data by category, the evaluation, the licences.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .licences import QWEN3, UNKNOWN, SourceLicences, source_licences
from .lineage import Stage

CARD = "README.md"
NOTICE = "NOTICE.md"
TAGS = ["biology", "chemistry", "molecule", "protein", "multimodal", "biomatrix"]
NO_EVALUATION = ("No evaluation results yet: the evaluation job does not exist; a release made after it has run "
                 "passes its results file (`biomatrix convert megatron-to-hf --evaluation FILE`).")
# Per job: what the model is, the tag it adds, and the Quick Start's prompt and decoding.
JOBS = {
    "pretrain": {"kind": "base (continually pretrained)", "tag": "base", "quick_start": '''prompt = "<|mol_smi_start|>CC(=O)"  # continue a SMILES string
inputs = tokenizer(prompt, return_tensors="pt")
outputs = model.generate(**inputs, max_new_tokens=64, do_sample=False)
print(tokenizer.decode(outputs[0], skip_special_tokens=False))'''},
    "sft": {"kind": "instruction-tuned (SFT, chat)", "tag": "sft", "quick_start": '''question = "What is this molecule used for? <|mol_smi_start|>CC(=O)Oc1ccccc1C(=O)O<|mol_smi_end|>"
prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                       add_generation_prompt=True)
inputs = tokenizer(prompt, return_tensors="pt")
outputs = model.generate(**inputs, max_new_tokens=256, do_sample=False)  # stops at <|im_end|>
print(tokenizer.decode(outputs[0][inputs.input_ids.shape[1]:], skip_special_tokens=True))'''},
}


@dataclass
class Release:
    """Everything the card and the notices are written from."""

    name: str
    license: str
    base_model: Optional[str]
    job: str
    model: dict  # the checkpoint's config.model
    vocab_size: int
    parameters: int
    stages: list[Stage]
    evaluation: Optional[Path] = None
    tokenizer: bool = True  # the folder holds the tokenizer (an imported plain Qwen3 records none)

    def first_reader(self) -> dict[int, int]:
        """For each stage that read data, the first stage that read the same shards folder (a resumed
        run reads its data again: its sources are listed once)."""
        first: dict[str, int] = {}
        return {i: first.setdefault(stage.data.shards, i) for i, stage in enumerate(self.stages) if stage.data}

    def source_licences(self) -> list[tuple[Stage, SourceLicences]]:
        """Every source of every data folder that went in, with its licences."""
        return [(self.stages[i], source_licences(s.name, s.reader, s.files)) for i, first in self.first_reader().items()
                if i == first for s in self.stages[i].data.sources]

    def unknown_licences(self) -> dict[str, list[str]]:
        """What went in without an established licence: a data folder -> its sources so flagged; a
        stage whose data could not be read -> its checkpoint, with no source named (all of it)."""
        unknown: dict[str, list[str]] = {}
        for stage, s in self.source_licences():
            if s.unknown:
                unknown.setdefault(stage.data.shards, []).append(s.source)
        unknown.update({stage.checkpoint: [] for stage in self.stages if stage.data_unknown})
        return unknown


def _n(value: int) -> str:
    return f"{value:,}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows])


def front_matter(release: Release) -> dict:
    matter = {"license": release.license, "base_model": release.base_model, "library_name": "transformers",
              "pipeline_tag": "text-generation", "language": ["en"], "tags": TAGS + [JOBS[release.job]["tag"]]}
    return {k: v for k, v in matter.items() if v is not None}


def _stage_line(stage: Stage) -> str:
    if stage.job is None:
        return f"imported from the Hugging Face model `{stage.source}` (`{stage.checkpoint}`)"
    if stage.job == "unknown":
        return f"`{stage.checkpoint}`: not readable here ({stage.problem})"
    return f"{stage.job} run, checkpoint `{stage.checkpoint}`, iteration {stage.iteration}, {_n(stage.consumed_samples or 0)} samples"


def _composition(release: Release, i: int) -> str:
    stage, first = release.stages[i], release.first_reader().get(i, i)
    data = stage.data
    if data is None:
        return f"Its data could not be read here ({stage.problem}): what it trained on is {UNKNOWN}."
    if first != i:
        return f"The same data as stage {first + 1} (`{data.shards}`)."
    if data.kind == "pretraining":
        rows = [[r["category"], ", ".join(r["datasets"]), _n(r["documents"]), _n(r["tokens"]), f"{r['weight']:.4f}",
                 ", ".join(r["sources"])] for r in data.composition]
        return (f"Data build `{data.shards}` (every figure is in its manifests, copied into provenance.json):\n\n"
                + _table(["category", "datasets", "documents", "tokens", "blend weight", "sources"], rows))
    rows = [[r["category"], r["tasks"], _n(r["examples"]), _n(r["train_samples"]), _n(r["train_tokens"]),
             _n(r["train_loss_tokens"])] for r in data.composition]
    tasks = [[t["task"], t["category"], t["metric"] or "-", _n(t["examples"]), _n(t["train_samples"])] for t in data.tasks]
    return (f"SFT corpus `{data.shards}` (train samples count repeats of the mix):\n\n"
            + _table(["category", "tasks", "examples", "train samples", "train tokens", "train loss tokens"], rows)
            + "\n\nSFT tasks:\n\n" + _table(["task", "category", "metric", "examples", "train samples"], tasks))


def evaluation_section(path: Optional[Path]) -> str:
    """Without a results file, the one line that says there is none. `path`: an lm-evaluation-harness
    results file (JSON whose `results` maps a task to {"<metric>,<filter>": value,
    "<metric>_stderr,<filter>": value, "alias": ...}), the format the evaluation job will write."""
    if path is None:
        return NO_EVALUATION
    rows = []
    for task, entry in json.loads(Path(path).read_text())["results"].items():
        for key, value in entry.items():
            metric, _, chosen = key.partition(",")
            if metric == "alias" or metric.endswith("_stderr") or not isinstance(value, (int, float)):
                continue
            stderr = entry.get(f"{metric}_stderr,{chosen}")
            rows.append([task, metric, f"{value:.4f}" + (f" ± {stderr:.4f}" if isinstance(stderr, (int, float)) else "")])
    return f"From `{Path(path).name}`:\n\n" + _table(["task", "metric", "value"], rows)


def _licence_summary(release: Release) -> str:
    found = release.source_licences()
    counts = Counter(entry.licence for _, s in found for entry in s.entries if entry.licence != UNKNOWN)
    unknown = release.unknown_licences()
    lines = [f"- This model: {release.license}.", f"- Base model: {QWEN3.dataset}: {QWEN3.licence}.",
             f"- Data: {len(found)} sources; established licences: "
             + (", ".join(f"{licence} ({n})" for licence, n in sorted(counts.items())) or "none") + "."]
    if unknown:
        lines.append(f"- **Without an established licence ({UNKNOWN})**: "
                     + "; ".join(f"data `{where}`: {', '.join(names)}" if names else f"all data of `{where}` (not readable here)"
                                 for where, names in unknown.items()) + ".")
    lines.append(f"- One line per source, with its attribution and how its licence was established: {NOTICE}.")
    return "\n".join(lines)


def model_card(release: Release) -> str:
    job = JOBS[release.job]
    model, stage = release.model, release.stages[0]
    architecture = (f"Qwen3ForCausalLM: {model['num_layers']} layers, hidden {model['hidden_size']}, FFN {model['ffn_hidden_size']}, "
                    f"{model['num_attention_heads']} query heads / {model['num_query_groups']} KV heads of {model['kv_channels']}, "
                    f"{'tied' if model.get('tie_embeddings', True) else 'untied'} embeddings")
    facts = [["architecture", architecture], ["parameters", _n(release.parameters)], ["vocabulary", f"{_n(release.vocab_size)} tokens"],
             ["base model", release.base_model or "no released Qwen3 base has this shape: the Qwen3 architecture and tokenizer"],
             ["end of generation", ("`<|im_end|>` (end of the assistant's turn)" if release.job == "sft" else
                                    "`<|endoftext|>` (end of document)") if release.tokenizer else "not set: no tokenizer"],
             ["training", "<br>".join(f"{i + 1}. {_stage_line(s)}" for i, s in enumerate(release.stages))]]
    data = "\n\n".join(f"### Stage {i + 1}: {s.job}\n\n{_composition(release, i)}" for i, s in enumerate(release.stages)
                       if s.job is not None)
    parts = [
        "---\n" + yaml.safe_dump(front_matter(release), sort_keys=False) + "---",
        f"# {release.name}",
        f"A BioMatrix {job['kind'] if stage.job else 'imported'} model: one decoder-only Qwen3 network whose vocabulary "
        "holds text, molecules (SMILES, SELFIES, 3D tokens) and proteins (residues, 3D structure tokens). Exported from "
        f"the megatron-core checkpoint `{stage.checkpoint}`"
        + (f" (iteration {stage.iteration})" if stage.iteration is not None else "")
        + " by `biomatrix convert megatron-to-hf`; `transformers` loads it without remote code.",
        "## Model\n\n" + _table(["", ""], facts),
        "## Quick Start\n\n" + (
            "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f"model_name = {json.dumps(release.name)}  # this folder, or its hub id once uploaded\n"
            "tokenizer = AutoTokenizer.from_pretrained(model_name)\nmodel = AutoModelForCausalLM.from_pretrained(model_name)\n"
            f"{job['quick_start']}\n```" if release.tokenizer else
            "This folder holds no tokenizer (the checkpoint records none): export with `--tokenizer-config` to add BioMatrix's."),
        "## Training data\n\n" + (data or "None read by this stack: the weights were imported, not trained here."),
        "## Evaluation\n\n" + evaluation_section(release.evaluation),
        "## Licences\n\n" + _licence_summary(release),
        "## Provenance\n\n`provenance.json`: the code's git commit, package versions, every stage's config and data "
        "manifests, the checkpoint and its iteration. `SHA256SUMS`: every file of this folder (`sha256sum -c SHA256SUMS`).",
    ]
    return "\n\n".join(parts) + "\n"


def _source_line(s: SourceLicences) -> str:
    """`- name, reader: data set: licence. attribution (evidence)`, and what no entry covers, flagged."""
    reader = f", reader `{s.reader}`" if s.reader else ""
    known = [f"{e.dataset}: {e.licence}. {e.attribution} [licence from: {e.evidence}]" for e in s.entries]
    if s.unmatched:
        more = f" and {len(s.unmatched) - 5} more files" if len(s.unmatched) > 5 else ""
        known.append(f"{UNKNOWN}: no licence entry covers " + ", ".join(s.unmatched[:5]) + more)
    if s.unrecorded:
        known.append(f"{UNKNOWN}: its build recorded neither its input files nor a reader of one data set")
    return f"- `{s.source}`{reader}: " + "; ".join(known)


def notices(release: Release) -> str:
    parts = [f"# Notices\n\n{release.name} is released under {release.license}. It is derived from the works below; "
             "a redistribution keeps these notices and honours each licence.",
             f"## Base model\n\n- {QWEN3.dataset}: {QWEN3.licence}. {QWEN3.attribution} [licence from: {QWEN3.evidence}]",
             "## Data\n\nOne line per data source that went into the model, by training stage."]
    for i, stage in enumerate(release.stages):
        if stage.job is None:
            continue
        if stage.data is None:
            parts.append(f"### Stage {i + 1}: {stage.job} (`{stage.checkpoint}`)\n\n- its data could not be read here "
                         f"({stage.problem}): {UNKNOWN}")
            continue
        first = release.first_reader()[i]
        if first != i:
            parts.append(f"### Stage {i + 1}: {stage.job}, data `{stage.data.shards}`\n\n- the same data as stage {first + 1}")
            continue
        lines = [_source_line(source_licences(s.name, s.reader, s.files)) for s in stage.data.sources]
        parts.append(f"### Stage {i + 1}: {stage.job}, data `{stage.data.shards}`\n\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"
