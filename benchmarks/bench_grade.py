"""Benchmark class-scale grading (autograder/grade.py): a synthetic class graded serially and with
all cores, side by side in one run.

Every student of the synthetic class submits every lesson (the solution notebooks, so each
notebook runs to the end, as a finished homework does). The class is graded twice into two fresh
courses, with ``--jobs 1`` and with ``--jobs <cores>``, and the script prints, for each: wall
time, seconds per notebook per student (wall time / notebooks graded), the speed-up, and whether
the two gradebooks agree cell by cell. Sandbox and guard are on, as in a real run.

    python benchmarks/bench_grade.py                     # 40 students x 9 lessons (hours on 2 cores)
    python benchmarks/bench_grade.py --students 2        # a quick look
    python benchmarks/bench_grade.py --students 2 --skip-serial --isolation-cost   # what confinement costs
    python benchmarks/bench_grade.py --help
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_grade():
    """autograder/grade.py, the class grading command, as a module."""
    sys.path.insert(0, str(REPO / "autograder"))
    import grade

    return grade


def cell_grades(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {(sub.student.id, nb.name, g.name): (g.auto_score, g.needs_manual_grade)
                for assignment in gb.assignments for nb in assignment.notebooks
                for sub in nb.submissions for g in sub.grades}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_grade.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=40, help="students in the synthetic class (default %(default)s)")
    p.add_argument("--lessons", nargs="*", default=None, metavar="NN-name",
                   help="lessons each student submits (default: all solution notebooks)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="workers of the parallel run (default: all %(default)s cores)")
    p.add_argument("--skip-serial", action="store_true", help="only the parallel run (no speed-up printed)")
    p.add_argument("--isolation-cost", action="store_true",
                   help="also grade the class with --no-sandbox (same workers), and print what the kernels' "
                        "confinement costs per notebook")
    args = p.parse_args(argv)
    grade = load_grade()
    lessons = [path.stem for path in grade.build.solution_paths(REPO / "solutions", args.lessons)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    try:
        subs = tmp / "submissions"
        for i in range(args.students):
            for lesson in lessons:
                target = subs / f"student{i:03d}" / lesson / f"{lesson}.ipynb"
                target.parent.mkdir(parents=True)
                shutil.copy(REPO / "solutions" / f"{lesson}.ipynb", target)
        notebooks = args.students * len(lessons)
        print(f"synthetic class: {args.students} students x {len(lessons)} lessons = {notebooks} notebooks")
        results = {}
        runs = [(1, False)] * (not args.skip_serial) + [(args.jobs, False)] + [(args.jobs, True)] * args.isolation_cost
        for jobs, unconfined in runs:
            course = tmp / f"course-jobs{jobs}{'-unconfined' * unconfined}"
            start = time.perf_counter()
            grade.main([str(subs), "--course", str(course), "--jobs", str(jobs), "--quiet",
                        *(["--no-sandbox"] if unconfined else []),
                        *sum((["--assignment", lesson] for lesson in lessons), [])])
            wall = time.perf_counter() - start
            results[(jobs, unconfined)] = (wall, cell_grades(course))
            print(f"--jobs {jobs}{' --no-sandbox' * unconfined}: {wall:.0f} s in all, "
                  f"{wall / notebooks:.1f} s per notebook per student")
        if args.isolation_cost:
            (confined, g1), (free, g2) = results[(args.jobs, False)], results[(args.jobs, True)]
            print(f"confinement costs {(confined - free) / notebooks:+.1f} s per notebook per student "
                  f"({confined / free:.2f}x); gradebooks agree cell by cell: {g1 == g2}")
        results = {jobs: r for (jobs, unconfined), r in results.items() if not unconfined}
        if len(results) == 2:
            (serial, g1), (parallel, gn) = results[1], results[args.jobs]
            print(f"speed-up with {args.jobs} workers: {serial / parallel:.2f}x; "
                  f"gradebooks agree cell by cell: {g1 == gn} ({len(g1)} cells)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
