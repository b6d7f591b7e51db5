"""runs.py: finding small_runs/ and handing it to the fits (lessons 02-04).

Most tests build a small synthetic sweep folder with the sweep's own writer, so they do not depend
on the shipped numbers; the last ones check the shipped folder loads and fits.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tinychinchilla import check, fit, runs, sweep
from tinychinchilla.sweep import RUN_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def _record(budget, n_ne, n_tot, seed, loss, shape):
    tokens = int(budget / (6 * n_ne)) // 1024 * 1024
    steps = np.unique(np.geomspace(1, tokens // 1024, 12).round().astype(int))
    tok = [int(s) * 1024 for s in steps]
    train_loss = [float(loss + 2.0 / math.sqrt(s)) for s in steps]
    val = [float("nan")] * len(steps)
    val[0], val[-1] = train_loss[0], loss
    row = {k: (0 if t is int else 0.0 if t is float else "") for k, (t, _) in RUN_COLUMNS.items()}
    row.update(run_id=f"C{budget:.2e}_{shape}_s{seed}_test".replace("+", ""), budget_flops=float(budget),
               shape=shape, params_total=n_tot, params_non_embedding=n_ne, tokens=tok[-1],
               steps=int(steps[-1]), flops_6nd=6.0 * n_ne * tok[-1], seed=seed, final_val_loss=loss,
               final_train_loss=train_loss[-1], lr=0.01, batch_size=8, context_length=128)
    curve = {"step": [int(s) for s in steps], "tokens": tok, "flops": [6.0 * n_ne * t for t in tok],
             "train_loss": train_loss, "val_loss": val}
    return {"row": row, "spec": {}, "model_config": {}, "train_config": {}, "curve": curve}


SIZES = {"s": (1_000, 3_000), "m": (2_000, 5_000), "l": (4_000, 8_000)}
# (budget, shape, seed, final loss): two budgets, three sizes each, an extra seed at 1e10
TOY = [(1e9, "s", 0, 2.30), (1e9, "m", 0, 2.25), (1e9, "l", 0, 2.29),
       (1e10, "s", 0, 2.10), (1e10, "m", 0, 2.00), (1e10, "l", 0, 1.98),
       (1e10, "m", 1, 2.02), (1e10, "l", 1, 1.95)]


@pytest.fixture
def toy(tmp_path):
    out = tmp_path / "small_runs"
    (out / "runs").mkdir(parents=True)
    for budget, shape, seed, loss in TOY:
        rec = _record(budget, *SIZES[shape], seed, loss, shape)
        (out / "runs" / f"{rec['row']['run_id']}.json").write_text(json.dumps(rec))
    assert sweep.write_table(out) == len(TOY)
    return out


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(runs.ENV_VAR, raising=False)


def test_finds_the_repository_folder_by_default(no_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not via the working directory
    assert runs.small_runs_dir() == (ROOT / "small_runs").resolve()


def test_environment_variable_wins(toy, monkeypatch):
    monkeypatch.setenv(runs.ENV_VAR, str(toy))
    assert runs.small_runs_dir() == toy.resolve()
    assert len(runs.load_runs(seed=None)) == len(TOY)


def test_environment_variable_pointing_nowhere_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(runs.ENV_VAR, str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match=runs.ENV_VAR):
        runs.small_runs_dir()


def test_packaged_copy_then_a_clear_error(no_env, toy, tmp_path, monkeypatch):
    # a plain (non-editable) install: the package is not inside a checkout, and reads its own copy
    site = tmp_path / "site" / "lib" / "tinychinchilla"
    monkeypatch.setattr(runs, "__file__", str(site / "runs.py"))
    monkeypatch.setattr(runs, "PACKAGED", toy)
    monkeypatch.chdir(tmp_path)
    assert runs.small_runs_dir() == toy.resolve()
    monkeypatch.setattr(runs, "PACKAGED", site / "small_runs")
    with pytest.raises(FileNotFoundError, match="reinstall"):
        runs.small_runs_dir()


def test_load_runs_filters_seeds_and_sorts(toy):
    all_rows = runs.load_runs(seed=None, directory=toy)
    assert len(all_rows) == len(TOY)
    seed0 = runs.load_runs(directory=toy)
    assert len(seed0) == 6 and all(r["seed"] == 0 for r in seed0)
    keys = [(r["budget_flops"], r["params_non_embedding"], r["seed"]) for r in all_rows]
    assert keys == sorted(keys)
    assert [r["seed"] for r in runs.load_runs(seed=1, directory=toy)] == [1, 1]
    with pytest.raises(TypeError):
        runs.load_runs(seed="0", directory=toy)
    with pytest.raises(FileNotFoundError):
        runs.load_runs(directory=toy / "runs")


def test_load_curves_are_approach1_curves(toy):
    curves = runs.load_curves(directory=toy)
    records = runs.load_records(directory=toy)
    assert len(curves) == len(records) == 6
    for c, rec in zip(curves, records):
        assert isinstance(c, fit.Curve)
        assert c.n_params == rec["row"]["params_non_embedding"]
        np.testing.assert_allclose(c.flops, 6 * c.n_params * c.tokens, rtol=1e-12)
        np.testing.assert_array_equal(c.loss, rec["curve"]["train_loss"])
    val = runs.load_curves(directory=toy, loss="val_loss")
    assert all(len(c.loss) == 2 and np.isfinite(c.loss).all() for c in val)
    assert len(runs.load_curves(seed=None, directory=toy)) == len(TOY)
    with pytest.raises(ValueError, match="loss"):
        runs.load_curves(directory=toy, loss="final_val_loss")


def test_isoflop_arrays_count_n_either_way(toy):
    n, c, y = runs.isoflop_arrays(directory=toy)
    n_tot, c_tot, y_tot = runs.isoflop_arrays(directory=toy, params="total")
    assert n.shape == c.shape == y.shape == (6,)
    np.testing.assert_array_equal(c, c_tot)
    np.testing.assert_array_equal(y, y_tot)
    assert (n_tot > n).all()
    assert sorted(set(c)) == runs.budgets(directory=toy) == [1e9, 1e10]
    assert runs.isoflop_arrays(seed=None, directory=toy)[0].size == len(TOY)
    with pytest.raises(ValueError, match="non_embedding"):
        runs.isoflop_arrays(directory=toy, params="embedding")
    result = fit.fit_approach2(n, c, y)
    assert result.budgets.tolist() == [1e9, 1e10]


def test_best_run(toy):
    assert runs.best_run(1e10, directory=toy)["shape"] == "l"
    assert runs.best_run(1.0001e9, directory=toy)["shape"] == "m"  # budgets match to 0.1%
    assert runs.best_run(1e10, seed=1, directory=toy)["final_val_loss"] == 1.95
    with pytest.raises(ValueError, match="1e\\+09"):
        runs.best_run(3e9, directory=toy)
    with pytest.raises(ValueError):
        runs.best_run(-1, directory=toy)


# ---------------------------------------------------------------------------------------------
# The shipped sweep
# ---------------------------------------------------------------------------------------------


def test_shipped_sweep_loads_consistently(no_env):
    rows = runs.load_runs(seed=None)
    assert rows, "small_runs/runs.csv is empty"
    curves = runs.load_curves(seed=None)
    assert len(curves) == len(rows)
    for row, curve in zip(rows, curves):
        assert curve.n_params == row["params_non_embedding"]
        assert curve.tokens[-1] == row["tokens"]
        np.testing.assert_allclose(curve.flops, 6 * curve.n_params * curve.tokens, rtol=1e-9)
    n, c, y = runs.isoflop_arrays()
    assert len(n) == len(runs.load_runs())
    assert set(c) <= {r["budget_flops"] for r in rows}


def test_shipped_sweep_fits(no_env):
    if len(runs.budgets()) < 2:
        pytest.skip("the shipped sweep has fewer than two budgets so far")
    a1 = fit.fit_approach1(runs.load_curves())
    a2 = fit.fit_approach2(*runs.isoflop_arrays(), drop_failed_budgets=True)
    for result in (a1, a2):
        assert 0.0 < result.a < 1.0 and 0.0 < result.b < 1.0


def _seed_swaps():
    """For each extra seed: the seed-0 runs, with the runs that also have that seed swapped in."""
    rows = [record["row"] for record in runs.load_records(seed=None)]
    curves = runs.load_curves(seed=None)  # in the order of load_records
    reseeded = {(r["budget_flops"], r["shape"]) for r in rows if r["seed"] > 0}
    for seed in sorted({r["seed"] for r in rows} - {0}):
        keep = [i for i, r in enumerate(rows)
                if r["seed"] == (seed if (r["budget_flops"], r["shape"]) in reseeded else 0)]
        yield [rows[i] for i in keep], [curves[i] for i in keep]


def test_spec_tolerances_cover_the_seed_spread(no_env):
    """The answer spec grades the exponents of lessons 03-04 within the spread that another seed
    of the re-seeded runs causes: each seed swap must itself pass (answers.toml explains)."""
    swaps = list(_seed_swaps())
    if not swaps or len(runs.budgets()) < 5:
        pytest.skip("the shipped sweep is not complete yet")
    for rows, curves in swaps:
        assert len(rows) == len(runs.load_runs())
        # the swapped runs reach every budget (each budget's three best sizes), so the spread
        # the tolerances are set from is the noise of the whole fit, not of one budget
        assert {r["budget_flops"] for r in rows if r["seed"] > 0} == set(runs.budgets())
        r1 = fit.fit_approach1(curves)
        check.assert_answer("03.a", r1.a)
        check.assert_answer("03.b", r1.b)
        budgets = [r["budget_flops"] for r in rows]
        losses = [r["final_val_loss"] for r in rows]
        r2 = fit.fit_approach2([r["params_non_embedding"] for r in rows], budgets, losses)
        check.assert_answer("04.a", r2.a)
        check.assert_answer("04.b", r2.b)
        check.assert_answer("04.n_opt_1e12", r2.n_opt[r2.budgets.tolist().index(1e12)])
        check.assert_answer("04.a_total", fit.fit_approach2([r["params_total"] for r in rows], budgets, losses).a)


def test_spec_tolerances_cover_the_seed_spread_of_approach3_and_lesson_09(no_env):
    """Lessons 05 and 09 grade Approach 3's parameters and the fits of lesson 09 within the spread
    that another seed of the re-seeded runs causes: each seed swap must itself pass."""
    swaps = list(_seed_swaps())
    if not swaps or len(runs.budgets()) < 5:
        pytest.skip("the shipped sweep is not complete yet")
    for rows, curves in swaps:
        n = np.array([r["params_non_embedding"] for r in rows], dtype=float)
        n_total = np.array([r["params_total"] for r in rows], dtype=float)
        c = np.array([r["budget_flops"] for r in rows])
        loss = np.array([r["final_val_loss"] for r in rows])
        d = c / (6 * n)
        r3 = fit.fit_approach3(n, d, loss)
        check.assert_answer("05.e_irreducible", r3.law.E)
        check.assert_answer("05.alpha", r3.law.alpha)
        check.assert_answer("05.beta", r3.law.beta)
        check.assert_answer("05.a", r3.a)
        exponents = [fit.fit_approach1(curves).a, fit.fit_approach2(n, c, loss).a, r3.a]
        check.assert_answer("09.spread_a", max(exponents) - min(exponents))
        check.assert_answer("09.a3_total", fit.fit_approach3(n_total, d, loss).a)
        keep = c > c.min()
        check.assert_answer("09.a2_without_smallest", fit.fit_approach2(n[keep], c[keep], loss[keep]).a)
        check.assert_answer("09.parabola_bias", fit.fit_approach2(n, c, r3.law.loss(n, d)).a - r3.law.a)
