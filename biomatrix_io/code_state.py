"""The git state of the code that runs: a training checkpoint and a release both record it, so a
model can be traced to the commit that trained it and the one that exported it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]  # the repository, when the stack runs from a checkout


def git_state(root: Path = ROOT) -> dict:
    """{"commit", "dirty"} of the checkout at `root`; nulls without git or a checkout (an installed
    copy, as on a cluster node that runs a container's site-packages)."""
    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root.resolve():
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}
