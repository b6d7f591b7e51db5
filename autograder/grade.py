"""Grade a whole class in one command: import, autograde in parallel, feedback, grades out.

    python autograder/grade.py SUBMISSIONS            # a folder or an LMS .zip download
    python autograder/grade.py --help

SUBMISSIONS is either nbgrader's layout, ``<student>/<assignment>/<assignment>.ipynb`` (as
``nbgrader collect`` leaves it), or a learning-management system's download, a .zip or its folder
(Canvas, Moodle, Blackboard, or ``<student>_..._<NN-name>.ipynb``: autograder/lms.py), the latest
resubmission of each student winning and every other file listed. The assignment of a file is the
lesson it is: ``01-tiny-transformer``.

What happens, all with nbgrader's own commands:

1. the assignments are (re)recorded from ``solutions/`` in the course's gradebook;
2. every submission is checked (readable notebook? known assignment? renamed?) and copied to the
   course's ``submitted/`` folder;
3. each (student, assignment) is autograded by ``nbgrader autograde`` in its own throwaway course
   folder, ``--jobs`` at a time: nbgrader writes one sqlite gradebook serially, so each worker has
   its own and only this process writes the course's gradebook, merging one finished submission
   at a time. One student's code never runs where another student's grades are.
   The kernel runs jailed (``tinychinchilla.sandbox``: resource limits; reads confined to the
   system, Python and the kit; writes to its own folder, no links or special files; chmod, chown
   and utime ignored; no network, no signals outside; as root, another user or no capabilities)
   and guarded (hidden tests see the original ``math.isclose``, ``check``, IPython machinery...).
   Nothing it leaves in its folder is followed or kept; every process it leaves is killed. Every
   answer a hidden test saw is judged again here, outside the kernel: a test cell only keeps its
   points when its answers are right here too;
4. feedback HTML per submission, without hidden tests in the cells or in any traceback;
5. ``reports/``: ``grades.csv`` with ``canvas-grades.csv`` and ``moodle-<assignment>.csv`` (as
   ``grade.py export``: autograder/term.py), ``questions.csv`` (per question: mean,
   share correct), ``submissions.csv`` (score and problems of every submission) and
   ``summary.txt``. A progress bar runs while grading; a summary line ends it.

Nothing a submission does aborts the batch: a problem becomes that submission's score and a line
in the summary. See autograder/README.md for the score each kind of broken or hostile submission
gets, and for grading as an unprivileged user.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_lessons as build  # noqa: E402  (autograder/build_lessons.py: nbgrader plumbing)
import lms  # noqa: E402  (autograder/lms.py: LMS download layouts)
import term  # noqa: E402  (autograder/term.py: stale hand grades, final grades, feedback again)
import variants  # noqa: E402  (autograder/variants.py: graded assignments, per-student variants)
from isolation import (GradeError, SAFE_NBGRADER, clear_folder, close_worker, copy_plain_file,  # noqa: E402
                       run_worker, sandbox_notes, stage_kit)
from tinychinchilla.sandbox import CELL_LOG_ENV, grade_id as _grade_id, is_test_cell  # noqa: E402

ROOT = HERE.parent
HIDDEN_ASSERT = re.compile(r"check\.assert_answer\(\s*[\"'](\d\d\.[a-z0-9_]+)[\"']")
GRADE_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "SYSTEMROOT", "VIRTUAL_ENV",
                  "CONDA_PREFIX", "PYTHONPATH", "TINYCHINCHILLA_CACHE")


@dataclass
class Submission:
    """One (student, assignment) pair, and what was found wrong with it before grading."""

    student: str
    assignment: str
    notebook: Path | None = None          # the file to grade, None when there is nothing gradable
    problems: list[str] = field(default_factory=list)
    score: float = 0.0
    max_score: float = 0.0
    cells: dict[str, float] = field(default_factory=dict)   # grade id -> score
    seconds: float = 0.0
    regrade: list[str] = field(default_factory=list)   # hand grades cleared: the answer changed
    checksums: dict[str, str] = field(default_factory=dict)  # grade id -> checksum of the answer (term.py)
    lms_user: str = ""                    # "canvas:<user id>" / "moodle:<participant id>", from the download's names


# ---------------------------------------------------------------------------------------------
# The course
# ---------------------------------------------------------------------------------------------


def config_shim(course_root: Path) -> str:
    """An nbgrader_config.py for a course folder other than autograder/: the course's own config,
    with the root and the gradebook moved there."""
    source = HERE / "nbgrader_config.py"
    return (f"# written by autograder/grade.py: {source} with the course moved here\n"
            f"__file__ = {str(source)!r}\n"
            f"exec(compile(open(__file__).read(), __file__, 'exec'))\n"
            f"c.CourseDirectory.root = {str(course_root)!r}\n"
            f"c.CourseDirectory.db_url = {('sqlite:///' + str(course_root / 'gradebook.db'))!r}\n"
            f"c.Exchange.root = {str(course_root / 'exchange')!r}\n"
            f"__import__('os').makedirs(c.Exchange.root, exist_ok=True)\n")


def prepare_course(course_root: Path, solutions: Path, assignments: list[str] | None) -> list[str]:
    """Record the assignments in the course's gradebook (creating it); return their ids."""
    paths = build.solution_paths(solutions, assignments)
    if not paths:
        raise GradeError(f"no solution notebooks (NN-name.ipynb) in {solutions}")
    course_root.mkdir(parents=True, exist_ok=True)
    if course_root.resolve() != HERE and not (course_root / "nbgrader_config.py").exists():
        (course_root / "nbgrader_config.py").write_text(config_shim(course_root.resolve()))
    build.generate(paths, course_root, course_root / "gradebook.db", use_db=True)
    return [p.stem for p in paths]


