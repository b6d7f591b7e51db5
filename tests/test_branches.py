"""Warm-up-stable-decay: the schedule, cooldown branches of one constant-rate run (bit for bit a
separate run of each length, also after a kill and resume), and WSD grids in the sweep."""

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tinychinchilla.branches import BranchError, train_branches, trunk_id
from tinychinchilla.grid import GridError, load_grid, select_shard
from tinychinchilla.model import GPTConfig
from tinychinchilla.sweep import read_records, read_table
from tinychinchilla.train import TrainConfig, cooldown_steps, lr_at, train
from test_sweep import TINY_GRID, sweep_cmd

SMALL_RUNS = Path(__file__).resolve().parents[1] / "small_runs"


def test_wsd_rate_is_constant_until_the_cooldown_then_decays_to_zero():
    cfg = TrainConfig(tokens=1, schedule="wsd", warmup_steps=10, lr=1.0)
    assert [lr_at(s, 100, cfg) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert cooldown_steps(100, cfg) == 20
    assert all(lr_at(s, 100, cfg) == 1.0 for s in range(10, 80))
    assert lr_at(80, 100, cfg) == 1.0  # the cooldown's first step: p = 0
    assert lr_at(84, 100, cfg) == pytest.approx(1 - math.sqrt(4 / 20))  # 1 - sqrt(p)
    assert 0 < lr_at(99, 100, cfg) < 0.03
    linear = TrainConfig(tokens=1, schedule="wsd", warmup_steps=10, lr=1.0, cooldown_shape="linear")
    assert lr_at(90, 100, linear) == pytest.approx(0.5)
    # Before its cooldown a WSD run does not know its length: that is what lets runs share a trunk.
    assert [lr_at(s, 100, cfg) for s in range(80)] == [lr_at(s, 10_000, cfg) for s in range(80)]


@pytest.mark.parametrize("kwargs, message", [
    ({"schedule": "linear"}, "schedule must be"),
    ({"cooldown_fraction": 0.0}, "cooldown_fraction"),
    ({"cooldown_shape": "cosine"}, "cooldown_shape"),
    ({"warmup_steps": 0}, "warmup_steps"),
])
def test_bad_schedule_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(tokens=1, **kwargs)


def _tiny(corpus):
    return GPTConfig(vocab_size=corpus.vocab_size, context_length=32, n_layer=1, n_head=1, d_model=8)


def _cfgs(*steps):
    return [TrainConfig(tokens=128 * s, batch_size=4, schedule="wsd", warmup_steps=3, device="cpu")
            for s in steps]


def _same_curve(a: dict, b: dict) -> bool:
    return all(len(a[k]) == len(b[k]) and all(x == y or (math.isnan(x) and math.isnan(y))
                                              for x, y in zip(a[k], b[k])) for k in a)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_each_branch_is_bit_for_bit_a_separate_wsd_run(corpus, one_thread):
    model_cfg, cfgs = _tiny(corpus), _cfgs(40, 100, 77)
    got = {}
    stats = train_branches(model_cfg, cfgs, corpus, lambda i, r: got.__setitem__(i, r), keep_model=False)
    # one trunk to the last cooldown start (80 of 100 steps) plus three cooldowns (8 + 15 + 20)
    assert stats["trunk_steps"] == 80 and stats["cooldown_steps"] == 8 + 15 + 20
    for i, cfg in enumerate(cfgs):
        alone = train(model_cfg, cfg, corpus, progress=False)
        assert got[i].steps == alone.steps
        assert got[i].final_val_loss == alone.final_val_loss
        assert _same_curve(got[i].curve, alone.curve)
        assert got[i].train_config == alone.train_config


def test_a_killed_trunk_resumes_from_its_saved_state(corpus, one_thread, tmp_path):
    model_cfg, cfgs = _tiny(corpus), _cfgs(40, 100, 77)
    whole = {}
    train_branches(model_cfg, cfgs, corpus, lambda i, r: whole.__setitem__(i, r), keep_model=False)

    class Killed(Exception):
        pass

    done = {}

    def die_after_first(i, result):
        done[i] = result
        raise Killed  # as if the process died right after the first branch's record

    with pytest.raises(Killed):
        train_branches(model_cfg, cfgs, corpus, die_after_first, state_dir=tmp_path, keep_model=False)
    folder = tmp_path / trunk_id(model_cfg, cfgs[0])
    assert [p.name for p in folder.glob("*.pt")] == ["step000000032.pt"]  # 40 - 8
    stats = train_branches(model_cfg, cfgs, corpus, lambda i, r: done.__setitem__(i, r),
                           skip=lambda i: i in done, state_dir=tmp_path, keep_model=False)
    assert stats["resumed_from_step"] == 32 and stats["branches_trained"] == 2
    assert sorted(done) == [0, 1, 2]
    for i in range(3):
        assert done[i].final_val_loss == whole[i].final_val_loss
        assert _same_curve(done[i].curve, whole[i].curve)
    assert not folder.exists()  # the saved states go once every branch is recorded


def test_branches_must_share_everything_but_the_budget(corpus):
    cfgs = _cfgs(40, 100)
    cfgs[1].lr = 3e-3
    with pytest.raises(BranchError, match="differ in \\['lr'\\]"):
        train_branches(_tiny(corpus), cfgs, corpus, lambda i, r: None)
    with pytest.raises(BranchError, match="fixed warmup_steps"):
        train_branches(_tiny(corpus), [TrainConfig(tokens=128 * 40, batch_size=4, schedule="wsd")],
                       corpus, lambda i, r: None)
    with pytest.raises(BranchError, match="inside the 30-step warm-up"):
        train_branches(_tiny(corpus), [TrainConfig(tokens=128 * 30, batch_size=4, schedule="wsd",
                                                   warmup_steps=30)], corpus, lambda i, r: None)


# test_sweep's tiny grid, trained warm-up-stable-decay (its kept checkpoint dropped)
WSD_GRID = TINY_GRID.replace("seeds = [0]\n", 'seeds = [0]\nschedule = "wsd"\ncooldown_fraction = 0.2\nwarmup_steps = 5\n') \
    .replace('keep_checkpoints = ["d16"]\n', "")


def write_wsd_grid(tmp_path: Path, small="2e8", large="6e8") -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(WSD_GRID.format(small=small, large=large))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda g: g.replace("warmup_steps = 5\n", ""), "needs \\[defaults\\].warmup_steps"),
    (lambda g: g.replace('schedule = "wsd"', 'schedule = "step"'), "schedule must be"),
    (lambda g: g.replace("cooldown_fraction = 0.2", "cooldown_fraction = 1.5"), "cooldown_fraction must be"),
    (lambda g: g.replace("warmup_steps = 5", "warmup_steps = 500"), "inside the 500-step warm-up"),
    (lambda g: g.replace('schedule = "wsd"\n', ""), "only schedule = \"wsd\" uses"),
])
def test_bad_wsd_grid_is_one_clear_error(tmp_path, edit, message):
    path = tmp_path / "grid.toml"
    path.write_text(edit(WSD_GRID.format(small="2e8", large="6e8")))
    with pytest.raises(GridError, match=message):
        load_grid(path)


