"""Every stage as an sbatch script rendered from `slurm/templates/` and a Slurm config
(`launch/configs/slurm/*.yaml`), submitted with `sbatch --parsable`; stages chained with
`afterok` dependencies that cancel their dependents when a stage fails. The pipeline
(`pipeline_scripts`): shard -> pretrain -> sft-data -> sft -> convert -> eval, each training job
reading what the stages before it wrote (`pipeline_inputs`) unless its own overrides say otherwise;
convert exports the run of the training job `convert.run` names (default: sft), alone or in the
pipeline; eval scores that export (`eval_scripts`) on the SFT corpus build's test records.

Pretraining and SFT are one loop behind two commands (`biomatrix pretrain|sft`): one job dataclass
(`TrainingJob`), one script (`training_script`, `templates/train.sbatch`) with one requeue rule.

Scripts are written to `<folder>/scripts/` before submission, readable and self-contained (an
operator can inspect one and `sbatch` it again by hand); logs go to `<folder>/logs/`.

Every Python call of a script, helpers included, is an srun step started by `launch_prefix`: the
batch shell runs on the node's host, outside the container, where the configured interpreter and
the project may not exist, and pyxis gives a step the image's file view (its mounts, and
`--container-workdir`, without which it starts in the image's WORKDIR), not the host's.
"""

from __future__ import annotations

import datetime
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Literal, Optional

TEMPLATES = Path(__file__).with_name("templates")
REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass
class Resources:
    nodes: int = 1
    tasks_per_node: int = 1  # training with the srun launcher: one task per GPU
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem: Optional[str] = None  # e.g. 64G; null: the cluster's default per CPU
    time: str = "01:00:00"


@dataclass
class ClusterSettings:
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    container_image: Optional[str] = None  # pyxis/enroot: srun --container-image
    container_mounts: Optional[str] = None  # e.g. /lustre:/lustre
    extra_sbatch: list[str] = field(default_factory=list)  # more #SBATCH options, verbatim (e.g. --exclusive)
    python: Optional[str] = None  # the interpreter on the nodes (default: the one submitting)
    workdir: Optional[str] = None  # this repository on the nodes (default: this checkout)
    folder: str = "out/slurm"  # scripts/ and logs/
    env: dict[str, str] = field(default_factory=lambda: {
        "CUDA_DEVICE_MAX_CONNECTIONS": "1",  # needed by Megatron's tensor-parallel communication overlap
        "TORCH_NCCL_AVOID_RECORD_STREAMS": "1",
        "NCCL_DEBUG": "WARN",
        "OMP_NUM_THREADS": "1",
    })


@dataclass
class ShardJob:
    config: str = "launch/configs/data/demo.yaml"
    overrides: list[str] = field(default_factory=list)
    max_parallel: Optional[int] = None  # array throttle (`--array=0-N%P`)
    resources: Resources = field(default_factory=lambda: Resources(time="04:00:00"))


@dataclass
class SFTDataJob(ShardJob):
    """The SFT corpus build: the same array jobs as sharding, over an SFT data config."""

    config: str = "launch/configs/sft_data/demo.yaml"


@dataclass
class TrainingJob:
    """A training stage's job, pretraining or SFT: the same loop behind `biomatrix pretrain|sft`, so
    the same script (`training_script`), signals and requeue rule."""

    config: Optional[str] = None  # the recipe; null: the stage's own (TRAINING_STAGES)
    overrides: list[str] = field(default_factory=list)
    launcher: Literal["srun", "torchrun"] = "srun"  # srun: one task per device | torchrun: one task per node
    signal_seconds: int = 300  # the exit signal comes this long before the time limit
    max_restarts: int = 20
    resources: Resources = field(default_factory=lambda: Resources(time="04:00:00"))


@dataclass
class ConvertJob:
    run: Literal["pretrain", "sft"] = "sft"  # the training job whose run is exported (the pipeline's too)
    checkpoint: Optional[str] = None  # default: that run's output/checkpoints
    out: Optional[str] = None  # default: <that run's output>/hf
    dtype: Literal["bf16", "fp16", "fp32"] = "bf16"
    resources: Resources = field(default_factory=lambda: Resources(mem="32G", time="01:00:00"))


EVAL_GROUPS = ("molecule_1d", "molecule_3d", "protein_1d", "protein_3d", "interaction", "text")  # the suite's categories


