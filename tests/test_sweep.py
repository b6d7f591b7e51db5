import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinychinchilla.sweep import GridError, load_grid, read_table, select_shard

TINY_GRID = """
[defaults]
context_length = 32
batch_size = 4
lr = 1e-2
seeds = [0]

[[shapes]]
name = "d8"
d_model = 8
n_layer = 1
n_head = 1

[[shapes]]
name = "d16"
d_model = 16
n_layer = 1
n_head = 2

[[budgets]]
flops = {small}
shapes = ["d8", "d16"]

[[budgets]]
flops = {large}
shapes = ["d8", "d16"]
keep_checkpoints = ["d16"]
"""


def write_grid(tmp_path: Path, small="2e8", large="6e8") -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(TINY_GRID.format(small=small, large=large))
    return path


def sweep_cmd(grid: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tinychinchilla.sweep", "--grid", str(grid), "--out", str(out),
            "--quiet", "--threads", "1", "--no-eval", *extra]


def test_grid_expands_to_run_specs(tmp_path):
    specs = load_grid(write_grid(tmp_path))
    assert [(s.budget_flops, s.shape) for s in specs] == [(2e8, "d8"), (2e8, "d16"), (6e8, "d8"), (6e8, "d16")]
    assert [s.keep_checkpoint for s in specs] == [False, False, False, True]
    assert len({s.run_id for s in specs}) == 4
    assert specs[0].run_id.startswith("C2.00e08_d8_s0_")


@pytest.mark.parametrize("edit, message", [
    (lambda g: g.replace('name = "d8"\n', ""), "lacks \\['name'\\]"),
    (lambda g: g.replace('shapes = ["d8", "d16"]\n\n[[budgets]]', 'shapes = ["d9"]\n\n[[budgets]]'), "names shape 'd9'"),
    (lambda g: g.replace("flops = 2e8", "flops = -1"), "flops must be a positive number"),
    (lambda g: g.replace("n_head = 2", "n_head = 3"), "n_head=3 must divide d_model=16"),
    (lambda g: g.replace('keep_checkpoints = ["d16"]', 'keep_checkpoints = ["d32"]'), "keep_checkpoints names"),
    (lambda g: g + '\n[[budgets]]\nflops = 2e8\nshapes = ["d8"]\n', "the same run appears twice"),
    (lambda g: g.replace("[[budgets]]", "[[budgets]", 1), "not valid TOML"),
    # Values that used to pass or to fail later with a traceback:
    (lambda g: g.replace("flops = 2e8", "flops = true"), "flops must be a positive number, got True"),
    (lambda g: g.replace("flops = 2e8", "flops = inf"), "flops must be a positive number"),
    (lambda g: g.replace("batch_size = 4", "bacth_size = 4"), "unknown key.*bacth_size"),
    (lambda g: g.replace('name = "d16"', 'name = "d8"'), "two \\[\\[shapes\\]\\] are named 'd8'"),
    (lambda g: g.replace("n_head = 2", "n_head = 0"), "n_head must be a positive whole number"),
    (lambda g: g.replace("d_model = 16", 'd_model = "16"'), "d_model must be a positive whole number"),
    (lambda g: g.replace("seeds = [0]", 'seeds = "0"'), "seeds must be a list"),
    (lambda g: g.replace("context_length = 32", "context_length = 0"), "context_length must be a positive"),
    (lambda g: g.replace("lr = 1e-2", 'lr = "fast"'), "lr must be a positive number"),
])
def test_bad_grid_is_one_clear_error(tmp_path, edit, message):
    path = tmp_path / "grid.toml"
    path.write_text(edit(TINY_GRID.format(small="2e8", large="6e8")))
    with pytest.raises(GridError, match=message):
        load_grid(path)