def kernel_spec(folder: Path, scratch: Path, args: argparse.Namespace) -> None:
    """A `python3` kernel spec that nbgrader picks up (JUPYTER_PATH) in place of the plain one:
    the kernel runs inside the sandbox and installs the guard before any cell."""
    guard = "--IPKernelApp.exec_lines=__import__('tinychinchilla.sandbox').sandbox.install_guard()"
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", guard]
    if args.no_sandbox:
        argv = kernel
    else:
        argv = [sys.executable, "-m", "tinychinchilla.sandbox", "--write", str(scratch),
                "--memory-mb", str(args.memory_mb), "--cpu-seconds", str(args.cpu_seconds),
                "--file-mb", str(args.file_mb), "--processes", str(max(256, 64 * args.jobs))]
        for readable in args.kernel_reads:
            argv += ["--read", str(readable)]
        if args.kernel_user:
            argv += ["--user", args.kernel_user]
        argv += ["--", *kernel]
    spec_dir = folder / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3 (graded)", "language": "python"}, indent=1))


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------


def _grade_ids(path: Path) -> set[str]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        return {_grade_id(c) for c in nb.get("cells", [])} - {None}
    except (OSError, ValueError, AttributeError):
        return set()


def read_problem(path: Path) -> str | None:
    """Why ``path`` cannot be graded as a notebook, or None when it can."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return "a link or special file, not a notebook (not followed)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "not a notebook (the file is not UTF-8 text)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    try:
        json.loads(text)
    except ValueError as exc:
        return f"not a notebook: invalid JSON ({exc})"
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds for a malformed notebook
        return f"not a valid notebook ({str(exc).splitlines()[0][:120]})"
    return None


def collect_nbgrader_layout(folder: Path, known: list[str], expected_ids: dict[str, set[str]]) -> list[Submission]:
    """Submissions laid out as <student>/<assignment>/<files>."""
    found = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            sub = Submission(student_dir.name, assignment_dir.name)
            found.append(sub)
            if sub.assignment not in known:
                sub.problems.append(f"unknown assignment {sub.assignment!r}: not graded (the course has "
                                    f"{', '.join(known)})")
                continue
            expected = assignment_dir / f"{sub.assignment}.ipynb"
            if expected.is_file():
                sub.notebook = expected
                continue
            # A renamed notebook is graded when its cells are this assignment's cells.
            others = [p for p in sorted(assignment_dir.glob("*.ipynb")) if _grade_ids(p) & expected_ids[sub.assignment]]
            if others:
                sub.notebook = others[0]
                sub.problems.append(f"notebook renamed to {others[0].name!r}: graded as {expected.name}")
            else:
                names = ", ".join(p.name for p in assignment_dir.iterdir()) or "nothing"
                sub.problems.append(f"no {expected.name} submitted (found {names}): scored 0")
    return found


def collect_lms(source: Path, known: list[str], expected_ids: dict[str, set[str]], regexp: str | None,
                staging: Path) -> tuple[list[Submission], list[tuple[str, str]]]:
    """A flat folder or .zip of LMS-named files (Canvas, Moodle, Blackboard: autograder/lms.py),
    extracted into ``staging``; returns the submissions (the latest per student and assignment)
    and every file of the archive that is not graded, with the reason."""
    files, refused = lms.extract(source, staging)
    result = lms.sort_files(files, known, expected_ids, regexp)
    subs = []
    for (student, assignment), found in sorted(result.chosen.items()):
        kind = "moodle" if lms._MOODLE.match(found.name) else "canvas" if lms._CANVAS.match(found.name) else ""
        sub = Submission(student, assignment, notebook=found.path,
                         lms_user=f"{kind}:{found.user}" if kind and found.user else "")
        older = result.older.get((student, assignment), [])
        if older:
            sub.problems.append(f"graded the latest submission {found.name!r}; not graded: "
                                + ", ".join(repr(n) for n in older))
        subs.append(sub)
    return subs, refused + result.not_graded


def import_submissions(source: Path, course_root: Path, known: list[str], regexp: str | None,
                       env: dict) -> tuple[list[Submission], list[tuple[str, str]]]:
    """The submissions, copied into the course's submitted/, and the files that are not graded."""
    if not source.exists():
        raise GradeError(f"{source} does not exist: give a folder of submissions or an LMS .zip")
    expected_ids = {a: _grade_ids(course_root / "source" / a / f"{a}.ipynb") for a in known}
    layout = source.is_dir() and any(p.is_dir() and any(q.is_dir() for q in p.iterdir())
                                     for p in source.iterdir() if not p.name.startswith("."))
    layout = layout and not any(" " in p.name or "_assignsubmission_" in p.name for p in source.iterdir())
    if not layout and not (source.is_dir() or zipfile.is_zipfile(source)):
        raise GradeError(f"{source} is neither a folder nor a .zip file")
    # an LMS download is extracted into a staging folder, removed once its files are copied.
    staging = None if layout else Path(tempfile.mkdtemp(prefix="tinychinchilla-lms-"))
    not_graded: list[tuple[str, str]] = []
    try:
        if layout:
            subs = collect_nbgrader_layout(source, known, expected_ids)
        else:
            subs, not_graded = collect_lms(source, known, expected_ids, regexp, staging)
        _copy_into_course(subs, course_root)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    if not subs:
        listed = "; ".join(f"{n} ({why})" for n, why in not_graded[:10])
        raise GradeError(f"no submissions found in {source}: expected <student>/<assignment>/<assignment>.ipynb, "
                         f"or an LMS download (Canvas, Moodle, Blackboard){': ' + listed if listed else ''}")
    return subs, not_graded


