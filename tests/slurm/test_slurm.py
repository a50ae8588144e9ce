"""Every stage as a real Slurm job on the local cluster: the sharding arrays give the local
executor's bytes; a 2-task srun job trains at TP=2; a job preempted mid-run checkpoints, requeues
itself, resumes and ends on the uninterrupted run's loss; the evaluation splits its task groups
over an array and merges the parts into one report; the pipeline takes raw data through TP=2
pretraining, an SFT corpus and an SFT job started from that run's checkpoint to an HF directory
transformers loads and to its evaluation report, and a failing stage cancels its dependents.
Rendered scripts (no cluster needed): every Python call is an srun step in the container; a dry
run shows each script, what each job reads from the stages before it, and the afterok chain, and
writes nothing."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from slurm.environment import first_host, torch_distributed_env

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
SOURCES = {
    "chebi": {"reader": "chebi_obo", "paths": ["packaged:chebi_obo"], "limit": 300},
    "genes": {"reader": "fasta", "paths": ["packaged:pyrodigal_protein_fastas"], "limit": 200},
    "swissprot": {"reader": "swissprot", "paths": ["packaged:emboss_swissprot"], "limit": 3},
}
STEPS = 12
# A small SFT corpus for the pipeline (two task families, two units per array, packs of <= 256 tokens)
SFT_DATA = {"records_per_unit": 100, "sequence_length": 256,
            "sources": {"chebi": {"reader": "chebi_obo", "paths": ["packaged:chebi_obo"], "limit": 60},
                        "freesolv": {"reader": "freesolv", "paths": ["packaged:freesolv_csv"], "limit": 40}},
            "tasks": {"molecule_captioning": {"sources": ["chebi"]}, "name_conversion_i2s": {"sources": ["freesolv"]}}}
SFT_STEPS = 3
EVAL = ["--set", "eval.limit=1", "--set", "eval.tracking=false"]  # one record per task; no mlflow in tests


def _run_biomatrix(*arguments: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "launch.cli", *arguments], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _biomatrix(*arguments: str) -> dict:
    return json.loads(_run_biomatrix(*arguments).stdout.strip().splitlines()[-1])


def _job(job_id: str) -> dict:
    text = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", text))


def _wait(job_id: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(job_id)
        if job["JobState"] in TERMINAL:
            return job
        time.sleep(0.5)
    subprocess.run(["scancel", job_id])
    raise AssertionError(f"job {job_id} still {job['JobState']} after {timeout} s")


def _log(job: dict) -> str:
    return Path(job["StdOut"]).read_text()


def _losses(log: str) -> dict[int, float]:
    records = [json.loads(line) for line in log.splitlines() if line.startswith('{"step"') and '"loss"' in line]
    return {r["step"]: r["loss"] for r in records}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"out": str(root / "local"), "records_per_unit": 200, "sources": SOURCES}))
    (root / "sft_data.yaml").write_text(yaml.safe_dump({"out": str(root / "sft_local"), **SFT_DATA}))
    return root, data


def _settings(root: Path, data: Path, name: str, *pretrain: str, sft: tuple[str, ...] = ()) -> list[str]:
    """Every stage of run `name` under root/name; SFT: a few steps at 256 tokens (the corpora's packs fit)."""
    overrides = [f"output={root / name}", "data.split=100,0,0", "validation.every=0", f"schedule.train_steps={STEPS}",
                 "parallel.tensor=2", *pretrain]
    fine_tuning = [f"output={root / name / 'sft'}", "sequence_length=256", f"schedule.train_steps={SFT_STEPS}",
                   "schedule.warmup_steps=1", "validation.every=0", "validation.at_start=false", "parallel.tensor=2", *sft]
    return ["--set", f"cluster.folder={root / 'slurm'}", "--set", f"shard.config={data}",
            "--set", f"shard.overrides=[out={root / name / 'data'}]", "--set", f"pretrain.overrides={json.dumps(overrides)}",
            "--set", f"sft_data.config={root / 'sft_data.yaml'}", "--set", f"sft_data.overrides=[out={root / name / 'sft_data'}]",
            "--set", f"sft.overrides={json.dumps(fine_tuning)}"]


def test_slurm_variables_become_torch_distributed_ones(cluster):
    variables = torch_distributed_env({"SLURM_JOB_ID": "123456", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_STEP_ID": "0",
                                       "SLURM_PROCID": "9", "SLURM_LOCALID": "1", "SLURM_NTASKS": "16"})
    assert variables == {"MASTER_ADDR": "gpu07", "MASTER_PORT": str(15000 + 123456 % 20000), "RANK": "9",
                         "LOCAL_RANK": "1", "WORLD_SIZE": "16"}
    # the first host as Slurm's own expansion gives it (the tasks, in a container, have no scontrol)
    for nodelist in ("gpu[07-08]", "node[01-04],gpu7", "gpu7,node[01-04]", "rack[2-3]-n[08-09,11]", "x[000-002]",
                     "n[5,3]", "login-1", "a[1],b[2-3]"):
        expanded = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                                  check=True).stdout.split()
        assert first_host(nodelist) == expanded[0], nodelist


