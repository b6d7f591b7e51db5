"""Grading untrusted notebooks: the kernel-side half of `autograder/grade.py`.

Two things live here, both used only while an instructor grades submissions:

* **the kernel jail** (``python -m tinychinchilla.sandbox ... -- python -m ipykernel_launcher -f
  CONNECTION``), the command of the ``python3`` kernel spec the grader installs for nbgrader.
  Before it becomes the kernel it applies, where the operating system allows:
  resource limits (memory, CPU seconds, size of a written file, open files, processes, no core
  dumps); on Linux >= 5.13 a Landlock rule set, so that the student's code can write only inside
  its own submission folder and a private scratch folder, connect to no TCP port, bind only the
  kernel's own ports and signal no process outside the kernel (so it cannot kill the grader);
  and, when run as root with ``--user``, a switch to that unprivileged user. Each layer that the
  machine lacks is reported in the kernel's environment (``TINYCHINCHILLA_SANDBOX``), and the
  grader says so in its summary.
* **the guard** (:func:`install_guard`), run inside the kernel before any student cell: it keeps
  the original ``math``, ``numpy``, ``builtins`` and tinychinchilla functions and puts them back
  before every graded test cell, so a student who writes ``math.isclose = lambda *a, **k: True``
  or replaces ``check.assert_answer`` cannot make a hidden test pass. It also marks each test
  cell's output, so the grader can tell when the guard itself was removed. The grader re-judges
  every answer the hidden tests saw in its own process as well (``check.ANSWER_MIME``), so a
  number only counts when it is right outside the student's kernel too.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

GUARD_MIME = "application/vnd.tinychinchilla.guard+json"
STATUS_ENV = "TINYCHINCHILLA_SANDBOX"
CELL_LOG_ENV = "TINYCHINCHILLA_CELL_LOG"  # the guard writes each cell's source there before it runs
HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


def grade_id(cell) -> str | None:
    """The nbgrader grade id of a notebook cell (a dict or a NotebookNode), or None."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_test_cell(cell) -> bool:
    """A graded cell that is not an answer: an nbgrader test cell, whose source nbgrader restores."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade") and not meta.get("solution"))


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading kernel. Each default is generous for a lesson in fast mode
    (the slowest uses about 1.5 GB and 20 CPU seconds) and small enough that a runaway submission
    cannot starve the other workers on a 2-core, 24 GiB machine."""

    memory_mb: int = 6144      # address space; torch alone maps ~1 GB, lesson 07 peaks near 1.5 GB
    cpu_seconds: int = 600     # CPU time of the whole kernel; the cell timeout normally fires first
    file_mb: int = 64          # largest file the kernel may write (a 100 MB dump fails, not the disk)
    open_files: int = 512      # torch and zmq need a few hundred descriptors at most
    processes: int = 256       # per user: stops a fork bomb (not enforced for root, see --user)


def apply_limits(limits: Limits) -> list[str]:
    """Set the rlimits of this process (inherited by what it execs); return what was set."""
    try:
        import resource
    except ImportError:  # Windows
        return []
    wanted = {
        "RLIMIT_AS": limits.memory_mb * 2**20,
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_FSIZE": limits.file_mb * 2**20,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_CORE": 0,
    }
    done = []
    for name, value in wanted.items():
        which = getattr(resource, name, None)
        if which is None or value <= 0:
            continue
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
            done.append(name[7:].lower())
        except (ValueError, OSError):
            pass
    return done