def _copy_into_course(subs: list[Submission], course_root: Path) -> None:
    """Every submitted file into the course's submitted/ (the instructor keeps every file, graded
    or not); an unreadable notebook is marked there and not graded."""
    for sub in subs:
        if sub.notebook is None:
            continue
        problem = read_problem(sub.notebook)
        target = course_root / "submitted" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() and sub.notebook != target:
            target.unlink()
        same = target.exists() and sub.notebook.resolve() == target.resolve()  # graded in place
        if (not problem or not problem.startswith("a link")) and not same:
            shutil.copyfile(sub.notebook, target)
        sub.notebook = target
        if problem:
            sub.problems.append(f"{problem}: scored 0")
            sub.notebook = None


# ---------------------------------------------------------------------------------------------
# Grading one submission in its own course folder
# ---------------------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path, env: dict, what: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise GradeError(f"nbgrader {what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def base_env() -> dict:
    """The environment of nbgrader and its kernels: the essentials of ours, one thread per kernel,
    no warnings (a graded cell writing to stderr scores 0), and the corpus cache pinned."""
    from tinychinchilla.data import cache_dir

    env = {k: os.environ[k] for k in GRADE_ENV_KEEP if k in os.environ}
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = scripts + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", PYTHONDONTWRITEBYTECODE="1",
               OMP_WAIT_POLICY="PASSIVE", TINYCHINCHILLA_CACHE=str(cache_dir()))
    # a graded assignment's references stay out of the kernels (they check form only); recheck()
    # judges its answers here, with each student's variant
    env["TINYCHINCHILLA_REFERENCES"] = ""
    return env


def grade_one(sub: Submission, template: Path, work: Path, args: argparse.Namespace, env: dict) -> Path:
    """Autograde one submission in ``work`` (a fresh course); return the autograded notebook.

    The worker course holds the assignment's gradebook (nbgrader takes the tests from it) and
    no source notebook. The kernel runs in ``autograded/<student>/<assignment>/`` (nbgrader
    executes the sanitized copy where it writes it); after the run everything there but the
    graded notebook is removed by lstat, never followed, and nbgrader's own walk over that
    folder is made safe too (:data:`SAFE_NBGRADER`)."""
    assignment, student = sub.assignment, sub.student
    (work / "source" / assignment).mkdir(parents=True)
    shutil.copy(template / "gradebook.db", work / "gradebook.db")
    (work / "nbgrader_config.py").write_text(
        config_shim(work) +
        f"c.Execute.timeout = {args.timeout}\n"
        # a kernel that dies is restarted once by nbgrader; a second death ends the notebook
        "c.Execute.execute_retries = 0\n" + SAFE_NBGRADER)
    scratch = work / "scratch"
    kernel_spec(work / "jupyter", scratch, args)
    folder = work / "submitted" / student / assignment
    folder.mkdir(parents=True)
    target = folder / f"{assignment}.ipynb"
    pristine = work / "submission.ipynb"  # the notebook as graded, out of the kernel's reach
    shutil.copyfile(sub.notebook, pristine)
    sanitize(pristine, sub, template / "release" / assignment / f"{assignment}.ipynb")
    if args.kernel_user:
        close_worker(work, student)
    env = dict(env, JUPYTER_PATH=str(work / "jupyter"), JUPYTER_RUNTIME_DIR=str(work / "runtime"),
               JUPYTER_CONFIG_DIR=str(work / "jupyter-config"), IPYTHONDIR=str(scratch / "ipython"),
               TMPDIR=str(scratch), MPLCONFIGDIR=str(scratch / "matplotlib"))
    env[CELL_LOG_ENV] = str(scratch / "running-cell.py")
    budget = args.timeout * 60 + 300  # far above any honest notebook; only a wedged nbgrader hits it
    graded = work / "autograded" / student / assignment / f"{assignment}.ipynb"
    left: list[str] = []
    run = {"log": ""}
    try:
        for _attempt in range(3):
            left += clear_folder(folder) + clear_folder(scratch) + clear_folder(graded.parent)
            (scratch / "matplotlib").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pristine, target)
            run = run_worker(["nbgrader", "autograde", assignment, "--student", student, "--force"],
                             work, env, budget, [graded.parent, scratch], args)
            if run["killed"]:
                sub.problems.append(f"{run['killed']} process{'es' * (run['killed'] > 1)} it left running "
                                    f"{'were' if run['killed'] > 1 else 'was'} killed")
            if run["overflow"]:
                raise GradeError(f"its kernel wrote {run['overflow']} in its folders, over the cap of "
                                 f"{args.folder_mb} MB / {args.folder_files} files: grading stopped")
            if graded.exists():
                return graded
            if "DeadKernelError" not in run["log"] or not skip_killer_cell(pristine, scratch / "running-cell.py", sub):
                break
    finally:
        left += clear_folder(scratch) + clear_folder(graded.parent, keep=graded.name)
        if left:
            sub.problems.append(f"its kernel left {len(left)} link{'s' * (len(left) > 1)} or special file"
                                f"{'s' * (len(left) > 1)} ({', '.join(sorted(set(left))[:3])}): removed unread")
    tail = [line for line in run["log"].strip().splitlines() if "ERROR" in line][:1] or ["no log"]
    raise GradeError(f"nbgrader could not grade it ({tail[0][:200]})")


