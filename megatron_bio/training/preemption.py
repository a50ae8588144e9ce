"""Exit signals (Slurm's `--signal=USR1@N` before a time limit, a scheduler's SIGTERM on
preemption): the handler only records the signal; at the end of the step every rank learns whether
any rank got one, so all of them save the same iteration together and leave."""

from __future__ import annotations

import signal
from typing import Optional

import torch
import torch.distributed as dist

from biomatrix_io.config import ConfigError


class ExitSignals:
    def __init__(self, names: list[str]):
        self.received: Optional[str] = None
        for name in names:
            if not hasattr(signal, name):
                raise ConfigError(f"checkpoint.exit_signals: {name!r} is not a signal name (e.g. SIGTERM, SIGUSR1)")
            signal.signal(getattr(signal, name), self._record)

    def _record(self, number: int, frame) -> None:
        self.received = signal.Signals(number).name

    def any_rank(self) -> bool:
        """Collective: True on every rank when some rank received an exit signal."""
        flag = torch.tensor([1 if self.received else 0], device="cuda" if torch.cuda.is_available() else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
