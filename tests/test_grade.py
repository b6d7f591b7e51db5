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
import time
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


def _tree_state(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """(mode, owner, group, mtime, size) of everything beneath ``root`` (as `find` would list it),
    by lstat; ``skip``'s contents left out (the course folder, which grading writes)."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if skip is not None and Path(folder, name).is_relative_to(skip):
                continue
            info = os.lstat(os.path.join(folder, name))
            state[os.path.join(folder, name)] = (info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns, info.st_size)
    return state


def _detached_processes() -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and b"hostile-detached" in Path(entry.path, "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("class")
    outside = tmp / "outside"
    cases = hostile.write_corpus(tmp / "submissions", outside)
    work = tmp / "work"
    work.mkdir()
    home_escape = Path.home() / "escaped.txt"
    existed = home_escape.exists()
    # the course exists before grading, as an instructor's does: its gradebook's mode and owner must hold
    grade = _grade_module()
    grade.prepare_course(outside / "course", ROOT / "solutions", [hostile.ASSIGNMENT])
    before = _tree_state(outside, skip=outside / "course")
    gradebook = os.stat(outside / "course" / "gradebook.db")
    summary = _grade(tmp / "submissions", outside / "course", jobs=2, workdir=work)
    after = _tree_state(outside, skip=outside / "course")
    gradebook_after = os.stat(outside / "course" / "gradebook.db")
    with (outside / "course" / "reports" / "submissions.csv").open() as fh:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(fh)}
    yield dict(cases=cases, summary=summary, rows=rows, course=outside / "course", outside=outside,
               work=work, tmp=tmp, home_escaped=home_escape.exists() and not existed,
               changed={k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                        if before.get(k) != after.get(k)},
               gradebook=[(s.st_mode, s.st_uid, s.st_gid) for s in (gradebook, gradebook_after)],
               detached=_detached_processes())
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


def test_nothing_outside_changed_modes_and_owners_included(batch):
    """What `find outside -printf '%m %u %g %T@ %s %p'` shows is the same before and after the
    batch (but for the course folder, whose gradebook keeps its mode and owner)."""
    assert batch["changed"] == {}
    before, after = batch["gradebook"]
    assert before == after


def test_no_process_outlives_the_batch(batch):
    assert batch["detached"] == []
    assert sandbox.descendants(os.getpid()) == []


def test_feedback_is_the_notebook_html_alone(batch):
    secret = "instructor-only secret"
    for folder in (batch["course"] / "feedback").glob(f"*/{hostile.ASSIGNMENT}"):
        assert [p.name for p in folder.iterdir()] == [f"{hostile.ASSIGNMENT}.html"], folder
        text = (folder / f"{hostile.ASSIGNMENT}.html").read_text()
        assert secret not in text and "SQLite format" not in text, folder
    nb = nbformat.read(batch["course"] / "autograded" / "reads-solutions" / hostile.ASSIGNMENT
                       / f"{hostile.ASSIGNMENT}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    if LANDLOCK:
        assert printed.count("blocked PermissionError") >= 2 and "assert_answer" not in printed, printed[:2000]
    for folder in (batch["course"] / "autograded").glob(f"*/{hostile.ASSIGNMENT}"):
        assert [p.name for p in folder.iterdir()] == [f"{hostile.ASSIGNMENT}.ipynb"], folder


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
    """An archive mixing the three LMS layouts, each student's answers being a corpus case:
    Canvas with a resubmission (the latest wins; the first is a blank notebook), Moodle names
    with spaces in folders, Blackboard attempts with receipts; every other file is listed."""
    archive = tmp_path / "lms.zip"
    nb = f"{hostile.ASSIGNMENT}.ipynb"
    corpus = batch["tmp"] / "submissions"
    layout = {  # archive name -> corpus case
        f"good_1234_567_{nb}": "blank",                                      # Canvas, first try
        f"good_1234_567_{hostile.ASSIGNMENT}-1.ipynb": "good",               # ... resubmitted
        f"Carol Smith_12345_assignsubmission_file_/{nb}": "one-wrong-upstream",   # Moodle
        f"Homework 0_wrongtypes_attempt_2026-11-02-10-00-00_{nb}": "blank",   # Blackboard
        f"Homework 0_wrongtypes_attempt_2026-11-03-09-30-00_{nb}": "wrong-types",
    }
    with zipfile.ZipFile(archive, "w") as zf:
        for name, case in layout.items():
            zf.write(corpus / case / hostile.ASSIGNMENT / nb, name)
        zf.writestr("Homework 0_wrongtypes_attempt_2026-11-03-09-30-00.txt", "receipt")
        zf.writestr("readme.txt", "not a submission")
        zf.writestr("__MACOSX/._readme.txt", "")
    work = tmp_path / "work"
    work.mkdir()
    staged_before = set(Path(tempfile.gettempdir()).glob("tinychinchilla-lms-*"))
    summary = _grade(archive, tmp_path / "course", jobs=1, workdir=work)
    assert set(Path(tempfile.gettempdir()).glob("tinychinchilla-lms-*")) == staged_before  # staging removed
    serial = _cell_grades(tmp_path / "course")
    students = {"good": "good", "Carol_Smith": "one-wrong-upstream", "wrongtypes": "wrong-types"}
    assert {k[0] for k in serial} == set(students)
    parallel = _cell_grades(batch["course"])
    for student, case in students.items():
        assert ({k[1]: v for k, v in serial.items() if k[0] == student}
                == {k[1]: v for k, v in parallel.items() if k[0] == case}), student
    not_graded = summary.split("of the download not graded:")[1]
    for name in [f"good_1234_567_{nb}", f"Homework 0_wrongtypes_attempt_2026-11-02-10-00-00_{nb}",
                 "Homework 0_wrongtypes_attempt_2026-11-03-09-30-00.txt", "readme.txt", "__MACOSX/._readme.txt"]:
        assert f"  {name}: " in not_graded, name
    assert "graded the latest submission" in next(l for l in summary.splitlines() if l.strip().startswith("good/"))


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


def test_clear_folder_removes_links_and_special_files_without_following_them(tmp_path):
    grade = _grade_module()
    folder, outside = tmp_path / "kernel", tmp_path / "outside"
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    target = outside / "gradebook.db"
    target.write_text("rows")
    os.chmod(target, 0o640)
    (folder / "graded.ipynb").write_text("{}")
    (folder / "note.txt").write_text("x")
    os.symlink(target, folder / "link.db")
    os.symlink(outside, folder / "sub" / "dir-link")
    os.link(target, folder / "hard.db")
    os.mkfifo(folder / "fifo")
    left = grade.clear_folder(folder, keep="graded.ipynb")
    assert sorted(left) == ["fifo", "hard.db", "link.db", os.path.join("sub", "dir-link")]
    assert [p.name for p in folder.iterdir()] == ["graded.ipynb"]
    assert target.read_text() == "rows" and (os.stat(target).st_mode & 0o777) == 0o640


def test_one_failing_merge_is_that_students_problem_line(tmp_path, monkeypatch):
    grade = _grade_module()
    args = grade.build_parser().parse_args([str(tmp_path), "--quiet", "--jobs", "2"])
    args.known = [hostile.ASSIGNMENT]
    batch = grade.Batch(tmp_path, tmp_path, args, {})

    def broken_merge(course_root, sub, rows):
        raise PermissionError(13, "Permission denied", "gradebook.db")

    def broken_grading(sub):
        raise RuntimeError("worker crashed")

    monkeypatch.setattr(grade, "merge", broken_merge)
    monkeypatch.setattr(batch, "run_one", broken_grading)
    subs = [grade.Submission("alice", hostile.ASSIGNMENT), grade.Submission("bob", hostile.ASSIGNMENT, notebook=tmp_path)]
    batch.run(subs)
    assert "could not be recorded" in subs[0].problems[0]
    assert subs[1].problems == ["not graded: RuntimeError: worker crashed; scored 0"]


def test_lms_layouts_are_sorted_and_every_other_file_listed():
    sys.path.insert(0, str(ROOT / "autograder"))
    import lms

    a, b = hostile.ASSIGNMENT, "01-tiny-transformer"
    names = [f"smithjohn_123_456_{a}.ipynb", f"smithjohn_123_456_{a}-1.ipynb", f"smithjohn_late_123_789_{b}.ipynb",
             f"Carol Smith_12345_assignsubmission_file_/{a}.ipynb", f"Dave Lee_777_assignsubmission_file_{a} (1).ipynb",
             f"Hw_jdoe_attempt_2026-03-01-10-22-33_{a}.ipynb", f"Hw_jdoe_attempt_2026-03-02-10-22-33_{a}.ipynb",
             "Hw_jdoe_attempt_2026-03-02-10-22-33.txt", "readme.txt", f"alice/{a}.ipynb", "notes.ipynb"]
    result = lms.sort_files([(n, Path("/nonexistent")) for n in names], [a, b], {a: set(), b: set()})
    assert {k: v.name for k, v in result.chosen.items()} == {
        ("smithjohn", a): f"smithjohn_123_456_{a}-1.ipynb", ("smithjohn", b): f"smithjohn_late_123_789_{b}.ipynb",
        ("Carol_Smith", a): f"Carol Smith_12345_assignsubmission_file_/{a}.ipynb",
        ("Dave_Lee", a): f"Dave Lee_777_assignsubmission_file_{a} (1).ipynb",
        ("jdoe", a): f"Hw_jdoe_attempt_2026-03-02-10-22-33_{a}.ipynb", ("alice", a): f"alice/{a}.ipynb"}
    assert sorted(n for n, _ in result.not_graded) == sorted(
        [f"smithjohn_123_456_{a}.ipynb", f"Hw_jdoe_attempt_2026-03-01-10-22-33_{a}.ipynb",
         "Hw_jdoe_attempt_2026-03-02-10-22-33.txt", "readme.txt", "notes.ipynb"])


def test_reaper_kills_detached_children_and_does_not_wait_for_their_pipes(tmp_path):
    report = tmp_path / "report.json"
    sleeper = "import time; time.sleep(600)  # reaper-test"
    script = ("import subprocess, sys, os\n"
              f"subprocess.Popen([sys.executable, '-c', {sleeper!r}], start_new_session=True)\n"
              "if os.fork() == 0:\n    os.setsid()\n"
              f"    if os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, '-c', {sleeper!r}])\n"
              "    os._exit(0)\n")
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "tinychinchilla.sandbox", "--reap", str(report), "--",
                    sys.executable, "-c", script], stdout=subprocess.PIPE, check=True, timeout=60)
    assert time.monotonic() - start < 30
    assert json.loads(report.read_text())["killed"] == 2
    time.sleep(0.2)
    assert not [e for e in os.scandir("/proc") if e.name.isdigit() and _cmdline_has(e.path, b"reaper-test")]


def _cmdline_has(proc: str, marker: bytes) -> bool:
    try:
        return marker in Path(proc, "cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.skipif(LANDLOCK < 1, reason="this kernel has no Landlock")
def test_sandbox_confines_reads_links_and_file_metadata(tmp_path):
    """Reads outside the system, Python and the kit, links and special files are refused; chmod
    and utime do nothing (the file keeps its mode and time)."""
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    probe = ("import os, sys\n"
             "def attempt(what, f):\n"
             "    try:\n        f()\n        print(what, 'allowed')\n"
             "    except OSError as exc:\n        print(what, 'refused', type(exc).__name__)\n"
             "attempt('read', lambda: open('../outside/secret.txt').read())\n"
             f"attempt('solutions', lambda: os.listdir({str(ROOT / 'solutions')!r}))\n"
             "attempt('symlink', lambda: os.symlink('../outside/secret.txt', 'link'))\n"
             "attempt('hardlink', lambda: os.link('../outside/secret.txt', 'hard'))\n"
             "attempt('fifo', lambda: os.mkfifo('fifo'))\n"
             "attempt('chmod', lambda: os.chmod('../outside/secret.txt', 0o777))\n"
             "attempt('utime', lambda: os.utime('../outside/secret.txt', (0, 0)))\n"
             "attempt('own file', lambda: open('mine.txt', 'w').write('x'))\n"
             "import tinychinchilla.check\nprint('kit imports')")
    before = os.stat(outside / "secret.txt")
    out = subprocess.run([sys.executable, "-m", "tinychinchilla.sandbox", "--", sys.executable, "-c", probe],
                         cwd=inside, capture_output=True, text=True, check=True).stdout
    for what in ("read", "solutions", "symlink", "hardlink", "fifo"):
        assert f"{what} refused" in out, out
    assert "own file allowed" in out and "kit imports" in out
    after = os.stat(outside / "secret.txt")
    assert (before.st_mode, before.st_mtime_ns) == (after.st_mode, after.st_mtime_ns)
    assert sorted(p.name for p in inside.iterdir()) == ["mine.txt"]
