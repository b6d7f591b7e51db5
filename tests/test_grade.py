"""autograder/grade.py at class scale: the hostile corpus (tests/hostile.py) graded in one parallel
batch, each case's score and summary line, nothing outside a submission changed, feedback without
hidden tests, an LMS zip graded serially giving the same grades cell by cell as the parallel run;
and the sandbox's pieces on their own."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

import hostile  # noqa: E402  (tests/hostile.py)

from tinychinchilla import check, sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LANDLOCK = sandbox.landlock_abi()
SERIAL_CASES = ["good", "blank", "one-wrong-upstream", "wrong-types"]


def _grade_module():
    """autograder/grade.py, the class grading command, as a module."""
    sys.path.insert(0, str(ROOT / "autograder"))
    import grade

    return grade


def _grade(source: Path, course: Path, jobs: int, workdir: Path) -> str:
    grade = _grade_module()
    code = grade.main([str(source), "--course", str(course), "--assignment", hostile.ASSIGNMENT,
                       "--jobs", str(jobs), "--timeout", "10", "--quiet", "--workdir", str(workdir)])
    assert code == 0
    return (course / "reports" / "summary.txt").read_text()


def _cell_grades(course: Path) -> dict[tuple[str, str], tuple]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_notebook(hostile.ASSIGNMENT, hostile.ASSIGNMENT)
        return {(sub.student.id, g.name): (g.auto_score, g.manual_score, g.needs_manual_grade, g.max_score)
                for sub in nb.submissions for g in sub.grades}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    outside = tmp / "outside"
    cases = hostile.write_corpus(tmp / "submissions", outside)
    work = tmp / "work"
    work.mkdir()
    home_escape = Path.home() / "escaped.txt"
    existed = home_escape.exists()
    summary = _grade(tmp / "submissions", outside / "course", jobs=2, workdir=work)
    with (outside / "course" / "reports" / "submissions.csv").open() as fh:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}
    yield dict(cases=cases, summary=summary, rows=rows, course=outside / "course", outside=outside,
               work=work, tmp=tmp, home_escaped=home_escape.exists() and not existed)
    if home_escape.exists() and not existed:
        home_escape.unlink()


@pytest.mark.parametrize("case", hostile.CASES, ids=[c.name for c in hostile.CASES])
def test_each_hostile_case_gets_its_score_and_a_summary_line(batch, case):
    row = batch["rows"][(case.name, case.folder)]
    if case.folder != hostile.ASSIGNMENT:
        assert row["max_score"] == "0"
    else:
        assert row["max_score"] == "8"  # 5 automatic points + the written question's 3
    assert float(row["score"]) == case.score, f"{case.name}: {row['problems']}"
    if case.summary:
        line = next(l for l in batch["summary"].splitlines() if l.strip().startswith(f"{case.name}/"))
        assert case.summary in line


def test_hostile_notebooks_changed_nothing_outside_their_folder(batch):
    outside = batch["outside"]
    assert (outside / "sentinel.txt").read_text() == "must survive\n"
    assert (outside / "sentinel_dir" / "keep.txt").exists()
    assert not (outside / "escaped.txt").exists()
    assert list(batch["work"].iterdir()) == [], "worker folders are removed after grading"
    if LANDLOCK:
        assert not batch["home_escaped"], "a kernel wrote into the home folder"
        nb = nbformat.read(batch["course"] / "autograded" / "write-outside" / hostile.ASSIGNMENT
                           / f"{hostile.ASSIGNMENT}.ipynb", as_version=4)
        printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert printed.count("blocked") == 5 and "PermissionError" in printed


def test_tampering_moved_no_grade_and_scores_stay_within_points(batch):
    grades = _cell_grades(batch["course"])
    assert all(manual is None for (_, manual, _, _) in grades.values()), "no notebook set a manual score"
    for (student, name), (auto, manual, needs, points) in grades.items():
        assert auto is None or 0 <= auto <= points
    good = {name: v[0] for (student, name), v in grades.items() if student == "good"}
    assert sum(a for a in good.values() if a is not None) == hostile.AUTO_POINTS


@pytest.mark.skipif(LANDLOCK < 6, reason="signal scoping needs Landlock ABI 6")
def test_resource_hog_was_refused_memory_network_and_signals(batch):
    nb = nbformat.read(batch["course"] / "autograded" / "resource-hog" / hostile.ASSIGNMENT
                       / f"{hostile.ASSIGNMENT}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "no memory for that" in printed
    assert "network PermissionError" in printed and "signal PermissionError" in printed


def test_large_output_is_cut(batch):
    path = (batch["course"] / "autograded" / "print-100mb" / hostile.ASSIGNMENT / f"{hostile.ASSIGNMENT}.ipynb")
    assert path.stat().st_size < 1_000_000


def test_feedback_has_no_hidden_tests_in_cells_or_tracebacks(batch):
    solution = nbformat.read(hostile.SOLUTION, as_version=4)
    hidden = [line.strip() for cell in solution.cells for line in
              cell.source.split("### BEGIN HIDDEN TESTS")[-1].split("### END HIDDEN TESTS")[0].splitlines()
              if "BEGIN HIDDEN TESTS" in cell.source and line.strip()]
    assert hidden
    pages = sorted((batch["course"] / "feedback").glob(f"*/{hostile.ASSIGNMENT}/*.html"))
    graded = [k for k, r in batch["rows"].items() if r["max_score"] != "0" and "not a notebook" not in r["problems"]]
    assert len(pages) == len(graded)
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))  # the page's text, code included
        leaked = [line for line in hidden if line in text]
        assert "HIDDEN TESTS" not in text and not leaked, (page, leaked)
    blank = (batch["course"] / "feedback" / "blank" / hostile.ASSIGNMENT / f"{hostile.ASSIGNMENT}.html").read_text()
    assert "the traceback is hidden" in blank


def test_reports(batch):
    course = batch["course"]
    with (course / "reports" / "grades.csv").open() as fh:
        grades = list(csv.DictReader(fh))
    graded_students = {s for (s, a) in batch["rows"] if a == hostile.ASSIGNMENT}
    assert {g["student_id"] for g in grades} == graded_students
    with (course / "reports" / "questions.csv").open() as fh:
        questions = {q["question"]: q for q in csv.DictReader(fh)}
    assert len(questions) == 6
    params = questions["q00-chinchilla_params"]
    rows = [r for (s, a), r in batch["rows"].items() if a == hostile.ASSIGNMENT]
    assert int(params["graded"]) == len(rows)
    assert 0 < float(params["share_correct"]) < 1
    assert batch["summary"].splitlines()[0].startswith(f"{len(rows)} notebooks of {len(hostile.CASES)} students")


def test_lms_zip_graded_serially_equals_the_parallel_batch(batch, tmp_path):
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in SERIAL_CASES:
            path = batch["tmp"] / "submissions" / name / hostile.ASSIGNMENT / f"{hostile.ASSIGNMENT}.ipynb"
            zf.write(path, f"{name}_1234_567_{hostile.ASSIGNMENT}.ipynb")
        zf.writestr("readme.txt", "not a submission")
    work = tmp_path / "work"
    work.mkdir()
    staged_before = set(Path(tempfile.gettempdir()).glob("tinychinchilla-lms-*"))
    _grade(archive, tmp_path / "course", jobs=1, workdir=work)
    assert set(Path(tempfile.gettempdir()).glob("tinychinchilla-lms-*")) == staged_before  # staging removed
    serial = _cell_grades(tmp_path / "course")
    parallel = {k: v for k, v in _cell_grades(batch["course"]).items() if k[0] in SERIAL_CASES}
    assert {k[0] for k in serial} == set(SERIAL_CASES)
    assert serial == parallel


# --- the pieces ------------------------------------------------------------------------------


def test_limits_are_applied_to_the_command(tmp_path):
    probe = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0], resource.getrlimit(resource.RLIMIT_FSIZE)[0])"
    out = subprocess.run([sys.executable, "-m", "tinychinchilla.sandbox", "--memory-mb", "3000", "--file-mb", "5",
                          "--no-landlock", "--", sys.executable, "-c", probe],
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(3000 * 2**20), str(5 * 2**20)]


@pytest.mark.skipif(LANDLOCK < 1, reason="this kernel has no Landlock")
def test_landlock_confines_writes_to_the_working_folder(tmp_path):
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    probe = ("import os\nopen('ok.txt', 'w').write('x')\n"
             "try:\n    open('../outside/no.txt', 'w')\nexcept PermissionError:\n    print('refused')\n"
             "print(os.environ['TINYCHINCHILLA_SANDBOX'])")
    out = subprocess.run([sys.executable, "-m", "tinychinchilla.sandbox", "--", sys.executable, "-c", probe],
                         cwd=inside, capture_output=True, text=True, check=True).stdout
    assert "refused" in out and "writes-confined" in out
    assert (inside / "ok.txt").exists() and not (outside / "no.txt").exists()


def test_feedback_preprocessors():
    cell = nbformat.v4.new_code_cell("check.check('00.x', x)", metadata={"nbgrader": {"grade": True, "solution": False}})
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="00.x: not yet",
                                           traceback=["secret_hidden_line()"]),
                    nbformat.v4.new_output("stream", name="stdout", text="y" * 300_000),
                    nbformat.v4.new_output("display_data", data={check.ANSWER_MIME: {"question": "00.x", "value": 1.0}}),
                    nbformat.v4.new_output("display_data", data={sandbox.GUARD_MIME: {"cell": 3}})]
    cell, _ = sandbox.ClearTestTracebacks().preprocess_cell(cell, {}, 0)
    assert [out["output_type"] for out in cell.outputs] == ["error", "stream"]  # records for the grader dropped
    assert "secret_hidden_line" not in json.dumps(cell.outputs[0])
    assert cell.outputs[0]["traceback"][0] == "AssertionError: 00.x: not yet"
    cell, _ = sandbox.LimitOutputChars().preprocess_cell(cell, {}, 0)
    assert len(cell.outputs[1]["text"]) < 101_000


def test_grade_command_refuses_bad_input(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "autograder" / "grade.py"), str(tmp_path / "nope"),
                           "--course", str(tmp_path / "course"), "--assignment", hostile.ASSIGNMENT],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_readme_table_matches_the_corpus():
    text = (ROOT / "autograder" / "README.md").read_text()
    for case in hostile.CASES:
        assert f"| `{case.name}` | {case.score:g} | {case.why} |" in text, case.name
