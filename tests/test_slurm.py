"""The Slurm job-array scripts (small_runs/slurm/, autograder/slurm/) against a real one-node Slurm
started on localhost (tests/slurm_cluster.py): a 4-shard sweep gives the serial sweep's records
bit for bit; a sweep task and a grading task killed mid-way and submitted again lose and repeat
nothing; a 3-shard grading of a small class gives the serial grades cell by cell.

    pytest -m slurm          # only these; they skip, saying why, where Slurm cannot run
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import slurm_cluster  # tests/slurm_cluster.py
from test_sweep import sweep_cmd, write_grid

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SWEEP_SUBMIT = ROOT / "small_runs" / "slurm" / "submit.sh"
GRADE_SUBMIT = ROOT / "autograder" / "slurm" / "submit.sh"
# Small jobs: one CPU each, so the node runs as many at once as it has cores.
SMALL_JOB = ["--", "--cpus-per-task=1", "--mem=1G", "--time=00:20:00"]


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    why = slurm_cluster.unavailable()
    if why:
        pytest.skip(why)
    cluster = slurm_cluster.SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except RuntimeError as exc:
        cluster.stop()
        pytest.skip(f"the local Slurm did not start: {str(exc).splitlines()[0]}")
    try:
        yield cluster
    finally:
        cluster.stop()


def submit(cluster, script: Path, *args: str, env: dict | None = None) -> tuple[str, str]:
    """Run a submit.sh; returns (array job id, merge job id) from its output."""
    proc = subprocess.run(["bash", str(script), *args], env=dict(cluster.env, PYTHON=sys.executable, **(env or {})),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ids = re.findall(r"job (\d+)", proc.stdout)
    assert len(ids) == 2, proc.stdout
    return ids[0], ids[1]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill_task(cluster, array_job: str, task: int) -> None:
    """scancel one array task (Slurm signals every process of its step), and wait until it is gone."""
    subprocess.run(["scancel", f"{array_job}_{task}"], env=cluster.env, check=True)
    wait_for(lambda: cluster.job_states(f"{array_job}_{task}").get(f"{array_job}_{task}") == "CANCELLED",
             60, "the task to be cancelled")


def without_times(record: dict) -> dict:
    record = json.loads(json.dumps(record))
    record["row"].pop("wall_seconds")
    return record


def records(out: Path) -> dict[str, str]:
    """Each run's record less its wall time, as JSON text (NaN, e.g. the skipped evaluation, equals itself)."""
    return {p.stem: json.dumps(without_times(json.loads(p.read_text())), sort_keys=True)
            for p in sorted((out / "runs").glob("*.json"))}


def table(out: Path) -> list[dict]:
    with (out / "runs.csv").open() as fh:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(fh)]


# --- the sweep ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory, corpus):
    """8 runs (2 budgets x 2 sizes x 2 seeds) of ~1-4 s each, serially, one thread."""
    tmp = tmp_path_factory.mktemp("sweep")
    grid = write_grid(tmp, small="5e8", large="1e9")
    grid.write_text(grid.read_text().replace("seeds = [0]", "seeds = [0, 1]"))
    subprocess.run(sweep_cmd(grid, tmp / "serial"), check=True)
    return grid, tmp / "serial"


SWEEP_ENV = {"SWEEP_ARGS": "--no-eval", "THREADS": "1"}   # as sweep_cmd: no evaluation, one thread


def test_four_shard_sweep_equals_the_serial_sweep(slurm, serial_sweep, tmp_path):
    grid, serial = serial_sweep
    out = tmp_path / "cluster"
    shards, merge = submit(slurm, SWEEP_SUBMIT, "--grid", str(grid), "--shards", "4", "--out", str(out),
                           *SMALL_JOB, env=SWEEP_ENV)
    states = slurm.wait_jobs([shards, merge])
    assert set(states.values()) == {"COMPLETED"}, states
    assert len(states) == 5  # four array tasks and the merge
    for i in range(1, 5):  # each shard ran its share of the grid, in its own folder
        assert len(list((out / f"shard-{i}-of-4" / "runs").glob("*.json"))) == 2
    assert records(out) == records(serial)  # same losses, curves and configs, bit for bit
    assert table(out) == table(serial)
    kept = [sorted(p.name for p in (folder / "checkpoints").iterdir()) for folder in (out, serial)]
    assert kept[0] == kept[1] and kept[0]  # the grid's kept checkpoints, gathered from their shards