def skip_killer_cell(notebook: Path, cell_log: Path, sub: Submission) -> bool:
    """The kernel died (os._exit, a crash): nbgrader then grades nothing. Replace the student cell
    that was running with one that raises, so the rest is graded as a careful instructor would.
    False when that cell cannot be found or is a test cell (those are restored from the source)."""
    try:
        source = cell_log.read_text()
    except OSError:
        return False
    nb = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source == source and not is_test_cell(cell):
            cell.source = ("raise RuntimeError('the grader skipped this cell: it stopped the Python kernel "
                           "(os._exit, a crash or similar)')")
            nbformat.write(nb, notebook)
            sub.problems.append(f"cell {index} stopped the kernel; graded with that cell skipped")
            cell_log.unlink()
            return True
    return False


NBGRADER_FIELDS = ("grade", "solution", "locked", "points", "task", "grade_id")


def _without_hidden_region(source: str) -> str:
    """The source less its hidden-test regions, markers and all (an unclosed region runs to the end),
    the way nbgrader's ClearHiddenTests strips a test cell; a stray marker line goes too."""
    kept, hidden = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden and "HIDDEN TESTS" not in line:
            kept.append(line)
    return "\n".join(kept)


def sanitize(notebook: Path, sub: Submission, release: Path) -> None:
    """Before grading, repair what would make nbgrader 0.9.6 fail on the whole notebook:

    * a grade id used twice: only the first cell keeps its nbgrader metadata (as nbgrader's
      DeduplicateIds means to; nbgrader itself then fails on the stripped copies);
    * nbgrader metadata changed or lost (one flag flipped by an editor, a notebook rebuilt by
      another tool) is repaired field by field from the released notebook, matching the cell by
      its grade id, else by its cell id; nbgrader cells missing altogether are put back from it,
      as released: nbgrader's add_missing_cells fails when the cell before a missing test cell is
      missing too (a deleted answer with its test), and grades nothing when metadata is lost.

    The student's own code is never edited: a ``BEGIN HIDDEN TESTS`` in a student's cell is
    harmless to Python, and only the copy that feedback is made from is changed (see
    :func:`neutralize_markers`)."""
    nb = nbformat.read(notebook, as_version=4)
    released = [c for c in nbformat.read(release, as_version=4).cells if _grade_id(c)]
    by_grade_id = {_grade_id(c): c for c in released}
    by_cell_id = {c.get("id"): c for c in released}
    test_ids = {_grade_id(c) for c in released if is_test_cell(c)} | {c.get("id") for c in released if is_test_cell(c)}
    seen, changed = set(), False
    for index, cell in enumerate(nb.cells):
        grade_id = _grade_id(cell)
        if grade_id is not None and grade_id in seen:
            del cell.metadata["nbgrader"]
            sub.problems.append(f"cell {index} repeats grade id {grade_id!r}: only the first one is graded")
            changed = True
        # a copy of a released test cell that is not graded as one: its hidden region goes (only
        # there: a hidden region in a student's own cell is the student's text)
        if ({grade_id, cell.get("id")} & test_ids and "HIDDEN TESTS" in cell.get("source", "")
                and (grade_id in seen or not is_test_cell(cell))):
            cell.source = _without_hidden_region(cell.source)
            changed = True
        if grade_id is not None and grade_id in seen:
            grade_id = None
        seen.add(grade_id)
    restored, repaired = 0, []
    for cell in nb.cells:
        grade_id = _grade_id(cell)
        origin = by_grade_id.get(grade_id) if grade_id else by_cell_id.get(cell.get("id"))
        if origin is None or (grade_id is None and _grade_id(origin) in seen):
            continue
        want = origin.metadata.nbgrader
        have = cell.get("metadata", {}).get("nbgrader")
        if have is None:
            cell.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(want)
            seen.add(_grade_id(origin))
            restored += 1
            continue
        wrong = [k for k in NBGRADER_FIELDS if k in want and have.get(k) != want[k]]
        if wrong:
            cell.metadata["nbgrader"] = copy.deepcopy(want)
            repaired.append(f"{_grade_id(origin)}: {', '.join(wrong)}")
    if restored:
        sub.problems.append(f"nbgrader metadata of {restored} cell{'s' * (restored > 1)} restored from the released notebook")
    if repaired:
        sub.problems.append(f"nbgrader metadata repaired from the released notebook ({'; '.join(repaired)})")
    # Put missing cells back after the last released cell that precedes them in the submission.
    position = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
    after, missing = -1, []
    for cell in released:
        if _grade_id(cell) in position:
            after = position[_grade_id(cell)]
        else:
            missing.append((after, copy.deepcopy(cell)))
    for after, cell in reversed(missing):
        nb.cells.insert(after + 1, cell)
    if missing:
        sub.problems.append(f"{len(missing)} nbgrader cell{'s' * (len(missing) > 1)} missing from the submission put back as released "
                            f"({', '.join(_grade_id(c) for _, c in missing)})")
    if changed or restored or repaired or missing:
        nbformat.write(nb, notebook)


def neutralize_markers(notebook: Path) -> None:
    """In the graded copy that feedback is made from: a hidden-test marker in a cell that is not a
    test cell (a student's comment) is written ``HIDDEN-TESTS``, so nbgrader's ClearHiddenTests
    neither strips the student's code from the feedback nor refuses the notebook. Test cells
    keep theirs: nbgrader restored them from the gradebook, and their hidden region is removed."""
    nb = nbformat.read(notebook, as_version=4)
    changed = False
    for cell in nb.cells:
        if not is_test_cell(cell) and "HIDDEN TESTS" in cell.source:
            cell.source = cell.source.replace("HIDDEN TESTS", "HIDDEN-TESTS")
            changed = True
    if changed:
        nbformat.write(nb, notebook)


