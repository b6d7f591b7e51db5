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

The jail's layers live in ``_sandbox_layers`` and the guard in ``_sandbox_guard``, both
re-exported here; this module runs the kernel (``main``), reaps what a grading worker leaves
behind, and holds the nbgrader preprocessors.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from ._sandbox_guard import (  # noqa: F401  (re-exported: sandbox.X as before the split)
    _PROTECTED_MODULES, CELL_LOG_ENV, GUARD_MIME, HIDDEN_MARKER, _Sealed, _shell_resetter, install_guard)
from ._sandbox_layers import (  # noqa: F401
    _BPF_JEQ_K, _BPF_JGE_K, _BPF_LD_W_ABS, _BPF_RET_K, _CAP_LAST, _CREATE_RULESET_VERSION, _FS_ALL_V1,
    _FS_EXECUTE, _FS_MAKE_BLOCK, _FS_MAKE_CHAR, _FS_MAKE_DIR, _FS_MAKE_FIFO, _FS_MAKE_REG, _FS_MAKE_SOCK,
    _FS_MAKE_SYM, _FS_OWN, _FS_READ, _FS_READ_DIR, _FS_READ_FILE, _FS_REFER, _FS_REMOVE_DIR,
    _FS_REMOVE_FILE, _FS_TRUNCATE, _FS_WRITE_FILE, _LINUX_CAPABILITY_VERSION_3, _METADATA_SYSCALLS,
    _NET_BIND_TCP, _NET_CONNECT_TCP, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP,
    _RULE_NET_PORT, _RULE_PATH_BENEATH, _SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL, _SECCOMP_MODE_FILTER,
    _SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO, _SYS_ADD_RULE, _SYS_CREATE_RULESET, _SYS_RESTRICT_SELF,
    ETC_SECRETS, SYSTEM_READ, Limits, _NetPortAttr, _PathBeneathAttr, _RulesetAttr, _SockFilter, _SockFprog,
    apply_limits, deny_metadata_syscalls, drop_capabilities, drop_privileges, landlock_abi,
    python_read_roots, restrict_self)

STATUS_ENV = "TINYCHINCHILLA_SANDBOX"


def grade_id(cell) -> str | None:
    """The nbgrader grade id of a notebook cell (a dict or a NotebookNode), or None."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_test_cell(cell) -> bool:
    """A graded cell that is not an answer: an nbgrader test cell, whose source nbgrader restores."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade") and not meta.get("solution"))


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
