"""Pretraining the tiny model on real shards, as separate processes (gloo): tensor, pipeline
(interleaved: virtual stages, megatron-core's schedule for PP > 1 with the most bookkeeping) and
data parallel (distributed optimizer) each lower the loss; data parallelism reproduces the
single-process run; one run stopped by an exit signal and then by SIGKILL resumes exactly both
times, and a TP=2 checkpoint continues at TP=1; a resume with another schedule is refused,
or follows the new one when asked; the shards are only read; mlflow holds the run, its resumes
marked; the last line says where everything went."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launch import cli

CONFIG = Path(__file__).resolve().parents[2] / "launch" / "configs" / "tiny.yaml"
STEPS = 16


def _command(shards: Path, output: Path, processes: int, overrides: tuple) -> tuple[list[str], dict]:
    """torchrun for several processes; one process is started directly with the standard
    torch.distributed variables set, as srun would (so signals reach the trainer itself)."""
    arguments = ["-m", "launch.cli", "pretrain", "--config", str(CONFIG), f"data.shards={shards}", f"output={output}",
                 "data.split=50,50,0", "validation.every=0", f"schedule.train_steps={STEPS}", *overrides]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if processes > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                *arguments], env
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return [sys.executable, *arguments], env


def _records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _losses(records: list[dict]) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def _pretrain(shards: Path, output: Path, processes: int, *overrides: str) -> list[dict]:
    command, env = _command(shards, output, processes, overrides)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return _records(done.stdout)


@pytest.fixture(scope="module")
def single(shards, tmp_path_factory):
    """The reference run: one process, validated every 8 steps (validation only reads: the other
    runs, which skip it, are compared with this one)."""
    output = tmp_path_factory.mktemp("single")
    return output, _pretrain(shards, output, 1, "validation.every=8")


@pytest.fixture(scope="module")
def tp2(shards, tmp_path_factory):
    output = tmp_path_factory.mktemp("tp2")
    return output, _pretrain(shards, output, 2, "parallel.tensor=2", "checkpoint.save_every=8")


def _done(records: list[dict], output: Path, status: str = "FINISHED") -> dict:
    """The run's last line, checked to name its latest checkpoint, its loss plot and its mlflow run."""
    done = records[-1]
    latest = int((output / "checkpoints" / "latest_checkpointed_iteration.txt").read_text())
    assert done["event"] == "done" and done["status"] == status
    assert done["checkpoint"] == str((output / "checkpoints" / f"iter_{latest:07d}").resolve())
    assert done["loss_plot"] == str((output / "loss.png").resolve()) and (output / "loss.png").is_file()
    assert done["mlflow_uri"] == f"sqlite:///{output.resolve()}/mlflow.db" and done["mlflow_run_id"]
    return done


def _resumes(done: dict) -> list[int]:
    import mlflow

    history = mlflow.MlflowClient(done["mlflow_uri"]).get_metric_history(done["mlflow_run_id"], "resumed_at")
    return sorted(m.step for m in history)


def _lowered(losses: dict[int, float]) -> bool:
    steps = sorted(losses)
    return sum(losses[s] for s in steps[-4:]) / 4 < sum(losses[s] for s in steps[:4]) / 4 - 0.3


@pytest.mark.parametrize("overrides", [("parallel.pipeline=2", "parallel.virtual_pipeline=2"), ("optimizer.distributed=true",)],
                         ids=["pp2-vpp2", "dp2-distopt"])
def test_two_process_parallelism_lowers_the_loss(shards, single, tmp_path, overrides):
    losses = _losses(_pretrain(shards, tmp_path, 2, *overrides))
    assert sorted(losses) == list(range(1, STEPS + 1))
    assert _lowered(losses)
    if overrides == ("optimizer.distributed=true",):
        # Same global batches, gradients averaged over the two ranks: the single-process curve, up to
        # float32 summation order.
        reference = _losses(single[1])
        assert max(abs(losses[s] - reference[s]) for s in reference) < 1e-3


def test_tensor_parallel_checkpoint_continues_at_tp1_with_the_same_losses(shards, tp2, tmp_path):
    """TP=2 trains 16 steps, saving at 8; TP=1 loads that checkpoint (the vocabulary table is
    padded to 128 x TP rows, so it is re-padded on load) and trains steps 9..16. The two agree
    within 1e-3: the same weights, optimizer state and batches, with matmuls split in two and their
    partial sums added in another order (float32 rounding, ~1e-7 relative per operation, grown by
    Adam over 8 steps)."""
    output, records = tp2
    losses = _losses(records)
    assert sorted(losses) == list(range(1, STEPS + 1)) and _lowered(losses)
    resumed = _pretrain(shards, tmp_path, 1, f"checkpoint.load={output / 'checkpoints' / 'iter_0000008'}")
    start = next(r for r in resumed if r.get("event") == "resumed")
    assert start["iteration"] == 8 and start["consumed_samples"] == 8 * 8 and start["saved_layout"]["tensor"] == 2
    continued = _losses(resumed)
    assert sorted(continued) == list(range(9, STEPS + 1))
    assert max(abs(continued[s] - losses[s]) for s in continued) < 1e-3


