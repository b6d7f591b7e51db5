"""Packaging: environment.yml and pyproject.toml name the same packages; the repository URL is set
once and every notebook agrees with it; each lesson states its time from the README's table;
`make course` writes a readable log."""

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!;:\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    # tomli is only a back-port for Python 3.10, which conda resolves by itself
    pypi = {_name(r) for r in requirements if "python_version" not in r}

    conda, in_deps = set(), False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
        elif in_deps and re.match(r"^  - [A-Za-z]", line):
            conda.add(CONDA_TO_PYPI.get(_name(line[4:]), _name(line[4:])))
    assert conda - NOT_PACKAGES == pypi


def test_torch_requirement_is_a_range_colab_satisfies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    torch_req = next(r for r in project["dependencies"] if _name(r) == "torch")
    assert torch_req.replace(" ", "") == "torch>=2.3"  # Colab's 2.11 and the CPU 2.13.0 both satisfy it


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme.split("\n## ")[0]  # on the README's first screen
    assert ci.strip().splitlines()[-1] == "make test"


# --- the repository URL: set once, in pyproject.toml; every badge and install line from it ------


def _build_lessons():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_lessons", ROOT / "autograder" / "build_lessons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOTEBOOKS = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb")) + sorted((ROOT / "lessons").glob("[0-9][0-9]-*.ipynb"))


def test_the_repository_url_is_set_in_one_place():
    url = _build_lessons().repository_url()
    assert url == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    owner_name = url.removeprefix("https://github.com/")
    # outside the generated notebook cells, nothing repeats it (a fork changes one line)
    for path in [ROOT / "README.md", ROOT / "Makefile", *ROOT.glob("src/tinychinchilla/*.py"),
                 *ROOT.glob("tests/*.py"), *ROOT.glob("autograder/*.py"), *ROOT.glob("benchmarks/*.py"),
                 *ROOT.glob("autograder/*.md"), *ROOT.glob("small_runs/*.md")]:
        assert owner_name not in path.read_text(encoding="utf-8"), f"{path} repeats the repository URL"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_notebook_agrees_with_the_repository_url(path):
    import nbformat

    build = _build_lessons()
    url = build.repository_url()
    nb = nbformat.read(path, as_version=4)
    assert build.colab_badge(path.stem, url) in nb.cells[0].source
    setup = next(c for c in nb.cells if c.cell_type == "code").source
    assert setup.startswith(build.install_header(url))
    owner_name = url.removeprefix("https://github.com/")
    mentions = [line for cell in nb.cells for line in cell.source.splitlines() if owner_name in line]
    assert len(mentions) == 2, f"{path.name}: the URL appears outside the badge and the install line"
    # and the solution notebooks are exactly as the generator writes them
    if path.parent.name == "solutions":
        before = build.render(nb)
        assert build.render(build.with_generated_cells(nb, path.stem, url, build.lesson_times())) == before


def test_a_fork_changes_one_line(tmp_path):
    import nbformat

    build = _build_lessons()
    text = (ROOT / "pyproject.toml").read_text()
    old = build.repository_url()
    forked = tmp_path / "pyproject.toml"
    forked.write_text(text.replace(f'Repository = "{old}"', 'Repository = "https://github.com/someone/my-course"'))
    assert build.repository_url(forked) == "https://github.com/someone/my-course"
    path = ROOT / "solutions" / "00-setup-and-tour.ipynb"
    nb = build.with_generated_cells(nbformat.read(path, as_version=4), path.stem,
                                    build.repository_url(forked), build.lesson_times())
    rendered = build.render(nb)
    assert old.removeprefix("https://github.com/") not in rendered
    assert "colab.research.google.com/github/someone/my-course/blob/main/lessons/00-setup-and-tour.ipynb" in rendered
    assert "git+https://github.com/someone/my-course" in rendered
    forked.write_text(text.replace(f'Repository = "{old}"', 'Repository = "not a url"'))
    with pytest.raises(SystemExit, match="Repository"):
        build.repository_url(forked)


def test_every_lesson_says_its_time_from_the_readme_table():
    import nbformat

    build = _build_lessons()
    times = build.lesson_times()
    names = [p.stem for p in sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))]
    assert sorted(times) == names, "README.md's lesson table and solutions/ list different lessons"
    for name in names:
        title = nbformat.read(ROOT / "lessons" / f"{name}.ipynb", as_version=4).cells[0].source
        assert build.time_line(*times[name]) in title


def test_make_course_writes_a_few_lines_to_a_log(tmp_path):
    """Not a terminal (`make course > log`): no progress-bar updates, a few readable lines."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "tinychinchilla.course", "--skip-lessons",
                           "--tokens", "30000", "--device", "cpu", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    assert "\r" not in log
    assert "training the demo model" in log and "validation loss is" in log
    assert len(log.splitlines()) < 40


def test_gpu_check_refuses_cleanly_without_cuda():
    """benchmarks/gpu_check.py is for CUDA machines; elsewhere one clear line and exit status 2."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_every_subpackage_is_listed_for_the_wheel():
    # `packages` is an explicit list (small_runs is mapped in from outside src/), so a new
    # subpackage that is not listed would be left out of the wheel, and the installed kit would
    # fail at its first import of it (as `tinychinchilla.fit` did before it was listed).
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    src = ROOT / "src"
    found = {".".join(p.parent.relative_to(src).parts) for p in src.rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
