"""The instructor's term after the first grading run: hand grading, resubmissions, final grades, feedback.

Used by ``autograder/grade.py`` (``grade.py feedback``, ``grade.py export``, and the grading run
itself). Three things nbgrader does not do for this course:

* **stale hand grades**: the formgrader keeps a manual score on a cell however the student's answer
  changes. Every grading run records a checksum of each graded answer (:func:`answer_checksums`)
  in ``<course>/hand_grading.json``; when a resubmission changes an answer that was graded by
  hand, its hand grade is cleared, the earlier grade is kept in the comment as earlier, and the
  summary lists it as needing hand grading again;
* **final grades**: ``grades.csv`` from ``nbgrader export`` with the assignments nobody submitted
  left out and each missing submission marked ``not submitted``, plus files an LMS imports:
  ``canvas-grades.csv`` (Canvas gradebook import: Student, ID, SIS User ID, SIS Login ID, Section,
  one column per assignment, a "Points Possible" row) and ``moodle-<assignment>.csv`` (Moodle's
  offline grading worksheet: Identifier ``Participant <id>``, Full name, Grade, Maximum Grade,
  Feedback comments), with the LMS ids the download's file names carried;
* **feedback after hand grading**: every graded submission's HTML regenerated (``--force``),
  hidden tests stripped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from pathlib import Path

CHECKSUMS = "hand_grading.json"


def _nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def answer_checksums(notebook: Path) -> dict[str, str]:
    """{grade id: checksum of what the student wrote for it}. A written answer (a graded cell the
    student edits) is its own cell's text; a test cell is judged on the student's code, so its
    checksum is over every answer cell of the notebook (an instructor's override of a test
    becomes stale when any of the student's code changes)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)] if isinstance(nb, dict) else []

    def text(cell: dict) -> str:
        source = cell.get("source", "")
        return "".join(map(str, source)) if isinstance(source, list) else str(source)

    def digest(value: str) -> str:
        return hashlib.sha256(value.strip().encode()).hexdigest()[:16]

    answers = digest("\n\x00".join(text(c) for c in cells if _nbgrader_meta(c).get("solution")))
    found = {}
    for cell in cells:
        meta = _nbgrader_meta(cell)
        if not meta.get("grade") or not isinstance(meta.get("grade_id"), str):
            continue
        found[meta["grade_id"]] = digest(text(cell)) if meta.get("solution") else answers
    return found


def load_checksums(course_root: Path) -> dict:
    try:
        return json.loads((course_root / CHECKSUMS).read_text())
    except (OSError, ValueError):
        return {}


def save_checksums(course_root: Path, recorded: dict) -> None:
    path = course_root / CHECKSUMS
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(recorded, indent=1, sort_keys=True))
    os.replace(tmp, path)


def clear_stale_hand_grades(gb, student: str, assignment: str, checksums: dict[str, str],
                            recorded: dict) -> list[str]:
    """In an open nbgrader Gradebook: clear the hand grade of every cell whose answer changed since
    the last grading run (the formgrader's grade was for the earlier answer); record the new
    checksums in ``recorded``. Returns one line per cleared grade, for the summary."""
    before = recorded.setdefault(student, {}).get(assignment, {})
    nb = gb.find_submission_notebook(assignment, assignment, student)
    comments = {c.name: c for c in nb.comments}
    cleared = []
    for grade in nb.grades:
        old, new = before.get(grade.name), checksums.get(grade.name)
        if grade.manual_score is None or old is None or new is None or old == new:
            continue
        earlier = f"{grade.manual_score:g}/{grade.max_score:g}"
        comment = comments.get(grade.name)
        note = f"[earlier hand grade {earlier}, for the answer before the resubmission: grade again]"
        if comment is not None:
            comment.manual_comment = note + (f" {comment.manual_comment}" if comment.manual_comment else "")
        grade.manual_score = None
        grade.needs_manual_grade = grade.auto_score is None  # a written answer; an override falls back to its test
        cleared.append(f"{student}/{assignment} {grade.name}: answer changed, earlier hand grade {earlier} cleared")
    recorded[student][assignment] = dict(checksums)
    return cleared


# ---------------------------------------------------------------------------------------------
# Final grades
# ---------------------------------------------------------------------------------------------


def final_grades(course_root: Path) -> tuple[list[str], list[dict], dict[str, float]]:
    """(assignments somebody submitted, one row per student and such assignment, max score of each)."""
    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")
        assignments = [a for a in sorted(gb.assignments, key=lambda a: a.name) if a.submissions]
        students = sorted(gb.students, key=lambda s: s.id)
        maxima = {a.name: float(a.max_score) for a in assignments}
        rows = []
        for a in assignments:
            for s in students:
                row = {"assignment": a.name, "student_id": s.id, "last_name": s.last_name or "",
                       "first_name": s.first_name or "", "email": s.email or "",
                       "lms_user_id": s.lms_user_id or "", "max_score": maxima[a.name]}
                try:
                    sub = gb.find_submission(a.name, s.id)
                except Exception:  # nbgrader raises MissingEntry
                    row.update(status="not submitted", timestamp="", raw_score="", late_penalty="", score="",
                               awaiting_hand_grading="")
                else:
                    pending = sum(1 for nb in sub.notebooks for g in nb.grades
                                  if g.needs_manual_grade and g.manual_score is None)
                    row.update(status="submitted", timestamp=sub.timestamp or "", raw_score=float(sub.score),
                               late_penalty=float(sub.late_submission_penalty or 0.0),
                               score=float(sub.score) - float(sub.late_submission_penalty or 0.0),
                               awaiting_hand_grading=pending)
                rows.append(row)
        return [a.name for a in assignments], rows, maxima