def cell_problems(graded: Path) -> list[str]:
    """What went wrong while the notebook ran, one short phrase each (timeouts, crashes, errors)."""
    nb = nbformat.read(graded, as_version=4)
    notes, errors = [], 0
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            name = out.get("ename", "")
            if name == "CellTimeoutError":
                notes.append(f"cell {index} timed out")
            elif name in ("DeadKernelError", "SystemExit") or "kernel died" in out.get("evalue", "").lower():
                notes.append(f"cell {index}: {name or 'kernel died'}")
            else:
                errors += 1
    if errors:
        notes.append(f"{errors} cell{'s' if errors > 1 else ''} raised errors")
    return notes


def recheck(graded: Path, scores: dict[str, float], guard_expected: bool, student: str | None = None) -> dict[str, str]:
    """Judge again, in this process, every answer the hidden tests saw; {grade id: why it fails}
    for test cells that scored but must not (an answer wrong here, a missing answer record, or
    the guard removed). A graded assignment's answers are judged against ``student``'s variant
    with the instructor's references (the kernel checked their form only)."""
    from tinychinchilla.sandbox import GUARD_MIME

    check = variants.use_references()
    key = variants.secret()

    failures = {}
    for cell in nbformat.read(graded, as_version=4).cells:
        grade_id = _grade_id(cell)
        if cell.cell_type != "code" or not is_test_cell(cell) or not scores.get(grade_id):
            continue
        datas = [out.get("data", {}) for out in cell.get("outputs", []) if out.get("output_type") == "display_data"]
        if guard_expected and not any(GUARD_MIME in d for d in datas):
            failures[grade_id] = "the grading guard did not run before this test (removed by the notebook?)"
            continue
        seen = {}
        for d in datas:
            record = d.get(check.ANSWER_MIME)
            if isinstance(record, dict) and isinstance(record.get("question"), str):
                seen.setdefault(record["question"], []).append(record.get("value"))
        for qid in HIDDEN_ASSERT.findall(cell.source):
            values = seen.get(qid)
            if not values:
                failures[grade_id] = f"{qid}: no answer reached the hidden test (its check was replaced?)"
            elif student is not None and check.question(qid).lesson in {a[:2] for a in variants.graded_assignments()}:
                verdicts = [variants.judge(qid, v, student, key) for v in values]
                if not all(v.passed for v in verdicts):
                    failures[grade_id] = next(v.message for v in verdicts if not v.passed).rstrip(".")
            elif not all(check.judge(qid, v).passed for v in values):
                failures[grade_id] = f"{qid}: the answer is wrong when checked outside the notebook"
    return failures


def override(gradebook: Path, sub: Submission, failures: dict[str, str]) -> None:
    """Set the failed test cells' automatic score to 0, with the reason as nbgrader's comment."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook}") as gb:
        for grade_id, reason in failures.items():
            grade = gb.find_grade(grade_id, sub.assignment, sub.assignment, sub.student)
            grade.auto_score = 0.0
            grade.manual_score = None
            try:
                comment = gb.find_comment(grade_id, sub.assignment, sub.assignment, sub.student)
                comment.auto_comment = f"Scored 0 by the grader: {reason}."
            except Exception:  # a test cell has no comment row in some nbgrader versions
                pass
        gb.db.commit()


def feedback(course_root: Path, subs: list[Submission], env: dict, jobs: int) -> None:
    """`nbgrader generate_feedback` per assignment in the course (one process for all of an
    assignment's students, ``jobs`` assignments at a time); notes any submission left without HTML."""
    graded = [s for s in subs if (course_root / "autograded" / s.student / s.assignment).is_dir()]
    assignments = sorted({s.assignment for s in graded})

    def one(assignment: str) -> None:
        subprocess.run(["nbgrader", "generate_feedback", assignment, "--force"], cwd=course_root, env=env,
                       capture_output=True, text=True, timeout=3600)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, assignments))
    for sub in graded:
        folder = course_root / "feedback" / sub.student / sub.assignment
        page = folder / f"{sub.assignment}.html"
        # feedback is the graded notebook's HTML and nothing else
        for entry in (os.scandir(folder) if folder.is_dir() else []):
            if entry.name != page.name or not entry.is_file(follow_symlinks=False):
                shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
        if not page.exists():
            sub.problems.append("no feedback HTML (nbgrader generate_feedback failed)")


def merge(course_root: Path, sub: Submission, worker_scores: dict[str, tuple[float, bool, str | None]]) -> None:
    """Write one graded submission into the course's gradebook (only this process writes it).

    ``worker_scores``: {grade id: (automatic score, needs manual grade, automatic comment)}.
    Scores are clamped to the points the course's own gradebook gives each cell, and scores an
    instructor entered by hand (written answers, overrides) are kept."""
    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", "tinychinchilla") as gb:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from inside nbgrader's API
        gb.update_or_create_student(sub.student, **({"lms_user_id": sub.lms_user} if sub.lms_user else {}))
        gb.update_or_create_submission(sub.assignment, sub.student)
        if sub.checksums:
            recorded = term.load_checksums(course_root)
            sub.regrade += term.clear_stale_hand_grades(gb, sub.student, sub.assignment, sub.checksums, recorded)
            term.save_checksums(course_root, recorded)
        nb = gb.find_submission_notebook(sub.assignment, sub.assignment, sub.student)
        for grade in nb.grades:
            auto, needs_manual, comment = worker_scores.get(grade.name, (0.0, False, None))
            grade.auto_score = None if auto is None else min(max(float(auto), 0.0), float(grade.max_score))
            grade.needs_manual_grade = bool(needs_manual) and grade.manual_score is None
        for row in nb.comments:
            if row.name in worker_scores:
                row.auto_comment = worker_scores[row.name][2]
        gb.db.commit()
        nb = gb.find_submission_notebook(sub.assignment, sub.assignment, sub.student)
        sub.cells = {g.name: float(g.score or 0.0) for g in nb.grades}
        sub.score, sub.max_score = float(nb.score), float(nb.max_score)


