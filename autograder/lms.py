"""Sort a learning-management system's download into (student, assignment) -> notebook.

Used by ``autograder/grade.py`` for a .zip or a flat folder of submissions. The layouts an
instructor gets when downloading every submission of an assignment:

* **Canvas**: ``<lastfirst>[_late]_<user id>_<submission id>_<file>``, the file keeping the name
  the student uploaded; a resubmission of the same file gets ``-1``, ``-2``... before the
  extension (``smithjohn_123_456_00-setup-and-tour-1.ipynb``);
* **Moodle**: ``<Full Name>_<participant id>_assignsubmission_file_/<file>`` (one folder per
  student, "download submissions in folders") or the same prefix on a flat file name; names
  contain spaces;
* **Blackboard**: ``<assignment title>_<user name>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``, with one
  ``..._attempt_<time>.txt`` receipt per attempt;
* anything else named ``<student>_..._<NN-name>.ipynb`` or ``<student>/<NN-name>.ipynb``.

A notebook belongs to the assignment whose id its file name holds (``00-setup-and-tour.ipynb``,
``00-setup-and-tour-2.ipynb``, ``00-setup-and-tour (1).ipynb``), or, renamed, whose graded cells
it holds. When a student has several, the latest one is graded (the latest Blackboard attempt,
the highest Canvas submission id, then the highest copy number); the others are listed. Every
file of the archive that is not graded is listed with the reason, by its name in the archive.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

_BLACKBOARD = re.compile(r"^(?:.*/)?(?P<title>[^/]*?)_(?P<student>[^/_]+)_attempt_"
                         r"(?P<stamp>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)(?:_(?P<file>[^/]+)|\.txt)$")
_MOODLE = re.compile(r"^(?:.*/)?(?P<student>[^/_][^/]*?)_(?P<user>\d+)_assignsubmission_[a-z]+_/?(?:[^/]*/)*(?P<file>[^/]+)$")
_CANVAS = re.compile(r"^(?:.*/)?(?P<student>[A-Za-z0-9][A-Za-z0-9\-.]*?)(?:_late)?_(?P<user>\d+)_(?P<submission>\d+)_"
                     r"(?P<file>[^/]+)$", re.IGNORECASE)
_PLAIN = re.compile(r"^(?:.*/)?(?P<student>[A-Za-z0-9][\w.\-]*?)(?:_[^/]*)?[_/](?P<file>[^/]+)$")
MAX_FILE_MB = 100  # a notebook is a few MB at most; larger files are listed, never extracted
_IGNORED = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$)")


@dataclass
class Found:
    """One notebook of the archive, with whom and what it belongs to."""

    name: str                 # its path inside the archive
    path: Path                # where it was extracted
    student: str
    assignment: str
    order: tuple              # larger is later
    user: str = ""            # the LMS's numeric id of the student, when the name has one


@dataclass
class Sorted:
    chosen: dict[tuple[str, str], Found] = field(default_factory=dict)
    older: dict[tuple[str, str], list[str]] = field(default_factory=dict)   # names not graded
    not_graded: list[tuple[str, str]] = field(default_factory=list)         # (name, why)


def student_id(name: str) -> str:
    """A name as an nbgrader student id: spaces to ``_``, only letters, digits, ``_.-``."""
    text = re.sub(r"\s+", "_", name.strip())
    return re.sub(r"[^\w.\-]", "", text, flags=re.ASCII).strip("._-") or "unnamed"


def _assignment_of(filename: str, known: list[str]) -> tuple[str | None, int]:
    """(assignment id in the file name, copy number) or (None, 0)."""
    for assignment in sorted(known, key=len, reverse=True):
        m = re.fullmatch(rf"(?:Copy of )?{re.escape(assignment)}(?:[-_ ]?\(?(\d+)\)?)?\.ipynb", filename, re.IGNORECASE)
        if m:
            return assignment, int(m.group(1) or 0)
    return None, 0


def _assignment_by_cells(path: Path, expected_ids: dict[str, set[str]]) -> str | None:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells} - {None}
    except (OSError, ValueError, AttributeError):
        return None
    matches = [a for a, wanted in expected_ids.items() if ids & wanted]
    return matches[0] if len(matches) == 1 else None


def extract(source: Path, staging: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """Every file of a .zip or folder as (name in the archive, a plain file in ``staging``);
    links and special files are never followed: they are listed as not graded."""
    files, refused = [], []
    staging.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        with zipfile.ZipFile(source) as zf:
            for index, info in enumerate(zf.infolist()):
                if info.is_dir():
                    continue
                mode = info.external_attr >> 16
                if mode and not stat.S_ISREG(mode):
                    refused.append((info.filename, "a link or special file in the zip: not followed"))
                    continue
                if info.file_size > MAX_FILE_MB * 2**20:
                    refused.append((info.filename, f"larger than {MAX_FILE_MB} MB: not extracted"))
                    continue
                target = staging / f"{index:06d}"
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                files.append((info.filename, target))
        return files, refused
    index = 0
    for root, dirs, names in os.walk(source):
        for name in sorted(dirs):  # os.walk does not descend into links; list them
            if os.path.islink(os.path.join(root, name)):
                refused.append((os.path.relpath(os.path.join(root, name), source), "a link: not followed"))
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = Path(os.path.relpath(full, source)).as_posix()
            info = os.lstat(full)
            if not stat.S_ISREG(info.st_mode):
                refused.append((rel, "a link or special file: not followed"))
                continue
            if info.st_size > MAX_FILE_MB * 2**20:
                refused.append((rel, f"larger than {MAX_FILE_MB} MB: not read"))
                continue
            index += 1
            target = staging / f"{index:06d}"
            with open(full, "rb") as src, open(target, "wb") as dst:  # lstat above: a plain file
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            files.append((rel, target))
    return files, refused


def sort_files(files: list[tuple[str, Path]], known: list[str], expected_ids: dict[str, set[str]],
               name_regexp: str | None = None) -> Sorted:
    """Whose and which each file is; the latest per (student, assignment) is chosen."""
    result = Sorted()
    found: list[Found] = []
    for name, path in files:
        if _IGNORED.search(name):
            result.not_graded.append((name, "a file the operating system added to the archive"))
            continue
        hit = _match(name, known, name_regexp)
        if hit is None:
            why = ("not a notebook" if not name.lower().endswith(".ipynb")
                   else "its name names no student (expected an LMS download's file names)")
            result.not_graded.append((name, why))
            continue
        student, user, filename, order = hit
        if not filename.lower().endswith(".ipynb"):
            receipt = not filename and _BLACKBOARD.match(name)
            result.not_graded.append((name, f"a Blackboard receipt of {student} (not a submission)" if receipt
                                      else f"not a notebook (of student {student})"))
            continue
        assignment, copy = _assignment_of(filename, known)
        if assignment is None:
            assignment = _assignment_by_cells(path, expected_ids)
            if assignment is None:
                result.not_graded.append((name, f"no assignment of this course in its name or cells (student {student})"))
                continue
        found.append(Found(name, path, student, assignment, (*order, copy), user))
    # Two LMS users with the same name: tell them apart by their LMS id.
    users: dict[str, set[str]] = {}
    for f in found:
        users.setdefault(f.student, set()).add(f.user)
    for f in found:
        if len(users[f.student]) > 1:
            f.student = f"{f.student}_{f.user}"
    for f in sorted(found, key=lambda f: (f.student, f.assignment, f.order, f.name)):
        key = (f.student, f.assignment)
        if key in result.chosen:
            result.older.setdefault(key, []).append(result.chosen[key].name)
        result.chosen[key] = f
    for key, names in result.older.items():
        for name in names:
            result.not_graded.append((name, f"an earlier submission of {key[0]}: the latest "
                                            f"({result.chosen[key].name}) is graded"))
    return result


def _match(name: str, known: list[str], name_regexp: str | None) -> tuple[str, str, str, tuple] | None:
    """(student id, LMS user id, uploaded file name, order) of an archive path, or None."""
    if name_regexp:
        for assignment in known:
            m = re.search(name_regexp.format(assignment=re.escape(assignment)), name)
            if m:
                return student_id(m.group("student_id")), "", f"{m.group('file_id')}.ipynb", ("", -1)
        return None
    m = _BLACKBOARD.match(name)
    if m:
        return student_id(m.group("student")), "", m.group("file") or "", (m.group("stamp"), -1)
    m = _MOODLE.match(name)
    if m:
        return student_id(m.group("student")), m.group("user"), m.group("file"), ("", -1)
    m = _CANVAS.match(name)
    if m:
        return student_id(m.group("student")), m.group("user"), m.group("file"), ("", int(m.group("submission")))
    m = _PLAIN.match(name)
    if m:
        return student_id(m.group("student")), "", m.group("file"), ("", -1)
    return None
