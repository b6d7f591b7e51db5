"""Grade a class on many machines: each task grades one shard of the students, one merge after.

    python autograder/grade.py SUBMISSIONS --shard 2/3 --shard-dir DIR   # task 2 of 3 (any order)
    python autograder/grade.py merge DIR                                 # once every shard is done

The split is by student id: the class's ids sorted, every n-th one from position i - 1 (as
``tinychinchilla.sweep --shard`` splits runs), so every task computes the same split from the
same submissions whatever order their files are found in, and each student's assignments stay
together. Shard i of n is an ordinary course folder, ``DIR/shard-i-of-n/`` (gradebook.db,
submitted/, autograded/, feedback/), plus

* ``done/<student>.json``, written atomically once all of that student's submissions are graded
  and in the shard's gradebook: their scores, problems and a checksum of each submitted file. A
  task killed mid-way and run again skips the students it has a marker for (unless their
  submission changed) and grades the rest again from scratch;
* ``shard.json``, written last: the shard's students, the class's roster checksum and the
  files that are not graded. It is removed when a task starts, so a shard being graded, or
  killed, is never taken for a finished one.

``merge`` checks that every shard 1..n is there and finished, that all graded the same class and
that no student is in two, then writes each submission into the course's one gradebook with the
same code a serial run uses (grade.py's ``merge``: hand grades kept, stale ones cleared), copies
the graded notebooks, makes the feedback and writes the reports, as ``grade.py SUBMISSIONS`` does.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from collect import Submission
from isolation import GradeError

SHARD_META = "shard.json"
DONE = "done"
SHARD_NAME = re.compile(r"shard-(\d+)-of-(\d+)$")


def shard_folder(shard_dir: Path, shard: tuple[int, int]) -> Path:
    return shard_dir / f"shard-{shard[0]}-of-{shard[1]}"


def roster_checksum(students: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(set(students))).encode()).hexdigest()[:16]


def students_of(students: list[str], shard: tuple[int, int]) -> list[str]:
    """Shard i of n's students: the sorted ids, every n-th one from position i - 1."""
    i, n = shard
    return [s for k, s in enumerate(sorted(set(students))) if k % n == i - 1]