def _wait_for(condition, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the training run did not get there in time"
        time.sleep(0.2)


def test_an_exit_signal_then_a_sigkill_each_resume_to_the_uninterrupted_losses_bitwise(shards, single, tmp_path):
    """One run stopped twice: SIGUSR1 at step 3 saves at the end of that step and exits 0 (status
    KILLED); its resume, saving every 4 steps, is SIGKILLed after a periodic checkpoint; the second
    resume ends on the uninterrupted run's losses, bit for bit (same ops in the same order on CPU),
    and its plot marks both resumes from the run's mlflow history."""
    command, env = _command(shards, tmp_path, 1, ("checkpoint.save_every=0",))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while not any('"step": 3,' in line for line in lines):
        line = process.stdout.readline()
        assert line, process.stderr.read()[-3000:]
        lines.append(line)
    process.send_signal(signal.SIGUSR1)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    records = _records("".join(lines) + stdout)
    stop = next(r for r in records if r.get("event") == "exit_signal")
    assert stop["signal"] == "SIGUSR1" and 3 <= stop["iteration"] < STEPS
    assert [r["iteration"] for r in records if r.get("event") == "saved"] == [stop["iteration"]]
    assert _resumes(_done(records, tmp_path, "KILLED")) == []

    tracker = tmp_path / "checkpoints" / "latest_checkpointed_iteration.txt"
    command, env = _command(shards, tmp_path, 1, ("checkpoint.save_every=4",))
    # Its own process group, killed whole as Slurm kills a job's cgroup (checkpoint saving runs helper processes).
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    _wait_for(lambda: tracker.read_text().strip() not in ("", str(stop["iteration"])), process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    killed_at = int(tracker.read_text())
    assert killed_at < STEPS

    finished = _pretrain(shards, tmp_path, 1, "checkpoint.save_every=4")
    assert next(r for r in finished if r.get("event") == "resumed")["iteration"] == killed_at
    resumed, reference = _losses(finished), _losses(single[1])
    assert sorted(resumed) == list(range(killed_at + 1, STEPS + 1))
    assert all(resumed[s] == reference[s] for s in resumed)
    assert _resumes(_done(finished, tmp_path)) == [stop["iteration"], killed_at]


def test_validation_runs_on_schedule(single):
    validations = [r for r in single[1] if "val_loss" in r]
    assert [r["step"] for r in validations] == [8, 16]
    assert validations[1]["val_loss"] < validations[0]["val_loss"]


def test_mlflow_run_holds_config_metrics_and_artifacts(single):
    import mlflow

    output, records = single
    run_id = records[0]["mlflow_run_id"]
    client = mlflow.MlflowClient(f"sqlite:///{output}/mlflow.db")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer.lr"] == "0.001" and run.data.params["parallel.tensor"] == "1"
    history = client.get_metric_history(run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == sorted(_losses(records).items())
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {a.path for a in client.list_artifacts(run_id, "data")}
    assert {"loss.png", "data/blend.yaml", "data/blend.txt", "data/build.json"} <= artifacts
    assert any(a.path.endswith(".manifest.json") for a in client.list_artifacts(run_id, "data/molecule"))
    assert (output / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _done(records, output)["mlflow_run_id"] == run_id


def _files(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in [folder, *folder.rglob("*")]}


def test_a_resume_with_another_schedule_is_refused_naming_the_keys(shards, single, capsys):
    """Before anything is built or written: through the CLI, one line and exit status 2."""
    output = single[0]
    before = _files(output)
    with pytest.raises(SystemExit) as exited:
        cli.main(["pretrain", "--config", str(CONFIG), f"data.shards={shards}", f"output={output}", "data.split=50,50,0",
                  "validation.every=8", "schedule.train_steps=20", "optimizer.lr=5e-4"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("biomatrix: error: ") and error.count("\n") == 1
    assert "schedule.train_steps 16 -> 20, optimizer.lr 0.001 -> 0.0005" in error
    assert "checkpoint.on_schedule_change=apply" in error
    assert _files(output) == before


def test_an_applied_schedule_change_follows_the_new_cosine_and_leaves_the_shards_untouched(shards, single, tmp_path):
    """`single` saved at step 16 of a 16-step cosine; continued to 20 steps with the change applied,
    steps 17-20 take the LR a fresh megatron-core scheduler of 20 steps gives, not the old minimum.
    Nothing is written into the shards folder (the dataset indices go to <output>/dataset_cache)."""
    from types import SimpleNamespace

    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    before = _files(shards)
    records = _pretrain(shards, tmp_path, 1, f"checkpoint.load={single[0] / 'checkpoints'}", "schedule.train_steps=20",
                        "checkpoint.on_schedule_change=apply")
    assert _files(shards) == before
    assert any((tmp_path / "dataset_cache").glob("*GPTDataset-train-shuffle_index.npy"))
    changed = next(r for r in records if r.get("event") == "schedule_changed")
    assert changed["applied"] == {"schedule.train_steps": [16, 20]}
    lrs = {r["step"]: r["lr"] for r in records if "lr" in r}
    assert sorted(lrs) == [17, 18, 19, 20]
    fresh = SimpleNamespace(param_groups=[{}])
    scheduler = OptimizerParamScheduler(fresh, init_lr=0.0, max_lr=1e-3, min_lr=1e-4, lr_warmup_steps=5, lr_decay_steps=20,
                                        lr_decay_style="cosine", start_wd=0.01, end_wd=0.01, wd_incr_steps=20,
                                        wd_incr_style="constant")
    scheduler.step(16)
    for step in range(17, 21):
        scheduler.step(1)  # the logged LR is the one set after the step: the next step's
        assert lrs[step] == pytest.approx(fresh.param_groups[0]["lr"], rel=1e-12)
    assert lrs[17] > 1.5e-4  # the checkpoint's schedule (16 steps) would give its minimum, 1e-4
    assert _resumes(_done(records, tmp_path)) == [16]
