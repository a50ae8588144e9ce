"""The evaluation job on lm-evaluation-harness, run as users run it: the suite's task folder is
the table's, an oracle scores perfectly where a reference exists and a shuffled one does not,
constrained decoding gives well-formed structures from a tiny random model where unconstrained
decoding does not, a killed run resumes to the uninterrupted samples (greedy and sampled), a cached
answer never reaches another model, bad completions are counted, the report and mlflow hold the
figures, and the stock `lm_eval` CLI runs a task with its plain `hf` model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evals.job import EvalRun, run_evaluation
from evals.metrics.registry import PAIRS, find
from evals.suite import by_name, suite_tasks
from evals.task_files import FOLDER, check_folder, rendered
from evals.task_functions import aggregate, extract_answers, process_results, read_test_records, records_file
from launch import cli

ROOT = Path(__file__).resolve().parents[2]
BIOMATRIX = [sys.executable, "-m", "launch.cli"]
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def corpus(sft_corpus) -> Path:
    config, _ = sft_corpus
    return Path(config.out)


def _run(out: Path, corpus: Path, **options) -> dict:
    options.setdefault("tracking", False)
    return run_evaluation(EvalRun(out=str(out), data=str(corpus), **options))


def _samples(out: Path) -> dict[tuple[str, int], list]:
    """(task, doc id) -> the filtered answers of each sample lm-eval logged."""
    found = {}
    for path in (out / "lm_eval").rglob("samples_*.jsonl"):
        task = path.name[len("samples_"):].rsplit("_", 1)[0]
        for line in path.read_text().splitlines():
            sample = json.loads(line)
            logged = sample["filtered_resps"]  # one list of repeats per request
            found[(task, sample["doc_id"])] = [a for r in logged for a in (r if isinstance(r, list) else [r])]
    return found


# The task folder -----------------------------------------------------------------------------------
def test_the_task_folder_is_the_suite_table_and_every_sft_task_has_a_task():
    from data_pipeline.sft.tasks import by_task

    on_disk = {p.name: p.read_text() for p in FOLDER.iterdir() if p.name != "utils.py" and p.is_file()}
    assert on_disk == rendered(), "evals/tasks/ differs from evals/suite.py: run `biomatrix eval tasks --write`"
    assert sorted(t.task for t in suite_tasks()) == sorted(by_task())
    assert sorted(check_folder()) == sorted(by_name())


@pytest.mark.parametrize("edit, named", [
    (lambda text: text + "temprature: 0.7\n", "unknown field temprature"),
    (lambda text: text.replace("metric: exact_match", "metric: exact_macth", 1), "unknown metric 'exact_macth'"),
])
def test_a_task_file_lm_eval_would_misread_is_refused_with_its_name(tmp_path, edit, named, capsys):
    folder = tmp_path / "tasks"
    shutil.copytree(FOLDER, folder)
    path = folder / "name_conversion_i2s.smiles.yaml"
    path.write_text(edit(path.read_text()))
    from biomatrix_io.config import ConfigError

    with pytest.raises(ConfigError, match=named) as error:
        check_folder(folder)
    assert str(path) in str(error.value)


def test_a_missing_data_file_is_one_line_naming_the_task_and_the_path(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "run", "--backend", "oracle", "--tasks", "protein_folding", "--data", str(tmp_path),
                  "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1
    assert "protein_folding" in err[0] and str(records_file(tmp_path, "protein_folding")) in err[0]


# Oracle ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def oracle_runs(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle")
    cheap = {"train_size": 300}  # the QM9 property stand-in's regressor: 300 molecules, not a QM9 half
    exact = _run(out / "exact", corpus, tasks=["biomatrix"], backend="oracle", limit=6, tracking=True, metric_options=cheap)
    shuffled = _run(out / "shuffled", corpus, tasks=["biomatrix"], backend="oracle", limit=6,
                    model_args={"shuffle": True}, metric_options=cheap)
    return out, exact, shuffled


def _reference_scores(task_name: str):
    """Scores that compare an answer with its reference (not stand-ins, not distributions): the
    gold answer must reach their best value."""
    for score in by_name()[task_name].scoring.scores:
        metric = find(score.metric)
        if metric.kind == PAIRS and metric.comparable:
            yield score, 1.0 if score.higher_is_better else 0.0


def test_an_oracle_scores_perfectly_on_every_task_and_a_shuffled_one_scores_low(oracle_runs, corpus):
    _, exact, shuffled = oracle_runs
    assert len(exact["results"]) >= 60, "the demo corpus has test records for nearly every task"
    primaries = []
    for name, figures in exact["results"].items():
        assert figures["no_answer,answer"] == 0.0, name
        for score, best in _reference_scores(name):
            assert figures[f"{score.name},answer"] == pytest.approx(best, abs=0.01), (name, score.name)
        first = next(_reference_scores(name), None)
        if first is None or not first[0].higher_is_better:
            continue
        docs, _ = read_test_records(records_file(corpus, by_name()[name].task))
        if len({d["answer"] for d in docs[:6]}) > 1:
            primaries.append(shuffled["results"][name][f"{first[0].name},answer"])
    assert len(primaries) >= 30 and sum(primaries) / len(primaries) < 0.5
    assert sum(p < 1.0 for p in primaries) >= 0.8 * len(primaries)  # an edit may fit another record's input too


def test_the_report_and_mlflow_hold_every_task_with_the_reported_numbers(oracle_runs):
    out, exact, _ = oracle_runs
    report = (out / "exact" / "report.md").read_text()
    for category in ("molecule_1d", "molecule_3d", "protein_1d", "protein_3d", "interaction", "text", "nucleic"):
        assert f"## {category}" in report and (out / "exact" / "plots" / f"{category}.png").stat().st_size > 0
    assert "| name_conversion_i2s.smiles | exact_match | 100.00 | 87.22 | 92.83 | 84.40 (SciReasoner-8B) |" in report
    assert "| dna_back_translation | validity | 1.000 | none published | none published | BSM: none at hand |" in report
    assert "No published BioMatrix number exists for these tasks: the BioMatrix report has no DNA or RNA task." in report
    assert "(stand-in)" in report and "official test set" in report
    import mlflow

    run = mlflow.MlflowClient(f"sqlite:///{out / 'exact'}/mlflow.db").get_run(exact["mlflow_run_id"])
    assert run.data.metrics["biomatrix_protein_folding/tm_score"] == pytest.approx(1.0)
    assert len([k for k in run.data.metrics if k.endswith("/no_answer")]) == len(exact["results"])


# Bad completions ---------------------------------------------------------------------------------
def test_bad_completions_are_counted_as_invalid_or_no_answer_never_fatal(corpus):
    cases = {  # task -> completions a model may give
        "protein_folding": ["", "garbage", "<|prot_3d_start|><S_1><S_2>", "<|prot_aa_start|><A_M><|prot_aa_end|>",
                            "<|prot_3d_start|><S_1>oops<S_2><|prot_3d_end|>", "<|prot_3d_start|><S_1><|prot_3d_end|>"],
        "text_to_molecule.smiles": ["", "<|mol_smi_start|>C1CC<|mol_smi_end|>", "<|mol_sfi_start|>[C]<|mol_sfi_end|>",
                                    "<|mol_smi_start|>" + "C" * 5000, "<|mol_smi_start|>CCO<|mol_smi_end|>", "nan"],
        "property_solubility.smiles": ["nan", "", "about three", "inf", "-1.5", "<|mol_smi_start|>C<|mol_smi_end|>"],
    }
    for task, completions in cases.items():
        entry = next(t for t in suite_tasks() if t.task == task)
        docs, _ = read_test_records(records_file(corpus, task))
        docs = (docs * len(completions))[:len(completions)]
        answers = extract_answers([[c] for c in completions], docs)
        per_sample = [process_results(doc, [answer]) for doc, answer in zip(docs, answers)]
        no_answer = sum(s["no_answer"] for s in per_sample) / len(per_sample)
        figures = {score.name: aggregate([s[score.name] for s in per_sample]) for score in entry.scoring.scores}
        assert 0 < no_answer < 1, task
        assert figures.get("invalid", 0) > 0, (task, figures)
    molecule_docs, _ = read_test_records(records_file(corpus, "text_to_molecule.smiles"))
    assert extract_answers([["<|mol_smi_start|>" + "C" * 5000]], molecule_docs[:1]) == [[""]]  # never closed


# Constrained decoding, resume, cache --------------------------------------------------------------
STRUCTURED = ["protein_folding", "protein_inverse_folding", "text_to_molecule.selfies"]


def test_constrained_decoding_gives_well_formed_structures_where_unconstrained_does_not(tiny_hf_model, corpus, tmp_path):
    on = _run(tmp_path / "on", corpus, tasks=[*STRUCTURED, "dna_reverse_complement"], model=str(tiny_hf_model), limit=2,
              batch_size=2)
    off = _run(tmp_path / "off", corpus, tasks=STRUCTURED[1:], model=str(tiny_hf_model), limit=2, batch_size=2,
               constrain="off")
    assert not any(off["constrained"].values())
    for task in ("biomatrix_protein_folding", "biomatrix_protein_inverse_folding"):
        assert on["constrained"][task]
        figures = on["results"][task]
        assert (figures["no_answer,answer"], figures["invalid,answer"], figures["wrong_length,answer"]) == (0, 0, 0)
    assert on["results"]["biomatrix_text_to_molecule.selfies"]["no_answer,answer"] == 0
    complements = on["results"]["biomatrix_dna_reverse_complement"]  # the prompt's length, nucleotides only
    assert on["constrained"]["biomatrix_dna_reverse_complement"]
    assert (complements["no_answer,answer"], complements["invalid,answer"]) == (0, 0)
    docs, _ = read_test_records(records_file(corpus, "dna_reverse_complement"))
    logged = [a for (task, doc), answers in _samples(tmp_path / "on").items() if task.endswith("reverse_complement")
              for a in answers]
    assert sorted(map(len, logged)) == sorted(5 * (len(doc["target"])) for doc in docs[:2])  # <N_X> = 5 characters
    import selfies

    answers = [a for (task, _), logged in _samples(tmp_path / "on").items() if task.endswith("selfies") for a in logged]
    assert len(answers) == 2 and all(selfies.decoder(a) is not None for a in answers)  # decodable (not always chemical)
    assert all(off["results"][task]["no_answer,answer"] + off["results"][task].get("invalid,answer", 0) > 0
               for task in off["results"])


RESUMED = ["protein_inverse_folding", "unconditional_generation.selfies"]  # greedy and sampled


def _cli_run(out: Path, corpus: Path, model: Path) -> subprocess.Popen:
    return subprocess.Popen([*BIOMATRIX, "eval", "run", "--model", str(model), "--tasks", ",".join(RESUMED),
                             "--data", str(corpus), "--out", str(out), "--limit", "2", "--batch-size", "1",
                             "--no-tracking"], cwd=ROOT, env=OFFLINE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _cached(out: Path) -> int:
    path = out / "cache" / "requests.db"
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(path) as db:
            return db.execute("select count(*) from unnamed").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_rerun_gives_the_uninterrupted_samples_greedy_and_sampled(tiny_hf_model, corpus, tmp_path):
    whole = _cli_run(tmp_path / "whole", corpus, tiny_hf_model)
    killed = _cli_run(tmp_path / "killed", corpus, tiny_hf_model)
    deadline = time.time() + 240
    while _cached(tmp_path / "killed") < 1 and killed.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert killed.poll() is None, f"the run ended before it could be killed: {killed.stderr.read()[-2000:]}"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    done_before = _cached(tmp_path / "killed")
    assert 1 <= done_before < 4
    rerun = _cli_run(tmp_path / "killed", corpus, tiny_hf_model)
    assert rerun.wait() == 0 and whole.wait() == 0, rerun.stderr.read()[-2000:] + whole.stderr.read()[-2000:]
    assert _cached(tmp_path / "killed") == 4
    expected = _samples(tmp_path / "whole")
    assert len(expected) == 4 and _samples(tmp_path / "killed") == expected


def test_a_cached_answer_is_never_served_to_another_model(tiny_hf_model, corpus, tmp_path):
    other = tmp_path / "other_model"
    shutil.copytree(tiny_hf_model, other)
    from safetensors.torch import load_file, save_file

    weights = load_file(other / "model.safetensors")
    weights = {name: tensor.flip(0) if tensor.ndim == 2 else tensor for name, tensor in weights.items()}
    save_file(weights, other / "model.safetensors", metadata={"format": "pt"})
    task = ["protein_inverse_folding"]
    _run(tmp_path / "shared", corpus, tasks=task, model=str(tiny_hf_model), limit=2)
    _run(tmp_path / "shared", corpus, tasks=task, model=str(other), limit=2)
    _run(tmp_path / "fresh", corpus, tasks=task, model=str(other), limit=2)
    assert _cached(tmp_path / "shared") == 4
    latest = {}
    for path in sorted((tmp_path / "shared" / "lm_eval").rglob("samples_*.jsonl"), key=lambda p: p.stat().st_mtime):
        latest = {json.loads(line)["doc_id"]: json.loads(line)["filtered_resps"][0] for line in path.read_text().splitlines()}
    fresh = {key[1]: value for key, value in _samples(tmp_path / "fresh").items()}
    assert latest == fresh


# The stock harness ------------------------------------------------------------------------------
def test_stock_lm_eval_runs_a_suite_task_with_its_plain_hf_model(tiny_hf_model, corpus, tmp_path):
    lm_eval = Path(sys.executable).with_name("lm_eval")
    done = subprocess.run([str(lm_eval), "--model", "hf", "--model_args", f"pretrained={tiny_hf_model}",
                           "--tasks", "biomatrix_go_term_definition", "--include_path", str(FOLDER), "--limit", "1",
                           "--apply_chat_template", "--metadata", json.dumps({"data_dir": str(corpus)}),
                           "--output_path", str(tmp_path), "--log_samples", "--gen_kwargs", "max_gen_toks=16"],
                          cwd=tmp_path, env=OFFLINE, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())["results"]
    assert set(results["biomatrix_go_term_definition"]) >= {"rougeL,answer", "no_answer,answer", "alias"}
    assert next(tmp_path.rglob("samples_biomatrix_go_term_definition_*.jsonl")).read_text().strip()
