"""The shipped sweep in small_runs/: schema, coverage, IsoFLOP valleys, the kept pair, size."""

import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from tinychinchilla import data
from tinychinchilla.fit import fit_approach2
from tinychinchilla.sweep import RUN_COLUMNS, load_grid, read_records, read_table

SMALL_RUNS = Path(__file__).resolve().parents[1] / "small_runs"
TABLE = SMALL_RUNS / "runs.csv"


@pytest.fixture(scope="module")
def rows():
    return read_table(TABLE)


def seed0_by_budget(rows):
    budgets = defaultdict(list)
    for r in rows:
        if r["seed"] == 0:
            budgets[r["budget_flops"]].append(r)
    return {c: sorted(rs, key=lambda r: r["params_non_embedding"]) for c, rs in sorted(budgets.items())}


def test_table_matches_schema_and_records(rows):
    assert rows, "small_runs/runs.csv is empty"
    records = {r["row"]["run_id"]: r for r in read_records(SMALL_RUNS)}
    assert set(records) == {r["run_id"] for r in rows}
    for r in rows:
        assert set(r) == set(RUN_COLUMNS)
        for key in ("params_total", "params_non_embedding", "tokens", "steps", "flops_6nd",
                    "final_val_loss", "final_train_loss", "wall_seconds"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["run_id"], key)
        assert 0.0 <= r["mc_accuracy"] <= 1.0 and 0.0 <= r["mc_accuracy_pmi"] <= 1.0
        assert 0.0 < r["mc_stderr"] < 0.02  # enough items for a standard error under 2 points
        # each run spent its budget: 6ND within one batch of the nominal C
        one_batch = 6 * r["params_non_embedding"] * r["batch_size"] * r["context_length"]
        assert r["budget_flops"] - one_batch <= r["flops_6nd"] <= r["budget_flops"]
        curve = records[r["run_id"]]["curve"]
        assert curve["step"] == sorted(set(curve["step"])) and curve["step"][-1] == r["steps"]
        assert curve["val_loss"][-1] == pytest.approx(r["final_val_loss"], rel=1e-5)


def test_table_is_the_shipped_grid(rows):
    expected = {s.run_id for s in load_grid(SMALL_RUNS / "grid.toml")}
    assert {r["run_id"] for r in rows} == expected


def test_coverage_at_least_four_budgets_by_six_shapes_over_one_and_a_half_decades(rows):
    budgets = seed0_by_budget(rows)
    assert len(budgets) >= 4
    assert all(len(rs) >= 6 for rs in budgets.values())
    assert math.log10(max(budgets) / min(budgets)) >= 1.5 - 1e-9


def test_every_budget_has_an_interior_minimum(rows):
    for budget, rs in seed0_by_budget(rows).items():
        losses = [r["final_val_loss"] for r in rs]
        best = losses.index(min(losses))
        assert 0 < best < len(rs) - 1, f"C={budget:.3g}: the minimum is at the edge of the sizes"
    flat = [r for rs in seed0_by_budget(rows).values() for r in rs]
    result = fit_approach2([r["params_non_embedding"] for r in flat], [r["budget_flops"] for r in flat],
                           [r["final_val_loss"] for r in flat])
    assert 0.2 < result.a < 0.8 and result.a + result.b == pytest.approx(1.0, abs=1e-6)


def test_gopher_and_chinchilla_shaped_pair(rows):
    kept = sorted((SMALL_RUNS / "checkpoints").glob("*.pt"))
    assert len(kept) == 2
    by_id = {r["run_id"]: r for r in rows}
    pair = [by_id[p.stem] for p in kept]
    assert pair[0]["budget_flops"] == pair[1]["budget_flops"]
    small, big = sorted(pair, key=lambda r: r["params_non_embedding"])
    assert big["params_non_embedding"] / small["params_non_embedding"] == pytest.approx(4, rel=0.1)
    assert small["final_val_loss"] < big["final_val_loss"]  # the compute-optimal one wins on loss
    state = torch.load(kept[0], map_location="cpu", weights_only=True)
    assert set(state) == {"model_config", "state_dict", "corpus", "weights_sha256"}
    from tinychinchilla.checkpoint import load_checkpoint
    from tinychinchilla.data import load_corpus

    for path in kept:  # each verifies against its hash and the Shakespeare corpus
        load_checkpoint(path, load_corpus())


def test_size_and_manifest():
    total = sum(p.stat().st_size for p in SMALL_RUNS.rglob("*") if p.is_file())
    assert total < 10 * 2**20, f"small_runs/ is {total / 2**20:.1f} MB"
    manifest = json.loads((SMALL_RUNS / "MANIFEST.json").read_text())
    assert manifest["corpus_text_sha256"] == data.TEXT_SHA256
    assert manifest["grid_sha256"] == hashlib.sha256((SMALL_RUNS / "grid.toml").read_bytes()).hexdigest()
    assert manifest["hosts"] and all("torch" in h for h in manifest["hosts"])


def test_one_run_regenerates_from_its_recorded_config(rows, corpus):
    from tinychinchilla.model import GPTConfig
    from tinychinchilla.train import TrainConfig, train

    row = min(rows, key=lambda r: r["wall_seconds"])
    record = next(r for r in read_records(SMALL_RUNS) if r["row"]["run_id"] == row["run_id"])
    threads = torch.get_num_threads()
    torch.set_num_threads(int(row["device"].split(" x")[1].split()[0]) if " x" in row["device"] else threads)
    try:
        result = train(GPTConfig(**record["model_config"]),
                       TrainConfig(**{**record["train_config"], "device": "cpu"}), corpus, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert result.tokens == row["tokens"]
    # the seed spread at C = 1e12 is a few hundredths of a nat (small_runs/README.md); one run
    # redone on CPU lands far inside it
    assert result.final_val_loss == pytest.approx(row["final_val_loss"], abs=0.01)
