"""What a resumed run may change. A checkpoint holds the config it was saved under; a run that
continues it (its own latest checkpoint, or `checkpoint.load`) with other schedule or optimizer
values would otherwise train on a mixture: megatron-core's scheduler keeps the checkpoint's
schedule by default, so `schedule.train_steps=60` after 30 steps would run steps 31-60 at the
minimum LR. The policy is a config choice, `checkpoint.on_schedule_change`: `refuse` (the default)
stops before anything is built, naming each key; `apply` trains on with the config's values (the
load keeps them: `training.checkpoint`), reported as one JSON line and as mlflow
`changed_on_resume.*` tags.

The keys are those that define the optimization the checkpoint continues: the LR/WD schedule, Adam's
settings and the global batch. Applied, a changed global batch continues from the checkpoint's
consumed samples (the data is addressed by sample, not by step). A changed length or batch also
changes the number of samples megatron-core's dataset is built for, and so its shuffle after the
resume point (Megatron-LM behaves alike). Parallel layout, micro-batch and the distributed optimizer
change no result and are not checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomatrix_io.config import ConfigError

SCHEDULE_KEYS = ("schedule.train_steps", "schedule.warmup_steps", "schedule.decay_style", "schedule.global_batch",
                 "optimizer.lr", "optimizer.min_lr", "optimizer.weight_decay", "optimizer.adam_beta1",
                 "optimizer.adam_beta2", "optimizer.adam_eps", "optimizer.clip_grad")
SETTING = "checkpoint.on_schedule_change"


def _value(config: dict, key: str) -> Any:
    for part in key.split("."):
        config = (config or {}).get(part)
    return config


def schedule_changes(saved: dict, current: dict, policy: str, path: Path) -> dict[str, list]:
    """{key: [checkpoint's value, config's value]} for each schedule key that differs between the
    checkpoint's config (`saved`) and this run's; a ConfigError naming them under `refuse`."""
    changes = {key: [_value(saved, key), _value(current, key)] for key in SCHEDULE_KEYS
               if _value(saved, key) != _value(current, key)}
    if changes and policy == "refuse":
        listed = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())
        raise ConfigError(f"resuming {path} with other schedule/optimizer values than it was saved with: {listed}; "
                          f"set {SETTING}=apply to train on with the new values, or resume with the saved ones")
    return changes
