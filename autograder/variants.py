"""Graded assignments and per-student variants, the instructor's side (issue 17).

    python autograder/variants.py secret                 # make the secret (once per course)
    python autograder/variants.py codes roster.txt       # a variant code per student, as CSV
    python autograder/variants.py show alice             # alice's inputs and references

A graded assignment (``GRADED_ASSIGNMENTS`` in nbgrader_config.py) ships without references: the
kit's answers.toml gives each numeric question a `form` only, and the references live here, in
graded_answers.toml (never in the wheel). Each student gets their own inputs (answers.toml,
``[variants."08"]``), chosen by HMAC-SHA256(secret, student id); the secret is never in the
repository (``TINYCHINCHILLA_VARIANT_SECRET``, or a file outside it, see tinychinchilla.check).

The student cannot compute their variant without the secret, so the instructor gives each student
a *variant code* (``codes``): it names the student's inputs, with a checksum over the id. The
student enters id and code in the notebook, which shows the inputs. The code is not trusted: the
grader recomputes each submission's variant from the secret and the student id nbgrader files it
under, so a code copied from someone else only makes the variant answers wrong.

The grader (grade.py) uses :func:`judge` to judge every answer again outside the kernel, and
:func:`annotate_written` to put the student's inputs, the references of their variant and the
rubric next to each written answer it is to grade by hand.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import secrets
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REFERENCES = HERE / "graded_answers.toml"
CONFIG = HERE / "nbgrader_config.py"
NOTE_KEY = "tinychinchilla_grader_note"  # cell metadata marking a note added for the grader


def graded_assignments() -> tuple[str, ...]:
    """The course setting: nbgrader_config.py's GRADED_ASSIGNMENTS."""
    class _Config:  # what get_config() returns; attribute assignments land nowhere
        def __getattr__(self, name):
            return self

        def __setattr__(self, name, value):
            pass

    namespace = {"get_config": _Config, "__file__": str(CONFIG)}
    exec(compile(CONFIG.read_text(encoding="utf-8"), str(CONFIG), "exec"), namespace)  # noqa: S102
    return tuple(namespace.get("GRADED_ASSIGNMENTS", ()))


def use_references():
    """tinychinchilla.check with the instructor's references overlaid (returns the module)."""
    from tinychinchilla import check

    if os.environ.get(check.REFERENCES_ENV, "") != str(REFERENCES):
        os.environ[check.REFERENCES_ENV] = str(REFERENCES)
        for cached in (check.load_spec, check._where_names, check._mistake_values, check._reference,
                       check._variant_names_cached):
            cached.cache_clear()
    return check


def secret() -> bytes | None:
    """The course's secret, refusing one kept inside this repository (it would be committed)."""
    from tinychinchilla import check

    named = os.environ.get(check.SECRET_FILE_ENV, "").strip()
    if named and Path(named).expanduser().resolve().is_relative_to(ROOT):
        raise ValueError(f"{check.SECRET_FILE_ENV}={named} is inside the repository {ROOT}: keep the "
                         f"secret outside it (e.g. ~/.config/tinychinchilla/variant-secret)")
    return check.variant_secret()


def lesson_of(assignment: str) -> str:
    return assignment[:2]


def is_graded(assignment: str) -> bool:
    return assignment in graded_assignments()


def student_variant(assignment: str, student: str, key: bytes | None = None) -> tuple:
    check = use_references()
    return check.variant_for(lesson_of(assignment), student, secret() if key is None else key)


def references(assignment: str, student: str, key: bytes | None = None) -> dict[str, float]:
    """{question id: reference} of every numeric question of ``assignment`` for ``student``."""
    check = use_references()
    variant = student_variant(assignment, student, key)
    return {qid: check._reference(qid, variant) for qid in check.question_ids(lesson_of(assignment), "numeric")}


def judge(question_id: str, value, student: str, key: bytes | None = None):
    """check.Verdict of ``value`` against ``student``'s variant of the question."""
    check = use_references()
    lesson = question_id[:2]
    return check.judge(question_id, value, check.variant_for(lesson, student, secret() if key is None else key))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def grader_note(assignment: str, student: str, written_id: str, rubric: str = "",
                key: bytes | None = None) -> str:
    """Markdown for the grader: the student's inputs and their variant's references for question
    ``written_id`` (e.g. ``08.written_q2``), and the rubric."""
    check = use_references()
    lesson = lesson_of(assignment)
    number = written_id.rsplit("_q", 1)[-1]
    variant = student_variant(assignment, student, key)
    canonical = variant == check.canonical_variant(lesson)
    shown = check.variant_names(lesson, variant)
    table = check.load_spec().get("variants", {}).get(lesson, {}).get("shown", {})
    inputs = [f"`{k}` = {_fmt(shown[k])}" for k in table if k.startswith(f"q{number}_")]
    refs = [f"- {qid} ({check.question(qid).title}): **{_fmt(check._reference(qid, variant))}**"
            for qid in check.question_ids(lesson, "numeric") if qid.startswith(f"{lesson}.q{number}_")]
    lines = [f"**For the grader: student `{student}`, "
             f"{'the canonical variant (the paper' + chr(39) + 's own question)' if canonical else 'their own variant'}.**",
             ""]
    if inputs:
        lines += [f"Inputs: {', '.join(inputs)}." + ("" if canonical else
                  " The model answer and rubric are written for the paper's own question: read their "
                  "numbers as this student's."), ""]
    if refs:
        lines += ["References of this variant:", *refs, ""]
    if rubric:
        lines += [rubric.strip()]
    return "\n".join(lines).strip() + "\n"


