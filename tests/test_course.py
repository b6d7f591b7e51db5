"""The course machinery: answer spec and self-check, notebooks, and the nbgrader round trip.

solutions/NN-name.ipynb are the nbgrader source; lessons/NN-name.ipynb are generated from them by
autograder/build_lessons.py. These tests keep the two in sync, keep solutions and hidden tests out
of the released notebooks, run every solution notebook headless in fast mode, and grade a
fixture course end to end with nbgrader.
"""

from __future__ import annotations

import html as htmlmod
import importlib.util
import math
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from tinychinchilla import check

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
LESSONS = ROOT / "lessons"
SOLUTION_PATHS = sorted(SOLUTIONS.glob("[0-9][0-9]-*.ipynb"))
NAMES = [p.stem for p in SOLUTION_PATHS]
REGION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                  "BEGIN MARK SCHEME", "END MARK SCHEME")
QID_IN_CODE = re.compile(r"""check\.(?:check|assert_answer)\(\s*["'](\d\d\.[a-z0-9_]+)["']""")
HIDDEN_CALL = re.compile(r"""check\.assert_answer\(\s*["'](\d\d\.[a-z0-9_]+)["']\s*,\s*([A-Za-z_]\w*)\s*\)""")
CELL_TIMEOUT = 120  # seconds per cell, as c.Execute.timeout in autograder/nbgrader_config.py
NOTEBOOK_BUDGET = 180  # seconds for a whole notebook in fast mode, even on a busy 2-core machine


