"""Generation throughput of the evaluation job's HF backend, batched vs one prompt at a time, and
the cost of modality-constrained decoding, in one run (issue 23, "Done when": batched >= 4x one
at a time; constrained decoding <= 10% overhead).

The requests are the job's own: the suite's lm-eval tasks (`evals/tasks/`, loaded as `biomatrix
eval run` loads them: only our folder, the chat template applied once) over the test records of
an SFT corpus (`--data`; default: the demo corpus, `launch/configs/sft_data/demo.yaml`, built into
a temporary folder), `--limit` records per task, of tasks whose answer is one structured span
(protein folding and inverse folding, with exact lengths; text to SELFIES; SMILES to molecule 3D,
bounded by the generation budget). The model: `--model` (an exported HF directory, e.g. the demo's
SFT release) or, by default, a tiny random BioMatrix model in the HF format (our tokenizer and
chat template, the Qwen3 shapes of `tests/evals/conftest.py`), whose near-flat logits never stop
an unconstrained answer before the task's budget.

Every measurement builds its own `biomatrix-hf` model object (`evals.models.hf.BioMatrixHF`, as
`evals.job.build_model` does) with a fresh request cache, and calls its `generate_until` on the
same requests (lm-eval `Instance`s, one per repeat, as lm-eval's `evaluate` sends them); the run
checks that every request went through `generate` (no answer served from a cache). Measured:
batch size 1 against `--batch-sizes` (8, the job's default, and 16), each with `constrain=auto`
(the job's default) and `constrain=off`. Counted, around the job's own call of the model's
`generate` (its result unchanged): rows, decoding steps, and each row's generated tokens up to
and including its first stop token (what follows is `generate`'s padding of a finished row).
Seconds in `generate` are timed there too; those of the model's forward and of its 157k-row
output layer are read from forward hooks; `generate` minus forward is its loop: the logits
processor (constraints), argmax, stop criteria. A constrained answer has other lengths than an
unconstrained one, so the overhead is compared per generated token; the forward is the same work
per slot (rows x steps) in both runs, so what the constraints themselves add is also given
without it. The output layer's matrix product is timed alone too (why batching gains what it does).

Seconds: on a CPU, the process's CPU seconds on one torch thread (other jobs share the cores and
would inflate wall time unevenly; the figures are only relative); on a GPU, wall seconds after the
device's queue drains. Appends to benchmarks/RESULTS.md (`--results`).
"""

from __future__ import annotations

import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # before `tokenizers` loads: one core

import argparse
import datetime
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from results import RESULTS, publish

from evals.job import go_offline

TASKS = ("protein_folding", "protein_inverse_folding", "text_to_molecule.selfies", "smiles_to_3d.smiles")
CONSTRAIN = ("auto", "off")
GPU = torch.cuda.is_available()


def clock() -> float:
    """Wall seconds after the device's queue drains on a GPU; on a CPU the process's CPU seconds."""
    if GPU:
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def build_corpus(folder: Path) -> tuple[Path, float]:
    """The demo SFT corpus (its test records are the evaluation data)."""
    from biomatrix_io.config import load_config
    from data_pipeline.sft.build import build
    from data_pipeline.sft.config import SFTDataConfig
    from launch.commands.sft_data import DEFAULT_CONFIG

    config = load_config(SFTDataConfig, DEFAULT_CONFIG, [f"out={folder}"])
    start = time.perf_counter()
    build(config, workers=2, progress=False)
    return folder, time.perf_counter() - start


def tiny_model(folder: Path) -> Path:
    """A random 2-layer BioMatrix model over the default tokenizer (the SFT corpus's), HF format."""
    from evals.models.random_model import write_random_model
    from megatron_bio.tokenizer_config import TokenizerConfig

    return write_random_model(TokenizerConfig().build(), folder)


def model_object(model_dir: Path, batch_size: int, constrain: str, cache: Optional[Path], seed: int):
    """`biomatrix-hf` as the job builds it (`evals.job.build_model`)."""
    from evals.models.hf import BioMatrixHF

    return BioMatrixHF(pretrained=str(model_dir), constrain=constrain, seed=seed, cache=cache and str(cache),
                       dtype="auto", batch_size=batch_size, device="cuda" if GPU else "cpu")