def rubrics(solution: Path) -> dict[str, str]:
    """{written grade id: its rubric} from a solution notebook (the text from "**Rubric")."""
    out = {}
    for cell in nbformat.read(solution, as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
            text = cell.source.split("### END SOLUTION")[0]
            at = text.find("**Rubric")
            out[meta.get("grade_id", "")] = text[at:] if at >= 0 else ""
    return out


def annotate_written(notebook: Path, assignment: str, student: str, solutions: Path = ROOT / "solutions",
                     key: bytes | None = None) -> int:
    """Put a grader's note after each written answer of a graded assignment's autograded
    notebook; returns how many. Notes already there are replaced (regrading)."""
    if not is_graded(assignment):
        return 0
    solution = solutions / f"{assignment}.ipynb"
    found = rubrics(solution) if solution.exists() else {}
    nb = nbformat.read(notebook, as_version=4)
    cells, added = [], 0
    for cell in nb.cells:
        if cell.get("metadata", {}).get(NOTE_KEY):
            continue
        cells.append(cell)
        meta = cell.get("metadata", {}).get("nbgrader", {})
        match = re.fullmatch(r"q(\d\d)-(written_q\d+)", str(meta.get("grade_id", "")))
        if cell.cell_type == "markdown" and meta.get("grade") and match:
            written_id = f"{match.group(1)}.{match.group(2)}"
            note = nbformat.v4.new_markdown_cell(grader_note(assignment, student, written_id,
                                                             found.get(meta["grade_id"], ""), key))
            note.metadata[NOTE_KEY] = True
            cells.append(note)
            added += 1
    nb.cells = cells
    nbformat.write(nb, notebook)
    return added


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _roster(path: Path) -> list[str]:
    """Student ids: one per line, or a CSV whose first column (or `student_id`/`id`) holds them."""
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    if rows and len(rows[0]) > 1 or rows and rows[0] and rows[0][0].lower() in ("student_id", "id", "student"):
        header = [h.strip().lower() for h in rows[0]]
        column = next((header.index(h) for h in ("student_id", "id", "student") if h in header), None)
        if column is not None:
            rows = rows[1:]
        return [r[column or 0].strip() for r in rows if r and r[column or 0].strip()]
    return [r[0].strip() for r in rows if r and r[0].strip()]


def main(argv: list[str] | None = None) -> int:
    from tinychinchilla import check

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("secret", help="write a new random secret to the secret file (never overwrites)")
    p.add_argument("--file", type=Path, default=None,
                   help=f"where (default: ${check.SECRET_FILE_ENV} or {check.DEFAULT_SECRET_FILE})")
    p = sub.add_parser("codes", help="the variant code of every student of a roster, as CSV on stdout")
    p.add_argument("roster", type=Path, help="student ids, one per line (or a CSV with a student_id column)")
    p.add_argument("--assignment", default=None, help="a graded assignment (default: the first graded one)")
    p = sub.add_parser("show", help="a student's inputs and references (what the grader checks)")
    p.add_argument("student", help="the student id, as nbgrader files the submission")
    p.add_argument("--assignment", default=None, help="a graded assignment (default: the first graded one)")
    args = parser.parse_args(argv)

    if args.command == "secret":
        path = (args.file or Path(os.environ.get(check.SECRET_FILE_ENV, "") or check.DEFAULT_SECRET_FILE)).expanduser()
        if path.resolve().is_relative_to(ROOT):
            parser.error(f"{path} is inside the repository: keep the secret outside it")
        if path.exists():
            parser.error(f"{path} exists already: a new secret would change every student's variant")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        print(f"wrote a new secret to {path} (mode 600); back it up: grading needs the same one")
        return 0

    assignment = args.assignment or (graded_assignments() or ("",))[0]
    if not is_graded(assignment):
        parser.error(f"{assignment!r} is not a graded assignment (GRADED_ASSIGNMENTS in {CONFIG.name})")
    try:
        key = secret()
    except ValueError as exc:
        parser.error(str(exc))
    if key is None:
        print(f"note: no secret ({check.SECRET_ENV} or {check.DEFAULT_SECRET_FILE}): every student has the "
              f"canonical variant", file=sys.stderr)
    check = use_references()
    lesson = lesson_of(assignment)
    if args.command == "codes":
        shown = list(check.load_spec()["variants"][lesson]["shown"])
        writer = csv.writer(sys.stdout)
        writer.writerow(["student_id", "variant_code", *shown])
        for student in _roster(args.roster):
            variant = check.variant_for(lesson, student, key)
            names = check.variant_names(lesson, variant)
            code = "" if variant == check.canonical_variant(lesson) else check.variant_code(lesson, student, variant)
            writer.writerow([student, code, *(_fmt(names[k]) for k in shown)])
        return 0
    variant = check.variant_for(lesson, args.student, key)
    names = check.variant_names(lesson, variant)
    print(f"{args.student}: variant code {check.variant_code(lesson, args.student, variant)}")
    for name in check.load_spec()["variants"][lesson]["shown"]:
        print(f"  {name} = {_fmt(names[name])}")
    for qid, value in references(assignment, args.student, key).items():
        print(f"  {qid:<30} {_fmt(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