@dataclass
class EvalJob:
    """The evaluation (`biomatrix eval run`) as an array, one task per entry of `groups`, each
    writing `<out>/parts/<group>`, then one merge (`biomatrix eval merge`) into `<out>`'s report."""

    groups: list[str] = field(default_factory=lambda: list(EVAL_GROUPS))  # a category, family or task (a,b: several)
    model: Optional[str] = None  # an HF directory; default (alone and in the pipeline): convert's output
    checkpoint: Optional[str] = None  # or a Megatron checkpoint, exported by each array task first
    data: Optional[str] = None  # folder with records/test/<task>.jsonl; default: the sft_data build's out
    out: Optional[str] = None  # default: `eval` beside the model (or checkpoint) folder
    backend: Literal["hf", "vllm", "oracle"] = "hf"
    limit: Optional[int] = None  # records per task (a smoke test); null: all
    batch_size: int = 8
    options: list[str] = field(default_factory=list)  # more `eval run` options, verbatim (e.g. --constrain=off)
    tracking: bool = True  # the merge logs the report to mlflow (the parts do not)
    tracking_uri: Optional[str] = None  # default: sqlite:///<out>/mlflow.db
    max_parallel: Optional[int] = None  # array throttle (`--array=0-N%P`)
    resources: Resources = field(default_factory=lambda: Resources(gpus_per_node=1, cpus_per_task=8, mem="64G",
                                                                   time="04:00:00"))


@dataclass
class SlurmConfig:
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    shard: ShardJob = field(default_factory=ShardJob)
    sft_data: SFTDataJob = field(default_factory=SFTDataJob)
    pretrain: TrainingJob = field(default_factory=TrainingJob)
    sft: TrainingJob = field(default_factory=TrainingJob)
    convert: ConvertJob = field(default_factory=ConvertJob)
    eval: EvalJob = field(default_factory=EvalJob)


@dataclass
class Script:
    name: str
    text: str
    array: Optional[str] = None


@dataclass
class Submitted:
    script: Script
    job: str
    path: Path


ONE_TASK = ("--ntasks=1", "--nodes=1")  # a data unit, a merge, a conversion, a helper inside the batch job
ALL_TASKS = ("--kill-on-bad-exit=1",)  # the training step: every task of the allocation, one failure ends all


def _template(name: str) -> Template:
    return Template((TEMPLATES / f"{name}.sbatch").read_text())


def scripts_folder(cluster: ClusterSettings) -> Path:
    return Path(cluster.folder) / "scripts"


def logs_folder(cluster: ClusterSettings) -> Path:
    return Path(cluster.folder) / "logs"


def _sbatch_options(name: str, resources: Resources, cluster: ClusterSettings, array: Optional[str],
                    extra: tuple[str, ...] = ()) -> list[str]:
    log = "%x-%A_%a.out" if array else "%x-%j.out"
    options = {
        "--job-name": name, "--nodes": resources.nodes, "--ntasks-per-node": resources.tasks_per_node,
        "--cpus-per-task": resources.cpus_per_task, "--gpus-per-node": resources.gpus_per_node or None,
        "--mem": resources.mem, "--time": resources.time, "--partition": cluster.partition,
        "--account": cluster.account, "--qos": cluster.qos, "--array": array,
        "--output": str(logs_folder(cluster).resolve() / log),
    }
    lines = [f"#SBATCH {key}={value}" for key, value in options.items() if value is not None]
    return lines + [f"#SBATCH {option}" for option in (*extra, *cluster.extra_sbatch)]


def _render(stage: str, template: str, name: str, resources: Resources, cluster: ClusterSettings,
            values: dict, array: Optional[str] = None, extra: tuple[str, ...] = ()) -> Script:
    exports = "\n".join(f"export {k}={shlex.quote(str(v))}" for k, v in cluster.env.items())
    common = {"stage": stage, "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "workdir": shlex.quote(_workdir(cluster)), "exports": exports,
              "run_python": launch_prefix(cluster, *ONE_TASK)}
    header = _template("header").substitute(sbatch="\n".join(_sbatch_options(name, resources, cluster, array, extra)),
                                            **common)
    body = _template(template).substitute(**common, **values)
    return Script(name, header + body, array)


def _workdir(cluster: ClusterSettings) -> str:
    return cluster.workdir or str(REPOSITORY)


