"""The torch.distributed variables of one srun task, from Slurm's own: the only place they are
derived. One task per device: RANK = SLURM_PROCID, LOCAL_RANK = SLURM_LOCALID, WORLD_SIZE =
SLURM_NTASKS; MASTER_ADDR is the job's first node, MASTER_PORT a function of the job id (the same
for every task, and again after a requeue).

`python -m slurm.environment` prints the rendezvous pair, MASTER_ADDR and MASTER_PORT, as `export`
lines (the torchrun launcher's endpoint in a batch script, read from a one-task step, whose own
rank is not the trainers').

Nothing here calls Slurm's commands: the tasks run inside the job's container (pyxis), and images
such as NVIDIA's PyTorch one ship no `scontrol`.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Mapping, Optional

PORT_BASE, PORT_SPAN = 15_000, 20_000


def first_host(nodelist: str) -> str:
    """The first host of a Slurm node list (`node[01-04],gpu7` -> node01), as `scontrol show
    hostnames` expands it: the first comma-separated entry, each bracket replaced by its first number."""
    entry = re.match(r"(?:[^,\[]|\[[^\]]*\])+", nodelist).group()
    return re.sub(r"\[(\d+)[^\]]*\]", r"\1", entry)


def rendezvous_env(environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {"MASTER_ADDR": first_host(environ.get("SLURM_JOB_NODELIST") or environ["SLURM_NODELIST"]),
            "MASTER_PORT": str(PORT_BASE + int(environ["SLURM_JOB_ID"]) % PORT_SPAN)}


def torch_distributed_env(environ: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    variables = rendezvous_env(environ)
    if "SLURM_PROCID" in environ and "SLURM_STEP_ID" in environ:  # inside an srun task
        variables.update(RANK=environ["SLURM_PROCID"], LOCAL_RANK=environ["SLURM_LOCALID"],
                         WORLD_SIZE=environ["SLURM_NTASKS"])
    return variables


def apply() -> bool:
    """Set the variables in this process when it is a Slurm task not started by torchrun; True if set."""
    if "RANK" in os.environ or "SLURM_JOB_ID" not in os.environ or "SLURM_STEP_ID" not in os.environ:
        return False
    os.environ.update(torch_distributed_env())
    return True


if __name__ == "__main__":
    for name, value in rendezvous_env().items():
        print(f"export {name}={value}")
    sys.exit(0)