PYTHON = "/opt/venv/bin/python3"  # the container's interpreter: a word no other part of a script holds
CONTAINER = ("--container-image=nvcr.io/nvidia/pytorch:25.09-py3 --container-mounts=/lustre:/lustre "
             "--container-workdir=/lustre/biomatrix/megatron-bio")  # h100.yaml's


def _rendered(root: Path, data: Path, *overrides: str) -> list:
    from biomatrix_io.config import load_config
    from slurm import jobs

    config = load_config(jobs.SlurmConfig, ROOT / "launch/configs/slurm/h100.yaml",
                         [f"cluster.folder={root / 'rendered'}", f"cluster.python={PYTHON}", f"shard.config={data}",
                          f"shard.overrides=[out={root / 'rendered'}]", *overrides])
    return [*jobs.array_build_scripts(config), *(jobs.training_script(config, stage) for stage in ("pretrain", "sft")),
            jobs.convert_script(config), *jobs.eval_scripts(config)]


def test_rendered_scripts_carry_the_cluster_settings_and_run_python_only_in_the_container(workspace):
    root, data = workspace
    scripts = {f"{s.name} ({launcher})": s.text for launcher in ("srun", "torchrun")
               for s in _rendered(root, data, f"pretrain.launcher={launcher}", f"sft.launcher={launcher}")}
    step = re.compile(rf"srun(?: --[\w-]+=\S+)* {re.escape(CONTAINER)} {re.escape(PYTHON)} -m "
                      r"(launch\.cli|slurm\.environment|torch\.distributed\.run(?: --\S+)* -m launch\.cli)\b")
    calls = {}
    for name, text in scripts.items():
        commands = [line for line in text.splitlines() if not line.startswith("#")]
        calls[name] = [module.split()[0] for line in commands for module in step.findall(line)]
        outside = [line for line in commands if re.search(r"python|-m [\w.]+", step.sub("", line))]
        assert not outside, (name, outside)
    one = ["launch.cli"]
    assert calls == {**{f"biomatrix-{stage} ({launcher})": one
                        for stage in ("normalize", "compose", "merge", "convert", "eval", "eval-merge")
                        for launcher in ("srun", "torchrun")},
                     **{f"biomatrix-{stage} (srun)": ["launch.cli", "launch.cli"]  # the progress check, the trainers
                        for stage in ("pretrain", "sft")},
                     **{f"biomatrix-{stage} (torchrun)": ["launch.cli", "slurm.environment", "torch.distributed.run"]
                        for stage in ("pretrain", "sft")}}
    for stage, nodes in (("pretrain", 4), ("sft", 2)):
        for line in (f"#SBATCH --nodes={nodes}", "#SBATCH --gpus-per-node=8", "#SBATCH --ntasks-per-node=1",
                     "#SBATCH --partition=gpu", "#SBATCH --account=my-account", "#SBATCH --qos=normal",
                     "#SBATCH --signal=TERM@600", "#SBATCH --requeue", "#SBATCH --exclusive", "--nproc_per_node=8",
                     "export CUDA_DEVICE_MAX_CONNECTIONS=1", "scontrol requeue", f"-m launch.cli {stage} --config",
                     f"launch/configs/{stage}_1p7b.yaml"):
            assert line in scripts[f"biomatrix-{stage} (torchrun)"], (stage, line)
    # the evaluation: one GPU per array task (a task group each); its merge reads files, on no GPU
    assert "#SBATCH --gpus-per-node=1" in scripts["biomatrix-eval (srun)"] and "#SBATCH --array=0-5" in scripts["biomatrix-eval (srun)"]
    assert "--gpus-per-node" not in scripts["biomatrix-eval-merge (srun)"]


