"""Step 3 of autograder/grade.py: autograde one submission in its own throwaway course folder.

The notebook is repaired where nbgrader 0.9.6 would fail on all of it (:func:`sanitize`), run by
``nbgrader autograde`` with the kernel jailed and guarded (:func:`kernel_spec`), and every answer
a hidden test saw is judged again here, outside the kernel (:func:`recheck`, :func:`override`).
grade.py's ``Batch`` runs these ``--jobs`` at a time and merges each result into the course.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

import variants  # autograder/variants.py (autograder/ is on sys.path, see grade.py)
from collect import Submission
from isolation import GradeError, SAFE_NBGRADER, clear_folder, close_worker, run_worker
from tinychinchilla.sandbox import CELL_LOG_ENV, grade_id as _grade_id, is_test_cell

HERE = Path(__file__).resolve().parent
HIDDEN_ASSERT = re.compile(r"check\.assert_answer\(\s*[\"'](\d\d\.[a-z0-9_]+)[\"']")


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


def _run(cmd: list[str], cwd: Path, env: dict, what: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise GradeError(f"nbgrader {what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


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
