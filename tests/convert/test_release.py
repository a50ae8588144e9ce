"""An export is a release: a checkpoint trained by `biomatrix pretrain` and exported by `biomatrix
convert megatron-to-hf` carries a model card whose front matter parses and whose data composition
is the build's, licence notices for every source that went in, a provenance manifest with the
repository's commit and the data manifests, and SHA256SUMS that `sha256sum -c` accepts. The SFT
card, notices and provenance are written from the real demo SFT corpus and follow the lineage
back to the pretraining checkpoint; a chat model's export stops generation at <|im_end|>."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from biomatrix_io.code_state import git_state
from biomatrix_io.config import ConfigError
from megatron_bio.convert.card import NO_EVALUATION
from megatron_bio.convert.licences import UNKNOWN, base_model, source_licences
from megatron_bio.convert.release import CHECKSUMS, EOS, job, special_tokens, write_generation_settings, write_release

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "tests" / "data" / "model_cards"
QWEN3_1P7B = {"num_layers": 28, "hidden_size": 2048, "ffn_hidden_size": 6144, "num_attention_heads": 16,
              "num_query_groups": 8, "kv_channels": 128, "tie_embeddings": True}
EVALUATION = {"results": {"bbbp": {"alias": "bbbp", "acc,none": 0.75, "acc_stderr,none": 0.02},
                          "esol": {"alias": "esol", "rmse,none": 1.25, "rmse_stderr,none": "N/A"}}}


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1"), **kwargs)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def released(shards, tmp_path_factory):
    """The tiny recipe trained 2 steps on the `shards` build, exported by the CLI with a base model
    and an evaluation results file: (export folder, report, checkpoints root)."""
    root = tmp_path_factory.mktemp("release")
    _run([sys.executable, "-m", "launch.cli", "pretrain", f"data.shards={shards}", f"output={root / 'run'}",
          "data.split=100,0,0", "validation.every=0", "schedule.train_steps=2", "schedule.warmup_steps=1",
          "tracking.enabled=false"], cwd=ROOT)
    (root / "evaluation.json").write_text(json.dumps(EVALUATION))
    done = _run([sys.executable, "-m", "launch.cli", "convert", "megatron-to-hf", "--checkpoint", str(root / "run" / "checkpoints"),
                 "--out", str(root / "BioMatrix-tiny"), "--base-model", "Qwen/Qwen3-0.6B-Base",
                 "--evaluation", str(root / "evaluation.json")], cwd=ROOT)
    return root / "BioMatrix-tiny", json.loads(done.stdout[done.stdout.index("{"):]), root / "run" / "checkpoints"


def _front_matter(card: str) -> dict:
    return yaml.safe_load(re.match(r"---\n(.*?)\n---\n", card, re.S).group(1))


def _table(card: str, header: str) -> list[dict]:
    """The rows of the card's markdown table whose header line starts with `header`, figures as ints."""
    lines = card.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    names = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows.append({n: int(c.replace(",", "")) if re.fullmatch(r"[\d,]+", c) else c for n, c in zip(names, cells)})
    return rows


