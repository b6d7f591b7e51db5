"""Every name a learner's answer must create is named in the exercise text that asks for it.

A solution region (``### BEGIN SOLUTION`` ... ``### END SOLUTION``) is replaced by a stub in the
student notebook; the learner writes it from the exercise text alone. If a later cell that the
learner does not write (a check cell, a hidden test, a given plot or print) reads a name the
region defines, that name must appear in the exercise text, in backticks, or the learner's
natural answer ends in ``NameError`` further down.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_PATHS = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))


def _python(source: str) -> ast.Module:
    """The cell as Python: IPython magics and shell lines become ``pass``; region markers stay
    comments."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return ast.parse("\n".join(lines))


def _solution_part(source: str) -> str:
    """The lines inside ``### BEGIN SOLUTION`` ... ``### END SOLUTION``."""
    keep, inside = [], False
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line:
            inside = True
        elif "END SOLUTION" in line:
            inside = False
        elif inside:
            keep.append(line)
    return "\n".join(keep)


def _stored(tree: ast.AST) -> set[str]:
    """Every name the code binds anywhere (assignments, imports, defs, arguments, loop and
    comprehension targets)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


def _top_level_defined(tree: ast.Module) -> set[str]:
    """The names a cell leaves in the notebook's namespace (module-level bindings only)."""
    out = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
        else:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    out.add(node.id)
                if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
                    break
    return out


def _loaded(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _exercise_text(cells, index: int) -> str:
    """The markdown that asks for the solution cell at ``index``: the nearest block of markdown
    cells above it (graded test cells and other solution cells in between are skipped, so that
    one exercise text may ask for several answer cells)."""
    i = index - 1
    while i >= 0 and cells[i].cell_type == "code" and (
            cells[i].metadata.get("nbgrader", {}).get("solution") or cells[i].metadata.get("nbgrader", {}).get("grade")):
        i -= 1
    block = []
    while i >= 0 and cells[i].cell_type == "markdown" and not cells[i].metadata.get("nbgrader", {}).get("solution"):
        block.append(cells[i].source)
        i -= 1
    return "\n".join(reversed(block))


def _named_in(name: str, text: str) -> bool:
    """``name`` appears as code in the text: `name`, `name(...)`, `name.attr`, ..."""
    return re.search(r"`" + re.escape(name) + r"\b", text) is not None


def names_later_cells_need(nb) -> list[tuple[int, str, list[str]]]:
    """For each code solution region: (cell index, exercise text, names that a later cell the
    learner does not write reads from it)."""
    cells = nb.cells
    out = []
    for index, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution") or "BEGIN SOLUTION" not in cell.source:
            continue
        marker = next(line for line in cell.source.splitlines() if "BEGIN SOLUTION" in line)
        if marker != marker.lstrip():  # a region inside a function body binds only its locals
            continue
        defined = _top_level_defined(_python(_solution_part(cell.source)))
        needed = []
        given_before: set[str] = set()  # bound again by a given cell: no longer the learner's name
        for later in cells[index + 1:]:
            if later.cell_type != "code":
                continue
            later_meta = later.metadata.get("nbgrader", {})
            tree = _python(later.source)
            if later_meta.get("solution"):
                continue  # the learner writes that cell too, with their own names
            reads = _loaded(tree) - _stored(tree) - given_before
            needed += sorted((defined & reads) - set(needed))
            given_before |= _top_level_defined(tree)
        out.append((index, _exercise_text(cells, index), needed))
    return out


@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_every_name_later_cells_read_is_asked_for(path):
    nb = nbformat.read(path, as_version=4)
    missing = []
    for index, text, needed in names_later_cells_need(nb):
        grade_id = nb.cells[index].metadata["nbgrader"].get("grade_id", index)
        missing += [f"{grade_id}: `{name}`" for name in needed if not _named_in(name, text)]
    assert not missing, (f"{path.name}: later cells read names that the exercise text never asks for "
                         f"(name them in the question, in backticks): {missing}")


def test_the_name_finder_sees_a_missing_name():
    """The mechanism, on a two-exercise notebook: `law` is read by a given cell but not asked for."""
    nb = nbformat.v4.new_notebook()
    solution = {"nbgrader": {"solution": True, "grade": False, "grade_id": "a-x", "locked": False}}
    test = {"nbgrader": {"solution": False, "grade": True, "grade_id": "q-x", "locked": True, "points": 1}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("**Question 1.** Fit it and set `x`."),
        nbformat.v4.new_code_cell("### BEGIN SOLUTION\nlaw = fit()\nx = law.a\n### END SOLUTION", metadata=solution),
        nbformat.v4.new_code_cell("check.check('00.x', x)\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS",
                                  metadata=test),
        nbformat.v4.new_code_cell("def show(v):\n    y = v\n    return y\nprint(law.b, show(x))"),
    ]
    [(index, text, needed)] = names_later_cells_need(nb)
    assert index == 1 and "set `x`" in text and needed == ["x", "law"]
    assert _named_in("x", text) and not _named_in("law", text)