def test_shards_keep_each_constant_rate_run_whole(tmp_path):
    specs = load_grid(write_wsd_grid(tmp_path))
    assert {s.schedule for s in specs} == {"wsd"} and len({s.trunk_key for s in specs}) == 2
    shards = [select_shard(specs, (i, 2)) for i in (1, 2)]
    assert sorted(s.run_id for shard in shards for s in shard) == sorted(s.run_id for s in specs)
    for shard in shards:
        assert len(shard) == 2 and len({s.trunk_key for s in shard}) == 1


def test_the_cosine_sweep_is_still_its_grid_file():
    """The cosine sweep that small_runs/ shipped before WSD keeps its run ids: the grid file in
    small_runs/cosine/ names exactly its records, so rerunning it redoes the same runs."""
    folder = SMALL_RUNS / "cosine"
    specs = load_grid(folder / "grid.toml")
    assert {s.schedule for s in specs} == {"cosine"}
    assert {s.run_id for s in specs} == {p.stem for p in (folder / "runs").glob("*.json")}
    assert {r["run_id"] for r in read_table(folder / "runs.csv")} == {s.run_id for s in specs}


def test_wsd_sweep_killed_mid_trunk_then_rerun_equals_an_uninterrupted_one(tmp_path, corpus):
    grid = write_wsd_grid(tmp_path, small="1e9", large="4e9")
    subprocess.run(sweep_cmd(grid, tmp_path / "whole"), check=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(sweep_cmd(grid, out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("*.json"))) < 1:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
    assert 1 <= len(before) < 4, "the kill should land mid-sweep"
    subprocess.run(sweep_cmd(grid, out), check=True)
    after = {p.name: p.read_bytes() for p in (out / "runs").glob("*.json")}
    assert len(after) == 4 and all(after[n] == b for n, b in before.items())  # nothing redone
    whole = {r["row"]["run_id"]: r for r in read_records(tmp_path / "whole")}
    for record in read_records(out):
        twin = whole[record["row"]["run_id"]]
        assert record["row"]["final_val_loss"] == twin["row"]["final_val_loss"]
        assert record["curve"] == json.loads(json.dumps(twin["curve"]))
    rows = read_table(out / "runs.csv")
    assert {r["schedule"] for r in rows} == {"wsd"} and all(r["warmup_steps"] == 5 for r in rows)
    assert all(r["cooldown_steps"] == round(0.2 * r["steps"]) for r in rows)
    assert not (out / "states").exists() or not any((out / "states").iterdir())
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["hosts"][-1]["cpu_seconds_this_session"] > 0