def export(course_root: Path, out: Path, lms: str = "all") -> list[Path]:
    """grades.csv and the LMS files (``lms``: canvas, moodle, all or none) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    assignments, rows, maxima = final_grades(course_root)
    written = []
    fields = ["assignment", "student_id", "last_name", "first_name", "email", "status", "timestamp",
              "raw_score", "late_penalty", "score", "max_score", "awaiting_hand_grading"]
    path = out / "grades.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(_fmt(r) for r in rows)
    written.append(path)
    if lms in ("canvas", "all"):
        written.append(_canvas(out / "canvas-grades.csv", assignments, rows, maxima))
    if lms in ("moodle", "all"):
        for assignment in assignments:
            written.append(_moodle(out / f"moodle-{assignment}.csv", course_root, assignment,
                                   [r for r in rows if r["assignment"] == assignment]))
    return written


def _fmt(row: dict) -> dict:
    return {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.items()}


def _lms_id(row: dict, kind: str) -> str:
    """The student's id in that LMS (grade.py stores "canvas:123" / "moodle:456"), or ""."""
    prefix, _, value = str(row.get("lms_user_id") or "").partition(":")
    return value if prefix == kind else ""


def _canvas(path: Path, assignments: list[str], rows: list[dict], maxima: dict[str, float]) -> Path:
    """Canvas's gradebook import: the first five columns identify the student (Canvas matches ID,
    the Canvas user id the download's file names carry, else SIS User ID / SIS Login ID, here the
    nbgrader student id); one column per assignment (a column whose name is not yet a Canvas
    assignment becomes a new one on import); blank = not submitted, left as it is in Canvas."""
    students: dict[str, dict] = {}
    for r in rows:
        students.setdefault(r["student_id"], dict(r))[r["assignment"]] = r["score"]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments])
        writer.writerow(["    Points Possible", "", "", "", "", *(f"{maxima[a]:g}" for a in assignments)])
        for sid, r in sorted(students.items()):
            name = f"{r['last_name']}, {r['first_name']}" if r["last_name"] else sid
            writer.writerow([name, _lms_id(r, "canvas"), "", sid, "",
                             *("" if r.get(a, "") == "" else f"{r[a]:g}" for a in assignments)])
    return path


def _moodle(path: Path, course_root: Path, assignment: str, rows: list[dict]) -> Path:
    """Moodle's offline grading worksheet for one assignment (Assignment > View all submissions >
    Grading action > Upload grading worksheet): Moodle matches ``Participant <id>``, the id in the
    download's folder names; rows of students with no Moodle id cannot be matched and are left
    out (nbgrader layout: use canvas-grades.csv's columns or grades.csv)."""
    from nbgrader.api import Gradebook

    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Identifier", "Full name", "Grade", "Maximum Grade", "Feedback comments"])
        with warnings.catch_warnings(), Gradebook(f"sqlite:///{course_root / 'gradebook.db'}") as gb:
            warnings.simplefilter("ignore")
            for r in rows:
                if r["status"] != "submitted" or not _lms_id(r, "moodle"):
                    continue
                comments = []
                for nb in gb.find_submission(assignment, r["student_id"]).notebooks:
                    for c in nb.comments:
                        if c.manual_comment:
                            comments.append(f"{c.name}: {c.manual_comment}")
                name = f"{r['first_name']} {r['last_name']}".strip() or r["student_id"].replace("_", " ")
                writer.writerow([f"Participant {_lms_id(r, 'moodle')}", name, f"{r['score']:g}",
                                 f"{r['max_score']:g}", " | ".join(comments)])
    return path


# ---------------------------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------------------------


def graded_pairs(course_root: Path) -> list[tuple[str, str]]:
    """(student, assignment) of every autograded submission in the course."""
    root = course_root / "autograded"
    if not root.is_dir():
        return []
    return sorted((s.name, a.name) for s in root.iterdir() if s.is_dir() for a in s.iterdir() if a.is_dir())


def formgrader_hint(course_root: Path) -> str:
    """How to open the formgrader on this course (nbgrader 0.9 is a JupyterLab extension: there is
    no `nbgrader formgrader` command)."""
    root = " --allow-root" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""  # Jupyter refuses root without it
    return (f"cd {course_root} && jupyter lab{root}  (from the kit's environment; `make formgrader` for autograder/), "
            f"then menu Nbgrader > Formgrader > Manage Submissions")
