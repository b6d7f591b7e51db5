"""Step 2 of autograder/grade.py: find the submissions and copy them into the course.

A folder in nbgrader's layout (``<student>/<assignment>/<files>``) or a learning-management
system's download (a .zip or its folder: autograder/lms.py). Each (student, assignment) becomes a
:class:`Submission`, with what is wrong with it before grading; every file that is not graded is
listed with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

import lms  # autograder/lms.py: LMS download layouts (autograder/ is on sys.path, see grade.py)
from isolation import GradeError
from tinychinchilla.sandbox import grade_id as _grade_id


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
                       env: dict, select=None) -> tuple[list[Submission], list[tuple[str, str]]]:
    """The submissions, copied into the course's submitted/, and the files that are not graded.
    ``select``, given the whole class's submissions, returns the ones to copy and grade (one
    shard's: autograder/shards.py)."""
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
        found = bool(subs)
        if select is not None and found:
            subs = select(subs)
        _copy_into_course(subs, course_root)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    if not found:
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
