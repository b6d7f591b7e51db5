"""An instructor's whole term, driven by the commands autograder/README.md gives, in its order:
release (lessons/), collect an LMS zip, autograde, hand-grade the written answers (through
nbgrader's gradebook API, as the formgrader does), export, feedback, a changed resubmission
graded in place in the course's own submitted/, export and feedback again; and the formgrader
command the summary names starts on the course. Each file an instructor or a student receives is
checked. Lesson 00 stands for any assignment (5 automatic points + a 3-point written answer)."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

from tinychinchilla import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A = "00-setup-and-tour"
UNSUBMITTED = "01-tiny-transformer"   # recorded in the course, submitted by nobody
WRITTEN = "q00-written_paper_in_brief"


def _grade_module():
    sys.path.insert(0, str(ROOT / "autograder"))
    import grade

    return grade


def _student_notebook(answers: dict[str, str], written: str) -> str:
    """The released notebook (lessons/), filled in as a student would."""
    nb = nbformat.read(ROOT / "lessons" / f"{A}.ipynb", as_version=4)
    solution = {sandbox.grade_id(c): c.source for c in nbformat.read(ROOT / "solutions" / f"{A}.ipynb", as_version=4).cells}
    for cell in nb.cells:
        gid = sandbox.grade_id(cell)
        if gid and gid.startswith("a00-"):
            name = gid[4:]
            body = solution[gid].replace("### BEGIN SOLUTION\n", "").replace("\n### END SOLUTION", "")
            cell.source = answers.get(name, body)
        elif gid == WRITTEN:
            cell.source = written
    return nbformat.writes(nb)


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _hand_grade(course: Path, student: str, score: float, comment: str) -> None:
    """What the formgrader's "Manage Submissions" page does when a grade and comment are saved
    (nbgrader's formgrader API handler: manual score, then needs_manual_grade from it)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade(WRITTEN, A, A, student)
        grade.manual_score = score
        grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        gb.find_comment(WRITTEN, A, A, student).manual_comment = comment
        gb.db.commit()


def _feedback_text(course: Path, student: str) -> str:
    page = (course / "feedback" / student / A / f"{A}.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """The term's steps, each timed; what each left behind is checked by the tests below."""
    grade = _grade_module()
    tmp = tmp_path_factory.mktemp("term")
    course = tmp / "course"
    times, out = {}, {}
    # collect: a Canvas download (alice right, bob one wrong answer), and a Moodle folder of carol's
    # whose notebook broke on upload
    download = tmp / "submissions.zip"
    files = {f"smithalice_101_9001_{A}.ipynb": _student_notebook({}, "Alice: tokens and parameters in equal proportion."),
             f"jonesbob_102_9002_{A}.ipynb": _student_notebook(
                 {"chinchilla_tokens_per_param": "chinchilla_tokens_per_param = 2.0"}, "Bob: bigger models are always better."),
             f"Carol Smith_5555_assignsubmission_file_/{A}.ipynb": "{not json"}
    with zipfile.ZipFile(download, "w") as zf:
        for name, text in files.items():
            path = tmp / "lms" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            zf.write(path, name)
    common = ["--course", str(course), "--assignment", A, "--assignment", UNSUBMITTED, "--jobs", "2",
              "--timeout", "20", "--quiet"]
    start = time.perf_counter()
    assert grade.main([str(download), *common]) == 0
    times["autograde"] = time.perf_counter() - start
    out["summary1"] = (course / "reports" / "summary.txt").read_text()
    # hand grading in the formgrader
    _hand_grade(course, "smithalice", 3, "Right: equal scaling, about 20 tokens per parameter.")
    _hand_grade(course, "jonesbob", 1, "Bob-comment-1: not what the paper finds.")
    start = time.perf_counter()
    assert grade.main(["export", "--course", str(course)]) == 0
    times["export"] = time.perf_counter() - start
    out["grades1"] = _read_csv(course / "reports" / "grades.csv")
    out["canvas1"] = (course / "reports" / "canvas-grades.csv").read_text()
    out["moodle1"] = _read_csv(course / "reports" / f"moodle-{A}.csv")
    start = time.perf_counter()
    assert grade.main(["feedback", "--course", str(course)]) == 0
    times["feedback"] = time.perf_counter() - start
    out["feedback_alice1"] = _feedback_text(course, "smithalice")
    out["feedback_bob1"] = _feedback_text(course, "jonesbob")
    # bob resubmits with a new written answer; the instructor drops it into the course's own
    # submitted/ and grades that folder in place (alice's, unchanged, is graded again too)
    bob = course / "submitted" / "jonesbob" / A / f"{A}.ipynb"
    bob.write_text(_student_notebook({"chinchilla_tokens_per_param": "chinchilla_tokens_per_param = 2.0"},
                                     "Bob, resubmitted: scale parameters and tokens equally."))
    start = time.perf_counter()
    assert grade.main([str(course / "submitted"), *common]) == 0
    times["regrade"] = time.perf_counter() - start
    out["summary2"] = (course / "reports" / "summary.txt").read_text()
    out["submissions2"] = _read_csv(course / "reports" / "submissions.csv")
    assert grade.main(["export", "--course", str(course)]) == 0
    out["grades2"] = _read_csv(course / "reports" / "grades.csv")
    out["questions2"] = _read_csv(course / "reports" / "questions.csv")
    assert grade.main(["feedback", "--course", str(course)]) == 0
    out["feedback_bob2"] = _feedback_text(course, "jonesbob")
    out["feedback_alice2"] = _feedback_text(course, "smithalice")
    print("term step seconds:", {k: round(v, 1) for k, v in times.items()})
    return dict(course=course, times=times, **out)


def _row(rows, student, assignment=A):
    return next(r for r in rows if r["student_id"] == student and r["assignment"] == assignment)


def test_autograde_summary_points_to_the_formgrader_and_reports_honestly(term):
    summary = term["summary1"]
    assert "points still to grade by hand in the formgrader" in summary
    assert f"cd {term['course']} && jupyter lab" in summary and "Nbgrader > Formgrader" in summary
    assert "nbgrader formgrader" not in summary
    # bob and carol (0) miss tokens-per-parameter: 1 of 3 right. Partially credited
    # questions are reported by mean score and share with full marks, never "0% correct"
    assert "q00-chinchilla_tokens_per_param (33% of its points; 33% full marks)" in summary
    assert "Carol_Smith" in summary and "not a notebook" in summary


def test_grades_csv_leaves_out_lessons_nobody_submitted_and_marks_missing_ones(term):
    rows = term["grades1"]
    assert {r["assignment"] for r in rows} == {A}
    assert {r["student_id"]: r["status"] for r in rows} == {"smithalice": "submitted", "jonesbob": "submitted",
                                                           "Carol_Smith": "submitted"}
    assert {r["student_id"]: float(r["score"]) for r in rows} == {"smithalice": 8, "jonesbob": 5, "Carol_Smith": 0}
    assert all(r["max_score"] == "8" for r in rows)


def test_lms_files_import_into_canvas_and_moodle(term):
    canvas = list(csv.reader(io.StringIO(term["canvas1"])))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    assert canvas[1][0].strip() == "Points Possible" and canvas[1][5] == "8"
    by_login = {r[3]: r for r in canvas[2:]}
    assert by_login["smithalice"][1] == "101" and by_login["smithalice"][5] == "8"
    assert by_login["jonesbob"][1] == "102" and by_login["jonesbob"][5] == "5"
    assert by_login["Carol_Smith"][1] == ""  # a Moodle student has no Canvas id
    moodle = term["moodle1"]
    assert [(r["Identifier"], r["Full name"], r["Grade"], r["Maximum Grade"]) for r in moodle] == [
        ("Participant 5555", "Carol Smith", "0", "8")]


def test_feedback_after_hand_grading_has_the_hand_grade_and_no_hidden_tests(term):
    alice, bob = term["feedback_alice1"], term["feedback_bob1"]
    assert "Right: equal scaling" in alice and "Bob-comment-1" in bob
    assert re.search(r"Score:\s*8(\.0)?\s*/\s*8", alice), alice[:500]
    assert re.search(r"Score:\s*5(\.0)?\s*/\s*8", bob)
    for text in (alice, bob):
        assert "HIDDEN TESTS" not in text and "assert_answer" not in text


def test_a_changed_resubmission_loses_its_stale_hand_grade_and_is_listed(term):
    summary = term["summary2"]
    assert "1 hand grade cleared because the resubmitted answer changed" in summary
    assert f"jonesbob/{A} {WRITTEN}: answer changed, earlier hand grade 1/3 cleared" in summary
    assert "smithalice" not in summary.split("cleared because")[1].split("reports:")[0]
    rows = term["grades2"]
    assert float(_row(rows, "jonesbob")["score"]) == 4 and _row(rows, "jonesbob")["awaiting_hand_grading"] == "1"
    assert float(_row(rows, "smithalice")["score"]) == 8  # unchanged answer: the hand grade stays
    written = next(q for q in term["questions2"] if q["question"] == WRITTEN)
    assert written["awaiting_hand_grading"] == "1"
    bob = term["feedback_bob2"]
    assert "earlier hand grade 1/3, for the answer before the resubmission" in bob
    assert "Bob, resubmitted" in bob and "Right: equal scaling" in term["feedback_alice2"]


def test_grading_the_courses_own_submitted_folder_in_place(term):
    # no SameFileError: the regrade ran (the fixture asserts exit 0) and graded the new notebook
    assert "notebooks of 3 students graded" in term["summary2"]
    graded = term["course"] / "autograded" / "jonesbob" / A / f"{A}.ipynb"
    assert "Bob, resubmitted" in graded.read_text()
    rows = {r["student"]: r for r in term["submissions2"]}
    assert rows["jonesbob"]["score"] == "4" and rows["smithalice"]["score"] == "8"
    assert "invalid JSON" in rows["Carol_Smith"]["problems"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_formgrader_command_from_the_summary_starts_on_the_course(term):
    """`cd COURSE && jupyter lab`, as the summary says; the formgrader page answers, and nbgrader
    does not try to make the system-wide exchange folder."""
    port = _free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(term["course"] / ".runtime"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    log = term["course"] / ".formgrader.log"
    with log.open("w") as fh:
        command = term["summary1"].split(f"cd {term['course']} && ")[1].split("  (")[0].split()  # jupyter lab [--allow-root]
        proc = subprocess.Popen([*command, "--no-browser", f"--port={port}", "--ServerApp.token=t",
                                 "--ServerApp.ip=127.0.0.1"], cwd=term["course"], env=env, stdout=fh, stderr=fh)
    try:
        page, deadline = "", time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/formgrader/manage_assignments?token=t", timeout=10) as r:
                    page = r.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert "Manage Assignments" in page, log.read_text()[-2000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/formgrader/api/submissions/{A}?token=t",
                                    timeout=20) as r:
            students = {s["student"] for s in json.loads(r.read())}
        assert {"smithalice", "jonesbob"} <= students
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "/usr/local/share/nbgrader/exchange" not in log.read_text()
