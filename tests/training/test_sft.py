"""SFT on the one training loop, as separate processes (gloo) on the demo SFT corpus packed at 256
tokens, from a tiny pretraining run's checkpoint: the validation loss falls from the pretrained
weights' and is reported per task family (mlflow too, with the corpus's packing figures); the loss
counts answer tokens only and an empty row gives no NaN; a run killed with SIGKILL resumes to
bitwise-equal losses; two micro-batches per step give the losses of four (the loss is one
per-token mean over the global batch); an HF directory is a start point like a dist checkpoint;
mistakes are one line. Changing TP between checkpoints is the loop's, shared by both jobs: tested
by pretraining (TP=2 -> TP=1) and by the Slurm SFT job that starts from a TP=2 checkpoint."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from launch import cli
from tests.training.test_pretrain import CONFIG as PRETRAIN_RECIPE, _command, _records, _wait_for

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "launch" / "configs" / "sft_tiny.yaml"
STEPS = 8


def _sft_arguments(corpus, init_from: Path, output: Path, overrides: tuple) -> list[str]:
    config, _ = corpus
    return ["-m", "launch.cli", "sft", "--config", str(RECIPE), f"data.shards={config.out}/shards", f"output={output}",
            f"checkpoint.init_from={init_from}", "sequence_length=256", f"schedule.train_steps={STEPS}",
            "schedule.global_batch=4", "validation.every=4", "validation.steps=2", *overrides]


def _run(arguments: list[str], processes: int = 1, check: bool = True) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else []
    done = subprocess.run([sys.executable, *launcher, *arguments], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert not check or done.returncode == 0, done.stderr[-3000:]
    return done


def _losses(records: list[dict]) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in records if "loss" in r}


@pytest.fixture(scope="module")
def pretrained(shards, tmp_path_factory):
    """The tiny recipe pretrained 12 steps (what `make demo` trains before SFT), its checkpoints."""
    output = tmp_path_factory.mktemp("pretrained")
    command, env = _command(shards, output, 1, ("schedule.train_steps=12",))
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return output / "checkpoints"


@pytest.fixture(scope="module")
def reference(sft_corpus_short, pretrained, tmp_path_factory):
    output = tmp_path_factory.mktemp("sft")
    done = _run(_sft_arguments(sft_corpus_short, pretrained, output, ("checkpoint.save_every=4",)))
    return output, _records(done.stdout)


def test_sft_lowers_the_validation_loss_per_task_family(reference, sft_corpus_short):
    _, records = reference
    start = records[0]
    assert start["job"] == "sft" and start["init_from"].endswith("iter_0000012") and not start["grown"]
    validations = {r["step"]: r for r in records if "val_loss" in r}
    assert sorted(validations) == [0, 4, 8]
    assert validations[8]["val_loss"] < validations[0]["val_loss"] - 0.5
    families = {k.split("/", 1)[1] for k in validations[8] if k.startswith("val_loss/")}
    _, manifest = sft_corpus_short
    assert families and families <= {task["family"] for task in manifest["tasks"]}
    assert all(validations[8][f"val_loss/{f}"] < validations[0][f"val_loss/{f}"] for f in families)
    steps = [r for r in records if "loss_tokens_per_s" in r]
    assert len(steps) == STEPS and all(0 < r["loss_tokens_per_s"] < r["tokens_per_s"] for r in steps)


def test_mlflow_holds_the_per_family_losses_the_corpus_figures_and_its_manifest(reference):
    import mlflow

    output, records = reference
    done = records[-1]
    client = mlflow.MlflowClient(done["mlflow_uri"])
    run = client.get_run(done["mlflow_run_id"])
    assert run.data.params["corpus.train.packing_efficiency"] == str(records[0]["corpus"]["train"]["packing_efficiency"])
    assert any(key.startswith("val_loss/") for key in run.data.metrics)
    assert {a.path for a in client.list_artifacts(run.info.run_id, "data")} == {"data/manifest.json"}
    assert (output / "loss.png").is_file()


def test_loss_counts_answer_tokens_only_and_an_empty_row_is_not_nan(sft_corpus_short, megatron_single_process, tmp_path):
    """On a real pack: a prompt token as a target (loss mask 0) can be anything, an answer token
    cannot; a row past the valid split's end (all padding) adds 0 loss over 0 tokens."""
    from biomatrix_io.config import load_config
    from megatron_bio.model.gpt import build_gpt_model
    from megatron_bio.training.config import SFTConfig

    config, _ = sft_corpus_short
    recipe = load_config(SFTConfig, RECIPE, [f"data.shards={config.out}/shards", "sequence_length=256",
                                             f"output={tmp_path}"])
    job = recipe.job()
    tokenizer = recipe.tokenizer.build()
    job.build(tokenizer, 4, 4)
    model = build_gpt_model(recipe.model, recipe.transformer_config(**job.transformer_overrides()),
                            tokenizer.padded_vocab_size(1), 256)

    def loss(batch: dict) -> tuple[float, int]:
        with torch.no_grad():
            output, loss_function = job.forward_step(iter([batch]), model)
            total, count, _ = loss_function(output)
        return float(total), int(count)

    batch = job.batch([job.item("valid", 0)])
    reference, count = loss(batch)
    assert 0 < count < batch["loss_mask"].numel()
    prompt = int(torch.nonzero(batch["loss_mask"][0] == 0)[0])
    answer = int(torch.nonzero(batch["loss_mask"][0])[0])
    for position, changes in ((prompt, False), (answer, True)):
        changed = {k: v.clone() for k, v in batch.items()}
        changed["labels"][0, position] = (changed["labels"][0, position] + 1) % tokenizer.vocab_size
        assert (loss(changed)[0] != reference) is changes
    empty = job.batch([job.item("valid", len(job.sets["valid"]) + 5)])
    assert loss(empty) == (0.0, 0)