def launch_prefix(cluster: ClusterSettings, *srun_options: str) -> str:
    """The start of every Python command line in a rendered script: an srun step with
    `srun_options`, in the container (pyxis) when one is set, running the configured interpreter."""
    container = {"--container-image": cluster.container_image, "--container-mounts": cluster.container_mounts,
                 "--container-workdir": _workdir(cluster)} if cluster.container_image else {}
    return " ".join(["srun", *srun_options, *(f"{k}={shlex.quote(v)}" for k, v in container.items() if v),
                     shlex.quote(cluster.python or sys.executable)])


def _args(items: list[str]) -> str:
    return " ".join(shlex.quote(item) for item in items)


@dataclass(frozen=True)
class ArrayBuild:
    """A data build run as Slurm jobs: its CLI command, its config class, and its steps in order:
    a unit stage is an array (one task per unit); a `verb:` step is one task (the SFT split table,
    computed once between two arrays); the merge comes last. `section`: its job in SlurmConfig."""

    command: str
    config_class: str  # module:class
    steps: tuple[str, ...]
    section: str


ARRAY_BUILDS = {
    "shard": ArrayBuild("data", "data_pipeline.config:DataConfig", ("normalize", "compose"), "shard"),
    "sft-data": ArrayBuild("sft-data", "data_pipeline.sft.config:SFTDataConfig",
                           ("normalize", "examples", "verb:splits", "samples"), "sft_data"),
}


def _array_build_config(config: SlurmConfig, kind: str):
    import importlib

    from biomatrix_io.config import load_config

    job = getattr(config, ARRAY_BUILDS[kind].section)
    module, name = ARRAY_BUILDS[kind].config_class.split(":")
    return load_config(getattr(importlib.import_module(module), name), job.config, job.overrides)


def array_build_scripts(config: SlurmConfig, kind: str = "shard") -> list[Script]:
    """One array per unit stage (one task per unit of the build's plan), then the merge."""
    from data_pipeline.build import Layout
    from data_pipeline.units import plan

    build = ARRAY_BUILDS[kind]
    job = getattr(config, build.section)
    data = _array_build_config(config, kind)
    units = len(plan(data, Layout(Path(data.out)).work)["units"])  # cached: the array tasks read this plan
    array = f"0-{units - 1}" + (f"%{job.max_parallel}" if job.max_parallel else "")
    values = {"config": shlex.quote(job.config), "overrides": _args([f"--set={o}" for o in job.overrides]),
              "command": build.command}
    prefix = "biomatrix" if kind == "shard" else f"biomatrix-{kind}"
    scripts = []
    for step in (*build.steps, "verb:merge"):
        verb = step.partition("verb:")[2]
        if verb:
            scripts.append(_render(kind, "step", f"{prefix}-{verb}", job.resources, config.cluster, {**values, "verb": verb}))
        else:
            scripts.append(_render(kind, "unit", f"{prefix}-{step}", job.resources, config.cluster,
                                   {**values, "data_stage": step}, array))
    return scripts


def build_output(config: SlurmConfig, kind: str) -> Path:
    """The shards folder a data build's merge writes (`<out>/shards`), which a training job reads."""
    return Path(_array_build_config(config, kind).out) / "shards"


@dataclass(frozen=True)
class TrainingStage:
    """A training job of the one loop (`biomatrix pretrain|sft`): its config class in
    `megatron_bio.training.config` and the recipe a job without `config` runs."""

    config_class: str
    recipe: str


TRAINING_STAGES = {
    "pretrain": TrainingStage("PretrainConfig", "launch/configs/tiny.yaml"),
    "sft": TrainingStage("SFTConfig", "launch/configs/sft_tiny.yaml"),
}


def _recipe(config: SlurmConfig, stage: str) -> str:
    return getattr(config, stage).config or TRAINING_STAGES[stage].recipe


def _training_overrides(config: SlurmConfig, stage: str, inputs: tuple[str, ...]) -> list[str]:
    """`inputs` (what the pipeline derives from the stages before), less the keys the job's own
    overrides set: those win."""
    own = getattr(config, stage).overrides
    keys = {item.partition("=")[0] for item in own}
    return [*(item for item in inputs if item.partition("=")[0] not in keys), *own]


def training_config(config: SlurmConfig, stage: str, inputs: tuple[str, ...] = ()):
    """The stage's recipe as its job will read it; a bad config fails here, not in the queue."""
    from biomatrix_io.config import load_config
    from megatron_bio.training import config as configs

    return load_config(getattr(configs, TRAINING_STAGES[stage].config_class), _recipe(config, stage),
                       _training_overrides(config, stage, inputs))