def worker_rows(gradebook: Path, sub: Submission) -> dict[str, tuple[float | None, bool, str | None]]:
    """{grade id: (automatic score, needs manual grade, automatic comment)} from a worker's
    gradebook; manual scores there are ignored (a notebook might have written them)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{gradebook}") as gb:
        nb = gb.find_submission_notebook(sub.assignment, sub.assignment, sub.student)
        comments = {c.name: c.auto_comment for c in nb.comments}
        return {g.name: (g.auto_score, bool(g.needs_manual_grade), comments.get(g.name)) for g in nb.grades}


class Batch:
    """Grades submissions with ``jobs`` workers and merges each into the course as it finishes."""

    def __init__(self, course_root: Path, template: Path, args: argparse.Namespace, env: dict):
        self.course_root, self.template, self.args, self.env = course_root, template, args, env
        self.lock = threading.Lock()
        self.guarded = True  # every kernel installs the guard (see kernel_spec)

    def run_one(self, sub: Submission) -> Submission:
        start = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix="grade-", dir=self.args.workdir))
        try:
            graded = grade_one(sub, self.template, work, self.args, self.env)
            sub.problems += cell_problems(graded)
            try:
                sub.checksums = term.answer_checksums(graded)  # to spot a changed answer's stale hand grade
            except (OSError, ValueError):
                pass
            rows = worker_rows(work / "gradebook.db", sub)
            failures = recheck(graded, {k: v[0] for k, v in rows.items()}, self.guarded, sub.student)
            if failures:
                override(work / "gradebook.db", sub, failures)
                rows = worker_rows(work / "gradebook.db", sub)
                sub.problems += [f"{gid} scored 0: {why}" for gid, why in sorted(failures.items())]
            with self.lock:
                # the course keeps the graded notebook only: nothing else its kernel wrote
                dest = self.course_root / "autograded" / sub.student / sub.assignment
                shutil.rmtree(dest, ignore_errors=True)
                dest.mkdir(parents=True)
                copy_plain_file(graded, dest / graded.name)
                neutralize_markers(dest / graded.name)
                variants.annotate_written(dest / graded.name, sub.assignment, sub.student)
                shutil.rmtree(self.course_root / "feedback" / sub.student / sub.assignment, ignore_errors=True)
                merge(self.course_root, sub, rows)
        except Exception as exc:  # noqa: BLE001 - one submission must never abort the batch
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            sub.problems.append(f"not graded: {first}; scored 0")
            self.zero(sub)
        finally:
            if not self.args.keep_workdirs:
                shutil.rmtree(work, ignore_errors=True)
        sub.seconds = time.perf_counter() - start
        return sub

    def zero(self, sub: Submission) -> None:
        """Record a 0 for every cell of a submission that could not be graded (as nbgrader does
        for a missing notebook), keeping scores entered by hand. A failure here is this
        submission's problem line, never the batch's."""
        if sub.notebook is None and sub.assignment not in self.args.known:
            return  # unknown assignment: there is nothing to record it against
        try:
            with self.lock:
                merge(self.course_root, sub, {})
        except Exception as exc:  # noqa: BLE001
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            sub.problems.append(f"its 0 could not be recorded in the course gradebook ({first})")

    def run(self, subs: list[Submission]) -> list[Submission]:
        from tqdm.auto import tqdm

        todo = [s for s in subs if s.notebook is not None]
        for sub in subs:
            if sub.notebook is None:
                self.zero(sub)
        bar = tqdm(total=len(todo), unit="notebook", desc="grading", disable=self.args.quiet, file=sys.stderr)
        with ThreadPoolExecutor(max_workers=max(1, self.args.jobs)) as pool:
            futures = {pool.submit(self.run_one, s): s for s in todo}
            for future in as_completed(futures):
                sub = futures[future]
                try:
                    future.result()
                except Exception as exc:  # noqa: BLE001 - run_one catches all; this is the last net
                    sub.problems.append(f"not graded: {type(exc).__name__}: {str(exc)[:200]}; scored 0")
                bar.set_postfix_str(f"{sub.student}/{sub.assignment} {sub.score:g}/{sub.max_score:g}")
                bar.update()
        bar.close()
        return subs


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


def export_grades(course_root: Path, out: Path, env: dict) -> Path:
    """grades.csv (one row per student and assignment somebody submitted, hand grades included)
    and the LMS import files: autograder/term.py."""
    return term.export(course_root, out)[0]


def question_table(course_root: Path, assignments: list[str]) -> list[dict]:
    """Per graded cell over every submission in the gradebook: mean score and share correct."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", "tinychinchilla") as gb:
        for assignment in assignments:
            nb = gb.find_notebook(assignment, assignment)
            if not nb.submissions:
                continue  # a lesson nobody submitted: nothing to report
            scores: dict[str, list[float]] = {c.name: [] for c in nb.grade_cells}
            pending: dict[str, int] = {c.name: 0 for c in nb.grade_cells}
            for sub_nb in nb.submissions:
                for g in sub_nb.grades:
                    if g.needs_manual_grade and g.manual_score is None:
                        pending[g.name] += 1
                    else:
                        scores[g.name].append(float(g.score or 0.0))
            for cell in nb.grade_cells:
                values = scores[cell.name]
                full = sum(v >= cell.max_score - 1e-9 for v in values)
                rows.append({
                    "assignment": assignment, "question": cell.name, "points": cell.max_score,
                    "graded": len(values), "awaiting_hand_grading": pending[cell.name],
                    "mean_score": round(sum(values) / len(values), 3) if values else "",
                    "share_correct": round(full / len(values), 3) if values else "",
                })
    return rows