def test_bad_grid_from_the_command_line_is_one_line(tmp_path):
    proc = subprocess.run(sweep_cmd(tmp_path / "missing.toml", tmp_path), capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: grid file {tmp_path / 'missing.toml'} does not exist"


def test_shards_partition_the_grid(tmp_path):
    specs = load_grid(write_grid(tmp_path))
    for n in (1, 2, 3, 5):
        parts = [select_shard(specs, (i, n)) for i in range(1, n + 1)]
        ids = [s.run_id for part in parts for s in part]
        assert sorted(ids) == sorted(s.run_id for s in specs)


def test_sharded_runs_merge_into_the_whole_table(tmp_path, corpus):
    grid = write_grid(tmp_path)
    for i in (1, 2):
        subprocess.run(sweep_cmd(grid, tmp_path / f"shard{i}", "--shard", f"{i}/2"), check=True)
    merged = tmp_path / "merged"
    (merged / "runs").mkdir(parents=True)
    for i in (1, 2):
        for record in (tmp_path / f"shard{i}" / "runs").glob("*.json"):
            shutil.copy(record, merged / "runs")
    subprocess.run([sys.executable, "-m", "tinychinchilla.sweep", "--out", str(merged), "--merge"], check=True)
    rows = read_table(merged / "runs.csv")
    assert sorted(r["run_id"] for r in rows) == sorted(s.run_id for s in load_grid(grid))
    assert all(r["final_val_loss"] < 4.5 for r in rows)
    # the kept checkpoint lands in whichever shard ran it
    assert len(list(tmp_path.glob("shard*/checkpoints/*.pt"))) == 1


def test_sigkill_mid_sweep_then_rerun_loses_and_repeats_nothing(tmp_path, corpus):
    # Runs long enough (~1-3 s each) that the kill lands inside one.
    grid = write_grid(tmp_path, small="2e9", large="4e9")
    out = tmp_path / "out"
    proc = subprocess.Popen(sweep_cmd(grid, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = out / "runs"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(runs.glob("*.json"))) < 1:
        time.sleep(0.05)
    time.sleep(0.5)  # now inside the second run
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in runs.glob("*.json")}
    assert 1 <= len(before) < 4, "the kill should land mid-sweep"
    for data, _ in before.values():
        json.loads(data)  # every record on disk is whole
    assert len(read_table(out / "runs.csv")) == len(before)  # the table parses and has no partial row

    subprocess.run(sweep_cmd(grid, out), check=True)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in runs.glob("*.json")}
    assert len(after) == 4
    for name, state in before.items():
        assert after[name] == state, f"{name} was run again"
    rows = read_table(out / "runs.csv")
    assert sorted(r["run_id"] for r in rows) == sorted(s.run_id for s in load_grid(grid))
    assert not list(out.rglob("*.tmp"))


def test_parallel_jobs_give_the_same_runs_as_serial(tmp_path, corpus):
    grid = write_grid(tmp_path)
    subprocess.run(sweep_cmd(grid, tmp_path / "serial"), check=True)
    subprocess.run(sweep_cmd(grid, tmp_path / "parallel", "--jobs", "2"), check=True)
    serial = {r["run_id"]: r for r in read_table(tmp_path / "serial" / "runs.csv")}
    parallel = {r["run_id"]: r for r in read_table(tmp_path / "parallel" / "runs.csv")}
    assert serial.keys() == parallel.keys()
    for run_id, row in serial.items():  # same seed, same thread count: the same numbers
        assert parallel[run_id]["final_val_loss"] == pytest.approx(row["final_val_loss"], abs=1e-6)
    manifest = json.loads((tmp_path / "parallel" / "MANIFEST.json").read_text())
    assert manifest["runs"] == 4 and manifest["hosts"][-1]["jobs"] == 2


def _merge(out: Path, *extra: str):
    return subprocess.run([sys.executable, "-m", "tinychinchilla.sweep", "--out", str(out), "--merge", *extra],
                          capture_output=True, text=True)


def test_merge_never_replaces_a_table_with_fewer_rows(tmp_path, corpus):
    """--merge in a folder with runs.csv but no runs/ (or a mistyped --out) used to print "0 rows"
    and overwrite the table with an empty one."""
    grid = write_grid(tmp_path)
    out = tmp_path / "out"
    subprocess.run(sweep_cmd(grid, out), check=True)
    table = (out / "runs.csv").read_bytes()
    shutil.move(out / "runs", tmp_path / "runs_elsewhere")
    proc = _merge(out)
    assert proc.returncode == 1 and "no runs/ folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    (out / "runs").mkdir()
    shutil.copy(next((tmp_path / "runs_elsewhere").glob("*.json")), out / "runs")
    proc = _merge(out)
    assert proc.returncode == 1 and "has 4 rows" in proc.stderr and "--allow-fewer-rows" in proc.stderr
    assert (out / "runs.csv").read_bytes() == table
    proc = _merge(tmp_path / "typo")
    assert proc.returncode == 1 and not (tmp_path / "typo").exists()
    assert _merge(out, "--allow-fewer-rows").returncode == 0
    assert len(read_table(out / "runs.csv")) == 1


