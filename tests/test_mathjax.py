"""Every formula in every notebook typesets in MathJax 3, the typesetter of JupyterLab, Notebook 7
and Colab.

The formulas are taken out of the markdown cells as Jupyter does it (code spans and fenced code
are not math; ``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` and top-level
``\\begin{env}...\\end{env}`` are), and typeset under node by mathjax-full with the full TeX
package set (tests/js/typeset.js). A formula MathJax cannot typeset shows as red error text in
the learner's browser, e.g. "Unknown environment '{cases}'".

mathjax-full is installed by the session fixture below with npm into the kit's cache
(``$TINYCHINCHILLA_CACHE`` or ``~/.cache/tinychinchilla``), once; the tests skip, saying why,
only where node is not installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb")) + sorted((ROOT / "lessons").glob("[0-9][0-9]-*.ipynb"))
TYPESET_JS = ROOT / "tests" / "js" / "typeset.js"
MATHJAX_VERSION = "3.2.2"  # the MathJax 3 that JupyterLab 4 and Notebook 7 ship

FENCED = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
DISPLAY = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|(\\begin\{([A-Za-z]+\*?)\}.*?\\end\{\4\})", re.S)
INLINE = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)", re.S)


def formulas(markdown: str) -> list[tuple[str, bool]]:
    """(TeX, display?) for each formula of one markdown cell, in order of kind."""
    text = CODE_SPAN.sub(" ", FENCED.sub(" ", markdown))
    found: list[tuple[str, bool]] = []

    def take_display(m: re.Match) -> str:
        found.append((next(g for g in m.groups()[:3] if g is not None), True))
        return " "

    rest = DISPLAY.sub(take_display, text)
    for m in INLINE.finditer(rest):
        found.append((m.group(1) if m.group(1) is not None else m.group(2), False))
    return found


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """A folder with mathjax-full installed (npm, into the kit's cache), for NODE_PATH."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("node is not installed, so MathJax cannot run: install Node.js (e.g. apt-get install "
                    "nodejs npm) to typeset the notebooks' formulas")
    env = os.environ.get("TINYCHINCHILLA_CACHE")
    cache = (Path(env).expanduser() if env else Path.home() / ".cache" / "tinychinchilla") / f"mathjax-{MATHJAX_VERSION}"
    modules = cache / "node_modules"
    if not (modules / "mathjax-full" / "package.json").exists():
        assert npm is not None, "node is installed but npm is not: install npm to fetch mathjax-full"
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--silent",
                               f"mathjax-full@{MATHJAX_VERSION}"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm install mathjax-full failed:\n{done.stdout}\n{done.stderr}"
    return modules


def typeset(items: list[tuple[str, bool]], modules: Path) -> list[str | None]:
    """MathJax's error for each formula, None where it typesets."""
    payload = json.dumps([{"tex": tex, "display": display} for tex, display in items])
    done = subprocess.run(["node", str(TYPESET_JS)], input=payload, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NODE_PATH": str(modules)})
    assert done.returncode == 0, f"node {TYPESET_JS.name} failed:\n{done.stderr}"
    return json.loads(done.stdout)


def test_formulas_are_found_as_jupyter_finds_them():
    md = ("Huber: $$h(r) = \\begin{cases} r^2/2 & |r| \\le \\delta \\\\ x & y \\end{cases}$$ with "
          "$\\delta = 10^{-3}$, `$not math$`, \\(a + b\\) and\n\\begin{align} x &= 1 \\end{align}\n"
          "```\n$ echo $HOME\n```\nprice \\$5")
    assert formulas(md) == [
        ("h(r) = \\begin{cases} r^2/2 & |r| \\le \\delta \\\\ x & y \\end{cases}", True),
        ("\\begin{align} x &= 1 \\end{align}", True),
        ("\\delta = 10^{-3}", False),
        ("a + b", False),
    ]


def test_the_typesetter_reports_what_the_browser_shows_in_red(node_modules):
    errors = typeset([("\\begin{{cases}} a \\\\ b \\end{{cases}}", True), ("\\frac{1}{2", False),
                      ("\\nosuchmacro x", False), ("\\mathrm{LSE}(u, v) = \\log(e^u + e^v)", True)], node_modules)
    assert "Unknown environment '{cases}'" in errors[0]
    assert errors[1] and errors[2] and errors[3] is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_formula_typesets(path, node_modules):
    nb = nbformat.read(path, as_version=4)
    items, where = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for tex, display in formulas(cell.source):
                items.append((tex, display))
                where.append(index)
    if not items:
        pytest.skip(f"{path.name} has no formulas")
    errors = typeset(items, node_modules)
    bad = [f"cell {i}: {tex!r}: {err}" for i, (tex, _), err in zip(where, items, errors) if err]
    assert not bad, f"{path.name}: MathJax cannot typeset:\n" + "\n".join(bad)
