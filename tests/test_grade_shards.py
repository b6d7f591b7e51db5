"""autograder/shards.py without grading anything: the split of a class by student id, the done
markers that let a killed shard redo only its unfinished students, and merge's refusals (a shard
missing, unfinished, of another class, or holding a student another shard holds). Grading itself
on a real Slurm: tests/test_slurm.py."""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "autograder"))
import grade  # noqa: E402
import shards  # noqa: E402
from collect import Submission  # noqa: E402
from isolation import GradeError  # noqa: E402

ASSIGNMENT = "00-setup-and-tour"
STUDENTS = [f"student{k:02d}" for k in range(11)] + ["Ann", "bob_2", "zoë"]


def test_the_split_is_a_partition_and_ignores_the_order_students_are_found():
    for n in (1, 2, 3, 5, 20):
        parts = [shards.students_of(STUDENTS, (i, n)) for i in range(1, n + 1)]
        assert sorted(s for part in parts for s in part) == sorted(STUDENTS)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
        shuffled = random.Random(n).sample(STUDENTS, len(STUDENTS))
        assert [shards.students_of(shuffled + shuffled[:3], (i, n)) for i in range(1, n + 1)] == parts


def _class(tmp: Path, students=STUDENTS) -> list[Submission]:
    subs = []
    for student in students:
        path = tmp / "class" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(json.dumps({"student": student}))
        subs.append(Submission(student, ASSIGNMENT, notebook=path))
    return subs


def _grade_shard(shard_dir: Path, shard: tuple[int, int], subs: list[Submission], stop_after: int | None = None):
    """What grade.py --shard does, less the grading: each submission 'graded' with a score."""
    task = shards.Shard(shard_dir, shard)
    task.begin()
    todo = task.select(subs)
    for k, sub in enumerate(todo):
        if stop_after is not None and k == stop_after:
            task._lock.close()  # the task is killed here
            return task, todo
        sub.score, sub.max_score, sub.cells = 1.0, 8.0, {"q1": 1.0}
        task.done(sub)
    task.finish([ASSIGNMENT], [], [], 1.0, 1, 0)
    return task, todo


def test_a_killed_shard_redoes_only_its_unfinished_students_and_a_changed_submission(tmp_path):
    _, todo = _grade_shard(tmp_path / "shards", (1, 2), _class(tmp_path), stop_after=3)
    folder = tmp_path / "shards" / "shard-1-of-2"
    assert len(todo) == 7 and not (folder / shards.SHARD_META).exists()
    assert sorted(p.stem for p in (folder / "done").glob("*.json")) == sorted(s.student for s in todo[:3])
    task, again = _grade_shard(tmp_path / "shards", (1, 2), _class(tmp_path))
    assert [s.student for s in again] == [s.student for s in todo[3:]]
    assert sorted(s.student for s in task.finished) == sorted(s.student for s in todo[:3])
    assert (folder / shards.SHARD_META).exists()
    # a resubmission (the file changed) is graded again; an unchanged one is not
    todo[0].notebook.write_text("{}")
    _, third = _grade_shard(tmp_path / "shards", (1, 2), _class(tmp_path))
    assert [s.student for s in third] == [todo[0].student]


def test_a_shard_is_graded_by_one_task_at_a_time(tmp_path):
    first = shards.Shard(tmp_path, (1, 3))
    first.begin()
    with pytest.raises(GradeError, match=r"another task is grading shard 1/3 .* now"):
        shards.Shard(tmp_path, (1, 3)).begin()


@pytest.fixture
def graded(tmp_path):
    for i in (1, 2, 3):
        _grade_shard(tmp_path / "shards", (i, 3), _class(tmp_path))
    return tmp_path / "shards"


def _refusal(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        grade.main(["merge", *map(str, argv)])
    message = str(exc.value.code)
    assert message.startswith("error: ") and "\n" not in message
    return message


def test_merge_finds_every_student_once(graded):
    metas, entries = shards.check_shards([graded])
    assert len(metas) == 3 and sorted(sub.student for _, sub, _ in entries) == sorted(STUDENTS)


def test_merge_refuses_a_missing_shard(graded, tmp_path):
    shutil.rmtree(graded / "shard-2-of-3")
    message = _refusal([graded, "--course", tmp_path / "course"])
    assert "shard 2/3 missing" in message and "--shard 2/3 --shard-dir" in message
    assert not (tmp_path / "course").exists()


def test_merge_refuses_an_unfinished_shard(graded, tmp_path):
    (graded / "shard-3-of-3" / shards.SHARD_META).unlink()
    message = _refusal([graded, "--course", tmp_path / "course"])
    assert "shard 3/3" in message and "not finished" in message and "run it again" in message


def test_merge_refuses_a_student_in_two_shards(graded, tmp_path):
    one = json.loads((graded / "shard-1-of-3" / shards.SHARD_META).read_text())["students"][0]
    marker = json.loads((graded / "shard-1-of-3" / "done" / f"{one}.json").read_text())
    (graded / "shard-2-of-3" / "done" / f"{one}.json").write_text(json.dumps(marker))
    message = _refusal([graded, "--course", tmp_path / "course"])
    assert f"student {one!r} is in shard 1/3 and shard 2/3" in message


def test_merge_refuses_shards_of_another_class_or_split(graded, tmp_path):
    _grade_shard(tmp_path / "other", (2, 3), _class(tmp_path / "other", STUDENTS[:-1]))
    shutil.rmtree(graded / "shard-2-of-3")
    shutil.copytree(tmp_path / "other" / "shard-2-of-3", graded / "shard-2-of-3")
    assert "graded different classes" in _refusal([graded])
    _grade_shard(tmp_path / "four", (1, 4), _class(tmp_path))
    assert "different splits" in _refusal([graded, tmp_path / "four"])
    assert "found twice" in _refusal([graded / "shard-1-of-3", graded])
    assert "no shard folders" in _refusal([tmp_path / "class"])


def test_shard_flags_go_together(tmp_path):
    with pytest.raises(SystemExit, match="--shard I/N and --shard-dir DIR go together"):
        grade.main([str(tmp_path), "--shard", "1/2"])
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path), "--shard", "3/2", "--shard-dir", str(tmp_path)])
