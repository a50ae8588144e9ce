"""Training checkpoints in megatron-core's `dist_checkpointing` format, laid out as Megatron-LM does
(`biomatrix_io.checkpoints`): `<root>/iter_0000100/` per save and the tracker
`<root>/latest_checkpointed_iteration.txt`, written only after every rank finished, so a save cut
short (SIGKILL, node loss) is never the one a resume picks.

A checkpoint holds the model chunks, the optimizer (its state mapped onto the model's sharded
tensors, so a load may use another TP/PP/DP layout), the LR/WD scheduler, the RNG states, the
iteration, the consumed samples and the run's config. The RNG states are per (pipeline, tensor)
rank; a load under another layout reseeds instead (Qwen3 has no dropout, so training does not
draw from them).

A load restores state, not settings: the LR/WD schedule and the optimizer's hyperparameters are
the running config's (megatron-core's `override_opt_param_scheduler`, plus the optimizer's param
groups, which would otherwise bring the checkpoint's peak LR, betas and eps back). Whether a
resume may differ from its checkpoint in them is decided before the load (`training.resume`).
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
import torch.distributed as dist

from biomatrix_io.checkpoints import TRACKER, iteration_dir, resolve
from biomatrix_io.config import ConfigError
from megatron_bio.model.vocabulary import Init, checkpoint_rows_kept, extend_rows

FORMAT = "biomatrix-pretrain-1"


@dataclass
class CheckpointSettings:
    save_every: int = 1000  # steps between saves (0: only at the end and on an exit signal)
    load: Optional[str] = None  # start from this checkpoint (a root, or one iter_* folder): full state
    init_from: Optional[str] = None  # start from these weights only (a base model), vocabulary grown if smaller
    vocabulary_init: Init = "description"  # rows of added tokens under init_from
    optimizer_fully_reshardable: bool = True  # distributed optimizer state loadable at another TP/PP (gathered on save)
    exit_signals: list[str] = field(default_factory=lambda: ["SIGTERM", "SIGUSR1"])  # save, then exit cleanly
    # A resume whose schedule/optimizer values differ from its checkpoint's (`training.resume.SCHEDULE_KEYS`):
    # refuse (the default: a resume never changes a run silently) or apply the config's values, logged.
    on_schedule_change: Literal["refuse", "apply"] = "refuse"


def _content_metadata(distributed_optimizer: bool, fully_reshardable: bool) -> dict:
    if not distributed_optimizer:
        return {"chained_optim_avoid_prefix": True}
    return {"chained_optim_avoid_prefix": True,
            "distrib_optim_sharding_type": "fully_reshardable" if fully_reshardable else "dp_reshardable"}


def _layout() -> dict:
    from megatron.core import parallel_state as ps

    return {"tensor": ps.get_tensor_model_parallel_world_size(), "pipeline": ps.get_pipeline_model_parallel_world_size(),
            "data": ps.get_data_parallel_world_size()}


def _rng_state() -> dict:
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "tracker": {name: s.clone() for name, s in get_cuda_rng_tracker().get_states().items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    from megatron.core.tensor_parallel.random import get_cuda_rng_tracker

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])
    get_cuda_rng_tracker().set_states(state["tracker"])


def _rng_sharded():
    from megatron.core import parallel_state as ps
    from megatron.core.dist_checkpointing.mapping import ShardedObject

    layout = _layout()
    return ShardedObject("rng_state", _rng_state(), (layout["pipeline"], layout["tensor"]),
                         (ps.get_pipeline_model_parallel_rank(), ps.get_tensor_model_parallel_rank()),
                         replica_id=ps.get_data_parallel_rank(with_context_parallel=True))


def _model_state(model: list, metadata: dict) -> dict:
    """Megatron-LM's keys: `model`, or `model0`, `model1`... with virtual stages (the tensors inside
    carry global layer numbers, so a load may use another number of virtual stages)."""
    if len(model) == 1:
        return {"model": model[0].module.sharded_state_dict(metadata=dict(metadata))}
    return {f"model{i}": chunk.module.sharded_state_dict(metadata=dict(metadata)) for i, chunk in enumerate(model)}


def _full_state(model: list, optimizer, metadata: dict, loading: bool, with_rng: bool) -> dict:
    state = _model_state(model, metadata)
    state["optimizer"] = optimizer.sharded_state_dict(dict(state), is_loading=loading, metadata=dict(metadata))
    if with_rng:
        state["rng_state"] = _rng_sharded()
    return state


def save(root: Path, iteration: int, consumed_samples: int, model: list, optimizer, scheduler,
         config: dict, distributed_optimizer: bool, fully_reshardable: bool, extra: Optional[dict] = None) -> Path:
    """Save on every rank (collective); returns the iteration's folder once the tracker names it."""
    from megatron.core import dist_checkpointing

    root = Path(root)
    target = iteration_dir(root, iteration)
    if dist.get_rank() == 0:
        if target.exists():  # left by a save that was cut short: never named by the tracker
            shutil.rmtree(target)
        target.mkdir(parents=True)
    dist.barrier()
    metadata = _content_metadata(distributed_optimizer, fully_reshardable)
    state = _full_state(model, optimizer, metadata, loading=False, with_rng=True)
    state.update({"format": FORMAT, "iteration": iteration, "consumed_samples": consumed_samples,
                  "scheduler": scheduler.state_dict(), "config": config, "layout": _layout(), **(extra or {})})
    dist_checkpointing.save(state, str(target), content_metadata=metadata)
    dist.barrier()
    if dist.get_rank() == 0:
        temporary = root / (TRACKER + ".tmp")
        temporary.write_text(str(iteration))
        temporary.replace(root / TRACKER)
    dist.barrier()
    return target