PIPELINE = ["biomatrix-normalize", "biomatrix-compose", "biomatrix-merge", "biomatrix-pretrain",
            "biomatrix-sft-data-normalize", "biomatrix-sft-data-examples", "biomatrix-sft-data-splits",
            "biomatrix-sft-data-samples", "biomatrix-sft-data-merge", "biomatrix-sft", "biomatrix-convert",
            "biomatrix-eval", "biomatrix-eval-merge"]
ARRAYS = {"biomatrix-normalize", "biomatrix-compose", "biomatrix-sft-data-normalize", "biomatrix-sft-data-examples",
          "biomatrix-sft-data-samples", "biomatrix-eval"}
HEADER = r"^#### (\S+)( \[array 0-\d+(?:%\d+)?\])?(?: \(after: (\S+)\))? -> would be written to (\S+)$"


def _dry_run(capsys, *arguments: str) -> dict[str, str]:
    """`biomatrix slurm ... --dry-run`: each script's text by its job name (and the whole output as "")."""
    from launch.cli import main

    assert main(["slurm", *arguments, "--dry-run"]) == 0
    out = capsys.readouterr().out
    pieces = re.split(HEADER, out, flags=re.M)
    return {"": out, **dict(zip(pieces[1::5], pieces[5::5]))}


def _trainers(script: str) -> str:
    (line,) = [line for line in script.splitlines() if line.startswith("srun --kill-on-bad-exit=1 ")]
    return line