def file_checksum(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def write_json_atomically(path: Path, data: dict) -> None:
    """A temporary file beside ``path``, fsynced, renamed over it: a kill leaves all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _record(sub: Submission, checksum: str | None) -> dict:
    """What merge needs of one submission (its scores stay in the shard's gradebook too)."""
    return {"assignment": sub.assignment, "file_sha256": checksum, "problems": sub.problems,
            "score": sub.score, "max_score": sub.max_score, "cells": sub.cells, "seconds": sub.seconds,
            "checksums": sub.checksums, "lms_user": sub.lms_user, "has_notebook": sub.notebook is not None,
            # graded: its autograded notebook and scores are in the shard; otherwise it was recorded as 0
            "graded": sub.notebook is not None and not any(p.startswith("not graded:") for p in sub.problems)}


def _submission(student: str, record: dict) -> Submission:
    sub = Submission(student, record["assignment"], problems=list(record["problems"]), score=record["score"],
                     max_score=record["max_score"], cells=dict(record["cells"]), seconds=record["seconds"],
                     checksums=dict(record["checksums"]), lms_user=record["lms_user"])
    return sub


class Shard:
    """One task's share of the class, in its own course folder (see the module's docstring)."""

    def __init__(self, shard_dir: Path, shard: tuple[int, int]):
        self.shard = shard
        self.folder = shard_folder(shard_dir.resolve(), shard)
        self.label = f"{shard[0]}/{shard[1]}"
        self.roster: list[str] = []
        self.mine: list[str] = []
        self.finished: list[Submission] = []   # restored from done markers: not graded again
        self.pending: dict[str, int] = {}      # student -> submissions still being graded
        self.checksums: dict[tuple[str, str], str | None] = {}
        self.records: dict[str, list[dict]] = {}
        self._lock = None

    def begin(self) -> Path:
        """Take the shard's folder (one task at a time) and mark it unfinished; returns it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.folder / ".lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise GradeError(f"another task is grading shard {self.label} in {self.folder} now: wait for it "
                             f"or cancel it, then run this again") from None
        (self.folder / SHARD_META).unlink(missing_ok=True)
        for stale in (self.folder / DONE).glob(".*.tmp"):
            stale.unlink()
        return self.folder

    def select(self, subs: list[Submission]) -> list[Submission]:
        """The submissions of this shard's students that still need grading (called on the whole
        class, before anything is copied into the shard's course)."""
        self.roster = sorted({s.student for s in subs})
        self.mine = students_of(self.roster, self.shard)
        mine = set(self.mine)
        ours = [s for s in subs if s.student in mine]
        for s in ours:
            self.checksums[s.student, s.assignment] = file_checksum(s.notebook)
        by_student: dict[str, list[Submission]] = {}
        for s in ours:
            by_student.setdefault(s.student, []).append(s)
        todo = []
        for student, student_subs in by_student.items():
            marker = self._valid_marker(student, student_subs)
            if marker is not None:
                self.finished += [_submission(student, r) for r in marker["submissions"]]
                continue
            (self.folder / DONE / f"{student}.json").unlink(missing_ok=True)
            self.pending[student] = len(student_subs)
            self.records[student] = []
            todo += student_subs
        # a marker of somebody who is not (or no longer) in this shard is not this shard's result
        for path in (self.folder / DONE).glob("*.json"):
            if path.stem not in mine:
                path.unlink()
        return todo

    def _valid_marker(self, student: str, subs: list[Submission]) -> dict | None:
        marker = _read_json(self.folder / DONE / f"{student}.json")
        if not marker or marker.get("roster") != roster_checksum(self.roster):
            return None
        have = {(r.get("assignment"), r.get("file_sha256")) for r in marker.get("submissions", [])}
        want = {(s.assignment, self.checksums[s.student, s.assignment]) for s in subs}
        return marker if have == want else None   # a changed or new submission: grade it again

    def done(self, sub: Submission) -> None:
        """One submission graded (and in the shard's gradebook): the student's marker once all are."""
        if sub.student not in self.pending:
            return
        self.records[sub.student].append(_record(sub, self.checksums.get((sub.student, sub.assignment))))
        self.pending[sub.student] -= 1
        if self.pending[sub.student] == 0:
            records = sorted(self.records[sub.student], key=lambda r: r["assignment"])
            write_json_atomically(self.folder / DONE / f"{sub.student}.json",
                                  {"student": sub.student, "shard": list(self.shard),
                                   "roster": roster_checksum(self.roster), "submissions": records})

    def finish(self, known: list[str], not_graded: list[tuple[str, str]], notes: list[str], seconds: float,
               jobs: int, stray: int) -> None:
        left = sorted(s for s, n in self.pending.items() if n)
        if left:
            raise GradeError(f"shard {self.label}: {len(left)} students not finished ({', '.join(left[:5])})")
        write_json_atomically(self.folder / SHARD_META, {
            "shard": list(self.shard), "students": self.mine, "roster": roster_checksum(self.roster),
            "class_size": len(self.roster), "assignments": known, "not_graded": [list(x) for x in not_graded],
            "notes": list(notes), "seconds": seconds, "jobs": jobs, "stray": stray})
        if self._lock is not None:
            self._lock.close()  # the shard is finished: another task may take the folder
            self._lock = None

    def summary(self, graded_now: list[Submission]) -> str:
        return (f"shard {self.label}: {len(self.mine)} of {len(self.roster)} students in {self.folder}; "
                f"{len(graded_now)} submission{'s' * (len(graded_now) != 1)} graded now, "
                f"{len(self.finished)} kept from an earlier run; when every shard is done: "
                f"python autograder/grade.py merge {self.folder.parent}\n")


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------


def find_shards(dirs: list[Path]) -> list[tuple[tuple[int, int], Path]]:
    """Shard folders named in ``dirs`` or directly inside them."""
    found = []
    for d in dirs:
        d = d.resolve()
        if SHARD_NAME.search(d.name):
            candidates = [d]
        else:
            candidates = sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []
        for p in candidates:
            m = SHARD_NAME.search(p.name)
            if m:
                found.append(((int(m.group(1)), int(m.group(2))), p))
    return found


def check_shards(dirs: list[Path]) -> tuple[list[dict], list[tuple[Path, Submission, dict]]]:
    """Every shard's metadata and every submission with its shard folder and record; GradeError
    (one line saying what to do) when a shard is missing, unfinished, or overlaps another."""
    named = " ".join(str(d) for d in dirs)
    found = find_shards(dirs)
    if not found:
        raise GradeError(f"no shard folders (shard-I-of-N) in {named}: grade each shard first "
                         f"(python autograder/grade.py SUBMISSIONS --shard I/N --shard-dir DIR)")
    splits = sorted({n for (_, n), _ in found})
    if len(splits) > 1:
        raise GradeError(f"{named} holds shards of different splits (of {' and of '.join(map(str, splits))}): "
                         f"give the folders of one split only")
    n = splits[0]
    by_index: dict[int, Path] = {}
    for (i, _), folder in found:
        if i in by_index:
            raise GradeError(f"shard {i}/{n} found twice ({by_index[i]} and {folder}): give one of them")
        by_index[i] = folder
    root = found[0][1].parent
    missing = [i for i in range(1, n + 1) if i not in by_index]
    if missing:
        raise GradeError(f"shard{'s' * (len(missing) > 1)} {', '.join(f'{i}/{n}' for i in missing)} missing from "
                         f"{named}: run `python autograder/grade.py SUBMISSIONS --shard {missing[0]}/{n} "
                         f"--shard-dir {root}` for each, then merge again")
    metas, owner, entries = [], {}, []
    for i in range(1, n + 1):
        folder = by_index[i]
        meta = _read_json(folder / SHARD_META)
        done = {p.stem: _read_json(p) for p in sorted((folder / DONE).glob("*.json"))}
        if meta is None:
            raise GradeError(f"shard {i}/{n} ({folder}) is not finished ({len(done)} students done; killed, "
                             f"failed or still running?): run it again with the same command (it grades only "
                             f"its unfinished students), then merge again")
        if metas and meta["roster"] != metas[0]["roster"]:
            raise GradeError(f"shards 1/{n} and {i}/{n} graded different classes (a different SUBMISSIONS?): "
                             f"grade every shard from the same submissions, then merge again")
        metas.append(meta)
        for student in sorted(set(done) | set(meta["students"])):
            if student in owner:
                raise GradeError(f"student {student!r} is in shard {owner[student]}/{n} and shard {i}/{n}: remove "
                                 f"the shard folder that should not have them, grade it again, then merge again")
            owner[student] = i
            marker = done.get(student)
            if student not in meta["students"] or not marker or marker.get("roster") != meta["roster"]:
                raise GradeError(f"shard {i}/{n} ({folder}) has no valid result for student {student!r}: run the "
                                 f"shard again with the same command, then merge again")
            entries += [(folder, _submission(student, r), r) for r in marker["submissions"]]
    if len(owner) != metas[0]["class_size"]:
        raise GradeError(f"the shards hold {len(owner)} students but the class has {metas[0]['class_size']}: "
                         f"grade the shards again, then merge again")
    entries.sort(key=lambda e: (e[1].student, e[1].assignment))   # the order a serial run reports
    return metas, entries


def merge_parser() -> argparse.ArgumentParser:
    import grade

    p = argparse.ArgumentParser(prog="python autograder/grade.py merge",
                                description="merge the shards graded with --shard I/N --shard-dir DIR into the "
                                            "course's one gradebook, feedback and reports, as one run would make them")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="the --shard-dir folder (or its shard-I-of-N folders)")
    p.add_argument("--course", type=Path, default=grade.HERE, help="the nbgrader course folder (default %(default)s)")
    p.add_argument("--solutions", type=Path, default=grade.ROOT / "solutions",
                   help="instructor notebooks, the assignments' source (default %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="reports folder (default COURSE/reports)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="assignments whose feedback is made at once (default %(default)s)")
    return p


def merge_command(argv: list[str]) -> int:
    """`grade.py merge DIR...`: the course's gradebook, autograded/, feedback/ and reports from the shards."""
    import grade

    args = merge_parser().parse_args(argv)
    try:
        metas, entries = check_shards(args.dirs)
        course = args.course.resolve()
        known = grade.prepare_course(course, args.solutions, metas[0]["assignments"])
        env = grade.base_env()
        grade.build.ensure_scripts_on_path()
        subs = []
        for folder, sub, record in entries:
            _copy_submission(folder, course, sub)
            if record["graded"]:
                rows = grade.worker_rows(folder / "gradebook.db", sub)
                dest = course / "autograded" / sub.student / sub.assignment
                shutil.rmtree(dest, ignore_errors=True)
                dest.mkdir(parents=True)
                name = f"{sub.assignment}.ipynb"
                grade.copy_plain_file(folder / "autograded" / sub.student / sub.assignment / name, dest / name)
                shutil.rmtree(course / "feedback" / sub.student / sub.assignment, ignore_errors=True)
                grade.merge(course, sub, rows)
            elif record["has_notebook"] or sub.assignment in known:
                try:
                    grade.merge(course, sub, {})   # its 0, hand grades kept: Batch.zero
                except Exception as exc:  # noqa: BLE001 - as in a serial run: that submission's line
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                    sub.problems.append(f"its 0 could not be recorded in the course gradebook ({first})")
            subs.append(sub)
        grade.feedback(course, subs, env, args.jobs)
    except GradeError as exc:
        raise SystemExit(f"error: {exc}")
    except grade.build.BuildError as exc:
        raise SystemExit(f"error: the course could not be prepared: {str(exc)[:2000]}")
    notes = list(dict.fromkeys(note for m in metas for note in m["notes"]))
    notes.append(f"merged from {len(metas)} shards in {entries[0][0].parent if entries else args.dirs[0]}; "
                 f"the time is the slowest shard's")
    out = (args.out or course / "reports").resolve()
    text = grade.write_reports(subs, course, out, known, env, max(m["seconds"] for m in metas),
                               sum(m["jobs"] for m in metas),
                               not_graded=[tuple(x) for x in metas[0]["not_graded"]], notes=notes,
                               stray=sum(m["stray"] for m in metas))
    print(text, end="")
    return 0


def _copy_submission(folder: Path, course: Path, sub: Submission) -> None:
    """The submitted file, as the shard copied it, into the course's submitted/ (plain files only)."""
    source = folder / "submitted" / sub.student / sub.assignment / f"{sub.assignment}.ipynb"
    if not source.is_file() or source.is_symlink():
        return
    target = course / "submitted" / sub.student / sub.assignment / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    shutil.copyfile(source, target)
