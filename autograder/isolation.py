"""Keeping a grading worker's kernel in its place: the grader's half of the isolation.

The kernel's half is ``tinychinchilla.sandbox`` (Landlock, seccomp, limits, the guard). This
module is what ``autograder/grade.py`` does around it: what the kernels may read (:func:`stage_kit`),
which user they run as (:func:`choose_kernel_user`), the worker folder closed to that user
(:func:`close_worker`), nbgrader run under the reaper with its folders capped (:func:`run_worker`),
and everything the kernel left removed without being followed (:func:`clear_folder`,
:data:`SAFE_NBGRADER`, :func:`copy_plain_file`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path


class GradeError(RuntimeError):
    """The batch cannot start (bad course, bad arguments); one clear line for the instructor."""



def close_worker(work: Path, student: str) -> None:
    """For a kernel run as another user: the worker folder is closed to it, but for the way to
    its own folder (traversable, not listable) and its scratch folder (which it is given)."""
    os.chmod(work, 0o711)
    for path in work.iterdir():
        if path.name not in ("submitted", "scratch"):
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
    for path in (work / "submitted", work / "submitted" / student):
        os.chmod(path, 0o711)


def clear_folder(folder: Path, keep: str | None = None) -> list[str]:
    """Empty a folder a kernel wrote in (but for the plain file ``keep`` at its top), never
    following anything in it (lstat only); return the names of the links, hard-linked files,
    fifos, sockets and devices found there."""
    unsafe = []
    if not os.path.lexists(folder):
        folder.mkdir(parents=True)
        return unsafe
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files + dirs:
            path = os.path.join(root, name)
            info = os.lstat(path)
            plain = stat.S_ISREG(info.st_mode) and info.st_nlink == 1
            if keep is not None and root == str(folder) and name == keep and plain:
                continue
            if stat.S_ISDIR(info.st_mode):
                os.rmdir(path)
                continue
            if not plain:
                unsafe.append(os.path.relpath(path, folder))
            os.unlink(path)
    return unsafe


# Appended to each worker's nbgrader_config.py: nbgrader's own steps over the folder the kernel
# wrote in must follow nothing there. set_permissions chmods every file it finds, following links
# (the target's mode would change); here it opens each without following (O_NOFOLLOW, O_NONBLOCK
# for a fifo) and removes what is not a plain file with one name. The writer removes anything but
# a plain file where it writes the graded notebook, instead of writing through a link.
SAFE_NBGRADER = """
import os as _os, stat as _stat
from nbgrader.converters.base import BaseConverter as _Base
from nbconvert.writers import FilesWriter as _Writer

def _safe_set_permissions(self, assignment_id, student_id):
    dest = _os.path.normpath(self._format_dest(assignment_id, student_id))
    mode = int(str(self.permissions), 8)
    for root, dirs, files in _os.walk(dest):
        for name in files:
            path = _os.path.join(root, name)
            try:
                fd = _os.open(path, _os.O_RDONLY | _os.O_NOFOLLOW | _os.O_NONBLOCK)
            except OSError:
                _os.unlink(path)
                continue
            try:
                info = _os.fstat(fd)
                if _stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                    _os.fchmod(fd, mode)
                else:
                    _os.unlink(path)
            finally:
                _os.close(fd)

_write = _Writer.write

def _safe_write(self, output, resources, notebook_name=None, **kw):
    dest = _os.path.join(self.build_directory, (notebook_name or "notebook") + resources.get("output_extension", ""))
    if _os.path.lexists(dest) and (not _stat.S_ISREG(_os.lstat(dest).st_mode) or _os.lstat(dest).st_nlink > 1):
        _os.unlink(dest)
    return _write(self, output, resources, notebook_name=notebook_name, **kw)

