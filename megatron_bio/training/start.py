"""Where a run starts: the checkpoint it continues (its own latest, else `checkpoint.load`), read
and checked before anything is built, or the weights it starts from (`checkpoint.init_from`), or
the seed's initialization."""

from __future__ import annotations

from typing import Optional

from biomatrix_io import checkpoints

from . import checkpoint
from .config import TrainingConfig
from .resume import schedule_changes


def resume_point(config: TrainingConfig, settings: dict) -> Optional[dict]:
    """The checkpoint this run continues: its own latest (a resumed or requeued job), else
    checkpoint.load (full state); None for a fresh start. Schedule changes are refused here."""
    own = checkpoints.latest_iteration(config.checkpoints) is not None
    source = config.checkpoints if own else config.checkpoint.load
    if not source:
        return None
    path = checkpoints.resolve(source)
    common = checkpoint.read_common(path)
    return {"path": path, "own": own, "common": common,
            "changes": schedule_changes(common["config"], settings, config.checkpoint.on_schedule_change, path)}


def restore(config: TrainingConfig, point: Optional[dict], model, optimizer, scheduler, tokenizer) -> dict:
    """Load the start into the built model/optimizer/scheduler; returns what was done, for the log."""
    if point:
        common = checkpoint.load(point["path"], model, optimizer, scheduler, point["common"])
        return {"event": "resumed", "path": str(point["path"]), "iteration": common["iteration"],
                "consumed_samples": common["consumed_samples"],
                # The same mlflow run only when this run continues itself (another run's checkpoint starts a new one).
                "mlflow_run_id": common.get("mlflow_run_id") if point["own"] else None,
                "saved_layout": common["layout"]}
    if config.checkpoint.init_from:
        done = checkpoint.load_weights(config.checkpoint.init_from, model, tokenizer, config.checkpoint.vocabulary_init,
                                       config.seed)
        return {"event": "initialized", "iteration": 0, "consumed_samples": 0, **done}
    return {"event": "initialized", "iteration": 0, "consumed_samples": 0, "init_from": None}