def test_a_dry_run_shows_each_script_what_it_reads_and_the_afterok_chain_and_writes_nothing(workspace, capsys):
    root, data = workspace
    folder = root / "dry-run"
    settings = ["--config", str(ROOT / "launch/configs/slurm/local.yaml"), "--set", f"cluster.folder={folder}",
                "--set", f"shard.config={data}", "--set", f"shard.overrides=[out={root / 'rendered'}]",
                "--set", f"sft_data.config={root / 'sft_data.yaml'}", "--set", f"sft_data.overrides=[out={root / 'rendered-sft'}]"]
    scripts = _dry_run(capsys, "pipeline", *settings)
    out = scripts[""]
    headers = re.findall(HEADER, out, re.M)
    assert [(h[0], bool(h[1]), h[2], h[3]) for h in headers] == [
        (name, name in ARRAYS, after, str(folder / "scripts" / f"{name}-<time>.sbatch"))
        for name, after in zip(PIPELINE, ["", *PIPELINE])]
    assert out.count("#!/bin/bash") == len(PIPELINE) and out.count("scontrol requeue") == 2  # pretrain, sft
    assert out.splitlines()[-2].startswith("#### dependency graph") and "afterok" in out.splitlines()[-2]
    assert out.splitlines()[-1] == " -> ".join(h[0] + h[1] for h in headers)
    # each training job reads what the stages before it wrote (local.yaml's outputs); convert exports the SFT run
    assert f"-m launch.cli pretrain --config launch/configs/tiny.yaml data.shards={root / 'rendered' / 'shards'} " \
        in _trainers(scripts["biomatrix-pretrain"])
    assert _trainers(scripts["biomatrix-sft"]).endswith(
        f"-m launch.cli sft --config launch/configs/sft_tiny.yaml checkpoint.init_from=out/pretrain/slurm-tiny/checkpoints "
        f"data.shards={root / 'rendered-sft' / 'shards'} parallel.tensor=2 output=out/sft/slurm-tiny")
    assert "convert megatron-to-hf --checkpoint out/sft/slurm-tiny/checkpoints --out out/sft/slurm-tiny/hf " \
        in scripts["biomatrix-convert"]
    # eval scores that export on the SFT corpus's test records, a category per array task, into one report
    categories = ["molecule_1d", "molecule_3d", "protein_1d", "protein_3d", "interaction", "text"]
    assert f"groups=({' '.join(categories)})" in scripts["biomatrix-eval"]
    assert (f'eval run --tasks "${{group}}" --out out/sft/slurm-tiny/eval/parts/"${{group}}" --model out/sft/slurm-tiny/hf '
            f"--data {root / 'rendered-sft'} --backend hf --batch-size 8 --limit 2 --metric-option=train_size=2000 --no-tracking") in scripts["biomatrix-eval"]
    assert " eval merge " + " ".join(f"out/sft/slurm-tiny/eval/parts/{c}" for c in categories) + \
        " --out out/sft/slurm-tiny/eval\n" in scripts["biomatrix-eval-merge"]
    assert not folder.exists()  # neither scripts nor logs: nothing was submitted
    # the SFT job's own overrides win over what the pipeline derives, and convert follows its output
    scripts = _dry_run(capsys, "pipeline", *settings, "--set", "sft.overrides=[checkpoint.init_from=/base/hf, output=/runs/sft]")
    assert _trainers(scripts["biomatrix-sft"]).endswith(
        f"sft_tiny.yaml data.shards={root / 'rendered-sft' / 'shards'} checkpoint.init_from=/base/hf output=/runs/sft")
    assert "--checkpoint /runs/sft/checkpoints --out /runs/sft/hf " in scripts["biomatrix-convert"]
    assert '--out /runs/sft/eval/parts/"${group}" --model /runs/sft/hf ' in scripts["biomatrix-eval"]
    # one stage alone; convert exports the run `convert.run` names: SFT's unless told otherwise
    for run in ("sft", "pretrain"):
        out = _dry_run(capsys, "submit", "convert", "--after", "4242", *settings, "--set", f"convert.run={run}")[""]
        assert out.startswith("#### biomatrix-convert (after: job 4242) -> would be written to ")
        assert out.splitlines()[-1] == "job 4242 -> biomatrix-convert"
        assert f"--checkpoint out/{run}/slurm-tiny/checkpoints --out out/{run}/slurm-tiny/hf " in out
    # eval alone: a checkpoint (each array task exports it), its own groups; a group that is not the
    # suite's is one line at submission, naming the key
    scripts = _dry_run(capsys, "submit", "eval", *settings, "--set", "eval.checkpoint=/runs/x/checkpoints",
                       "--set", "eval.groups=[text, 'protein_folding,protein_inverse_folding']", "--set", "eval.max_parallel=1")
    assert scripts[""].splitlines()[-1] == "biomatrix-eval [array 0-1%1] -> biomatrix-eval-merge"
    assert "groups=(text protein_folding,protein_inverse_folding)" in scripts["biomatrix-eval"]
    assert '--out /runs/x/eval/parts/"${group}" --checkpoint /runs/x/checkpoints ' in scripts["biomatrix-eval"]
    from launch.cli import main

    with pytest.raises(SystemExit):
        main(["slurm", "submit", "eval", *settings, "--set", "eval.groups=[text, protein_fold]", "--dry-run"])
    error = capsys.readouterr().err
    assert error.startswith("biomatrix: error: eval.groups: protein_fold is no category") and error.count("\n") == 1


@pytest.fixture(scope="module")
def shards(workspace, cluster):
    """The small corpus built by the three sharding jobs (normalize array, compose array, merge)."""
    root, data = workspace
    done = _run_biomatrix("slurm", "submit", "shard", "--config", str(ROOT / "launch/configs/slurm/local.yaml"),
                          *_settings(root, data, "sharded"))
    jobs = json.loads(done.stdout.strip().splitlines()[-1])["jobs"]
    written = dict(re.findall(r"^  job (\d+): (\S+)$", done.stderr, re.M))  # the report: each job's script, the logs
    assert list(written) == list(jobs.values()) and f"logs: {root / 'slurm' / 'logs'}/" in done.stderr
    assert [Path(path).parent for path in written.values()] == [root / "slurm" / "scripts"] * 3
    assert all(f"#SBATCH --job-name={name}" in Path(path).read_text() for name, path in zip(jobs, written.values()))
    states = {name: _wait(job)["JobState"] for name, job in jobs.items()}
    assert states == {"biomatrix-normalize": "COMPLETED", "biomatrix-compose": "COMPLETED", "biomatrix-merge": "COMPLETED"}
    return root / "sharded" / "data" / "shards"


