"""Generate the student notebooks lessons/NN-name.ipynb from the instructor notebooks
solutions/NN-name.ipynb with nbgrader (`make lessons`).

nbgrader expects a course laid out as <root>/source/<assignment>/<notebook>.ipynb. The kit keeps a
flat layout instead, so each solution notebook is staged into a temporary course as its own
assignment (assignment id = notebook name), `generate_assignment` runs there, and the released
notebook is copied back to lessons/. The released notebooks have their solutions, hidden tests and
outputs removed; they are written byte-for-byte reproducibly, so `--check` can tell whether
lessons/ is up to date without writing anything.

The solution notebooks are the single source. They are committed without outputs; after trying
one in Jupyter, a plain run of this script clears its outputs in place (`--check` reports them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG_FILE = HERE / "nbgrader_config.py"
SOLUTIONS = ROOT / "solutions"
LESSONS = ROOT / "lessons"
GRADEBOOK = HERE / "gradebook.db"


class BuildError(RuntimeError):
    """nbgrader failed; the message carries its log."""


# ---------------------------------------------------------------------------------------------
# nbgrader plumbing (also used by tests/test_course.py)
# ---------------------------------------------------------------------------------------------


def load_config(course_root: Path, gradebook: Path | None = None, use_db: bool = True):
    """autograder/nbgrader_config.py, loaded by hand (NbGraderAPI does not read it), with the course
    root and the gradebook moved to ``course_root`` (or ``gradebook`` when given). With
    ``use_db=False`` generate_assignment records nothing (as `--no-db` does), which is faster."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    config.CourseDirectory.root = str(course_root)
    db = gradebook if gradebook is not None else course_root / "gradebook.db"
    config.CourseDirectory.db_url = f"sqlite:///{Path(db).resolve()}"
    if not use_db:
        config.GenerateAssignment.no_database = True
        config.SaveCells.enabled = False
    # no exchange is used; keep nbgrader from looking for /srv/nbgrader/exchange
    config.Exchange.root = str(course_root / "exchange")
    (Path(course_root) / "exchange").mkdir(parents=True, exist_ok=True)  # nbgrader logs CRITICAL when it is missing
    return config


def ensure_scripts_on_path() -> None:
    """nbgrader runs the `alembic` command to create a gradebook; when this Python's environment
    is not activated (`make` calls .venv/bin/python directly), put its scripts folder on PATH."""
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def make_api(config):
    """An NbGraderAPI that uses ``config``."""
    ensure_scripts_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def succeed(result: dict, what: str) -> dict:
    """NbGraderAPI reports failure as {"success": False, ...} instead of raising: raise it."""
    if not result.get("success"):
        raise BuildError(f"nbgrader {what} failed.\n--- log ---\n{result.get('log', '')}"
                         f"\n--- error ---\n{result.get('error', '')}")
    return result


# ---------------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------------


def has_outputs(nb) -> bool:
    return any(cell.get("outputs") or cell.get("execution_count") is not None
               for cell in nb.cells if cell.cell_type == "code")


def clear_outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def render(nb) -> str:
    """The exact text a notebook is committed as (nbformat's own layout, final newline)."""
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def solution_paths(folder: Path = SOLUTIONS, names: list[str] | None = None) -> list[Path]:
    paths = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
    if names:
        wanted = {Path(n).stem for n in names}
        missing = wanted - {p.stem for p in paths}
        if missing:
            raise SystemExit(f"error: no solution notebook named {', '.join(sorted(missing))} in {folder}")
        paths = [p for p in paths if p.stem in wanted]
    return paths


def generate(solutions: list[Path], course_root: Path, gradebook: Path | None = None,
             use_db: bool = True) -> dict[str, str]:
    """Stage ``solutions`` into a course at ``course_root`` and release them with nbgrader.

    Returns ``{notebook name: released notebook text}``. The staged course (source/, release/ and,
    with ``use_db`` and no ``gradebook`` given, gradebook.db) stays in ``course_root`` for the
    caller, e.g. to autograde submissions against it.
    """
    api = make_api(load_config(course_root, gradebook, use_db))
    released = {}
    for path in solutions:
        name = path.stem
        nb = clear_outputs(nbformat.read(path, as_version=4))
        staged = course_root / "source" / name / f"{name}.ipynb"
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(render(nb), encoding="utf-8")
        succeed(api.generate_assignment(name, force=True, create=True), f"generate_assignment {name}")
        out = course_root / "release" / name / f"{name}.ipynb"
        released[name] = render(clear_outputs(nbformat.read(out, as_version=4)))
    return released


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python autograder/build_lessons.py",
        description="Generate lessons/NN-name.ipynb (student notebooks) from solutions/NN-name.ipynb "
                    "(instructor notebooks, the nbgrader source) with nbgrader generate_assignment.")
    p.add_argument("names", nargs="*", help="only these notebooks (e.g. 01-tiny-transformer); default all")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 listing the notebooks that are out of date")
    p.add_argument("--solutions", type=Path, default=SOLUTIONS, help="instructor notebooks (default %(default)s)")
    p.add_argument("--lessons", type=Path, default=LESSONS, help="student notebooks (default %(default)s)")
    p.add_argument("--gradebook", nargs="?", type=Path, const=GRADEBOOK, default=None, metavar="DB",
                   help="also record the assignments (cells, points, checksums) in this nbgrader "
                        "gradebook, so that `nbgrader autograde` run from autograder/ can grade "
                        "submissions (default DB: %(const)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check and args.gradebook is not None:
        raise SystemExit("error: --check writes nothing, so it cannot update a gradebook")
    paths = solution_paths(args.solutions, args.names)
    if not paths:
        raise SystemExit(f"error: no solution notebooks (NN-name.ipynb) in {args.solutions}")

    problems: list[str] = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if has_outputs(nb):
            if args.check:
                problems.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                                "has outputs or execution counts (run `make lessons` to clear them)")
            else:
                path.write_text(render(clear_outputs(nb)), encoding="utf-8")
                print(f"cleared     outputs of {path}")

    with tempfile.TemporaryDirectory(prefix="tinychinchilla-course-") as tmp:
        released = generate(paths, Path(tmp), args.gradebook, use_db=args.gradebook is not None)

    for name, text in released.items():
        target = args.lessons / f"{name}.ipynb"
        current = target.read_text(encoding="utf-8") if target.exists() else None
        shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
        if current == text:
            print(f"up to date  {shown}")
        elif args.check:
            problems.append(f"{target}: {'missing' if current is None else 'out of date'} "
                            f"(regenerate with `make lessons`)")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"{'wrote' if current is None else 'updated':<11} {shown}")

    if not args.names:
        sources = {p.stem for p in paths}
        for orphan in sorted(args.lessons.glob("[0-9][0-9]-*.ipynb")):
            if orphan.stem not in sources:
                message = f"{orphan}: has no solutions/{orphan.name} (delete it, or restore its source)"
                if args.check:
                    problems.append(message)
                else:
                    print(f"warning: {message}")

    if problems:
        print("out of date:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