def build_requests(lm, data: Path, tasks: list[str], limit: int, seed: int) -> tuple[list, dict[str, int]]:
    """The generation requests lm-eval's `evaluate` sends for these tasks (one per repeat), and
    the records per task."""
    from lm_eval.tasks import TaskManager

    from evals.suite import by_corpus_task
    from evals.task_files import FOLDER

    manager = TaskManager(include_path=str(FOLDER), include_defaults=False, metadata={"data_dir": str(data)})
    loaded = manager.load([by_corpus_task()[task].name for task in tasks])
    requests, records = [], {}
    for name, task in loaded["tasks"].items():
        if task.get_config("num_fewshot") is None:
            task.set_config(key="num_fewshot", value=0)
        task.set_fewshot_seed(seed=seed)
        task.build_all_requests(limit=limit, rank=0, world_size=1, apply_chat_template=True,
                                chat_template=lm.apply_chat_template, tokenizer_name=lm.tokenizer_name)
        records[name] = len(task.instances)
        requests += [instance for instance in task.instances for _ in range(instance.repeats)]
    return requests, records


class Counted:
    """Stands in the model's `generate` attribute and calls the real one: counts rows, decoding
    steps, each row's generated tokens up to and including its first stop token, and seconds."""

    def __init__(self, lm) -> None:
        self.generate = lm.model.generate
        self.stops = torch.tensor(sorted(lm.vocabulary.stop_ids), device=lm.model.device)
        self.calls = self.rows = self.slots = self.tokens = 0
        self.seconds = 0.0
        lm.model.generate = self

    def __call__(self, input_ids: torch.Tensor, **kwargs) -> torch.Tensor:
        start = clock()
        out = self.generate(input_ids=input_ids, **kwargs)
        self.seconds += clock() - start
        new = out[:, input_ids.shape[1]:]
        stopped = torch.isin(new, self.stops)
        lengths = torch.where(stopped.any(1), stopped.int().argmax(1) + 1, new.shape[1])
        self.calls += 1
        self.rows += new.shape[0]
        self.slots += new.numel()
        self.tokens += int(lengths.sum())
        return out