def _load_build_module():
    spec = importlib.util.spec_from_file_location("build_lessons", ROOT / "autograder" / "build_lessons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_module()


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def grade_id_for(question_id: str) -> str:
    """The course's naming rule: the graded cell of question "01.params_total" is "q01-params_total"."""
    return "q" + question_id.replace(".", "-")


def question_for(grade_id: str) -> str:
    return grade_id[1:].replace("-", ".", 1)


def _graded_cells(nb):
    return [c for c in nb.cells if _nbgrader(c).get("grade")]


def _regions(source: str) -> tuple[list[str], list[str]]:
    """(lines inside nbgrader regions, lines outside them) of one cell."""
    inside, outside, depth = [], [], 0
    for line in source.splitlines():
        if any(f"BEGIN {m}" in line for m in ("SOLUTION", "HIDDEN TESTS", "MARK SCHEME")):
            depth += 1
        elif any(f"END {m}" in line for m in ("SOLUTION", "HIDDEN TESTS", "MARK SCHEME")):
            depth -= 1
        else:
            (inside if depth else outside).append(line.strip())
    return inside, outside


# ---------------------------------------------------------------------------------------------
# check.py: the self-check
# ---------------------------------------------------------------------------------------------


def _reference_spellings(value: float) -> set[str]:
    out = {repr(value), f"{value:g}", f"{value:.3g}", f"{value:.4g}", f"{value:.5g}", f"{value:.3f}"}
    if abs(value) >= 1000:
        out |= {f"{value:,.0f}", f"{value:.0f}"}
    if float(value).is_integer():
        out.add(str(int(value)))
    return {s for s in out if len(s.replace(".", "").replace("0", "")) >= 2 and len(s) >= 3}


def test_check_passes_and_fails(capfd):
    ref = check._reference("01.params_total")
    assert check.check("01.params_total", int(ref)) is True
    assert check.check("01.params_total", int(ref) + 1) is False
    out, err = capfd.readouterr()
    assert out.count("01.params_total") == 2 and "not yet" in out and "Hint:" in out
    assert err == ""


@pytest.mark.parametrize("value, message", [
    (float("nan"), "NaN"),
    (float("inf"), "infinity"),
    (-float("inf"), "infinity"),
    ("352800", "text"),
    (None, "None"),
    (True, "True/False"),
    ([1.0, 2.0], "list"),
    (1 + 2j, "complex"),
    (10 ** 400, "too large"),
])
def test_check_rejects_values_that_are_not_finite_numbers(value, message, capfd):
    assert check.check("01.params_total", value) is False
    with pytest.raises(AssertionError, match=re.escape(message)):
        check.assert_answer("01.params_total", value)
    out, err = capfd.readouterr()
    assert message in out and err == ""


def test_check_accepts_numpy_and_torch_scalars(capfd):
    import numpy as np
    import torch

    ref = check._reference("01.table_a4_ratio_73m")
    assert check.check("01.table_a4_ratio_73m", np.float32(ref))
    assert check.check("01.table_a4_ratio_73m", torch.tensor(ref, dtype=torch.float64))
    assert check.check("01.params_total", np.int64(check._reference("01.params_total")))
    assert not check.check("01.params_total", np.array([1, 2]))
    assert capfd.readouterr().err == ""


def test_tolerances_are_those_of_the_spec():
    q = check.question("01.table_a4_ratio_73m")
    ref = check._reference(q.id)
    assert q.rel_tol == 0.0 and q.abs_tol == 5e-4
    check.assert_answer(q.id, ref + 0.9 * q.abs_tol)
    with pytest.raises(AssertionError):
        check.assert_answer(q.id, ref + 1.1 * q.abs_tol)
    with pytest.raises(AssertionError, match="rounded"):  # the printed 1.03 is a known mistake
        check.assert_answer(q.id, 1.03)


@pytest.mark.parametrize("qid", check.question_ids(kind="numeric"))
def test_messages_never_contain_the_reference(qid, capfd):
    ref = check._reference(qid)
    wrong = ref * 1.37 + 11.0
    check.check(qid, wrong)
    check.check(qid, ref)
    try:
        check.assert_answer(qid, wrong)
    except AssertionError as exc:
        print(exc)
    out, err = capfd.readouterr()
    assert err == ""
    leaked = [s for s in _reference_spellings(ref) if s in out]
    assert not leaked, f"{qid}: output shows the reference as {leaked}"


def test_unknown_and_written_questions(capfd):
    with pytest.raises(KeyError, match="01.params_total"):
        check.check("01.param_total", 1.0)
    assert check.check("01.written_6nd_convention", 1.0) is False
    assert "graded by hand" in capfd.readouterr().out
    with pytest.raises(check.SpecError):
        check._reference("01.written_6nd_convention")


def test_fast_mode(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("TINYCHINCHILLA_FAST", raising=False)
    assert check.fast_mode() is False
    monkeypatch.setenv("TINYCHINCHILLA_FAST", "1")
    assert check.fast_mode() is True
    monkeypatch.setenv("TINYCHINCHILLA_FAST", "0")
    assert check.fast_mode() is False
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert check.fast_mode() is True


def test_spec_expressions_are_declarative():
    assert check.evaluate("2 * budgets.lesson01_tokens") == 4_096_000
    for bad in ("counting.__dict__", "[x for x in (1, 2)]", "lambda: 1", "open('x')", "models.nope"):
        with pytest.raises(check.SpecError):
            check.evaluate(bad)


# ---------------------------------------------------------------------------------------------
# The answer spec
# ---------------------------------------------------------------------------------------------


def test_spec_ships_inside_the_package():
    path = check.spec_path()
    assert path.name == "answers.toml" and path.parent == Path(check.__file__).parent
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"*.toml"' in pyproject  # package data, so a pip install (Colab) carries it


@pytest.mark.parametrize("qid", check.question_ids())
def test_every_question_is_complete(qid):
    q = check.question(qid)
    assert q.title and q.source and q.hint and q.points > 0
    if q.kind == "numeric":
        ref = check._reference(qid)
        assert math.isfinite(ref)
        assert q.rel_tol > 0 or q.abs_tol > 0
        check.assert_answer(qid, ref)


def test_question_ids_in_notebooks_and_spec_match():
    used, graded = set(), {}
    for path in SOLUTION_PATHS:
        nb = _read(path)
        for cell in nb.cells:
            used |= set(QID_IN_CODE.findall(cell.source)) if cell.cell_type == "code" else set()
            meta = _nbgrader(cell)
            if meta.get("grade"):
                graded[question_for(meta["grade_id"])] = (meta["points"], path.stem, cell)
    spec = set(check.question_ids())
    assert used - spec == set(), "questions used in notebooks but missing from answers.toml"
    assert set(graded) == spec, "every spec question needs exactly one graded cell, and vice versa"
    for qid, (points, name, cell) in graded.items():
        q = check.question(qid)
        assert name.startswith(q.lesson + "-"), f"{qid} is graded in {name}"
        assert points == q.points, f"{qid}: {points} points in the notebook, {q.points} in the spec"
        if q.kind == "numeric":
            assert cell.cell_type == "code" and not _nbgrader(cell)["solution"]
            assert HIDDEN_CALL.search(cell.source), f"{qid}: its test cell must call check.assert_answer"
            assert QID_IN_CODE.findall(cell.source) == [qid, qid], f"{qid}: its test cell checks another id"
        else:
            assert cell.cell_type == "markdown" and _nbgrader(cell)["solution"]
            assert "Rubric" in cell.source, f"{qid}: the written answer's solution needs a rubric"


def test_grade_ids_are_unique_across_the_course():
    seen: dict[str, str] = {}
    for path in SOLUTION_PATHS:
        for cell in _read(path).cells:
            gid = _nbgrader(cell).get("grade_id")
            if gid:
                assert gid not in seen, f"grade id {gid} in {path.name} and {seen[gid]}"
                assert re.fullmatch(r"[a-z][a-z0-9_-]*", gid), gid
                seen[gid] = path.name


# ---------------------------------------------------------------------------------------------
# The notebooks
# ---------------------------------------------------------------------------------------------


def test_lessons_and_solutions_correspond():
    assert NAMES, "no solution notebooks"
    assert sorted(p.stem for p in LESSONS.glob("[0-9][0-9]-*.ipynb")) == NAMES


@pytest.mark.parametrize("path", SOLUTION_PATHS + sorted(LESSONS.glob("*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_are_committed_clean(path):
    nb = _read(path)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: cell {cell.id} has outputs"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NAMES)
def test_lesson_opens_with_the_course_header(name):
    nb = _read(LESSONS / f"{name}.ipynb")
    header = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown"
    build = _load_build_module()  # the badge and the install line come from pyproject.toml
    assert build.colab_badge(name, build.repository_url()) in header and "colab-badge.svg" in header
    for part in ("**Objectives.**", "**Paper sections.**", "**Time:**", "2-core CPU", "GPU"):
        assert part in header, f"{name}: the header lacks {part!r}"
    first_code = next(c for c in nb.cells if c.cell_type == "code").source
    assert '"google.colab" in sys.modules' in first_code and "%pip install" in first_code
    pip_line = next(line for line in first_code.splitlines() if "%pip install" in line)
    assert "torch" not in pip_line.split("tinychinchilla @")[0], "the Colab install must not touch torch"
    assert "pick_device" in first_code and "fast_mode()" in first_code


@pytest.mark.parametrize("name", NAMES)
def test_released_notebooks_hold_no_solutions_or_hidden_tests(name):
    solution, lesson = _read(SOLUTIONS / f"{name}.ipynb"), _read(LESSONS / f"{name}.ipynb")
    released = "\n".join(cell.source for cell in lesson.cells)
    for marker in REGION_MARKERS:
        assert marker not in released
    inside, outside = [], set()
    for cell in solution.cells:
        i, o = _regions(cell.source)
        inside += i
        outside |= set(o)
    secret = [line for line in inside if len(line) >= 12 and line not in outside]
    assert len(secret) >= 5, "expected solution and hidden-test lines to look for"
    leaked = [line for line in secret if line in released]
    assert not leaked, f"{name}: released notebook contains {leaked[:3]}"
    for cell in lesson.cells:
        meta = _nbgrader(cell)
        if meta.get("solution"):
            stub = "YOUR CODE HERE" if cell.cell_type == "code" else "YOUR ANSWER HERE"
            assert stub in cell.source, f"{name}: answer cell {meta['grade_id']} has no stub"


# ---------------------------------------------------------------------------------------------
# nbgrader: generation, sync, and a graded round trip
# ---------------------------------------------------------------------------------------------


def _cells_that_matter(text: str):
    nb = nbformat.reads(text, as_version=4)
    return ([(c.id, c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("editable"),
              c.metadata.get("deletable")) for c in nb.cells], nb.metadata.get("kernelspec"))


def test_lessons_are_in_sync_with_solutions(tmp_path):
    released = build.generate(SOLUTION_PATHS, tmp_path, use_db=False)
    assert sorted(released) == NAMES
    for name, text in released.items():
        committed = (LESSONS / f"{name}.ipynb").read_text(encoding="utf-8")
        assert _cells_that_matter(committed) == _cells_that_matter(text), \
            f"lessons/{name}.ipynb is out of date: run `make lessons`"
        assert committed == text, f"lessons/{name}.ipynb differs in layout: run `make lessons`"


def test_build_check_mode_reports_and_writes_nothing(tmp_path, capsys):
    stale = tmp_path / "lessons"
    shutil.copytree(LESSONS, stale)
    target = stale / f"{NAMES[-1]}.ipynb"
    nb = _read(target)
    nb.cells[0].source += "\n\nedited by hand"
    before = build.render(nb)
    target.write_text(before, encoding="utf-8")
    assert build.main(["--check", "--lessons", str(stale)]) == 1
    assert NAMES[-1] in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == before
    assert build.main(["--check"]) == 0
    with pytest.raises(SystemExit) as exc:
        build.main(["--help"])
    assert exc.value.code == 0


def test_build_clears_outputs_of_solutions_run_in_jupyter(tmp_path, capsys):
    solutions, lessons = tmp_path / "solutions", tmp_path / "lessons"
    solutions.mkdir()
    source = SOLUTION_PATHS[0]
    nb = _read(source)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.execution_count = 3
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    ran = solutions / source.name
    ran.write_text(build.render(nb), encoding="utf-8")
    args = ["--solutions", str(solutions), "--lessons", str(lessons)]
    assert build.main(["--check", *args]) == 1 and "has outputs" in capsys.readouterr().err
    assert build.main(args) == 0
    assert ran.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
    assert (lessons / source.name).read_text(encoding="utf-8") == (LESSONS / source.name).read_text(encoding="utf-8")


def test_nbgrader_config(tmp_path):
    config = build.load_config(tmp_path)
    assert config.CourseDirectory.course_id == "tinychinchilla"
    assert config.Execute.timeout == CELL_TIMEOUT
    assert "nbgrader.preprocessors.ClearHiddenTests" in config.GenerateFeedback.preprocessors
    text = (ROOT / "autograder" / "nbgrader_config.py").read_text()
    assert "gradebook.db" in text and "autograder/gradebook.db" in (ROOT / ".gitignore").read_text()


def test_makefile_builds_lessons_with_the_script():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lessons:[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.M)
    assert recipe and "install" in makefile.split("\nlessons:")[1].splitlines()[0]
    assert "$(PY) autograder/build_lessons.py" in recipe.group(1)
    assert re.search(r"^\.PHONY:.*\blessons\b", makefile, re.M)


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTION_PATHS, ids=lambda p: p.stem)
def test_solution_notebook_runs_headless_in_fast_mode(path, tmp_path):
    from tinychinchilla.course import run_notebook

    # the same per-cell limit as grading (autograder/nbgrader_config.py), and a limit on the whole
    nb, seconds = run_notebook(path, fast=True, cell_timeout=CELL_TIMEOUT, workdir=tmp_path)
    assert seconds < NOTEBOOK_BUDGET, f"{path.name} is too slow for fast mode"
    checks = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            assert out.output_type != "error", f"cell {cell.id}: {out.get('ename')}: {out.get('evalue')}"
            if _nbgrader(cell).get("grade"):
                assert not (out.output_type == "stream" and out.name == "stderr"), \
                    f"graded cell {cell.id} writes to stderr: {out.text[:200]}"
                assert out.output_type != "execute_result", f"graded cell {cell.id} echoes a value under its line"
            if out.output_type == "stream" and out.name == "stdout":
                assert "not yet" not in out.text, f"cell {cell.id}: {out.text}"
                checks += out.text.count(": correct (")
    assert checks == len(check.question_ids(lesson=path.stem[:2], kind="numeric"))


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A fixture course: every lesson generated with a gradebook, then three students autograded:
    `solution` (the instructor notebooks), `blank` (the release as handed out) and `onewrong`
    (the solution with one answer spoiled). Returns (api, gradebook url, spoiled question ids)."""
    root = tmp_path_factory.mktemp("course")
    from tinychinchilla.course import _kernel_environment

    # grading must switch fast mode on by itself, through NBGRADER_EXECUTION
    with pytest.MonkeyPatch.context() as mp, _kernel_environment(fast=False):
        mp.delenv("NBGRADER_EXECUTION", raising=False)
        build.generate(SOLUTION_PATHS, root, use_db=True)
        spoiled = {}
        for path in SOLUTION_PATHS:
            name = path.stem
            subs = {"solution": _read(path), "blank": _read(root / "release" / name / f"{name}.ipynb"),
                    "onewrong": _spoil_one_answer(_read(path), spoiled, name[:2])}
            for student, nb in subs.items():
                target = root / "submitted" / student / name / f"{name}.ipynb"
                target.parent.mkdir(parents=True)
                nbformat.write(nb, target)
        config = build.load_config(root)
        api = build.make_api(config)
        for name in NAMES:
            for student in ("solution", "blank", "onewrong"):
                build.succeed(api.autograde(name, student), f"autograde {name} {student}")
        build.succeed(api.generate_feedback(NAMES[-1], "solution"), "generate_feedback")
    return root, config.CourseDirectory.db_url, spoiled


def _spoil_one_answer(nb, spoiled: dict, lesson: str):
    """Spoil the answer of the lesson's last numeric question (nothing else depends on it)."""
    qid = check.question_ids(lesson=lesson, kind="numeric")[-1]
    test_cell = next(c for c in nb.cells if _nbgrader(c).get("grade_id") == grade_id_for(qid))
    variable = HIDDEN_CALL.search(test_cell.source).group(2)
    answer = next(c for c in nb.cells if _nbgrader(c).get("solution") and c.cell_type == "code"
                  and re.search(rf"^{variable}\s*=", c.source, re.M))
    answer.source += f"\n{variable} = {variable} * 1.5 + 1.0  # spoiled by the test\n"
    spoiled[lesson] = qid
    return nb


def _grades(db_url: str, name: str, student: str) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "tinychinchilla") as gb:
        nb = gb.find_submission_notebook(name, name, student)
        return {g.name: (g.score, g.max_score, g.auto_score, g.needs_manual_grade) for g in nb.grades}


# nbgrader's gradebook trips SQLAlchemy's autoflush warnings while autograding; they are its own.
IGNORE_SA_WARNINGS = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")


@pytest.mark.slow
@IGNORE_SA_WARNINGS
@pytest.mark.parametrize("name", NAMES)
def test_nbgrader_round_trip(graded_course, name):
    _, db_url, spoiled = graded_course
    lesson = name[:2]
    numeric = {grade_id_for(q): check.question(q).points for q in check.question_ids(lesson, "numeric")}
    written = {grade_id_for(q) for q in check.question_ids(lesson, "written")}

    solution = _grades(db_url, name, "solution")
    assert set(solution) == set(numeric) | written
    for gid, points in numeric.items():
        assert solution[gid][:2] == (points, points), f"solution loses points on {gid}: {solution[gid]}"
    for gid in written:
        assert solution[gid][3], f"{gid} should wait for a manual grade"

    blank = _grades(db_url, name, "blank")
    for gid in numeric:
        assert blank[gid][2] == 0, f"the unmodified release scores on {gid}"

    wrong = _grades(db_url, name, "onewrong")
    bad = grade_id_for(spoiled[lesson])
    for gid, points in numeric.items():
        assert wrong[gid][0] == (0 if gid == bad else points), f"{gid}: {wrong[gid]}"
    lost = sum(solution[g][0] for g in numeric) - sum(wrong[g][0] for g in numeric)
    assert lost == numeric[bad]


@pytest.mark.slow
@IGNORE_SA_WARNINGS
def test_feedback_hides_the_hidden_tests(graded_course):
    root = graded_course[0]
    name = NAMES[-1]
    html = (root / "feedback" / "solution" / name / f"{name}.html").read_text(encoding="utf-8")
    text = htmlmod.unescape(re.sub(r"<[^>]+>", "", html))
    assert "check.check(" in text  # the visible part of a test cell is there
    assert "assert_answer" not in text and "HIDDEN TESTS" not in text


MISTAKES = [(qid, i) for qid in check.question_ids(kind="numeric")
            for i in range(len(check.question(qid).mistakes))]


@pytest.mark.parametrize("qid, index", MISTAKES, ids=[f"{q}-{i}" for q, i in MISTAKES])
def test_every_listed_mistake_is_caught_with_its_own_hint(qid, index):
    """A student's common mistake (points for percent, 576e23 for 5.76e23, swapped exponents, ...)
    must fail the question, and the hint shown must be that mistake's."""
    q = check.question(qid)
    mistake = q.mistakes[index]
    wrong = check._evaluate_entry(q, mistake)
    verdict = check.judge(qid, wrong)
    assert not verdict.passed, f"{qid}: the mistake {mistake.get('value', mistake.get('compute'))} passes"
    # the nearest match gives the hint: this mistake, or the first listed one that coincides with it
    expected = next(m["hint"] for m in q.mistakes
                    if math.isclose(wrong, check._evaluate_entry(q, m), rel_tol=1e-12, abs_tol=0.0))
    assert expected in verdict.message
