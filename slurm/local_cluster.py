"""A real single-node Slurm cluster for tests and CI: install (Debian packages, as root), configure,
start, stop. Idempotent, and it stops only what it started (a munged that was already running is
left alone). Everything it writes lives under one state folder; the Slurm commands find the
cluster through `SLURM_CONF` (`eval "$(python -m slurm.local_cluster env)"`).

    python -m slurm.local_cluster start | stop | status | env
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("BIOMATRIX_SLURM_STATE", "/tmp/biomatrix-slurm"))
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
DAEMONS = ("slurmctld", "slurmd")  # started in this order, stopped in the reverse one
CONF = STATE / "slurm.conf"

SLURM_CONF = """\
# Written by slurm/local_cluster.py: one node, this machine, for tests and CI.
ClusterName=biomatrix-local
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=2,bf_interval=2
DependencyParameters=kill_invalid_depend
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
NodeName={host} NodeAddr=127.0.0.1 {node} RealMemory={memory} State=UNKNOWN
PartitionName=local Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""


def _run(*command: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, capture_output=True, text=True, env=_env(), **kwargs)


def _env() -> dict:
    return dict(os.environ, SLURM_CONF=str(CONF))


def install() -> None:
    """The Debian packages, when missing (root only); daemons kept from starting during the install."""
    if all(shutil.which(p) for p in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    if os.geteuid() != 0:
        raise SystemExit(f"Slurm is not installed and this is not root: apt-get install {' '.join(PACKAGES)}")
    policy = Path("/usr/sbin/policy-rc.d")
    placed = not policy.exists()
    if placed:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], check=True,
                       env=environment)
    finally:
        if placed:
            policy.unlink()


def _alive(pid_file: Path, name: str) -> int | None:
    """The pid in the file when that process runs and is `name` (never a recycled pid, never a zombie)."""
    try:
        pid = int(pid_file.read_text())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if comm == name[:15] and state != "Z" else None


def _munge() -> None:
    if _run("sh", "-c", "munge -n | unmunge", check=False).returncode == 0:
        return  # already serving (ours from an earlier start, or the machine's own)
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        _run("/usr/sbin/mungekey", "--create")
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    _run("runuser", "-u", "munge", "--", "/usr/sbin/munged", "--force")
    (STATE / "munged.ours").write_text("1")
    for _ in range(50):
        if _run("sh", "-c", "munge -n | unmunge", check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise SystemExit("munged did not start (see /var/log/munge/munged.log)")


def configure() -> Path:
    probe = _run("slurmd", "-C").stdout
    node = re.search(r"(CPUs=\d+ Boards=\d+ SocketsPerBoard=\d+ CoresPerSocket=\d+ ThreadsPerCore=\d+)", probe).group(1)
    memory = int(int(re.search(r"RealMemory=(\d+)", probe).group(1)) * 0.9)
    for folder in ("ctld", "spool", "logs"):
        (STATE / folder).mkdir(parents=True, exist_ok=True)
    CONF.write_text(SLURM_CONF.format(host=socket.gethostname().split(".")[0], state=STATE, node=node, memory=memory))
    return CONF


def status() -> dict:
    daemons = {name: _alive(STATE / f"{name}.pid", name) for name in DAEMONS}
    up = all(daemons.values()) and _run("scontrol", "ping", check=False).stdout.count("UP") > 0
    return {"up": up, "conf": str(CONF), **{name: pid for name, pid in daemons.items()}}


def start(timeout: float = 60) -> dict:
    install()
    STATE.mkdir(parents=True, exist_ok=True)
    if status()["up"]:
        return status()
    _munge()
    configure()
    for name in DAEMONS:
        if not _alive(STATE / f"{name}.pid", name):
            _run(name, "-f", str(CONF))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.split()
        if states and all(s in ("idle", "mixed", "allocated") for s in states):
            return status()
        time.sleep(0.2)
    raise SystemExit(f"the local Slurm cluster did not come up in {timeout:.0f} s: {STATE}/slurmctld.log")


def stop(grace: float = 10) -> None:
    """Cancel every job (stopping slurmd does not end job steps), then the daemons this script started."""
    if status()["slurmctld"]:
        jobs = _run("squeue", "-h", "-o", "%i", check=False).stdout.split()
        if jobs:
            _run("scancel", *jobs, check=False)
            deadline = time.monotonic() + grace
            while _run("squeue", "-h", "-o", "%i", check=False).stdout.split() and time.monotonic() < deadline:
                time.sleep(0.2)
    for name in reversed(DAEMONS):
        _terminate(STATE / f"{name}.pid", name, grace)
    if (STATE / "munged.ours").exists():
        _terminate(Path("/run/munge/munged.pid"), "munged", grace)
        (STATE / "munged.ours").unlink()


def _terminate(pid_file: Path, name: str, grace: float) -> None:
    pid = _alive(pid_file, name)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid_file, name) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid_file, name):
        os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status", "env"))
    args = parser.parse_args(argv)
    if args.action == "start":
        print(start())
    elif args.action == "stop":
        stop()
    elif args.action == "status":
        print(status())
    else:
        print(f"export SLURM_CONF={CONF}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