def read_common(path: Path) -> dict:
    """A training checkpoint's common entries (iteration, consumed_samples, config, layout, ...),
    read without a process group: what a resume checks before it builds anything."""
    from megatron.core import dist_checkpointing

    common = dist_checkpointing.load_common_state_dict(str(path))
    if common.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a training checkpoint of this stack (format {common.get('format')!r}); "
                          "use checkpoint.init_from for model weights alone")
    return common


def load(path: Path, model: list, optimizer, scheduler, common: Optional[dict] = None) -> dict:
    """Restore the state a save holds into the built model/optimizer/scheduler (their settings stay
    the built ones); returns the checkpoint's common entries (`common`, when already read)."""
    from megatron.core import dist_checkpointing

    common = common or read_common(path)
    metadata = dist_checkpointing.load_content_metadata(str(path)) or {}
    same_layout = {k: common["layout"][k] for k in ("tensor", "pipeline")} == {k: _layout()[k] for k in ("tensor", "pipeline")}
    state = _full_state(model, optimizer, metadata, loading=True, with_rng=same_layout)
    loaded = dist_checkpointing.load(state, str(path))
    for name, chunk in zip(_model_state(model, metadata), model):
        chunk.module.load_state_dict(loaded[name])
    settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
    optimizer.load_state_dict(loaded["optimizer"])
    for group, built in zip(optimizer.param_groups, settings):
        group.update(built)
    scheduler.load_state_dict(common["scheduler"])
    if same_layout:
        _set_rng_state(loaded["rng_state"])
    return common


VOCABULARY_KEYS = ("embedding.word_embeddings.weight", "output_layer.weight")


def load_weights(path: str, model: list, tokenizer, init: str, seed: int) -> dict:
    """Model weights alone from a checkpoint (a base model to continue pretraining from). When its
    vocabulary is smaller than the BioMatrix one (Qwen3's, or an older BioMatrix vocabulary: one
    trained before the DNA/RNA tokens, say), the tables are grown on the way in
    (`vocabulary.extend_rows`: each rank reads the base table whole and keeps its own slice): the
    rows of the tokens it has are kept (`vocabulary.checkpoint_rows_kept`), the others initialized.
    Returns what was done, for the log."""
    from megatron.core import dist_checkpointing
    from megatron.core.dist_checkpointing.mapping import ShardedTensor

    path = resolve(path)
    saved = dist_checkpointing.load_tensors_metadata(str(path))
    if VOCABULARY_KEYS[0] not in saved:
        raise ConfigError(f"{path}: no {VOCABULARY_KEYS[0]} in the checkpoint: not a GPT model checkpoint of this architecture")
    base_rows = saved[VOCABULARY_KEYS[0]].global_shape[0]
    try:
        kept = checkpoint_rows_kept(dist_checkpointing.load_common_state_dict(str(path)), tokenizer)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    grow = kept < tokenizer.vocab_size
    state = _model_state(model, {})
    names = list(state)
    slices = []  # (chunk name, state key, table key, first row, rows)
    padded = {}
    if grow:
        for name, chunk_state in state.items():
            for local_key, tensor in list(chunk_state.items()):
                if isinstance(tensor, ShardedTensor) and tensor.key in VOCABULARY_KEYS:
                    slices.append((name, local_key, tensor.key, tensor.global_offset[0], tensor.local_shape[0]))
                    padded[tensor.key] = tensor.global_shape[0]
                    del chunk_state[local_key]
        state["vocabulary"] = {key: ShardedTensor.from_rank_offsets(
            key, torch.empty(tuple(saved[key].global_shape), dtype=saved[key].dtype)) for key in padded}
    loaded = dist_checkpointing.load(state, str(path))
    tables = {key: extend_rows(base, tokenizer, padded[key], seed, init, kept=kept)
              for key, base in loaded.get("vocabulary", {}).items()}
    for name, local_key, key, first, rows in slices:
        loaded[name][local_key] = tables[key][first:first + rows]
    for name, chunk in zip(names, model):
        chunk.module.load_state_dict(loaded[name])
    return {"init_from": str(path), "base_rows": base_rows, "kept_rows": kept, "vocabulary_rows": tokenizer.vocab_size,
            "grown": grow, "vocabulary_init": init if grow else None}
