"""Shared fixtures: the corpus (downloaded once into the kit's cache) and the kit's wheel (built
once per test session, from a copy of this checkout, as `pip install git+...` builds it)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# what a fresh clone does not have: environments, build outputs, caches, local course state
NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "out", "*.egg-info",
                                        "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
                                        "gradebook.db", ".whl", ".gl")


@pytest.fixture(scope="session")
def corpus():
    from tinychinchilla.data import load_corpus

    return load_corpus()


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """tinychinchilla-*.whl built by pip (isolated build) from a clean copy of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_IN_A_CLONE)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "--disable-pip-version-check", "--wheel-dir", str(tmp), str(source)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"building the wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    (wheel,) = tmp.glob("tinychinchilla-*.whl")
    return wheel


@pytest.fixture(autouse=True)
def _single_thread_safe_seed():
    torch.manual_seed(0)
    yield


# The graded homework's references are instructor-side (autograder/graded_answers.toml, issue 17);
# the course's tests judge its answers with them, as `nbgrader autograde` does. Tests of the
# student's kit (tests/test_variants.py) run without them, in a clean environment.
import os  # noqa: E402

os.environ.setdefault("TINYCHINCHILLA_REFERENCES", str(ROOT / "autograder" / "graded_answers.toml"))