def _sha256sum_check(folder: Path) -> None:
    listed = {line.split("  ", 1)[1] for line in (folder / CHECKSUMS).read_text().splitlines()}
    assert listed == {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {CHECKSUMS}
    _run(["sha256sum", "--check", "--strict", CHECKSUMS], cwd=folder)


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()


def test_a_pretraining_export_is_a_release(released, shards):
    out, report, _ = released
    release = report["release"]
    assert {release[k] for k in ("card", "notices", "provenance", "checksums")} <= set(report["files"])
    _sha256sum_check(out)
    card = (out / "README.md").read_text()
    matter = _front_matter(card)
    assert matter["license"] == "apache-2.0" and matter["base_model"] == "Qwen/Qwen3-0.6B-Base" == release["base_model"]
    assert matter["library_name"] == "transformers" and "base" in matter["tags"]
    # The data composition by category is the build's, from its blend and manifests.
    blend = yaml.safe_load((shards / "blend.yaml").read_text())
    expected: dict[str, int] = {}
    for dataset in blend["datasets"]:
        manifest = json.loads((shards / f"{dataset['prefix']}.manifest.json").read_text())
        category = dataset["prefix"].split("/")[0]
        expected[category] = expected.get(category, 0) + manifest["tokens"]
    assert {row["category"]: row["tokens"] for row in _table(card, "| category | datasets")} == expected
    assert [(r["task"], r["metric"], r["value"]) for r in _table(card, "| task | metric")] == \
        [("bbbp", "acc", "0.7500 ± 0.0200"), ("esol", "rmse", "1.2500")]
    # A base model stops at the EOD it was trained to write.
    endoftext = json.loads((out / "tokenizer.json").read_text())
    endoftext = next(t["id"] for t in endoftext["added_tokens"] if t["content"] == "<|endoftext|>")
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == endoftext
    assert json.loads((out / "tokenizer_config.json").read_text())["eos_token"] == "<|endoftext|>"


def test_every_source_has_a_licence_line(released):
    out, report, _ = released
    notices = (out / "NOTICE.md").read_text()
    assert "Apache-2.0" in notices.split("## Data")[0]  # the base model's notice
    lines = {m.group(1): m.group(0) for m in re.finditer(r"^- `([^`]+)`.*$", notices, re.M)}
    assert set(lines) == {"chebi", "genes", "swissprot"}  # the `shards` build's sources
    assert "CC-BY-3.0" in lines["chebi"] and "CC-BY-4.0" in lines["swissprot"]
    assert UNKNOWN in lines["genes"] and not any(UNKNOWN in lines[s] for s in ("chebi", "swissprot"))
    assert list(report["release"]["unknown_licences"].values()) == [["genes"]]


def test_provenance_names_the_commit_config_manifests_and_checkpoint(released, shards):
    out, _, checkpoints = released
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["exported"]["code"]["commit"] == _head()
    assert isinstance(provenance["exported"]["code"]["dirty"], bool)
    assert set(provenance["exported"]["packages"]) >= {"torch", "megatron-core", "transformers"}
    stage, = provenance["stages"]
    assert stage["checkpoint"] == str(checkpoints / "iter_0000002") and stage["iteration"] == 2 and stage["job"] == "pretrain"
    assert stage["code"]["commit"] == _head()  # the training run recorded its commit in the checkpoint
    assert stage["config"]["data"]["shards"] == str(shards) and stage["config"]["schedule"]["train_steps"] == 2
    manifests = stage["data"]["manifests"]
    assert manifests["blend.yaml"] == yaml.safe_load((shards / "blend.yaml").read_text())
    for name in [n for n in manifests if n.endswith(".manifest.json")] + ["build.json"]:
        assert manifests[name] == json.loads((shards / name).read_text())
    assert git_state(out) == {"commit": None, "dirty": None}  # not a checkout: nulls, as on a cluster's installed copy


def test_the_cards_quick_start_runs(released, tmp_path):
    out, _, _ = released
    code = re.search(r"## Quick Start\s*```python\n(.*?)```", (out / "README.md").read_text(), re.S).group(1)
    script = tmp_path / "quick_start.py"
    script.write_text(re.sub(r'model_name = "[^"]+"', f"model_name = {str(out)!r}", code))
    assert _run([sys.executable, str(script)]).stdout.startswith("<|mol_smi_start|>CC(=O)")


def test_generation_stops_at_im_end_for_a_chat_model(released, tmp_path):
    """The export's files with the SFT job's settings run the 1.7B-SFT card's Quick Start (chat
    template, greedy) from the local folder without remote code, and `generate` ends at <|im_end|>.
    32 new tokens instead of the card's 2,048: test_convert.py runs the card as written on these weights."""
    from tokenizers import Tokenizer

    out, _, _ = released
    chat = shutil.copytree(out, tmp_path / "chat")
    backend = Tokenizer.from_file(str(chat / "tokenizer.json"))
    assert job({"job": "sft"}) == "sft" and job({}) == "pretrain"  # checkpoints written before `job` existed: pretraining's
    with pytest.raises(ConfigError, match="job 'dpo'"):
        job({"job": "dpo"})
    special = write_generation_settings(chat, backend, "sft")
    assert special["eos_token_id"] == backend.token_to_id("<|im_end|>") == json.loads((chat / "generation_config.json").read_text())["eos_token_id"]
    assert special_tokens(backend, "pretrain")["eos_token_id"] == backend.token_to_id(EOS["pretrain"]) == backend.token_to_id("<|endoftext|>")
    text = (CARDS / "model-card-1.7B-SFT.md").read_text()
    code = re.search(r"## Quick Start\s*```python\n(.*?)```", text, re.S).group(1)
    code = re.sub(r'model_name = "[^"]+"', f"model_name = {str(chat)!r}", code).replace("trust_remote_code=True", "trust_remote_code=False")
    code = code.replace("max_new_tokens=2048", "max_new_tokens=32")
    script = tmp_path / "quick_start.py"
    script.write_text(code + "\nprint('EOS', model.generation_config.eos_token_id, tokenizer.eos_token)\n")
    last = _run([sys.executable, str(script)]).stdout.strip().splitlines()[-1]
    assert last == f"EOS {backend.token_to_id('<|im_end|>')} <|im_end|>"


def test_an_sft_release_from_the_real_corpus(sft_corpus, released, tmp_path):
    """Card, notices and provenance of an SFT checkpoint of the 1.7B shape that fine-tuned the
    pretraining checkpoint on the demo SFT corpus."""
    config, manifest = sft_corpus
    _, _, checkpoints = released
    shards = Path(config.out) / "shards"
    common = {"job": "sft", "iteration": 3, "consumed_samples": 6, "vocab_size": 157_308,
              "config": {"model": QWEN3_1P7B, "data": {"shards": str(shards)}, "checkpoint": {"init_from": str(checkpoints)}}}
    out = tmp_path / "BioMatrix-1.7B-SFT"
    out.mkdir()
    report = write_release(out, tmp_path / "sft" / "iter_0000003", common, parameters=1_700_000_000, export={})
    _sha256sum_check(out)
    card = (out / "README.md").read_text()
    matter = _front_matter(card)
    assert matter["base_model"] == "Qwen/Qwen3-1.7B-Base" == base_model(QWEN3_1P7B) and matter["license"] == "apache-2.0"
    assert "sft" in matter["tags"] and NO_EVALUATION in card
    expected: dict[str, dict] = {}
    for task in manifest["tasks"]:
        row = expected.setdefault(task["category"], {"tasks": 0, "examples": 0, "train samples": 0})
        counts = manifest["per_task"][task["name"]]
        row["tasks"] += 1
        row["examples"] += counts["examples"]
        row["train samples"] += counts["samples"].get("train", 0)
    found = {r["category"]: {k: r[k] for k in ("tasks", "examples", "train samples")} for r in _table(card, "| category | tasks")}
    assert found == expected and len(expected) >= 6
    assert [r["task"] for r in _table(card, "| task | category | metric")] == [t["name"] for t in manifest["tasks"]]
    # Notices: every SFT source, then the pretraining stage it started from (followed by checkpoint.init_from).
    notices = (out / "NOTICE.md").read_text()
    sft_part, pretraining_part = notices.split("### Stage 2: pretrain")
    lines = {m.group(1): m.group(0) for m in re.finditer(r"^- `([^`]+)`.*$", sft_part, re.M)}
    assert set(lines) == set(manifest["sources"])
    for name, entry in manifest["sources"].items():
        licences = source_licences(name, entry["reader"], entry["files"])
        assert entry["files"] and licences.entries and not licences.unmatched, name  # every source is in the table
        assert (UNKNOWN in lines[name]) is licences.unknown  # only a data set whose licence is not stated
        assert all(e.licence in lines[name] for e in licences.entries)
    assert re.search(r"^- `chebi`.*CC-BY-3\.0", pretraining_part, re.M)
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["exported"]["code"]["commit"] == _head()
    first, second = provenance["stages"]
    assert first["job"] == "sft" and first["iteration"] == 3 and first["data"]["manifests"]["manifest.json"] == manifest
    assert second["checkpoint"] == str(checkpoints / "iter_0000002") and second["job"] == "pretrain"
    assert report["job"] == "sft" and report["unknown_licences"] == provenance["unknown_licences"]


def test_a_source_without_a_table_entry_is_unknown_never_dropped(tmp_path):
    """A user's own FASTA (real sequences) built into shards, and a stage whose checkpoint is gone:
    both are in the notices as unknown."""
    from data_pipeline.build import build
    from data_pipeline.config import DataConfig
    from biomatrix_io.config import from_dict
    from biomatrix_io.readers.packaged import pyrodigal_protein_fastas

    with gzip.open(pyrodigal_protein_fastas()[0], "rt") as handle:
        records = handle.read().split(">")[1:6]
    fasta = tmp_path / "my_proteins.fasta"
    fasta.write_text("".join(">" + r for r in records))
    config = from_dict(DataConfig, {"out": str(tmp_path / "build"), "records_per_unit": 10,
                                    "sources": {"mine": {"reader": "fasta", "paths": [str(fasta)]}}})
    build(config, workers=1, progress=False)
    assert source_licences("mine", "fasta", [str(fasta)]).unmatched == [str(fasta)]
    common = {"job": "pretrain", "iteration": 1, "consumed_samples": 8, "vocab_size": 157_308,
              "config": {"model": QWEN3_1P7B, "data": {"shards": str(tmp_path / "build" / "shards")},
                         "checkpoint": {"init_from": str(tmp_path / "gone")}}}
    out = tmp_path / "release"
    out.mkdir()
    report = write_release(out, tmp_path / "run" / "iter_0000001", common, parameters=1, export={})
    notices = (out / "NOTICE.md").read_text()
    assert re.search(rf"^- `mine`: {re.escape(UNKNOWN)}: no licence entry covers {re.escape(str(fasta))}$",
                     notices, re.M)
    assert "its data could not be read here" in notices.split("### Stage 2")[1]
    assert report["unknown_licences"] == {str(tmp_path / "build" / "shards"): ["mine"], str(tmp_path / "gone"): []}
    summary = next(line for line in (out / "README.md").read_text().splitlines() if "Without an established licence" in line)
    assert "shards`: mine" in summary and "gone` (not readable here)" in summary


def test_the_licence_table_covers_every_packaged_data_set():
    """Every data set the install fetches (`packaged:NAME`) has an entry: its licence, or UNKNOWN on purpose."""
    import inspect

    from biomatrix_io.readers import packaged

    locators = [f for name, f in inspect.getmembers(packaged, inspect.isfunction)
                if f.__module__ == packaged.__name__ and not name.startswith("_") and not inspect.signature(f).parameters]
    assert len(locators) >= 20
    for locate in locators:
        found = locate()
        licences = source_licences(locate.__name__, None, [str(p) for p in (found if isinstance(found, list) else [found])])
        assert licences.entries and not licences.unmatched, locate.__name__


def test_a_resumed_run_lists_its_data_once(released, shards, tmp_path):
    """A checkpoint of a run resumed from the pretraining checkpoint (checkpoint.load) on the same
    build: two stages, one data folder, each source once."""
    _, _, checkpoints = released
    common = {"job": "pretrain", "iteration": 4, "consumed_samples": 32, "vocab_size": 157_308,
              "config": {"model": QWEN3_1P7B, "data": {"shards": str(shards)}, "checkpoint": {"load": str(checkpoints)}}}
    out = tmp_path / "resumed"
    out.mkdir()
    report = write_release(out, tmp_path / "run" / "iter_0000004", common, parameters=1, export={})
    notices = (out / "NOTICE.md").read_text()
    assert sorted(re.findall(r"^- `([^`]+)`", notices, re.M)) == ["chebi", "genes", "swissprot"]
    assert "- the same data as stage 1" in notices.split("### Stage 2: pretrain")[1]
    assert "The same data as stage 1" in (out / "README.md").read_text()
    assert report["unknown_licences"] == {str(shards): ["genes"]}
