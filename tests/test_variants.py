"""Graded assignments and per-student variants (issue 17).

The homework (08) is graded: the student's kit holds no reference and gives no oracle; the
references are instructor-side (autograder/graded_answers.toml); the numeric parts of Questions 2,
3 and 5 vary per student by HMAC(secret, student id); the grader judges each submission against
the variant of the student it is filed under.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))
import variants  # noqa: E402  (autograder/variants.py)

from tinychinchilla import check, paper  # noqa: E402

ASSIGNMENT = "08-homework-pretraining"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.ipynb"
KEY = b"a test secret, never a course's"
HIDDEN = re.compile(r"check\.assert_answer\(\"(\d\d\.\w+)\", (\w+)\)")
GRADED_QIDS = check.question_ids("08", "numeric")
VARIANT_QIDS = [q for q in GRADED_QIDS if q.startswith(("08.q2_", "08.q3_", "08.q5_"))]


def _kit_spec() -> dict:
    with open(ROOT / "src" / "tinychinchilla" / "answers.toml", "rb") as f:
        return tomllib.load(f)


# ---------------------------------------------------------------------------------------------
# The course setting, the kit's spec and the instructor's references agree
# ---------------------------------------------------------------------------------------------


def test_graded_assignments_carry_no_reference_in_the_kit():
    graded = variants.graded_assignments()
    assert graded == (ASSIGNMENT,)  # the default: the homework graded, lessons 00-07 and 09 practice
    kit = _kit_spec()["questions"]
    with open(variants.REFERENCES, "rb") as f:
        instructor = tomllib.load(f)["questions"]
    graded_lessons = {a[:2] for a in graded}
    for qid, raw in kit.items():
        if raw["kind"] != "numeric":
            continue
        if qid[:2] in graded_lessons:
            assert not {"value", "compute", "rel_tol", "abs_tol", "mistakes", "where"} & set(raw), qid
            assert "form" in raw and qid in instructor, qid
        else:
            assert ("value" in raw or "compute" in raw) and qid not in instructor, qid
    assert set(instructor) == {q for q, r in kit.items() if r["kind"] == "numeric" and q[:2] in graded_lessons}


def test_without_a_secret_everyone_has_the_paper_s_own_questions():
    canonical = check.canonical_variant("08")
    assert check.variant_for("08", "alice", None) == canonical
    assert check.variant_for("08", "", KEY) == canonical
    names = check.variant_names("08", canonical)
    assert (names["q2_budget"], names["q3_model"], names["q3_baseline"], names["q5_params"]) == \
        (paper.GOPHER_FLOPS, "Chinchilla", "Gopher", 1e12)
    refs = variants.references(ASSIGNMENT, "alice", key=b"")  # b"": no secret
    assert refs["08.q2_n_opt"] == paper.TABLE_3[3].params == 67e9
    assert refs["08.q3_chinchilla_6nd"] == 6 * 70e9 * 1.4e12
    assert refs["08.q3_inference_ratio"] == 4.0
    assert refs["08.q5_flops_1t"] == paper.TABLE_3[7].flops == 1.27e26


def test_two_ids_get_different_inputs_and_references():
    alice, bob = (check.variant_for("08", s, KEY) for s in ("alice", "bob"))
    assert alice != bob and check.canonical_variant("08") not in (alice, bob)
    assert check.variant_names("08", alice) != check.variant_names("08", bob)
    ra, rb = variants.references(ASSIGNMENT, "alice", KEY), variants.references(ASSIGNMENT, "bob", KEY)
    assert any(ra[q] != rb[q] for q in VARIANT_QIDS)
    for qid in GRADED_QIDS:  # Questions 1 and 4 do not vary
        if qid not in VARIANT_QIDS:
            assert ra[qid] == rb[qid], qid
    # another secret, another draw; the same secret, the same draw
    assert check.variant_for("08", "alice", KEY) == alice
    assert any(check.variant_for("08", f"s{i}", KEY) != check.variant_for("08", f"s{i}", b"other")
               for i in range(5))


def test_every_choice_is_drawn():
    """Over many ids each input takes each of its choices (never the canonical one: with a secret
    nobody has the paper's own numbers)."""
    seen = {name: set() for name, _ in check.canonical_variant("08")}
    for i in range(400):
        for name, index in check.variant_for("08", f"student{i}", KEY):
            seen[name].add(index)
    table = check.load_spec()["variants"]["08"]["inputs"]
    assert all(seen[n] == set(range(1, len(table[n]["choices"]) + 1)) for n in seen), seen
    # Question 5's size is never Question 2's row (one answer would give the other away)
    for i in range(400):
        names = check.variant_names("08", check.variant_for("08", f"student{i}", KEY))
        assert names["q2_row"] != names["q5_row"]


def test_variant_codes_round_trip_and_catch_the_wrong_id():
    v = check.variant_for("08", "alice", KEY)
    code = check.variant_code("08", "alice", v)
    assert check.decode_variant_code("08", "alice", code) == v
    with pytest.raises(ValueError, match="does not belong"):
        check.decode_variant_code("08", "bob", code)
    with pytest.raises(ValueError, match="not a variant code"):
        check.decode_variant_code("08", "alice", "08-12-zzzz")
    assert check.decode_variant_code("08", "alice", "") == check.canonical_variant("08")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        hw = check.variant("08", "alice", code)
    assert hw == {k: check.variant_names("08", v)[k] for k in hw} and not hw.canonical
    assert "your own variant" in out.getvalue()


def test_a_secret_file_inside_the_repository_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(check.SECRET_FILE_ENV, str(ROOT / "autograder" / "secret"))
    with pytest.raises(ValueError, match="inside the repository"):
        variants.secret()
    outside = tmp_path / "secret"
    outside.write_text("s3cret\n")
    monkeypatch.setenv(check.SECRET_FILE_ENV, str(outside))
    monkeypatch.delenv(check.SECRET_ENV, raising=False)
    assert variants.secret() == b"s3cret"


# ---------------------------------------------------------------------------------------------
# The solution notebook under many ids, by the hidden tests' logic (no nbgrader run per id)
# ---------------------------------------------------------------------------------------------


def _solution_program():
    """(code cells to run in order, [(question id, variable)] the hidden tests check)."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    cells, hidden = [], []
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        if cell.metadata.get("nbgrader", {}).get("grade"):
            hidden += HIDDEN.findall(cell.source)
            continue
        cells.append(transform(cell.source))
    return cells, hidden


def _run_solution(cells: list[str], student: str, code: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for source in cells:
            if 'STUDENT_ID = ""' in source:
                source = source.replace('STUDENT_ID = ""', f"STUDENT_ID = {student!r}", 1)
                source = source.replace('VARIANT_CODE = ""', f"VARIANT_CODE = {code!r}", 1)
            exec(compile(source, "<solution>", "exec"), namespace)  # noqa: S102
    return namespace


def _failing(namespace: dict, hidden, student: str, key: bytes) -> set[str]:
    return {qid for qid, var in hidden if not variants.judge(qid, namespace[var], student, key).passed}


@pytest.fixture(scope="module")
def program():
    return _solution_program()


def test_the_solution_gets_full_marks_under_every_id_of_a_sample(program, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    cells, hidden = program
    assert {q for q, _ in hidden} == set(GRADED_QIDS)
    drawn = set()
    for i in range(50):
        student = f"s{i:03d}-{'abcdefghij'[i % 10]}"
        v = check.variant_for("08", student, KEY)
        drawn.add(v)
        namespace = _run_solution(cells, student, check.variant_code("08", student, v))
        assert _failing(namespace, hidden, student, KEY) == set(), student
    assert len(drawn) > 25  # the sample really covers many variants
    # and with no secret (self-study) the original questions, unchanged
    namespace = _run_solution(cells, "", "")
    assert _failing(namespace, hidden, "anyone", b"") == set()


def test_a_notebook_graded_under_another_id_fails_exactly_the_variant_parts(program, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    cells, hidden = program
    alice = check.variant_for("08", "alice", KEY)
    # a classmate whose every input differs from alice's
    other = next(s for s in (f"classmate{i}" for i in range(200))
                 if all(a != b for a, b in zip(alice, check.variant_for("08", s, KEY))))
    namespace = _run_solution(cells, "alice", check.variant_code("08", "alice", alice))
    assert _failing(namespace, hidden, "alice", KEY) == set()
    assert _failing(namespace, hidden, other, KEY) == set(VARIANT_QIDS)


# ---------------------------------------------------------------------------------------------
# The student's kit, as pip builds it: no reference, no oracle
# ---------------------------------------------------------------------------------------------

KIT_SCRIPT = r"""
import json, sys
from tinychinchilla import check
values = json.loads(sys.argv[1])
out = {"file": check.__file__, "verdicts": {}}
for qid, (right, wrong) in values.items():
    out["verdicts"][qid] = [[check.judge(qid, v).passed, check.judge(qid, v).message] for v in (right, wrong)]
    try:
        check._reference(qid)
        out.setdefault("leaks", []).append(qid)
    except check.SpecError:
        pass
print(json.dumps(out))
"""


def test_the_wheel_holds_no_graded_reference_and_check_is_no_oracle(built_wheel, tmp_path):
    with zipfile.ZipFile(built_wheel) as wheel:
        names = wheel.namelist()
        assert not [n for n in names if "graded_answers" in n or n.startswith("autograder/")]
        spec = tomllib.loads(wheel.read("tinychinchilla/answers.toml").decode())
        wheel.extractall(tmp_path / "site")
    for qid in GRADED_QIDS:
        assert not {"value", "compute", "mistakes"} & set(spec["questions"][qid]), qid
    # right and wrong answers, for the canonical variant and for one student's
    values = {}
    for student, key in (("anyone", b""), ("alice", KEY)):
        refs = variants.references(ASSIGNMENT, student, key)
        for qid in GRADED_QIDS:
            values[f"{qid}|{student}"] = (refs[qid], refs[qid] * 1.3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYCHINCHILLA_")}
    env.update(PYTHONPATH=str(tmp_path / "site"), HOME=str(tmp_path), TINYCHINCHILLA_VARIANT_SECRET=KEY.decode())
    for student in ("anyone", "alice"):
        payload = {k.split("|")[0]: v for k, v in values.items() if k.endswith("|" + student)}
        proc = subprocess.run([sys.executable, "-c", KIT_SCRIPT, json.dumps(payload)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert Path(out["file"]).is_relative_to(tmp_path / "site")
        assert not out.get("leaks")
        for qid, (right, wrong) in out["verdicts"].items():
            assert right == wrong and right[0] is True, (qid, right, wrong)
            assert "checked when the homework is graded" in right[1]


# ---------------------------------------------------------------------------------------------
# One real round trip through autograder/grade.py (nbgrader autograde in the sandbox)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
def test_grade_py_judges_each_submission_against_its_student_s_variant(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    import grade

    monkeypatch.setenv(check.SECRET_ENV, KEY.decode())
    alice = check.variant_for("08", "alice", KEY)
    other = next(s for s in (f"classmate{i}" for i in range(200))
                 if all(a != b for a, b in zip(alice, check.variant_for("08", s, KEY))))
    nb = nbformat.read(SOLUTION, as_version=4)
    for cell in nb.cells:
        if 'STUDENT_ID = ""' in cell.source:
            cell.source = cell.source.replace('STUDENT_ID = ""', 'STUDENT_ID = "alice"').replace(
                'VARIANT_CODE = ""', f'VARIANT_CODE = "{check.variant_code("08", "alice", alice)}"')
    for student in ("alice", other):  # the same notebook, filed under alice and under a classmate
        target = tmp_path / "subs" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    course = tmp_path / "course"
    (tmp_path / "work").mkdir()
    code = grade.main([str(tmp_path / "subs"), "--course", str(course), "--assignment", ASSIGNMENT,
                       "--jobs", "2", "--timeout", "60", "--quiet", "--workdir", str(tmp_path / "work")])
    assert code == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: {g.name: (g.auto_score, g.max_score) for g in gb.find_submission_notebook(
                  ASSIGNMENT, ASSIGNMENT, s).grades if not g.needs_manual_grade} for s in ("alice", other)}
    variant_ids = {f"q08-{q.split('.', 1)[1]}" for q in VARIANT_QIDS}
    assert all(score == points for score, points in scores["alice"].values()), scores["alice"]
    assert {gid for gid, (score, _) in scores[other].items() if score == 0} == variant_ids
    # the written parts show the grader the student's inputs and references next to the rubric
    graded = nbformat.read(course / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    notes = [c.source for c in graded.cells if c.metadata.get(variants.NOTE_KEY)]
    assert len(notes) == 5
    q2 = next(n for n in notes if "08.q2_n_opt" in n)
    ref = variants.references(ASSIGNMENT, "alice", KEY)["08.q2_n_opt"]
    assert f"{ref:.4g}" in q2 and "Rubric" in q2 and "q2_budget" in q2
