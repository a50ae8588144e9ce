"""The real local Slurm cluster (slurm/local_cluster.py), started for the session when it is not
up yet and stopped afterwards only if this session started it."""

import os

import pytest

from slurm import local_cluster


@pytest.fixture(scope="session")
def cluster():
    started = not local_cluster.status()["up"]
    local_cluster.start()
    os.environ["SLURM_CONF"] = str(local_cluster.CONF)
    yield local_cluster.CONF
    if started:
        local_cluster.stop()