_Base.set_permissions = _safe_set_permissions
_Writer.write = _safe_write
"""


def folder_usage(folders: list[Path], max_files: int) -> tuple[int, int]:
    """(bytes, entries) beneath ``folders``, by lstat; stops counting past ``max_files``."""
    size = count = 0
    todo = [str(f) for f in folders]
    while todo and count <= max_files:
        try:
            entries = list(os.scandir(todo.pop()))
        except OSError:
            continue
        for entry in entries:
            count += 1
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            size += info.st_blocks * 512 if hasattr(info, "st_blocks") else info.st_size
            if stat.S_ISDIR(info.st_mode):
                todo.append(entry.path)
    return size, count


def run_worker(cmd: list[str], work: Path, env: dict, budget: float, watched: list[Path],
               args: argparse.Namespace) -> dict:
    """Run one nbgrader command of a worker under the reaper (``tinychinchilla.sandbox --reap``):
    its output goes to a file (never a pipe, whose end a detached child could hold), the folders
    the kernel writes are watched against the caps, and when it ends every process it left
    behind (detached, double-forked, in a session of its own) is killed and counted."""
    log, report = work / "nbgrader.log", work / "reaper.json"
    report.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tinychinchilla.sandbox", "--reap", str(report), "--reap-timeout", str(budget),
            "--", *cmd]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, umask=0o077)
    overflow, deadline = None, time.monotonic() + budget + 120
    cap_bytes, cap_files = args.folder_mb * 2**20, args.folder_files
    while True:
        try:
            proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pass
        size, count = folder_usage(watched, cap_files)
        if overflow is None and (size > cap_bytes or count > cap_files):
            overflow = f"{size / 2**20:.0f} MB in {count}{'+' if count > cap_files else ''} files"
            proc.terminate()  # the reaper then kills the whole tree
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            break
    try:
        info = json.loads(report.read_text())
    except (OSError, ValueError):
        info = {"killed": 0, "returncode": proc.returncode}
    info["overflow"] = overflow
    info["log"] = log.read_text(errors="replace")
    return info


def copy_plain_file(source: Path, target: Path) -> None:
    """Copy a file only when it is a plain file with one name (never through a link)."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise GradeError(f"{source.name} is not a plain file: not copied")
        with os.fdopen(os.dup(fd), "rb") as src, open(target, "xb") as dst:
            shutil.copyfileobj(src, dst)
    finally:
        os.close(fd)


def stage_kit(kit: Path, env: dict, args: argparse.Namespace) -> None:
    """What the kernels may read besides the system and the installed package: a copy of the
    kit's cache (corpus, compiled objective) and of small_runs/, readable by any user, so that
    neither the instructor's home nor the checkout (with its solutions) needs to be readable."""
    from tinychinchilla.data import cache_dir
    from tinychinchilla.runs import ENV_VAR, small_runs_dir

    os.chmod(kit, 0o755)
    shutil.copytree(cache_dir(), kit / "cache", symlinks=False, ignore=shutil.ignore_patterns("*.tmp", "tmp*"))
    env["TINYCHINCHILLA_CACHE"] = str(kit / "cache")
    try:
        shutil.copytree(small_runs_dir(), kit / "small_runs", symlinks=False)
        env[ENV_VAR] = str(kit / "small_runs")
    except FileNotFoundError:
        pass
    for root, dirs, files in os.walk(kit):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    args.kernel_reads = [kit]
    args.kernel_user = choose_kernel_user(args, env)


def choose_kernel_user(args: argparse.Namespace, env: dict) -> str | None:
    """The user kernels run as: --user; as root by default ``nobody``, when that user can run
    the kit (else root, said in a note); None when the grader is not root."""
    if args.no_sandbox or not hasattr(os, "geteuid") or os.geteuid() != 0:
        if args.user not in (None, "root"):
            raise GradeError(f"--user {args.user} needs the grader to run as root (it runs as uid {os.geteuid()})")
        return None
    if args.user == "root":
        return None
    import pwd

    name = args.user or "nobody"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if args.user:
            raise GradeError(f"no user named {name!r}: create one (`useradd --system --no-create-home grader`)")
        return None
    try:
        probe = subprocess.run([sys.executable, "-c", "import tinychinchilla.sandbox, IPython, numpy"], env=env,
                               cwd="/", user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                               capture_output=True, text=True)
    except OSError as exc:  # cannot even start this Python
        probe = subprocess.CompletedProcess([], 1, "", f"{exc.strerror}: {exc.filename}")
    if probe.returncode != 0:
        if args.user:
            raise GradeError(f"user {name} cannot run the kit ({(probe.stderr.strip().splitlines() or ['?'])[-1][:200]}): "
                             f"install it where every user can read it (e.g. a virtual environment under /opt)")
        args.kernel_user_note = (f"kernels run as root without capabilities: user nobody cannot run this "
                                 f"Python or the kit ({sys.executable}); see autograder/README.md")
        return None
    return name


def sandbox_notes(args: argparse.Namespace, env: dict) -> list[str]:
    """What the kernels' confinement lacks on this machine, one line each (empty when complete)."""
    from tinychinchilla.sandbox import landlock_abi

    if args.no_sandbox:
        return ["--no-sandbox: kernels run unconfined (trusted notebooks only)"]
    notes = [args.kernel_user_note] if getattr(args, "kernel_user_note", None) else []
    abi = landlock_abi()
    if abi < 1:
        notes.append("this OS has no Landlock: kernels can read and write what their user can "
                     + ("(an unprivileged user here)" if args.kernel_user else "(the grader's files!)")
                     + "; run in a container (see autograder/README.md)")
    elif abi < 6:
        notes.append(f"Landlock ABI {abi}: kernels are confined in files; network needs ABI 4, signals ABI 6")
    if not args.kernel_user and os.geteuid() != 0:
        notes.append("kernels run as your user: they cannot chmod/chown/utime (seccomp) or reach your files "
                     "(Landlock), but share your process limit")
    return notes