def test_a_sweep_task_killed_mid_way_then_resubmitted_loses_and_repeats_nothing(slurm, serial_sweep, tmp_path):
    grid, serial = serial_sweep
    out = tmp_path / "cluster"
    shards, merge = submit(slurm, SWEEP_SUBMIT, "--grid", str(grid), "--shards", "2", "--out", str(out),
                           *SMALL_JOB, env=SWEEP_ENV)
    first = out / "shard-1-of-2" / "runs"
    wait_for(lambda: len(list(first.glob("*.json"))) >= 1, 300, "shard 1's first record")
    kill_task(slurm, shards, 0)
    kept = {p.name: p.stat().st_mtime_ns for p in first.glob("*.json")}
    assert 1 <= len(kept) < 4, "the kill should land mid-shard"
    states = slurm.wait_jobs([shards, merge])
    assert states[merge] == "CANCELLED", states  # its dependency can no longer be met
    # the merge alone refuses a shard that has not finished
    proc = subprocess.run(["bash", str(ROOT / "small_runs" / "slurm" / "sweep-merge.sbatch")], capture_output=True,
                          text=True, env=dict(slurm.env, KIT_ROOT=str(ROOT), OUT=str(out), SHARDS="2",
                                              GRID=str(grid), PYTHON=sys.executable))
    assert proc.returncode == 1 and "shard 1/2 has" in proc.stderr and "--only 1" in proc.stderr, proc.stderr
    assert not (out / "runs.csv").exists()

    shards, merge = submit(slurm, SWEEP_SUBMIT, "--grid", str(grid), "--shards", "2", "--out", str(out),
                           "--only", "1", *SMALL_JOB, env=SWEEP_ENV)
    states = slurm.wait_jobs([shards, merge])
    assert set(states.values()) == {"COMPLETED"} and len(states) == 2, states
    assert {p.name: p.stat().st_mtime_ns for p in first.glob("*.json") if p.name in kept} == kept  # not run again
    assert records(out) == records(serial)
    assert table(out) == table(serial)  # every run exactly once


# --- grading -------------------------------------------------------------------------------------


CLASS = ["good", "blank", "one-wrong-upstream", "invalid-json", "unknown-assignment"]  # 3 notebooks to run


def _grades(course: Path) -> dict:
    """Per student and cell: (auto score, manual score, needs manual grade, points); and per
    submission: score, maximum and problems (submissions.csv less the seconds)."""
    from nbgrader.api import Gradebook

    import hostile

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_notebook(hostile.ASSIGNMENT, hostile.ASSIGNMENT)
        cells = {(s.student.id, g.name): (g.auto_score, g.manual_score, g.needs_manual_grade, g.max_score)
                 for s in nb.submissions for g in s.grades}
        totals = {s.student.id: (s.score, s.max_score) for s in nb.submissions}
    with (course / "reports" / "submissions.csv").open() as fh:
        rows = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]
    return {"cells": cells, "totals": totals, "submissions": rows,
            "grades.csv": (course / "reports" / "grades.csv").read_text(),
            "feedback": sorted(str(p.relative_to(course)) for p in (course / "feedback").rglob("*.html"))}


def test_three_shard_grading_with_a_task_killed_and_resubmitted_equals_serial_grading(slurm, tmp_path):
    pytest.importorskip("nbgrader")
    import hostile

    hostile.write_corpus(tmp_path / "class", tmp_path / "outside", CLASS)
    grade_args = f"--assignment {hostile.ASSIGNMENT} --timeout 10"
    subprocess.run([sys.executable, str(ROOT / "autograder" / "grade.py"), str(tmp_path / "class"), *grade_args.split(),
                    "--course", str(tmp_path / "serial"), "--jobs", "2", "--quiet"], check=True,
                   env=dict(os.environ), capture_output=True)
    serial = _grades(tmp_path / "serial")

    shard_dir, course = tmp_path / "shards", tmp_path / "course"
    common = ["--submissions", str(tmp_path / "class"), "--shards", "3", "--shard-dir", str(shard_dir),
              "--course", str(course)]
    env = {"GRADE_ARGS": grade_args}
    shards, merge = submit(slurm, GRADE_SUBMIT, *common, *SMALL_JOB, env=env)
    # shard 1 of 3 has two students to grade (blank, one-wrong-upstream): kill it after the first
    done = shard_dir / "shard-1-of-3" / "done"
    wait_for(lambda: len(list(done.glob("*.json"))) >= 1, 300, "shard 1's first finished student")
    kill_task(slurm, shards, 0)
    kept = {p.name: p.stat().st_mtime_ns for p in done.glob("*.json")}
    assert len(kept) == 1, "the kill should land between shard 1's two students"
    states = slurm.wait_jobs([shards, merge])
    assert states[merge] == "CANCELLED" and states[f"{shards}_1"] == states[f"{shards}_2"] == "COMPLETED", states
    # merge refuses the unfinished shard, in one line that says what to do
    proc = subprocess.run([sys.executable, str(ROOT / "autograder" / "grade.py"), "merge", str(shard_dir),
                           "--course", str(course)], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "shard 1/3" in proc.stderr and "not finished" in proc.stderr and "run it again" in proc.stderr
    assert not (course / "gradebook.db").exists()

    shards, merge = submit(slurm, GRADE_SUBMIT, *common, "--only", "1", *SMALL_JOB, env=env)
    states = slurm.wait_jobs([shards, merge])
    assert set(states.values()) == {"COMPLETED"} and len(states) == 2, states
    assert {p.name: p.stat().st_mtime_ns for p in done.glob("*.json") if p.name in kept} == kept  # not graded again
    log = (shard_dir / f"tc-grade-{shards}_0.out").read_text()
    assert "1 submission graded now, 1 kept from an earlier run" in log, log
    merged = _grades(course)
    assert merged == serial  # every student once, every cell's score as the serial run gave it
    assert len(merged["submissions"]) == len(CLASS)
