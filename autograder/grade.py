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
   course's ``submitted/`` folder (autograder/collect.py);
3. each (student, assignment) is autograded by ``nbgrader autograde`` in its own throwaway course
   folder (autograder/autograde.py), ``--jobs`` at a time: nbgrader writes one sqlite gradebook
   serially, so each worker has its own and only this process writes the course's gradebook,
   merging one finished submission at a time. One student's code never runs where another
   student's grades are.
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

On many machines: ``--shard I/N --shard-dir DIR`` grades one shard of the students, and
``grade.py merge DIR`` merges the shards into the course (autograder/shards.py; a Slurm job array
in autograder/slurm/).

Nothing a submission does aborts the batch: a problem becomes that submission's score and a line
in the summary. See autograder/README.md for the score each kind of broken or hostile submission
gets, and for grading as an unprivileged user.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_lessons as build  # noqa: E402  (autograder/build_lessons.py: nbgrader plumbing)
import term  # noqa: E402  (autograder/term.py: stale hand grades, final grades, feedback again)
import variants  # noqa: E402  (autograder/variants.py: graded assignments, per-student variants)
from collect import Submission, import_submissions  # noqa: E402  (step 2: autograder/collect.py)
from autograde import (cell_problems, config_shim, grade_one, neutralize_markers,  # noqa: E402  (step 3)
                       override, recheck)
import shards  # noqa: E402  (autograder/shards.py: --shard i/n and `grade.py merge`)
from isolation import (GradeError, clear_folder, copy_plain_file, sandbox_notes,  # noqa: E402,F401
                       stage_kit)  # clear_folder: the tests reach it as grade.clear_folder

ROOT = HERE.parent
GRADE_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "SYSTEMROOT", "VIRTUAL_ENV",
                  "CONDA_PREFIX", "PYTHONPATH", "TINYCHINCHILLA_CACHE")


# ---------------------------------------------------------------------------------------------
# The course
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Grading the batch, each submission merged into the course as it finishes
# ---------------------------------------------------------------------------------------------


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
        self.on_done = None  # called with each submission once it is in the gradebook (shards.Shard.done)

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
                if self.on_done:
                    self.on_done(sub)
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
                if self.on_done:
                    self.on_done(sub)
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
    from tinychinchilla.grid import parse_shard
    from tinychinchilla.sandbox import Limits

    limits = Limits()
    p = argparse.ArgumentParser(prog="python autograder/grade.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="After hand grading: `grade.py feedback` (feedback HTML again) and `grade.py export` "
                                       "(final grades, Canvas and Moodle files); after --shard: `grade.py merge DIR`; each has --help. "
                                       "See autograder/README.md "
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
    p.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                   help="grade only shard I of N of the students (split by student id; e.g. one Slurm array task "
                        "each: autograder/slurm/), into --shard-dir; then `grade.py merge DIR`")
    p.add_argument("--shard-dir", type=Path, default=None,
                   help="with --shard: the folder shared by the shards; shard I's course is DIR/shard-I-of-N")
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
    if argv and argv[0] == "merge":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return shards.merge_command(argv[1:])
    args = build_parser().parse_args(argv)
    if args.jobs < 1 or args.timeout < 1:
        raise SystemExit("error: --jobs and --timeout must be at least 1")
    if (args.shard is None) != (args.shard_dir is None):
        raise SystemExit("error: --shard I/N and --shard-dir DIR go together (each shard grades into DIR/shard-I-of-N)")
    if not args.submissions.exists():
        raise SystemExit(f"error: {args.submissions} does not exist: give a folder of submissions or an LMS .zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbformat/SQLAlchemy notes about submissions are not the instructor's concern
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    from tinychinchilla import sandbox

    start = time.perf_counter()
    shard = shards.Shard(args.shard_dir, args.shard) if args.shard else None
    course_root = shard.folder if shard else args.course.resolve()
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
        if shard:
            shard.begin()
        with tempfile.TemporaryDirectory(prefix="tinychinchilla-template-") as template:
            template = Path(template)
            args.known = prepare_course(course_root, args.solutions, args.assignments)
            # a gradebook with the assignments and no students: what every worker starts from
            build.generate(build.solution_paths(args.solutions, args.known), template, template / "gradebook.db")
            subs, not_graded = import_submissions(args.submissions.resolve(), course_root, args.known,
                                                  args.name_regexp, env, select=shard.select if shard else None)
            notes = sandbox_notes(args, env)
            for note in notes:
                print(f"note: {note}")
            batch = Batch(course_root, template, args, env)
            batch.on_done = shard.done if shard else None
            batch.run(subs)
            feedback(course_root, subs + (shard.finished if shard else []), env, args.jobs)
    except GradeError as exc:
        raise SystemExit(f"error: {exc}")
    except build.BuildError as exc:
        raise SystemExit(f"error: the course could not be prepared: {str(exc)[:2000]}")
    finally:
        stray = sandbox.kill_descendants()
        shutil.rmtree(kit, ignore_errors=True)
    if shard:  # reports come from `grade.py merge`, once every shard is done
        try:
            shard.finish(args.known, not_graded, notes, time.perf_counter() - start, args.jobs, stray)
        except GradeError as exc:
            raise SystemExit(f"error: {exc}")
        print(shard.summary(subs), end="")
        return 0
    out = (args.out or course_root / "reports").resolve()
    text = write_reports(subs, course_root, out, args.known, env, time.perf_counter() - start, args.jobs,
                         not_graded=not_graded, notes=notes, stray=stray)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
