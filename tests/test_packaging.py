"""environment.yml and pyproject.toml must name the same packages."""

import re
from pathlib import Path

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