def training_script(config: SlurmConfig, stage: str, inputs: tuple[str, ...] = ()) -> Script:
    """The training step (`biomatrix pretrain|sft`) between two progress checks that decide on a requeue.

    The check (`<stage> --progress`: latest checkpointed iteration, last step) is a one-task step
    through `launch_prefix`, like the trainer, rather than the batch shell reading the tracker file
    itself: the trainer writes the tracker at its own path as the container sees it (the recipe's
    `output`, relative to `workdir`, under the mounts), which the host may spell differently or not
    have, and a host-side read that finds nothing reads as "no progress", which silently ends the
    requeue chain. Its price is one more step start in the last `signal_seconds`.
    """
    job, cluster, recipe = getattr(config, stage), config.cluster, _recipe(config, stage)
    overrides = _training_overrides(config, stage, inputs)
    training_config(config, stage, inputs)  # a bad config fails here, not in the queue
    command = f"-m launch.cli {stage} --config {shlex.quote(recipe)} {_args(overrides)}"
    trainers = launch_prefix(cluster, *ALL_TASKS)
    resources = job.resources
    if job.launcher == "srun":
        launch = f"{trainers} {command}"
        signal = f"--signal=USR1@{job.signal_seconds}"  # to every task: the trainers save and exit 0
    else:  # torchrun
        per_node = resources.gpus_per_node or resources.tasks_per_node
        resources = Resources(**{**resources.__dict__, "tasks_per_node": 1,
                                 "cpus_per_task": resources.cpus_per_task * per_node})
        launch = (f'eval "$({launch_prefix(cluster, *ONE_TASK)} -m slurm.environment)"\n'
                  f"{trainers} -m torch.distributed.run --nnodes=$SLURM_JOB_NUM_NODES "
                  f"--nproc_per_node={per_node} --rdzv_backend=c10d --rdzv_endpoint=$MASTER_ADDR:$MASTER_PORT {command}")
        signal = f"--signal=TERM@{job.signal_seconds}"  # torchrun passes SIGTERM on to its workers
    values = {"config": shlex.quote(recipe), "overrides": _args(overrides), "launch": launch,
              "max_restarts": job.max_restarts}
    return _render(stage, "train", f"biomatrix-{stage}", resources, cluster, values,
                   extra=(signal, "--requeue", "--open-mode=append"))


def _convert_paths(config: SlurmConfig, inputs: tuple[str, ...] = ()) -> tuple[str, str]:
    """The checkpoint convert reads and the HF directory it writes."""
    job = config.convert
    output = Path(training_config(config, job.run, inputs).output)
    return job.checkpoint or str(output / "checkpoints"), job.out or str(output / "hf")


def convert_script(config: SlurmConfig, inputs: tuple[str, ...] = ()) -> Script:
    """The export of the `convert.run` training job's run (its latest checkpoint) to an HF directory;
    `inputs`: what the pipeline gave that job."""
    checkpoint, out = _convert_paths(config, inputs)
    values = {"checkpoint": shlex.quote(checkpoint), "out": shlex.quote(out), "dtype": config.convert.dtype}
    return _render("convert", "convert", "biomatrix-convert", config.convert.resources, config.cluster, values)


def _check_groups(job: EvalJob, data: Path) -> None:
    """Each group names tasks of the suite and, when the corpus is already built (not in a pipeline
    that builds it later), has test records there: an array task that would fail fails here."""
    from biomatrix_io.config import ConfigError
    from evals.job import resolve_tasks
    from evals.suite import SUITE, by_corpus_task, by_name, categories, suite_tasks

    if not job.groups or len(set(job.groups)) < len(job.groups):
        raise ConfigError(f"eval.groups {job.groups}: give each group once, at least one", ("eval.groups",))
    known = {SUITE, *categories(), *(f"{SUITE}_{c}" for c in categories()), *by_name(), *by_corpus_task(),
             *(task.family for task in suite_tasks())}
    unknown = [name for group in job.groups for name in group.split(",") if name not in known]
    if unknown:
        raise ConfigError(f"eval.groups: {', '.join(unknown)} is no category, family or task of the suite "
                          f"(categories: {', '.join(categories())}; `biomatrix eval tasks` lists the tasks)", ("eval.groups",))
    if (data / "records" / "test").is_dir():
        for group in job.groups:
            try:
                resolve_tasks(group.split(","), data)
            except ConfigError as error:
                raise ConfigError(f"eval.groups {group}: {error.args[0]}", ("eval.groups", "eval.data")) from None