class ForwardTime:
    """Seconds spent in a module's forward calls (pre and post hooks on the same clock)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.seconds, self._start = 0.0, 0.0
        module.register_forward_pre_hook(self._enter)
        module.register_forward_hook(self._leave)

    def _enter(self, *_) -> None:
        self._start = clock()

    def _leave(self, *_) -> None:
        self.seconds += clock() - self._start


@dataclass
class Measured:
    batch_size: int
    constrain: str
    requests: int
    seconds: float = 0.0
    wall: float = 0.0
    generate: float = 0.0
    forward: float = 0.0
    output_layer: float = 0.0
    calls: int = 0
    slots: int = 0
    tokens: int = 0
    well_formed: int = 0
    answers: list[str] = field(default_factory=list)

    @property
    def per_token_ms(self) -> float:
        return 1e3 * self.seconds / self.tokens

    @property
    def per_slot_ms(self) -> float:
        return 1e3 * self.seconds / self.slots


def well_formed(answer: str, doc: dict) -> bool:
    """One span of the answer's modality that closes, of the task's length where it has one."""
    from data_pipeline.sft.rendered import RenderedError, parse_rendered
    from evals.task_functions import expected, extract
    from megatron_bio.tokenizer.segments import WRAPPERS

    wanted = expected(doc)
    body = extract(answer, wanted.modality)
    if not body:
        return False
    start, end = WRAPPERS[wanted.modality]
    try:
        spans = parse_rendered(f"{start}{body}{end}")
    except RenderedError:
        return False
    return len(spans) == 1 and (wanted.length is None or len(spans[0].value) == wanted.length)


def measure(model_dir: Path, requests: list, batch_size: int, constrain: str, cache: Path, seed: int) -> Measured:
    lm = model_object(model_dir, batch_size, constrain, cache, seed)
    counted = Counted(lm)
    forward, output_layer = ForwardTime(lm.model), ForwardTime(lm.model.get_output_embeddings())
    wall, start = time.perf_counter(), clock()
    answers = lm.generate_until(requests, disable_tqdm=True)
    seconds, wall = clock() - start, time.perf_counter() - wall
    if counted.rows != len(requests):
        raise AssertionError(f"batch size {batch_size}, constrain={constrain}: {counted.rows} of {len(requests)} "
                             "requests generated (the rest came from a cache)")
    result = Measured(batch_size, constrain, len(requests), seconds, wall, counted.seconds, forward.seconds,
                      output_layer.seconds, counted.calls, counted.slots, counted.tokens, answers=answers)
    result.well_formed = sum(well_formed(a, r.doc) for a, r in zip(answers, requests))
    print(f"batch {batch_size}, constrain={constrain}: {seconds:.1f} s, {counted.tokens:,} tokens, "
          f"{result.per_token_ms:.2f} ms/token, {result.well_formed}/{len(requests)} well-formed", flush=True)
    return result


def output_layer_alone(model_dir: Path, batch_sizes: list[int], repeats: int = 30) -> dict[int, float]:
    """Milliseconds of the output layer's matrix product alone for one decoding step of n rows."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    weights = {}
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        weights.update(load_file(path))
    name = "lm_head.weight" if "lm_head.weight" in weights else "model.embed_tokens.weight"
    weight = weights[name].to("cuda" if GPU else "cpu")
    times = {}
    for n in batch_sizes:
        x = torch.randn(n, config.hidden_size, dtype=weight.dtype, device=weight.device)
        torch.nn.functional.linear(x, weight)
        start = clock()
        for _ in range(repeats):
            torch.nn.functional.linear(x, weight)
        times[n] = 1e3 * (clock() - start) / repeats
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an SFT corpus (its records/test/); default: build the demo corpus")
    parser.add_argument("--model", help="an exported HF model directory; default: a tiny random BioMatrix model")
    parser.add_argument("--tasks", default=",".join(TASKS), help="SFT task ids, comma-separated")
    parser.add_argument("--limit", type=int, default=8, help="test records per task")
    parser.add_argument("--batch-sizes", default="8,16", help="against batch size 1 (8: the job's default)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    go_offline()
    if not GPU:
        torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="bench_eval_generation_"))
    try:
        data, build_s = (Path(args.data), None) if args.data else build_corpus(folder / "corpus")
        model_dir = Path(args.model) if args.model else tiny_model(folder / "model")
        lines = run(args, data, build_s, model_dir, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    publish(lines, args.results)


def run(args, data: Path, build_s: Optional[float], model_dir: Path, folder: Path) -> list[str]:
    batch_sizes = [1, *(int(b) for b in args.batch_sizes.split(","))]
    tasks = args.tasks.split(",")
    warm = model_object(model_dir, 1, "auto", None, args.seed)
    requests, records = build_requests(warm, data, tasks, args.limit, args.seed)
    dtype = str(warm.model.dtype).replace("torch.", "")
    warm.generate_until(requests[:1], disable_tqdm=True)  # one-time costs (imports, kernels), before any clock
    del warm
    runs = {(constrain, b): measure(model_dir, requests, b, constrain, folder / f"{constrain}-{b}" / "requests.db",
                                    args.seed)
            for b in batch_sizes for constrain in CONSTRAIN}  # each pair back to back: the load drifts
    differing = [b for b in batch_sizes if runs["off", b].answers != runs["off", 1].answers]
    alone = output_layer_alone(model_dir, batch_sizes)
    return report(args, data, build_s, model_dir, dtype, records, runs, batch_sizes, differing, alone)


def report(args, data: Path, build_s: Optional[float], model_dir: Path, dtype: str, records: dict[str, int],
           runs: dict[tuple[str, int], Measured], batch_sizes: list[int], differing: list[int],
           alone: dict[int, float]) -> list[str]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    device = torch.cuda.get_device_name() if GPU else f"{platform.machine()}, {os.cpu_count()} cores, no GPU"
    seconds = ("wall seconds" if GPU else "CPU seconds of the process (one torch thread; other jobs shared the "
               "cores), so the figures are only relative: absolute times count only on a GPU, and no GPU was lent "
               "to this issue")
    corpus = (f"the demo SFT corpus (`launch/configs/sft_data/demo.yaml`, built in {build_s:.0f} s, not counted)"
              if build_s is not None else f"the SFT corpus `{data}`")
    model = ("a tiny random BioMatrix model in the HF format (our tokenizer and chat template, Qwen3 with "
             if not args.model else f"`{model_dir}` (")
    model += (f"{config.num_hidden_layers} layers, hidden {config.hidden_size}, vocabulary {config.vocab_size:,} rows, "
              f"{dtype})")
    n = next(iter(runs.values())).requests
    lines = [f"\n## Evaluation generation: batched vs one at a time, constrained vs unconstrained "
             f"({datetime.date.today()}, {device}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch thread{'s' * (torch.get_num_threads() != 1)})\n",
             f"`benchmarks/bench_eval_generation.py`: the job's HF backend (`biomatrix-hf`, `generate_until`) on "
             f"{n} requests of the suite's lm-eval tasks, built as `biomatrix eval run` builds them (chat template "
             f"applied once) from {corpus}: "
             + ", ".join(f"{name} {count}" for name, count in records.items())
             + f" (`--limit {args.limit}`; budgets 1,100 tokens for the protein tasks, 256 for the molecule ones). "
             f"Model: {model}. Each run: a fresh model object and request cache, every request generated (checked); "
             f"each batch size's two runs back to back. Tokens: generated up to and including the stop token; "
             f"slots: rows x decoding steps (a finished row waits, padded, for its batch). `generate`: seconds in "
             f"the model's `generate` (the rest: planning, tokenization, decoding, cache writes), of which the "
             f"model's forward (of which the output layer); `generate` minus forward is its loop: the logits "
             f"processor (constraints), argmax, stop criteria. {seconds}.\n",
             "| batch | constrain | batches | generated tokens | slots | seconds | in `generate` | forward (output layer) "
             "| tokens/s | requests/s | ms per token | loop ms per slot | well-formed answers | tokens/s vs batch 1 |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (constrain, b), m in runs.items():
        base = runs[constrain, 1]
        lines.append(f"| {b} | {constrain} | {m.calls} | {m.tokens:,} | {m.slots:,} | {m.seconds:.1f} | {m.generate:.1f} | "
                     f"{m.forward:.1f} ({m.output_layer:.1f}) | {m.tokens / m.seconds:,.1f} | {m.requests / m.seconds:.2f} | "
                     f"{m.per_token_ms:.2f} | {1e3 * (m.generate - m.forward) / m.slots:.2f} | {m.well_formed}/{m.requests} | "
                     f"{(m.tokens / m.seconds) / (base.tokens / base.seconds):.2f}x |")
    chosen = batch_sizes[1]
    speedup = {(c, b): (runs[c, b].tokens / runs[c, b].seconds) / (runs[c, 1].tokens / runs[c, 1].seconds)
               for c in CONSTRAIN for b in batch_sizes[1:]}
    overhead = {b: runs["auto", b].per_token_ms / runs["off", b].per_token_ms - 1 for b in batch_sizes}
    lines.append(
        f"\nBatching: batch {chosen} / batch 1 in generated tokens/s: **{speedup['auto', chosen]:.2f}x** constrained "
        f"(the job's default), {speedup['off', chosen]:.2f}x unconstrained (target >= 4x); "
        + "; ".join(f"batch {b}: {speedup['auto', b]:.2f}x and {speedup['off', b]:.2f}x" for b in batch_sizes[2:])
        + ". The output layer's product alone, one step: "
        + ", ".join(f"{alone[b]:.1f} ms for {b} row{'s' * (b != 1)}" for b in batch_sizes)
        + " (" + ", ".join(f"{alone[b] / alone[1]:.1f}x the time for {b}x the rows" for b in batch_sizes[1:]) + "). "
        + ("Unconstrained answers are the same at every batch size." if not differing else
           f"Unconstrained greedy answers differ from batch 1's at batch {', '.join(map(str, differing))} "
           "(padding flips near-flat logits).")
    )
    own = {b: own_cost(runs, b) for b in batch_sizes}
    drift = {b: (runs["auto", b].forward / runs["auto", b].slots) / (runs["off", b].forward / runs["off", b].slots) - 1
             for b in batch_sizes}
    lines.append(
        "\nConstrained decoding, time per generated token over unconstrained: "
        + ", ".join(f"**{overhead[b]:+.1%}** at batch {b}" if b == chosen else f"{overhead[b]:+.1%} at batch {b}"
                    for b in batch_sizes)
        + " (target <= 10%). The forward is the same work per slot in both runs, yet its time per slot moved by "
        + ", ".join(f"{drift[b]:+.1%}" for b in batch_sizes)
        + " between them (the load on the shared cores); without it, what the constraints add (`generate`'s loop "
          "and the work outside `generate`, per generated token, over the unconstrained run's time per token): "
        + ", ".join(f"**{own[b]:+.1%}** at batch {b}" if b == chosen else f"{own[b]:+.1%} at batch {b}"
                    for b in batch_sizes)
        + ".")
    return lines


def own_cost(runs: dict[tuple[str, int], Measured], b: int) -> float:
    """What constraining adds per generated token outside the model's forward, relative to the
    unconstrained time per token."""
    on, off = runs["auto", b], runs["off", b]
    return ((on.seconds - on.forward) / on.tokens - (off.seconds - off.forward) / off.tokens) / (off.seconds / off.tokens)


if __name__ == "__main__":
    main()