def test_sigkill_then_resume_gives_bitwise_equal_losses(sft_corpus_short, pretrained, reference, tmp_path):
    tracker = tmp_path / "checkpoints" / "latest_checkpointed_iteration.txt"
    arguments = _sft_arguments(sft_corpus_short, pretrained, tmp_path, ("checkpoint.save_every=2",))
    process = subprocess.Popen([sys.executable, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True)
    _wait_for(tracker.exists, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    killed_at = int(tracker.read_text())
    assert killed_at < STEPS
    records = _records(_run(arguments).stdout)
    assert next(r for r in records if r.get("event") == "resumed")["iteration"] == killed_at
    resumed, expected = _losses(records), _losses(reference[1])
    assert sorted(resumed) == list(range(killed_at + 1, STEPS + 1))
    assert all(resumed[s] == expected[s] for s in resumed)


def test_the_loss_is_one_per_token_mean_over_the_global_batch(sft_corpus_short, pretrained, reference, tmp_path):
    """Micro-batches of 2 (two per step) vs the reference's micro-batches of 1 (four per step): the
    same global batches, so under one per-token mean the same updates and losses, up to float32
    summation order (measured <= 2e-6). A mean of per-micro-batch means weighs the packs' tokens
    differently and moves the losses by ~1e-3 from step 3 (measured), which this check refuses."""
    records = _records(_run(_sft_arguments(sft_corpus_short, pretrained, tmp_path, ("schedule.micro_batch=2",))).stdout)
    losses, expected = _losses(records), _losses(reference[1])
    assert sorted(losses) == list(range(1, STEPS + 1))
    assert max(abs(losses[s] - expected[s]) for s in losses) < 1e-5


def test_an_hf_directory_starts_sft_like_its_dist_checkpoint(sft_corpus_short, pretrained, reference, tmp_path):
    """The pretrained checkpoint exported to HF (float32) and named as init_from: imported once
    into <output>/init_from_hf, the first step's loss is the dist checkpoint start's, up to the
    vocabulary's padding rows (157,440 rows for 157,328 tokens at TP=1): the HF format does not carry
    them (the export trims them, the import makes them zeros), and they enter the loss only through
    the softmax's denominator (measured 2.4e-5 with 112 such rows; a wrong real row moves it by far
    more)."""
    _run(["-m", "launch.cli", "convert", "megatron-to-hf", "--checkpoint", str(pretrained), "--out", str(tmp_path / "hf"),
          "--dtype", "fp32"])
    records = _records(_run(_sft_arguments(sft_corpus_short, tmp_path / "hf", tmp_path / "run",
                                           ("schedule.train_steps=1", "schedule.warmup_steps=0", "validation.every=0")), check=True).stdout)
    assert records[0]["init_from"] == str(tmp_path / "run" / "init_from_hf")
    assert abs(_losses(records)[1] - _losses(reference[1])[1]) < 1e-4


@pytest.mark.parametrize("override, message", [
    ("sequence_length=128", "holds packs of up to 256 tokens, longer than sequence_length 128"),
    ("data.shards={shards}", "no manifest.json: not an SFT corpus's shards folder"),
])
def test_mistakes_are_one_line(sft_corpus_short, shards, tmp_path, capsys, override, message):
    config, _ = sft_corpus_short
    with pytest.raises(SystemExit) as exited:
        cli.main(["sft", "--config", str(RECIPE), f"data.shards={config.out}/shards", "sequence_length=256",
                  f"output={tmp_path}", override.format(shards=shards)])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("biomatrix: error: ") and error.count("\n") == 1 and message in error


def test_pretraining_recipe_is_not_an_sft_recipe():
    """Both jobs read their own config class: the pretraining recipe's data section is refused."""
    assert PRETRAIN_RECIPE.is_file()
    with pytest.raises(SystemExit) as exited:
        cli.main(["sft", "--config", str(PRETRAIN_RECIPE)])
    assert exited.value.code == 2
