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
_FS_WRITE_FILE = 1 << 1
_FS_WRITE_DIR = sum(1 << bit for bit in (4, 5, 6, 7, 8, 9, 10, 11, 12))  # remove / make entries
_FS_REFER, _FS_TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_PR_SET_NO_NEW_PRIVS = 38


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


def restrict_self(writable: list[Path], bind_ports: list[int]) -> list[str]:
    """Landlock this process: writes only beneath ``writable`` (and to /dev/null), no TCP connect,
    TCP bind only on ``bind_ports``, no signals or abstract sockets outside. Returns the layers
    applied; an empty list when Landlock is unavailable (the caller reports it)."""
    abi = landlock_abi()
    if abi < 1:
        return []
    libc = ctypes.CDLL(None, use_errno=True)
    fs = _FS_WRITE_FILE | _FS_WRITE_DIR | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
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
            rule = _PathBeneathAttr(access, fd)
            libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                         ctypes.byref(rule), ctypes.c_uint32(0))
        finally:
            os.close(fd)

    try:
        for folder in writable:
            allow_path(Path(folder), fs)
        allow_path(Path("/dev/null"), _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0))
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
    layers = ["writes-confined"]
    if net:
        layers.append("no-network")
    if scoped:
        layers.append("signals-confined")
    return layers


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


def _connection_ports(argv: list[str]) -> tuple[Path | None, list[int]]:
    """The connection file given to the kernel with -f, and the ports in it."""
    for flag in ("-f", "--f", "--IPKernelApp.connection_file"):
        for i, arg in enumerate(argv):
            value = argv[i + 1] if arg == flag and i + 1 < len(argv) else (
                arg.split("=", 1)[1] if arg.startswith(flag + "=") else None)
            if value:
                path = Path(value)
                info = json.loads(path.read_text())
                return path, [int(info[k]) for k in info if k.endswith("_port")]
    return None, []


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tinychinchilla.sandbox",
        description="Run a Jupyter kernel (the command after --) under resource limits, with writes "
                    "confined to the given folders, no network and no signals outside it, where the "
                    "OS allows. Used as the kernel command by autograder/grade.py.")
    defaults = Limits()
    for f in fields(Limits):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=int, default=getattr(defaults, f.name),
                       help=f"limit: {f.name.replace('_', ' ')} (default %(default)s; 0 = leave as is)")
    p.add_argument("--write", action="append", type=Path, default=[], metavar="DIR",
                   help="a folder the kernel may write in (repeatable); the working folder always")
    p.add_argument("--user", default=None, help="switch to this unprivileged user first (grader must be root)")
    p.add_argument("--no-landlock", action="store_true", help="apply only the resource limits")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the kernel command")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("sandbox: give the kernel command after --")
    writable = [Path.cwd(), *args.write]
    connection, ports = _connection_ports(command)
    layers = []
    if args.user:
        if connection is not None:
            os.chown(connection, *_ids(args.user))
        layers.append(drop_privileges(args.user, writable))
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    layers += [f"rlimit-{name}" for name in apply_limits(limits)]
    if not args.no_landlock:
        confined = restrict_self(writable, ports)
        layers += confined or ["landlock-unavailable"]
    os.environ[STATUS_ENV] = ",".join(layers)
    os.execvp(command[0], command)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


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

    def after_cell(*_args) -> None:
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
        show({marker: {"guard": "ok"}}, raw=True)

    after_cell()


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