def test_sharding_arrays_give_the_local_executors_bytes(workspace, shards):
    from data_pipeline.build import build
    from data_pipeline.config import DataConfig
    from biomatrix_io.config import load_config

    root, data = workspace
    build(load_config(DataConfig, data), workers=1, progress=False)
    local = root / "local" / "shards"
    files = sorted(p.relative_to(local) for p in local.rglob("*") if p.suffix in (".bin", ".idx"))
    assert len(files) > 6
    assert all((local / f).read_bytes() == (shards / f).read_bytes() for f in files)
    # blend.txt names each build's own absolute prefixes; the weights and the order are the same
    assert (local / "blend.txt").read_text().replace(str(local), "") == (shards / "blend.txt").read_text().replace(str(shards), "")


def _pretrain(root: Path, data: Path, shards: Path, name: str, *overrides: str) -> str:
    return _biomatrix("slurm", "submit", "pretrain", "--config", str(ROOT / "launch/configs/slurm/local.yaml"),
                      *_settings(root, data, name, f"data.shards={shards}", *overrides))["jobs"]["biomatrix-pretrain"]


def _start(log: str) -> dict:
    """The run's first JSON line: where it starts from, and the job the loop runs."""
    return next(record for record in map(json.loads, (line for line in log.splitlines() if line.startswith('{"')))
                if "job" in record)


@pytest.fixture(scope="module")
def pretrained(workspace, shards):
    """The uninterrupted 2-task TP=2 run `whole` (its finished job): the reference of the resumed one."""
    root, data = workspace
    job = _wait(_pretrain(root, data, shards, "whole"))
    assert job["JobState"] == "COMPLETED", _log(job)[-3000:]
    return job


def test_two_task_job_trains_at_tp2_and_a_preempted_job_resumes_to_the_same_loss(workspace, shards, pretrained):
    root, data = workspace
    reference = _losses(_log(pretrained))
    assert sorted(reference) == list(range(1, STEPS + 1)) and reference[STEPS] < reference[1] - 0.3
    preempted = _pretrain(root, data, shards, "preempted", "checkpoint.save_every=0")
    deadline = time.monotonic() + 300
    while not any(step >= 3 for step in _losses(Path(_job(preempted)["StdOut"]).read_text() if Path(
            _job(preempted)["StdOut"]).exists() else "")):
        assert time.monotonic() < deadline and _job(preempted)["JobState"] in ("PENDING", "RUNNING")
        time.sleep(0.5)
    subprocess.run(["scancel", "--signal=USR1", preempted], check=True)  # what --signal=USR1@N sends before the limit
    job = _wait(preempted)
    log = _log(job)
    assert job["JobState"] == "COMPLETED" and int(job["Restarts"]) == 1, log[-3000:]
    assert '"event": "exit_signal", "signal": "SIGUSR1"' in log and "requeueing job" in log and '"event": "resumed"' in log
    assert _losses(log)[STEPS] == reference[STEPS]


EVAL_GROUPS = ["name_conversion_i2s", "name_conversion_s2i"]  # families: two tasks each (SMILES, SELFIES)


