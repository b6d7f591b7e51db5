"""What a learner sees from a check cell: own hints for unit slips and swapped exponents, "set
`x` first" before an answer exists, and nothing but the verdict line (no bare True/False)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tinychinchilla import check

ROOT = Path(__file__).resolve().parents[1]
LESSON_PATHS = sorted((ROOT / "lessons").glob("[0-9][0-9]-*.ipynb"))
NUMERIC = check.question_ids(kind="numeric")
CHECK_CELL = re.compile(r'^check\.check\("(\d\d\.[a-z0-9_]+)", name="([A-Za-z_]\w*)"\)$')
SOLUTION_HIDDEN = re.compile(r"""check\.assert_answer\(\s*["'](\d\d\.[a-z0-9_]+)["']\s*,\s*([A-Za-z_]\w*)\s*\)""")


def _hint(qid: str, value: float) -> str:
    verdict = check.judge(qid, value)
    assert not verdict.passed, f"{qid}: {value!r} passes"
    return verdict.message.split("Hint: ", 1)[1]


@pytest.mark.parametrize("qid", NUMERIC)
def test_answers_a_hundred_times_off_get_their_own_hint(qid):
    q, ref = check.question(qid), check._reference(qid)
    if abs(ref) <= 2 * q.abs_tol:
        pytest.skip(f"{qid}: the reference is within the tolerance of 0; a factor cannot be told apart")
    for wrong in (100 * ref, ref / 100):
        assert _hint(qid, wrong) != q.hint, f"{qid}: {wrong!r} (a factor 100 off) gets only the generic hint"


@pytest.mark.parametrize("qid", [q for q in NUMERIC if abs(check._reference(q)) >= 1e8])
def test_large_answers_written_in_billions_get_their_own_hint(qid):
    ref = check._reference(qid)
    for unit in (1e9, 1e12):
        if abs(ref) / unit >= 0.1:
            hint = _hint(qid, round(ref / unit, 2))
            assert hint != check.question(qid).hint, f"{qid}: {ref / unit:.2f} (in units of {unit:g}) gets the generic hint"


EXPONENT_A = [q for q in NUMERIC if re.search(r"exponent a\b|frontier exponent a\b", check.question(q).title, re.I)]


def test_the_exponent_questions_are_found():
    assert {"03.a", "04.a", "04.a_total", "05.a", "06.table3_a", "08.q1_a", "08.q1_kaplan_a"} <= set(EXPONENT_A)


@pytest.mark.parametrize("qid", EXPONENT_A)
def test_a_and_b_swapped_gets_its_own_hint(qid):
    """b = 1 - a for every frontier (C = 6ND): giving b in a's place is a known mistake."""
    hint = _hint(qid, 1 - check._reference(qid))
    assert hint != check.question(qid).hint and re.search(r"swapped|that is b|exponent of D|Kaplan", hint, re.I), hint


def test_unit_slips_do_not_hide_the_spec_s_own_mistakes():
    ref = check._reference("08.q3_excess_percent")
    assert "100 times too small" in _hint("08.q3_excess_percent", ref / 100)  # not "equal compute" (value 0)
    assert "576e23" in _hint("06.gopher_n_opt", check._evaluate_entry(
        check.question("06.gopher_n_opt"), check.question("06.gopher_n_opt").mistakes[0]))


def test_check_by_name_before_and_after_answering(capsys):
    namespace: dict = {"check": check}
    exec('result = check.check("05.a", name="a3_a")', namespace)  # noqa: S102 - a notebook cell
    out = capsys.readouterr().out
    assert namespace["result"] is None
    assert "set `a3_a` first" in out and "NameError" not in out
    namespace["a3_a"] = None
    exec('result = check.check("05.a", name="a3_a")', namespace)  # noqa: S102
    assert "`a3_a` is None" in capsys.readouterr().out and namespace["result"] is None
    namespace["a3_a"] = check._reference("05.a")
    exec('result = check.check("05.a", name="a3_a")', namespace)  # noqa: S102
    assert "correct" in capsys.readouterr().out and namespace["result"] is None
    with pytest.raises(KeyError):
        check.check("05.nope", name="a3_a")
    with pytest.raises(TypeError):
        check.check("05.a")


def test_a_check_cell_shows_only_its_line_in_ipython():
    """In a real IPython shell the check cell's value is None, so nothing is echoed under the line."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from tinychinchilla import check\nx = 1.0", store_history=False)
        result = shell.run_cell('check.check("05.a", name="x")', store_history=False)
        assert result.success and result.result is None
        result = shell.run_cell('check.check("05.a", name="not_set_yet")', store_history=False)
        assert result.success and result.error_in_exec is None and result.result is None
    finally:
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("path", LESSON_PATHS, ids=lambda p: p.stem)
def test_every_check_cell_checks_its_variable_by_name(path):
    """The visible line of each graded cell is check.check(id, name="x") for the x its hidden
    test grades (so the learner never sees a NameError or a bare True/False)."""
    lesson = nbformat.read(path, as_version=4)
    solution = {c.metadata.get("nbgrader", {}).get("grade_id"): c
                for c in nbformat.read(ROOT / "solutions" / path.name, as_version=4).cells}
    for cell in lesson.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        last = cell.source.strip().splitlines()[-1]
        match = CHECK_CELL.match(last)
        assert match, f"{path.name} {meta['grade_id']}: the cell ends with {last!r}"
        hidden = SOLUTION_HIDDEN.search(solution[meta["grade_id"]].source)
        assert hidden and hidden.groups() == match.groups(), f"{path.name} {meta['grade_id']}: checks another variable"