def test_a_damaged_record_is_named_moved_aside_and_redone(tmp_path, corpus):
    from tinychinchilla import runs as runs_module
    from tinychinchilla.sweep import DamagedRecord

    grid = write_grid(tmp_path)
    out = tmp_path / "out"
    subprocess.run(sweep_cmd(grid, out), check=True)
    victim = sorted((out / "runs").glob("*.json"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(DamagedRecord, match=victim.name):
        runs_module.load_curves(directory=out)
    listing = subprocess.run(sweep_cmd(grid, out, "--list"), capture_output=True, text=True, check=True)
    line = next(x for x in listing.stdout.splitlines() if victim.stem in x)
    assert line.startswith(f"to do {victim.stem}") and victim.name in line and "will redo it" in line
    assert victim.exists()  # listing changes nothing
    proc = subprocess.run(sweep_cmd(grid, out), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert victim.name in proc.stderr and len(list((out / "runs" / "damaged").glob("*.json"))) == 1
    assert json.loads(victim.read_text())["row"]["run_id"] == victim.stem  # redone
    assert len(read_table(out / "runs.csv")) == 4
    victim.write_text("{}")  # valid JSON without a row
    proc = _merge(out)  # a row whose record was moved aside as damaged may go: it is named
    assert proc.returncode == 0 and victim.name in proc.stderr and "3 rows" in proc.stdout


def test_workers_die_with_the_sweep_and_the_table_is_rebuilt(tmp_path, corpus):
    """Killing only the main process used to leave its workers running every queued run."""
    grid = write_grid(tmp_path, small="2e9", large="4e9")
    out = tmp_path / "out"
    proc = subprocess.Popen(sweep_cmd(grid, out, "--jobs", "2"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    children = []
    while time.time() < deadline and len(children) < 2:
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()
        time.sleep(0.1)
    assert len(children) >= 2
    os.kill(proc.pid, signal.SIGKILL)  # the main process only
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.2)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]
    assert not alive, "workers outlived the sweep"
    records = len(list((out / "runs").glob("*.json")))
    assert records < 4
    subprocess.run(sweep_cmd(grid, out, "--list"), check=True, capture_output=True)
    subprocess.run(sweep_cmd(grid, out), check=True)
    assert len(read_table(out / "runs.csv")) == 4


@pytest.mark.parametrize("flags, message", [
    (["--threads", "0"], "error: --threads must be at least 1, got 0"),
    (["--device", "cuda:7"] if __import__("torch").cuda.is_available() is False else ["--device", "tpu"],
     "error: --device: "),
])
def test_bad_sweep_flags_are_one_line_before_any_run(tmp_path, flags, message):
    proc = subprocess.run(sweep_cmd(write_grid(tmp_path), tmp_path / "out", *flags),
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith(message)
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cleaning_temporaries_spares_a_live_writer(tmp_path):
    """Two sweeps sharing one --out: the one starting must not delete a record the other is still
    writing (the Slurm scripts give shards their own folders, but a person may not)."""
    from tinychinchilla.sweep import STALE_AFTER_SECONDS, _host, clean_stale_temporaries

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    files = {
        "live": runs_dir / f".a.json.{_host()}-{sleeper.pid}.x1.tmp",  # another sweep, writing now
        "dead": runs_dir / f".b.json.{_host()}-{dead}.x2.tmp",  # its sweep was killed mid-write
        "elsewhere": runs_dir / ".c.json.other_host-1.x3.tmp",  # another machine's, recent
        "elsewhere_old": runs_dir / ".d.json.other_host-1.x4.tmp",  # another machine's, a day old
        "unnamed": runs_dir / ".e.json.x5.tmp",  # written by an older kit
    }
    for path in files.values():
        path.write_text("{")
    old = time.time() - STALE_AFTER_SECONDS - 60
    os.utime(files["elsewhere_old"], (old, old))
    try:
        clean_stale_temporaries(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert {k for k, p in files.items() if p.exists()} == {"live", "elsewhere"}
