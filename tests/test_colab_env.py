"""Every lesson from the installed wheel, in an environment pinned like Colab's, in a folder with
no checkout beside it.

Colab (2026): IPython 7.34, ipywidgets 7.7.1, notebook 6.5, torch preinstalled, no nbgrader. The
lessons' Colab cell pip-installs the kit, which keeps the preinstalled torch because the kit asks
for a range it satisfies. This test builds such an environment in a temporary folder (torch
first, as Colab has it; then the pins; then the kit's wheel, built once per session by the
`built_wheel` fixture, as `pip install git+...` builds it), registers its kernel, copies every
solution notebook (found by glob) to an empty folder and executes each there in fast mode: every
self-check must pass, and the shipped runs must come from the installed package. Python is this
machine's, not Colab's 3.13.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB_PINS = ["ipython==7.34.0", "ipywidgets==7.7.1", "notebook==6.5.*", "ipykernel>=6,<7"]
LESSONS = sorted(p.stem for p in (ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))
GRADED = ("08-homework-pretraining",)  # autograder/nbgrader_config.py, GRADED_ASSIGNMENTS


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory, built_wheel):
    import torch

    env_dir = tmp_path_factory.mktemp("colab") / "venv"
    _run([sys.executable, "-m", "venv", str(env_dir)])
    py = env_dir / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(pip + [f"torch=={torch.__version__.split('+')[0]}"])  # "preinstalled", as on Colab
    torch_before = _run([str(py), "-c", "import torch; print(torch.__file__, torch.__version__)"])
    _run(pip + COLAB_PINS)
    _run(pip + [str(built_wheel)])  # what the lesson's Colab cell does: a plain, non-editable install
    torch_after = _run([str(py), "-c", "import torch; print(torch.__file__, torch.__version__)"])
    assert torch_after == torch_before, "installing the kit must not replace the preinstalled torch"
    kernels = env_dir / "share" / "jupyter"
    _run([str(py), "-m", "ipykernel", "install", "--prefix", str(env_dir), "--name", "colab-like"])
    return py, kernels


@pytest.fixture(scope="module")
def empty_folder(tmp_path_factory):
    """The lessons alone, as a learner who opened them from Colab has them: no checkout."""
    folder = tmp_path_factory.mktemp("learner")
    for name in LESSONS:
        shutil.copy(ROOT / "solutions" / f"{name}.ipynb", folder)
    return folder


def test_the_pins_hold_and_nbgrader_is_absent(colab_env):
    py, _ = colab_env
    versions = json.loads(_run([str(py), "-c", (
        "import json, IPython, ipywidgets, notebook, importlib.util; "
        "print(json.dumps([IPython.__version__, ipywidgets.__version__, notebook.__version__, "
        "importlib.util.find_spec('nbgrader') is None]))")]))
    assert versions[0] == "7.34.0" and versions[1] == "7.7.1" and versions[2].startswith("6.5")
    assert versions[3], "nbgrader must not be installed in the Colab-like environment"


def test_the_installed_kit_reads_its_own_copy_of_the_runs(colab_env, tmp_path):
    py, _ = colab_env
    env = {k: v for k, v in os.environ.items() if k not in ("TINYCHINCHILLA_SMALL_RUNS", "PYTHONPATH")}
    where = _run([str(py), "-c", "from tinychinchilla import runs; print(runs.small_runs_dir()); "
                  "print(len(runs.load_runs(seed=None)))"], cwd=tmp_path, env=env).split()
    assert "site-packages" in where[0] and str(ROOT) not in where[0]
    assert int(where[1]) == len(list((ROOT / "small_runs" / "runs").glob("*.json")))


def test_the_installed_kit_builds_its_compiled_objective(colab_env, tmp_path):
    """The C source of Approach 3's objective ships in the (non-editable) install and builds there."""
    if not (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler on this machine")
    py, _ = colab_env
    status = _run([str(py), "-c", "from tinychinchilla import _native; print(_native.kernel_status())"],
                  env={**os.environ, "TINYCHINCHILLA_CACHE": str(tmp_path)})
    assert status.startswith("compiled objective") and str(tmp_path) in status, status


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_lesson_runs_with_self_checks_passing(colab_env, empty_folder, name, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    from tinychinchilla import check

    _, kernels = colab_env
    monkeypatch.setenv("JUPYTER_PATH", str(kernels) + os.pathsep + os.environ.get("JUPYTER_PATH", ""))
    monkeypatch.setenv("TINYCHINCHILLA_FAST", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("TINYCHINCHILLA_SMALL_RUNS", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.delenv("TINYCHINCHILLA_REFERENCES", raising=False)  # a student has no instructor's references
    nb = nbformat.read(empty_folder / f"{name}.ipynb", as_version=4)
    # a last cell that reports which kernel ran the lesson, and where the kit came from
    nb.cells.append(nbformat.v4.new_code_cell(
        "import IPython, importlib.util, tinychinchilla\n"
        "print('kernel:', IPython.__version__, importlib.util.find_spec('nbgrader') is None)\n"
        "print('kit:', tinychinchilla.__file__)"))
    NotebookClient(nb, timeout=300, kernel_name="colab-like", startup_timeout=120,
                   resources={"metadata": {"path": str(empty_folder)}}).execute()
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")
    assert "not yet" not in text
    numeric = check.question_ids(lesson=name[:2], kind="numeric")
    # a graded assignment's questions are checked for form only in the student's kit (issue 17)
    graded = [q for q in numeric if name in GRADED]
    assert text.count(": correct (") == len(numeric) - len(graded)
    assert text.count("checked when the homework is graded") == len(graded)
    assert "kernel: 7.34.0 True" in text  # the Colab-like kernel ran it, without nbgrader
    kit = text.split("kit: ", 1)[1].splitlines()[0]
    assert "site-packages" in kit and not kit.startswith(str(ROOT))  # the wheel, not this checkout
