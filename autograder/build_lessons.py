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

Three parts of every solution notebook are generated here, in place, before nbgrader runs, so
they come from one setting each (`--check` reports a notebook that disagrees):

* the Colab badge in the title cell and the Colab install line of the set-up cell (the first
  code cell), from the repository URL in pyproject.toml's ``[project.urls] Repository``: after
  forking the course, change that one line and run `make lessons`;
* the run-time line under the badge, from the README's lesson table (time on 2 CPU cores / a GPU).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG_FILE = HERE / "nbgrader_config.py"
SOLUTIONS = ROOT / "solutions"
LESSONS = ROOT / "lessons"
GRADEBOOK = HERE / "gradebook.db"
PYPROJECT = ROOT / "pyproject.toml"
README = ROOT / "README.md"
#: The branch the Colab badges open the lessons from.
BRANCH = "main"
#: False until benchmarks/gpu_check.py has measured the lessons on a GPU: the README's GPU times are estimates.
GPU_TIMES_MEASURED = False


class BuildError(RuntimeError):
    """nbgrader failed; the message carries its log."""


# ---------------------------------------------------------------------------------------------
# The generated parts: Colab badge, install line, run time
# ---------------------------------------------------------------------------------------------


def repository_url(pyproject: Path = PYPROJECT) -> str:
    """The course's repository, ``https://github.com/OWNER/NAME``: the one place it is set."""
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("urls", {})
    url = str(urls.get("Repository", "")).rstrip("/")
    if url.endswith(".git"):
        url = url[:-4]
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(f"error: {pyproject} [project.urls] Repository must be "
                         f"https://github.com/OWNER/NAME (Colab opens notebooks from GitHub), got {url!r}")
    return url


def colab_badge(name: str, url: str) -> str:
    """The markdown of lesson ``name``'s Open-in-Colab badge."""
    path = url.removeprefix("https://github.com/")
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{path}/blob/{BRANCH}/lessons/{name}.ipynb)")


def install_header(url: str) -> str:
    """The start of every set-up cell, up to ``import torch``: the install on Colab, then the kit
    imported before torch (OMP_WAIT_POLICY=PASSIVE with the CPU count of threads, the fastest
    setting on an idle machine; tinychinchilla/__init__.py says what happens the other way round)."""
    return (
        "# On Colab, install the kit first; it carries the shipped runs (small_runs/), and Colab's own\n"
        "# PyTorch is kept (the kit asks for torch>=2.3, which it already satisfies). Elsewhere, `make lab`\n"
        "# has installed everything.\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install --quiet \"tinychinchilla @ git+{url}\"\n"
        "\n"
        "import tinychinchilla  # before torch: torch's idle threads then sleep instead of spinning\n")


_TIME_ROW = re.compile(r"^\|\s*`lessons/(\d\d-[\w-]+)\.ipynb`\s*\|.*\|\s*([^|/]+?)\s*/\s*([^|/]+?)\s*\|\s*$")


def lesson_times(readme: Path = README) -> dict[str, tuple[str, str]]:
    """``{lesson name: (time on 2 CPU cores, time on a GPU)}`` from the README's lesson table."""
    times = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        m = _TIME_ROW.match(line)
        if m:
            times[m.group(1)] = (m.group(2), m.group(3))
    return times


def _words(time: str) -> str:
    time = time.strip()
    for sign, word in (("~", "about "), ("<", "under "), (">", "over ")):
        if time.startswith(sign):
            return word + time[1:].strip()
    return time


def time_line(cpu: str, gpu: str) -> str:
    gpu_note = "" if GPU_TIMES_MEASURED else " (estimated: not yet measured on a GPU)"
    return f"**Time:** {_words(cpu)} on a 2-core CPU; {_words(gpu)} on a GPU{gpu_note}."


_BADGE = re.compile(r"^\[!\[Open In Colab\]\(.*$")
_TIME = re.compile(r"^\*\*Time:\*\* .*$")


def with_generated_cells(nb, name: str, url: str, times: dict[str, tuple[str, str]]):
    """``nb`` with its badge, run-time line and Colab install line as generated (in place)."""
    if name not in times:
        raise SystemExit(f"error: README.md's lesson table has no row for lessons/{name}.ipynb "
                         "(its last column gives the time on 2 CPU cores / a GPU); add one")
    title = nb.cells[0]
    lines = title.source.split("\n")
    if title.cell_type != "markdown" or not lines[0].startswith("# "):
        raise SystemExit(f"error: {name}: the first cell must be the markdown title ('# Lesson ...')")
    body = [ln for ln in lines[1:] if not (_BADGE.match(ln) or _TIME.match(ln))]
    while body and not body[0].strip():
        body.pop(0)
    title.source = "\n".join([lines[0], "", colab_badge(name, url), "", time_line(*times[name]), ""] + body)

    setup = next((c for c in nb.cells if c.cell_type == "code"), None)
    marker = "\nimport torch\n"
    if setup is None or marker not in "\n" + setup.source:
        raise SystemExit(f"error: {name}: the first code cell must be the set-up cell (with `import torch`)")
    rest = ("\n" + setup.source).split(marker, 1)[1]
    setup.source = install_header(url) + "import torch\n" + rest
    return nb


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
    url, times = repository_url(), lesson_times()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if has_outputs(nb):
            if args.check:
                problems.append(f"{shown}: has outputs or execution counts (run `make lessons` to clear them)")
            else:
                nb = clear_outputs(nb)
                print(f"cleared     outputs of {path}")
        before = render(nb)
        after = render(with_generated_cells(nb, path.stem, url, times))
        if after != before:
            if args.check:
                problems.append(f"{shown}: its Colab badge, install line or run time disagrees with "
                                "pyproject.toml / README.md (run `make lessons`)")
            else:
                print(f"generated   badge, install line and run time of {shown}")
        if not args.check and after != path.read_text(encoding="utf-8"):
            path.write_text(after, encoding="utf-8")

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
