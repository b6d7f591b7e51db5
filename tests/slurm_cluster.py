"""A real one-node Slurm on localhost for the tests: munged, slurmctld and slurmd started from a
temporary folder (config, key, state, logs, sockets all inside it), torn down at the end.

Debian's ``slurm-wlm`` (22.05) and ``munge``; tests/setup_slurm.sh installs them where missing.
Daemons run as root (SlurmUser=root): the Slurm tests skip, with the reason, when not root or
when the binaries are missing. Nothing outside the folder is touched; the ports are free ones.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scontrol", "scancel")


def unavailable() -> str | None:
    """Why a local Slurm cannot be started here, or None when it can."""
    missing = [b for b in BINARIES if not shutil.which(b) and not Path("/usr/sbin", b).exists()]
    if missing:
        return (f"Slurm is not installed ({', '.join(missing)} missing): `apt-get install slurm-wlm munge` "
                f"as root (tests/setup_slurm.sh does it for `make test`)")
    if os.geteuid() != 0:
        return "the local Slurm test cluster runs its daemons as root; these tests run as another user"
    return None


def _which(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _real_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 9 // 10  # what slurmd -C reports, less a margin
    return 1024


def _pids_named(name: str) -> set[int]:
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if Path(entry.path, "comm").read_text().strip() == name:
                    found.add(int(entry.name))
            except OSError:
                pass
    return found


class SlurmCluster:
    """munged + slurmctld + slurmd on localhost, configured in ``folder``; ``env`` points SLURM_CONF there."""

    def __init__(self, folder: Path, cpus: int | None = None):
        self.folder = folder
        self.cpus = cpus or os.cpu_count() or 1
        self.conf = folder / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self._stepds_before: set[int] = set()

    # -- start ------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        f = self.folder
        for sub in ("state", "spool", "munge"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(f / "munge", 0o700)
        key = f / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        self.munge_socket = f / "munge" / "munge.socket"
        self.conf.write_text(self.config())
        self._stepds_before = _pids_named("slurmstepd")
        self._spawn("munged", [_which("munged"), "--foreground", "--force", f"--key-file={key}",
                               f"--socket={self.munge_socket}", f"--pid-file={f / 'munge' / 'munged.pid'}",
                               f"--log-file={f / 'munge' / 'munged.log'}", f"--seed-file={f / 'munge' / 'seed'}"])
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged did not open its socket")
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self._run(["scontrol", "ping"]).stdout.count("UP") >= 1, timeout,
                   "slurmctld did not answer `scontrol ping`")
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait(lambda: self.node_state() == "idle", timeout, "the node did not become idle in `sinfo`")
        return self

    def config(self) -> str:
        f = self.folder
        return "\n".join([
            "# written by tests/slurm_cluster.py: a one-node test cluster on localhost",
            "ClusterName=tinychinchilla-test",
            "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",   # no cgroups in a container
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/builtin",          # event-driven: jobs start as soon as they can
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "MpiDefault=none",
            "ReturnToService=2",
            "MinJobAge=3600",                       # finished jobs stay visible to scontrol
            "KillWait=5",
            "InactiveLimit=0",
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_real_memory_mb()} State=UNKNOWN",
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            ""])

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.folder / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}): {self.logs()}")
            try:
                if ready():
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{what} within {timeout:.0f} s: {self.logs()}")

    def logs(self) -> str:
        tails = []
        for path in sorted(self.folder.glob("*.log")) + sorted(self.folder.glob("*.out")):
            tails.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(tails)

    # -- use --------------------------------------------------------------------------------

    def _run(self, argv: list[str], check: bool = False, **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, env=kw.pop("env", self.env), capture_output=True, text=True, timeout=60, **kw)
        if check and proc.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def node_state(self) -> str:
        return self._run(["sinfo", "-h", "-N", "-o", "%t"]).stdout.strip()

    def job_states(self, job_id: str) -> dict[str, str]:
        """{job id (array tasks as <id>_<task>): state} for a job and its array tasks."""
        out = self._run(["scontrol", "show", "job", "-o", job_id]).stdout
        states = {}
        for line in out.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            task = fields.get("ArrayTaskId")
            name = f"{fields.get('ArrayJobId')}_{task}" if task else fields.get("JobId", "?")
            states[name] = fields.get("JobState", "?")
        return states

    def wait_jobs(self, job_ids: list[str], timeout: float = 600.0) -> dict[str, str]:
        """Wait until every job (and array task) has ended; returns their final states."""
        deadline = time.monotonic() + timeout
        while True:
            states = {}
            for job in job_ids:
                states.update(self.job_states(job))
            if states and all(s not in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED",
                                        "SUSPENDED") for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs {job_ids} not finished in {timeout:.0f} s: {states}\n{self.logs()}")
            time.sleep(0.5)

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Cancel every job, stop the daemons, and end any job step they left."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self._run(["scancel", "--full", "--user", "root"])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self._run(["squeue", "-h"]).stdout.strip():
                time.sleep(0.3)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in _pids_named("slurmstepd") - self._stepds_before:  # only the ones this cluster started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