def write_reports(subs: list[Submission], course_root: Path, out: Path, assignments: list[str],
                  env: dict, seconds: float, jobs: int, not_graded: list[tuple[str, str]] = (),
                  notes: list[str] = (), stray: int = 0) -> str:
    out.mkdir(parents=True, exist_ok=True)
    export_grades(course_root, out, env)
    questions = question_table(course_root, assignments)
    with (out / "questions.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(questions[0]) if questions else ["assignment"])
        writer.writeheader()
        writer.writerows(questions)
    with (out / "submissions.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "assignment", "score", "max_score", "seconds", "problems"])
        for s in subs:
            writer.writerow([s.student, s.assignment, f"{s.score:g}", f"{s.max_score:g}", f"{s.seconds:.1f}",
                             " | ".join(s.problems)])
    graded = [s for s in subs if s.max_score]
    lines = [f"{len(graded)} notebooks of {len({s.student for s in subs})} students graded in "
             f"{seconds:.0f} s with {jobs} worker{'s' if jobs > 1 else ''}"]
    if graded:
        share = sum(s.score for s in graded) / sum(s.max_score for s in graded)
        lines[0] += f"; class average {100 * share:.1f}% of the points"
        awaiting = sum(q["awaiting_hand_grading"] * q["points"] for q in questions)
        if awaiting:
            lines[0] += (f"; {awaiting:g} points still to grade by hand in the formgrader: "
                         f"{term.formgrader_hint(course_root)}")
    missed = sorted((q for q in questions if q["mean_score"] != "" and q["share_correct"] < 1),
                    key=lambda q: (q["mean_score"] / (q["points"] or 1), q["assignment"], q["question"]))[:5]
    lines.append("questions the class missed most (mean score; share with full marks): " + (", ".join(
        f"{q['question']} ({100 * q['mean_score'] / (q['points'] or 1):.0f}% of its points; "
        f"{100 * q['share_correct']:.0f}% full marks)" for q in missed)
        if missed else "none, every graded question was answered correctly by all"))
    regrade = [line for s in subs for line in s.regrade]
    if regrade:
        lines.append(f"{len(regrade)} hand grade{'s' * (len(regrade) > 1)} cleared because the resubmitted answer "
                     f"changed: grade again in the formgrader, then `python autograder/grade.py feedback` "
                     f"and `python autograder/grade.py export`:")
        lines += [f"  {line}" for line in regrade]
    troubled = [s for s in subs if s.problems]
    lines.append(f"{len(troubled)} submission{'s' if len(troubled) != 1 else ''} with problems"
                 + (":" if troubled else ""))
    lines += [f"  {s.student}/{s.assignment}: {s.score:g}/{s.max_score:g}; {'; '.join(s.problems)}" for s in troubled]
    if not_graded:
        lines.append(f"{len(not_graded)} file{'s' * (len(not_graded) > 1)} of the download not graded:")
        lines += [f"  {name}: {why}" for name, why in not_graded]
    if stray:
        lines.append(f"{stray} process{'es' * (stray > 1)} still running at the end of the batch killed")
    lines += [f"note: {note}" for note in notes]
    lines.append(f"reports: {out} (grades.csv, canvas-grades.csv, moodle-*.csv, questions.csv, submissions.csv); "
                 f"feedback: {course_root / 'feedback'}")
    text = "\n".join(lines) + "\n"
    (out / "summary.txt").write_text(text)
    return text


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from tinychinchilla.sandbox import Limits

    limits = Limits()
    p = argparse.ArgumentParser(prog="python autograder/grade.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="After hand grading: `grade.py feedback` (feedback HTML again) and `grade.py export` "
                                       "(final grades, Canvas and Moodle files); each has --help. See autograder/README.md "
                                       "for the instructor's term and the scores of broken and hostile submissions.")
    p.add_argument("submissions", type=Path,
                   help="a folder <student>/<assignment>/<assignment>.ipynb, or an LMS folder or .zip of files")
    p.add_argument("--course", type=Path, default=HERE,
                   help="the nbgrader course folder: gradebook.db, submitted/, autograded/, feedback/ (default %(default)s)")
    p.add_argument("--solutions", type=Path, default=ROOT / "solutions",
                   help="instructor notebooks, the assignments' source (default %(default)s)")
    p.add_argument("--assignment", action="append", dest="assignments", metavar="NN-name",
                   help="grade only this assignment (repeatable); default every solution notebook")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="notebooks graded at once, one kernel each (default: all %(default)s cores)")
    p.add_argument("--timeout", type=int, default=60,
                   help="seconds a cell may run before it is interrupted and scores 0 (default %(default)s; "
                        "an honest cell takes at most ~20 s in grading mode)")
    p.add_argument("--memory-mb", type=int, default=limits.memory_mb, help="address-space limit per kernel (default %(default)s)")
    p.add_argument("--cpu-seconds", type=int, default=limits.cpu_seconds, help="CPU-time limit per kernel (default %(default)s)")
    p.add_argument("--file-mb", type=int, default=limits.file_mb, help="largest file a kernel may write (default %(default)s)")
    p.add_argument("--user", default=None,
                   help="run every kernel as this unprivileged user (the grader must run as root); as root the "
                        "default is `nobody` when it can run the kit; `--user root` keeps kernels as root "
                        "(not recommended). See autograder/README.md")
    p.add_argument("--folder-mb", type=int, default=256,
                   help="cap on what one kernel may write in its folders, in MB (default %(default)s); past it "
                        "grading of that notebook stops and it scores 0")
    p.add_argument("--folder-files", type=int, default=2000,
                   help="cap on the number of files and folders one kernel may make (default %(default)s)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run kernels without limits or confinement (trusted notebooks only; the guard and the "
                        "re-check of answers still apply)")
    p.add_argument("--name-regexp", default=None,
                   help="for LMS downloads in a layout grade.py does not know (it knows Canvas, Moodle, Blackboard "
                        "and <student>_..._<NN-name>.ipynb): a regular expression on each file's path in the "
                        "archive, with {assignment} standing for the assignment id and groups student_id and "
                        "file_id")
    p.add_argument("--out", type=Path, default=None, help="reports folder (default COURSE/reports)")
    p.add_argument("--workdir", type=Path, default=None, help="where worker courses are made (default the system temp)")
    p.add_argument("--keep-workdirs", action="store_true", help="keep each worker's course folder, for debugging")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


TERM_COMMANDS = {
    "feedback": "regenerate every graded submission's feedback HTML from the gradebook (after hand grading; "
                "hidden tests stripped)",
    "export": "write the final grades (hand grades included): reports/grades.csv, canvas-grades.csv, "
              "moodle-<assignment>.csv, questions.csv",
}


def term_parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python autograder/grade.py {command}", description=TERM_COMMANDS[command])
    p.add_argument("--course", type=Path, default=HERE, help="the nbgrader course folder (default %(default)s)")
    if command == "export":
        p.add_argument("--out", type=Path, default=None, help="reports folder (default COURSE/reports)")
        p.add_argument("--lms", choices=["canvas", "moodle", "all", "none"], default="all",
                       help="which LMS import files to write besides grades.csv (default %(default)s)")
    else:
        p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="assignments whose feedback is made at once (default %(default)s)")
    return p