def test_eval_job_splits_task_groups_over_an_array_and_merges_one_report(workspace, cluster, sft_corpus_short, capsys):
    """`submit eval` alone, with the oracle backend (gold answers: no model, scores of 1)."""
    root, _ = workspace
    corpus, _ = sft_corpus_short
    records = root / "eval_data" / "records" / "test"  # the test records of these groups only
    records.mkdir(parents=True)
    for path in (Path(corpus.out) / "records" / "test").glob("name_conversion_*2*.jsonl"):
        shutil.copy(path, records)
    settings = ["--config", str(ROOT / "launch/configs/slurm/local.yaml"), "--set", f"cluster.folder={root / 'slurm'}",
                "--set", f"eval.data={root / 'eval_data'}", "--set", f"eval.out={root / 'eval'}",
                "--set", "eval.backend=oracle", *EVAL]
    # a group with no test records there fails at submission, not in its array task
    from launch.cli import main

    with pytest.raises(SystemExit):
        main(["slurm", "submit", "eval", *settings, "--set", "eval.groups=[name_conversion_i2s, protein_folding]"])
    error = capsys.readouterr().err
    assert error.startswith("biomatrix: error: eval.groups protein_folding: task protein_folding: no test records at ")
    jobs = _biomatrix("slurm", "submit", "eval", *settings, "--set", f"eval.groups={json.dumps(EVAL_GROUPS)}")["jobs"]
    assert list(jobs) == ["biomatrix-eval", "biomatrix-eval-merge"]
    states = {name: _wait(job)["JobState"] for name, job in jobs.items()}
    assert states == {"biomatrix-eval": "COMPLETED", "biomatrix-eval-merge": "COMPLETED"}
    summary = json.loads((root / "eval" / "summary.json").read_text())
    assert summary["parts"] == [str(root / "eval" / "parts" / group) for group in EVAL_GROUPS]
    tasks = [f"biomatrix_{family}.{notation}" for family in EVAL_GROUPS for notation in ("smiles", "selfies")]
    assert sorted(summary["results"]) == sorted(tasks)
    assert {task: summary["results"][task]["exact_match,answer"] for task in tasks} == dict.fromkeys(tasks, 1.0)
    report = (root / "eval" / "report.md").read_text()
    assert all(f"| {task.removeprefix('biomatrix_')} | exact_match |" in report for task in tasks)


def test_pipeline_reaches_a_transformers_directory_and_its_evaluation_and_a_failure_cancels_dependents(workspace, cluster):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from biomatrix_io.checkpoints import latest_iteration

    root, data = workspace
    config = ["--config", str(ROOT / "launch/configs/slurm/local.yaml")]
    evaluation = ["--set", "eval.groups=[name_conversion_i2s]", *EVAL]  # the corpus has records of two families
    jobs = _biomatrix("slurm", "pipeline", *config, *_settings(root, data, "pipeline", "schedule.train_steps=4",
                                                               "schedule.warmup_steps=1"), *evaluation)["jobs"]
    assert list(jobs) == PIPELINE
    finished = {name: _wait(job) for name, job in jobs.items()}
    assert {name: job["JobState"] for name, job in finished.items()} == dict.fromkeys(PIPELINE, "COMPLETED")
    # SFT started from the pipeline's TP=2 pretraining run, on its SFT corpus, and ran its steps (the
    # srun step's progress check); convert exported the SFT run
    sft = _log(finished["biomatrix-sft"])
    assert _start(sft)["job"] == "sft" and _start(sft)["init_from"].startswith(str(root / "pipeline" / "checkpoints"))
    assert sorted(_losses(sft)) == list(range(1, SFT_STEPS + 1))
    assert f"sft step exited 0; checkpointed iteration 0 -> {SFT_STEPS} of {SFT_STEPS}" in sft
    assert latest_iteration(root / "pipeline" / "sft" / "checkpoints") == SFT_STEPS
    corpus = json.loads((root / "pipeline" / "sft_data" / "shards" / "manifest.json").read_text())
    assert _start(sft)["corpus"]["train"] == {key: corpus["splits"]["train"][key] for key in _start(sft)["corpus"]["train"]}
    out = root / "pipeline" / "sft" / "hf"
    model = AutoModelForCausalLM.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).vocab_size <= model.config.vocab_size
    # eval scored that export (tiny, one SFT step: scores near 0) on the corpus's test records, into one report
    summary = json.loads((root / "pipeline" / "sft" / "eval" / "summary.json").read_text())
    assert summary["model_dir"] == str(out) and (root / "pipeline" / "sft" / "eval" / "report.md").is_file()
    tasks = ["biomatrix_name_conversion_i2s.smiles", "biomatrix_name_conversion_i2s.selfies"]
    assert sorted(summary["results"]) == sorted(tasks) and summary["samples"] == dict.fromkeys(tasks, 1)
    assert all("validity,answer" in summary["results"][task] for task in tasks)
    failing = _pretrain(root, data, root / "pipeline" / "data" / "shards", "broken", "schedule.global_batch=7")
    dependent = _biomatrix("slurm", "submit", "convert", "--after", failing, *config,
                           *_settings(root, data, "broken"))["jobs"]["biomatrix-convert"]
    assert _wait(failing)["JobState"] == "FAILED"
    cancelled = _wait(dependent)
    assert cancelled["JobState"] == "CANCELLED" and "Dependency" in cancelled["Reason"]