# --- Landlock (Linux >= 5.13), through the raw system calls: no extra package needed. ----------
# Numbers from include/uapi/linux/landlock.h; the syscall numbers are the same on x86-64 and arm64.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
(_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR, _FS_REMOVE_DIR, _FS_REMOVE_FILE, _FS_MAKE_CHAR,
 _FS_MAKE_DIR, _FS_MAKE_REG, _FS_MAKE_SOCK, _FS_MAKE_FIFO, _FS_MAKE_BLOCK, _FS_MAKE_SYM) = (1 << b for b in range(13))
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
_FS_ALL_V1 = (1 << 13) - 1
_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
# In its own folders a kernel reads, writes, makes and removes plain files and folders; it never
# makes a symlink, a fifo, a socket or a device node, nor links a file in from elsewhere (REFER is
# handled and never granted): nothing it leaves behind can lead the grader to another file.
_FS_OWN = (_FS_READ_FILE | _FS_READ_DIR | _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE
           | _FS_MAKE_DIR | _FS_MAKE_REG)
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_PR_SET_NO_NEW_PRIVS = 38
# What every Python process needs to read: the OS's programs, libraries and settings, and /proc,
# /sys, /dev (Landlock keeps /proc/<pid> of processes outside the kernel out of reach, as ptrace).
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/proc", "/sys", "/dev")
# /etc is readable entry by entry, less the secrets a kernel left as root could otherwise read.
ETC_SECRETS = ("shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh", "ssl", "security",
               "machine-id", "krb5.keytab", "credstore", "credstore.encrypted")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers, 0 when none (not Linux, too old, disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                               ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def python_read_roots() -> list[Path]:
    """The folders this Python needs to read to run a kernel and import the kit: its installation
    and environment, their site-packages, and the kit's own package folder. With an editable
    install the package folder sits in a checkout; only the package itself is readable then (and
    its ``src/`` folder when it has one, which Python must list to import from it), never the
    checkout's root with its solutions."""
    import site
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_paths().get(key, ""))
    try:
        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    package = Path(__file__).resolve().parent
    roots.add(str(package))
    if package.parent.name == "src":
        roots.add(str(package.parent))
    return [Path(r) for r in sorted(roots) if r and os.path.isdir(r)]


def restrict_self(writable: list[Path], bind_ports: list[int], readable: list[Path] = (),
                  readable_files: list[Path] = ()) -> list[str]:
    """Landlock this process: read only the system, this Python, the kit and ``readable``; write
    only beneath ``writable`` (plain files and folders; no links, fifos, sockets or devices) and
    to /dev/null; no TCP connect; TCP bind only on ``bind_ports``; no signals or abstract sockets
    outside. Returns the layers applied; an empty list when Landlock is unavailable."""
    abi = landlock_abi()
    if abi < 1:
        return []
    libc = ctypes.CDLL(None, use_errno=True)
    fs = _FS_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    own = _FS_OWN | (_FS_TRUNCATE if abi >= 3 else 0)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16  # older kernels reject the scoped field
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return []

    def allow_path(path: Path, access: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):  # a rule on a file may only grant file rights
                access &= _FS_EXECUTE | _FS_READ_FILE | _FS_WRITE_FILE | _FS_TRUNCATE
            rule = _PathBeneathAttr(access, fd)
            libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0))
        finally:
            os.close(fd)

    try:
        for folder in [*SYSTEM_READ, *python_read_roots(), *readable]:
            allow_path(Path(folder), _FS_READ)
        try:
            etc = [e.path for e in os.scandir("/etc") if e.name not in ETC_SECRETS]
        except OSError:
            etc = []
        for path in etc:
            allow_path(Path(path), _FS_READ)
        allow_path(Path("/etc/ssl/certs"), _FS_READ)
        for path in readable_files:
            allow_path(Path(path), _FS_READ_FILE)
        for folder in writable:
            allow_path(Path(folder), own)
        allow_path(Path("/dev/null"), _FS_READ_FILE | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0))
        for port in bind_ports if net else ():
            rule = _NetPortAttr(_NET_BIND_TCP, port)
            libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT),
                         ctypes.byref(rule), ctypes.c_uint32(0))
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return []
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return []
    finally:
        os.close(ruleset)
    layers = ["reads-confined", "writes-confined", "no-links"]
    if net:
        layers.append("no-network")
    if scoped:
        layers.append("signals-confined")
    return layers