def eval_scripts(config: SlurmConfig, inputs: tuple[str, ...] = ()) -> list[Script]:
    """The evaluation array (one task group per array task, on one GPU each) and the merge of its
    parts into one report. Unless `eval` says otherwise it scores convert's HF directory (`inputs`:
    what the pipeline gave the exported run) on the sft_data build's test records."""
    from biomatrix_io.config import ConfigError

    job = config.eval
    if job.model and job.checkpoint:
        raise ConfigError("eval: give one of model (an HF directory) and checkpoint", ("eval.model", "eval.checkpoint"))
    source = ("--checkpoint", job.checkpoint) if job.checkpoint else ("--model", job.model or _convert_paths(config, inputs)[1])
    data = Path(job.data or _array_build_config(config, "sft-data").out)
    _check_groups(job, data)
    out = Path(job.out or Path(source[1]).parent / "eval")
    run = [*source, "--data", str(data), "--backend", job.backend, "--batch-size", str(job.batch_size),
           *(["--limit", str(job.limit)] if job.limit is not None else []), *job.options, "--no-tracking"]
    array = f"0-{len(job.groups) - 1}" + (f"%{job.max_parallel}" if job.max_parallel else "")
    tracking = ["--tracking-uri", job.tracking_uri] if job.tracking_uri else []
    merge = [*(str(out / "parts" / group) for group in job.groups), "--out", str(out),
             *(tracking if job.tracking else ["--no-tracking"])]
    host = Resources(**{**job.resources.__dict__, "gpus_per_node": 0})  # the merge reads files: no GPU
    return [_render("eval", "eval", "biomatrix-eval", job.resources, config.cluster,
                    {"groups": _args(job.groups), "run": _args(run), "parts": shlex.quote(str(out / "parts"))}, array),
            _render("eval", "eval_merge", "biomatrix-eval-merge", host, config.cluster, {"merge": _args(merge)})]


def pipeline_inputs(config: SlurmConfig) -> dict[str, tuple[str, ...]]:
    """What each training job of the pipeline reads from the stages before it, unless its own
    overrides set it: pretraining the shard build's shards; SFT the pretraining run's checkpoints
    (weights only) and the SFT corpus build's shards."""
    pretrain = (f"data.shards={build_output(config, 'shard')}",)
    pretrained = training_config(config, "pretrain", pretrain).checkpoints
    return {"pretrain": pretrain,
            "sft": (f"checkpoint.init_from={pretrained}", f"data.shards={build_output(config, 'sft-data')}")}


def pipeline_scripts(config: SlurmConfig) -> list[Script]:
    """shard -> pretrain -> sft-data -> sft -> convert (of `convert.run`'s run) -> eval (of that
    export, on the SFT corpus), in submission order."""
    inputs = pipeline_inputs(config)
    exported = inputs[config.convert.run]
    return [*array_build_scripts(config, "shard"), training_script(config, "pretrain", inputs["pretrain"]),
            *array_build_scripts(config, "sft-data"), training_script(config, "sft", inputs["sft"]),
            convert_script(config, exported), *eval_scripts(config, exported)]


def script_path(script: Script, cluster: ClusterSettings, stamp: Optional[str] = None) -> Path:
    """Where `submit` writes `script`: stamped with the submission time, so resubmitting keeps the old one."""
    return scripts_folder(cluster) / f"{script.name}-{stamp or f'{datetime.datetime.now():%Y%m%d-%H%M%S-%f}'}.sbatch"


def submit(script: Script, config: SlurmConfig, after: Optional[str] = None) -> Submitted:
    """Write the script under <folder>/scripts and sbatch it, after job `after` succeeded (afterok)."""
    logs_folder(config.cluster).mkdir(parents=True, exist_ok=True)
    scripts_folder(config.cluster).mkdir(parents=True, exist_ok=True)
    path = script_path(script, config.cluster)
    path.write_text(script.text)
    command = ["sbatch", "--parsable"]
    if after:
        command += [f"--dependency=afterok:{after}", "--kill-on-invalid-dep=yes"]
    done = subprocess.run([*command, str(path)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"sbatch {path} failed: {done.stderr.strip()}")
    return Submitted(script, done.stdout.strip().split(";")[0], path)


def submit_chain(scripts: list[Script], config: SlurmConfig, after: Optional[str] = None) -> list[Submitted]:
    """Each script after the previous one (the first after job `after`, if given)."""
    submitted = []
    for script in scripts:
        submitted.append(submit(script, config, after))
        after = submitted[-1].job
    return submitted