def term_command(command: str, argv: list[str]) -> int:
    """`grade.py feedback` and `grade.py export`: the steps after hand grading (autograder/term.py)."""
    args = term_parser(command).parse_args(argv)
    course_root = args.course.resolve()
    if not (course_root / "gradebook.db").is_file():
        raise SystemExit(f"error: {course_root} has no gradebook.db: grade the submissions first "
                         f"(python autograder/grade.py SUBMISSIONS)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if command == "export":
            out = (args.out or course_root / "reports").resolve()
            written = term.export(course_root, out, args.lms)
            assignments = term.final_grades(course_root)[0]
            questions = question_table(course_root, assignments)
            with (out / "questions.csv").open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(questions[0]) if questions else ["assignment"])
                writer.writeheader()
                writer.writerows(questions)
            written.append(out / "questions.csv")
            pending = sum(q["awaiting_hand_grading"] for q in questions)
            print("wrote " + ", ".join(str(p) for p in written))
            if pending:
                print(f"note: {pending} answer{'s' * (pending > 1)} still await hand grading (scored 0 until graded): "
                      f"{term.formgrader_hint(course_root)}")
            return 0
        build.ensure_scripts_on_path()
        pairs = term.graded_pairs(course_root)
        if not pairs:
            raise SystemExit(f"error: nothing graded in {course_root / 'autograded'}: grade the submissions first")
        subs = [Submission(student, assignment) for student, assignment in pairs]
        feedback(course_root, subs, base_env(), args.jobs)
        failed = [s for s in subs if s.problems]
        print(f"feedback for {len(subs) - len(failed)} submission{'s' * (len(subs) != 1)} in {course_root / 'feedback'}"
              f"/<student>/<assignment>/<assignment>.html; return each student's folder")
        for s in failed:
            print(f"  {s.student}/{s.assignment}: {'; '.join(s.problems)}")
        return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TERM_COMMANDS:
        return term_command(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    if args.jobs < 1 or args.timeout < 1:
        raise SystemExit("error: --jobs and --timeout must be at least 1")
    if not args.submissions.exists():
        raise SystemExit(f"error: {args.submissions} does not exist: give a folder of submissions or an LMS .zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbformat/SQLAlchemy notes about submissions are not the instructor's concern
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    from tinychinchilla import sandbox

    start = time.perf_counter()
    course_root = args.course.resolve()
    env = base_env()
    build.ensure_scripts_on_path()
    # Every process a worker leaves behind comes back to this one, which kills what is left at the end.
    sandbox.become_subreaper()
    kit = Path(tempfile.mkdtemp(prefix="tinychinchilla-kit-"))
    try:
        from tinychinchilla.data import load_corpus

        load_corpus()  # kernels have no network: the corpus must be in the cache before grading
        from tinychinchilla import _native

        _native.load_kernel()  # nor may they write to the cache: build lesson 05's compiled objective
        stage_kit(kit, env, args)
        with tempfile.TemporaryDirectory(prefix="tinychinchilla-template-") as template:
            template = Path(template)
            args.known = prepare_course(course_root, args.solutions, args.assignments)
            # a gradebook with the assignments and no students: what every worker starts from
            build.generate(build.solution_paths(args.solutions, args.known), template, template / "gradebook.db")
            subs, not_graded = import_submissions(args.submissions.resolve(), course_root, args.known,
                                                  args.name_regexp, env)
            notes = sandbox_notes(args, env)
            for note in notes:
                print(f"note: {note}")
            Batch(course_root, template, args, env).run(subs)
            feedback(course_root, subs, env, args.jobs)
    except GradeError as exc:
        raise SystemExit(f"error: {exc}")
    except build.BuildError as exc:
        raise SystemExit(f"error: the course could not be prepared: {str(exc)[:2000]}")
    finally:
        stray = sandbox.kill_descendants()
        shutil.rmtree(kit, ignore_errors=True)
    out = (args.out or course_root / "reports").resolve()
    text = write_reports(subs, course_root, out, args.known, env, time.perf_counter() - start, args.jobs,
                         not_graded=not_graded, notes=notes, stray=stray)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