# --- seccomp: no chmod, chown, utime or xattr change anywhere (Landlock does not cover them). ---
_SECCOMP_MODE_FILTER, _PR_SET_SECCOMP = 2, 22
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
# (audit arch, file-metadata syscall numbers) per architecture, from the kernel's syscall tables.
_METADATA_SYSCALLS = {
    "x86_64": (0xC000003E, {
        90: "chmod", 91: "fchmod", 92: "chown", 93: "fchown", 94: "lchown", 132: "utime", 235: "utimes",
        260: "fchownat", 261: "futimesat", 268: "fchmodat", 280: "utimensat", 452: "fchmodat2",
        188: "setxattr", 189: "lsetxattr", 190: "fsetxattr", 197: "removexattr", 198: "lremovexattr",
        199: "fremovexattr", 463: "setxattrat", 466: "removexattrat"}),
    "aarch64": (0xC00000B7, {
        52: "fchmod", 53: "fchmodat", 54: "fchownat", 55: "fchown", 88: "utimensat", 452: "fchmodat2",
        5: "setxattr", 6: "lsetxattr", 7: "fsetxattr", 14: "removexattr", 15: "lremovexattr",
        16: "fremovexattr", 463: "setxattrat", 466: "removexattrat"}),
}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def deny_metadata_syscalls() -> bool:
    """A seccomp filter on this process and its children: chmod, chown, utime and the xattr calls
    do nothing, on any file (Landlock cannot confine them to the kernel's folder). They return
    success, because Python's shutil.copy and IPython's own start-up chmod the files they copy
    and would fail otherwise; a kernel has no need for the change itself. Calls of another
    architecture (x32, 32-bit) fail with EPERM. False where the OS or the architecture has no
    filter here."""
    import platform

    table = _METADATA_SYSCALLS.get(platform.machine())
    if not sys.platform.startswith("linux") or table is None:
        return False
    arch, numbers = table
    errno_eperm, ignored = _SECCOMP_RET_ERRNO | 1, _SECCOMP_RET_ERRNO | 0  # errno 0: returns 0
    prog = [(_BPF_LD_W_ABS, 0, 0, 4),                       # seccomp_data.arch
            (_BPF_JEQ_K, 1, 0, arch),
            (_BPF_RET_K, 0, 0, errno_eperm),                # another ABI: refuse everything
            (_BPF_LD_W_ABS, 0, 0, 0)]                       # seccomp_data.nr
    if arch == 0xC000003E:
        prog += [(_BPF_JGE_K, 0, 1, 0x40000000), (_BPF_RET_K, 0, 0, errno_eperm)]  # x32 calls
    for nr in sorted(numbers):
        prog += [(_BPF_JEQ_K, 0, 1, nr), (_BPF_RET_K, 0, 0, ignored)]
    prog.append((_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    filters = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0


def drop_privileges(user: str, own: list[Path]) -> str:
    """As root: give ``own`` to ``user`` and become that user. Raises with a clear message."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SystemExit(f"sandbox: no user named {user!r}; create one (e.g. `useradd --system grader`) or drop --user")
    if os.geteuid() != 0:
        raise SystemExit(f"sandbox: --user {user} needs the grader to run as root (it is uid {os.geteuid()})")
    for path in own:
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
                os.chown(name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    return f"user-{user}"


def _connection_ports(argv: list[str]) -> tuple[Path | None, list[int], int | None]:
    """The connection file given to the kernel with -f, the ports in it, and its index in argv."""
    for flag in ("-f", "--f", "--IPKernelApp.connection_file"):
        for i, arg in enumerate(argv):
            value = argv[i + 1] if arg == flag and i + 1 < len(argv) else (
                arg.split("=", 1)[1] if arg.startswith(flag + "=") else None)
            if value:
                path = Path(value)
                info = json.loads(path.read_text())
                return path, [int(info[k]) for k in info if k.endswith("_port")], i
    return None, [], None


_PR_CAPBSET_DROP, _CAP_LAST = 24, 63
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def drop_capabilities() -> bool:
    """For a kernel that stays root: drop every capability (bounding set, effective, permitted,
    inheritable), so that uid 0 means only the owner of root's files (which Landlock and the
    seccomp filter then confine): no reboot, no modules, no raw sockets, no mounts."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(_CAP_LAST + 1):
        libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last capability

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    data = (Data * 2)()
    return libc.capset(ctypes.byref(Header(_LINUX_CAPABILITY_VERSION_3, 0)), data) == 0


# ---------------------------------------------------------------------------------------------
# The reaper: a grading worker and every process it leaves behind
# ---------------------------------------------------------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Orphaned descendants of this process (a double fork, a setsid) become its children, not
    init's, so :func:`kill_descendants` finds them all. False where the OS has no such thing."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def descendants(pid: int) -> list[int]:
    """The live (not zombie) processes below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    states = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
        states[int(entry.name)] = stat[0]
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if states.get(child) not in (b"Z", b"X"):
            found.append(child)
        todo += children.get(child, [])
    return found


def kill_descendants(pid: int | None = None, rounds: int = 200) -> int:
    """SIGKILL every process below ``pid`` (this one by default) until none is left, reaping the
    ones that become this process's children; returns how many were killed. A process forking as
    it is killed leaves orphans that come back here (as a subreaper) for the next round."""
    import signal
    import time

    pid = os.getpid() if pid is None else pid
    killed: set[int] = set()
    for _ in range(rounds):
        alive = descendants(pid)
        if not alive:
            break
        for child in alive:
            try:
                os.kill(child, signal.SIGKILL)
                killed.add(child)
            except OSError:
                pass
        if pid == os.getpid():
            _reap()
        time.sleep(0.01)
    if pid == os.getpid():
        _reap()
    return len(killed)


def _reap() -> None:
    while True:
        try:
            child, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if child == 0:
            return


def reap_main(command: list[str], report: Path, timeout: float) -> int:
    """Run ``command`` as a subreaper; when it ends (or after ``timeout`` s, or on SIGTERM), kill
    everything it left running and write {"returncode", "killed", "timed_out"} to ``report``."""
    import signal
    import subprocess

    subreaper = become_subreaper()
    child = subprocess.Popen(command)
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    timed_out, code = False, None
    deadline = __import__("time").monotonic() + timeout
    while code is None:
        try:
            code = child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if stopped or __import__("time").monotonic() > deadline:
                timed_out = True
                child.kill()
                code = child.wait()
    killed = kill_descendants()
    report.write_text(json.dumps({"returncode": code, "killed": killed, "timed_out": timed_out,
                                  "subreaper": subreaper}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tinychinchilla.sandbox",
        description="Run a Jupyter kernel (the command after --) under resource limits, with reads and writes "
                    "confined, no links, no file-metadata changes, no network and no signals outside it, "
                    "where the OS allows. Used as the kernel command by autograder/grade.py.")
    defaults = Limits()
    for f in fields(Limits):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=int, default=getattr(defaults, f.name),
                       help=f"limit: {f.name.replace('_', ' ')} (default %(default)s; 0 = leave as is)")
    p.add_argument("--write", action="append", type=Path, default=[], metavar="DIR",
                   help="a folder the kernel may write in (repeatable); the working folder always")
    p.add_argument("--read", action="append", type=Path, default=[], metavar="DIR",
                   help="a folder the kernel may read besides the system, this Python and the kit (repeatable)")
    p.add_argument("--user", default=None, help="switch to this unprivileged user first (grader must be root)")
    p.add_argument("--no-landlock", action="store_true", help="apply only the resource limits")
    p.add_argument("--reap", type=Path, default=None, metavar="REPORT",
                   help="instead: run the command, then kill every process it left behind and write a JSON "
                        "report here (a grading worker's wrapper)")
    p.add_argument("--reap-timeout", type=float, default=3900.0, help="with --reap: seconds before the command is killed")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the kernel command")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("sandbox: give the kernel command after --")
    if args.reap is not None:
        raise SystemExit(reap_main(command, args.reap, args.reap_timeout))
    writable = [Path.cwd(), *args.write]
    connection, ports, at = _connection_ports(command)
    layers = []
    if args.user:
        if connection is not None and args.write:
            # the runtime folder is the grader's, closed to other users: the kernel reads a copy
            own_copy = args.write[0] / connection.name
            own_copy.write_bytes(connection.read_bytes())
            os.chmod(own_copy, 0o600)
            if "=" in command[at]:
                command[at] = f"{command[at].split('=', 1)[0]}={own_copy}"
            else:
                command[at + 1] = str(own_copy)
            connection = own_copy
        layers.append(drop_privileges(args.user, writable))
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    layers += [f"rlimit-{name}" for name in apply_limits(limits)]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and drop_capabilities():
        layers.append("root-without-capabilities")
    if not args.no_landlock:
        confined = restrict_self(writable, ports, readable=args.read,
                                 readable_files=[connection] if connection is not None else [])
        layers += confined or ["landlock-unavailable"]
    layers.append("metadata-changes-ignored" if deny_metadata_syscalls() else "metadata-changes-allowed")
    os.environ[STATUS_ENV] = ",".join(layers)
    os.execvp(command[0], command)


# ---------------------------------------------------------------------------------------------
# The guard, inside the kernel
# ---------------------------------------------------------------------------------------------

_PROTECTED_MODULES = ("builtins", "math", "cmath", "numbers", "operator", "numpy", "numpy.testing",
                      "torch", "IPython.display")


def install_guard() -> None:
    """Snapshot what the hidden tests rely on; restore it before every graded test cell.

    Runs as the kernel's first line (``IPKernelApp.exec_lines``), before any student code.
    Restores, before each cell whose source holds the hidden-test marker: the original attributes
    of ``builtins``, ``math``, ``numpy``, ``torch`` and every ``tinychinchilla`` module; those
    modules in ``sys.modules``; and the notebook names that were bound to one of these objects.
    Then it displays a marker the grader looks for (a test cell without it ran with the guard
    removed). It is a best effort inside a process the student controls; the grader's own re-check
    of every answer (outside the kernel) is what makes a wrong number fail for certain.
    """
    import importlib

    from IPython import get_ipython
    from IPython.display import display

    from tinychinchilla.check import PACKAGE_MODULES

    for name in PACKAGE_MODULES:  # loaded now, before any student cell can patch them
        importlib.import_module(f"tinychinchilla.{name}")
    modules = {name: sys.modules[name] for name in sys.modules
               if name in _PROTECTED_MODULES or name == "tinychinchilla" or name.startswith("tinychinchilla.")}
    snapshots = {name: dict(vars(module)) for name, module in modules.items()}
    originals = {id(obj): obj for snap in snapshots.values() for obj in snap.values()}
    originals.update({id(m): m for m in modules.values()})
    shell = get_ipython()
    user_ns = shell.user_ns
    show, marker, restore_dict, callbacks = display, GUARD_MIME, dict.update, shell.events.callbacks
    bound: dict[str, object] = {}

    reset_shell = _shell_resetter(shell)

    def after_cell(*_args) -> None:
        reset_shell(None)  # a transformer or patched method registered by this cell goes
        # names the notebook's own import cells bound to trusted objects, e.g. check, np, fit
        for key, value in list(user_ns.items()):
            if not key.startswith("_") and id(value) in originals and key not in bound:
                bound[key] = value
        # run last, after any hook a student cell registered
        for event, hook in (("pre_run_cell", before_cell), ("post_run_cell", after_cell)):
            if hook in callbacks[event]:
                callbacks[event].remove(hook)
            callbacks[event].append(hook)

    cell_log = os.environ.get(CELL_LOG_ENV)

    def before_cell(info) -> None:
        source = getattr(info, "raw_cell", "") or ""
        if cell_log:  # so the grader can tell which cell a dead kernel died in
            try:
                with open(cell_log, "w") as fh:
                    fh.write(source)
            except OSError:
                pass
        if HIDDEN_MARKER not in source:
            return
        for name, module in modules.items():
            sys.modules[name] = module
            restore_dict(vars(module), snapshots[name])
        user_ns.update(bound)
        reset_shell(source)
        show({marker: {"guard": "ok"}}, raw=True)

    after_cell()


class _Sealed(list):
    """A list of the guard's own AST transformer that a student's code cannot add to."""

    def _refuse(self, *args, **kwargs):
        return None

    append = insert = extend = __setitem__ = __delitem__ = remove = clear = pop = _refuse

    def __iadd__(self, other):
        return self


def _shell_resetter(shell):
    """A function that undoes what a notebook did to IPython's machinery for running a cell.

    IPython rewrites a cell's text with ``input_transformers_*`` *before* the ``pre_run_cell``
    event, and its tree with ``ast_transformers`` after it, and runs it through methods and a
    compiler a notebook can replace. Called with a test cell's source (from ``pre_run_cell``), it
    puts back IPython's own transformers, methods and compiler, and makes the last word on the
    cell's code a transformer that parses the cell as written (through IPython's own default input
    transforms), whatever a student's transformer did to the text before. Called with None (after
    every cell) it only puts the originals back."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    clean = TransformerManager().transform_cell
    names = ("run_cell", "_run_cell", "run_cell_async", "transform_cell", "transform_ast", "run_ast_nodes",
             "run_code", "should_run_async")
    kinds = [type(shell), *type(shell).__mro__]
    class_methods = {(cls, n): cls.__dict__[n] for cls in kinds for n in names if n in cls.__dict__}
    lists = {"input_transformers_post": list(shell.input_transformers_post),
             "ast_transformers": list(shell.ast_transformers)}
    manager, compiler = shell.input_transformer_manager, shell.compile
    manager_lists = {k: list(getattr(manager, k)) for k in ("cleanup_transforms", "line_transforms")}
    compiler_flags = compiler.flags

    class AsWritten(ast.NodeTransformer):
        source = None

        def visit(self, node):
            source, AsWritten.source = AsWritten.source, None
            return node if source is None else ast.parse(clean(source))

    def reset(test_source: str | None) -> None:
        for (cls, name), method in class_methods.items():
            if cls.__dict__.get(name) is not method:
                setattr(cls, name, method)
        for name in names:
            shell.__dict__.pop(name, None)
        shell.input_transformer_manager, shell.compile = manager, compiler
        compiler.flags = compiler_flags
        for key, value in manager_lists.items():
            setattr(manager, key, list(value))
        for key, value in lists.items():
            shell._trait_values[key] = list(value)
        if test_source is not None:
            AsWritten.source = test_source
            sealed = _Sealed([AsWritten()])
            shell._trait_values["ast_transformers"] = sealed

    return reset


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------------------------------------
# nbgrader preprocessors (named in autograder/nbgrader_config.py)
# ---------------------------------------------------------------------------------------------

try:
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool
except ImportError:  # nbgrader/nbconvert are the `course` extra; learners never need these
    Preprocessor, Bool = object, lambda default: default


class ClearTestTracebacks(Preprocessor):
    """Feedback: in graded test cells, keep only ``ErrorName: message`` of an error. The traceback
    would quote the hidden tests' lines (nbgrader's ClearHiddenTests only clears the source).
    The messages of the kit's assertions never contain a reference value. Also drops the answer
    records and guard markers (outputs for the grader, which HTML cannot show) from every cell."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        from .check import ANSWER_MIME

        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.get("outputs", [])
                            if not (out.get("data") and set(out["data"]) <= {ANSWER_MIME, GUARD_MIME})]
        if cell.cell_type == "code" and is_test_cell(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}",
                                        "(the traceback is hidden: it would show the hidden tests)"]
        return cell, resources


class LimitOutputChars(Preprocessor):
    """Autograde: cut any one output to ``max_chars`` characters. nbgrader's LimitOutput counts
    lines, so a single 100 MB line would otherwise be stored in the graded notebook and feedback."""

    enabled = Bool(True)
    max_chars = 100_000

    def preprocess_cell(self, cell, resources, index):
        note = "\n... output truncated by the grader ...\n"
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "stream" and len(out.get("text", "")) > self.max_chars:
                out["text"] = out["text"][: self.max_chars] + note
            data = out.get("data", {})
            for mime, value in list(data.items()):
                if isinstance(value, str) and len(value) > self.max_chars:
                    if mime.startswith("text/"):
                        data[mime] = value[: self.max_chars] + note
                    else:  # a cut image or JSON would be corrupt: drop it
                        del data[mime]
                        data.setdefault("text/plain", note)
        return cell, resources
