"""Load the shipped sweep in ``small_runs/`` for the lessons (02 onwards) and the answer spec.

``small_runs/`` is the kit's own tiny-scale Chinchilla sweep: seven IsoFLOP budgets over three
decades with seven or eight model sizes each, trained as warm-up-stable-decay cooldown branches
with ``python -m tinychinchilla.sweep --grid small_runs/grid.toml`` (see ``small_runs/README.md``;
the earlier cosine sweep is in ``small_runs/cosine/``, ``cosine_dir``). The folder at the top of
the repository is the source of truth; the package carries an identical copy
(``tinychinchilla/small_runs``, package data, about 1 MB),
so a plain ``pip install`` is enough for every lesson. This module is the one loader: it finds
the folder and hands it out in the shapes the fits want:

* ``load_runs``: the rows of ``runs.csv`` (lesson 02: what a budget buys, the optimum per budget);
* ``load_records``: the per-run JSON records, with loss curves and configs (lesson 02);
* ``load_curves``: training curves as ``fit.Curve`` objects for Approach 1 (lesson 03);
* ``isoflop_arrays``: (N, C, loss) arrays for Approach 2 (lesson 04), with N counted either way;
* ``best_run``: the run with the lowest final validation loss at one budget (lesson 02);
* ``cosine_dir`` and ``schedule_pairs``: the earlier cosine sweep, and its runs matched with the
  WSD runs of the same N and D (lesson 02).

Seeds: every budget has seed 0; its three best sizes also have seeds 1 and 2, whose spread sets
the tolerances of graded answers. ``seed=0`` (the default) gives one run per size and budget;
``seed=None`` gives every run.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
import numpy as np

from .fit import Curve
from .sweep import DamagedRecord, read_records, read_table

__all__ = [
    "ENV_VAR",
    "small_runs_dir",
    "load_runs",
    "load_records",
    "load_curves",
    "isoflop_arrays",
    "budgets",
    "best_run",
    "cosine_dir",
    "schedule_pairs",
]

#: Environment variable that points at a ``small_runs/`` folder (overrides the search).
ENV_VAR = "TINYCHINCHILLA_SMALL_RUNS"
TABLE = "runs.csv"
#: The copy that travels with the package (pyproject.toml maps small_runs/ to it).
PACKAGED = Path(__file__).resolve().parent / "small_runs"

_PARAMS = {"non_embedding": "params_non_embedding", "total": "params_total"}


def _is_small_runs(path: Path) -> bool:
    return (path / TABLE).is_file() and (path / "runs").is_dir()


def small_runs_dir() -> Path:
    """The ``small_runs/`` folder the lessons read (lessons 02-07).

    Looked for, in order: the folder named by ``$TINYCHINCHILLA_SMALL_RUNS``; ``small_runs/`` at
    the root of the checkout this package runs from (an editable install: ``src/tinychinchilla``
    sits two levels below it), so a regenerated sweep is read at once; the copy installed with
    the package (a wheel, ``pip install git+...``, Colab). A folder counts when it holds
    ``runs.csv`` and ``runs/``. Raises FileNotFoundError saying what to do otherwise.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if _is_small_runs(path):
            return path.resolve()
        raise FileNotFoundError(
            f"${ENV_VAR} is set to {env!r}, but that folder has no {TABLE} and runs/; point it at "
            "a small_runs/ folder (or a sweep's output folder), or unset it")
    candidates = [Path(__file__).resolve().parents[2] / "small_runs", PACKAGED]
    for path in candidates:
        if _is_small_runs(path):
            return path.resolve()
    looked = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        f"cannot find the shipped sweep small_runs/ (looked in {looked}); this installation of "
        f"tinychinchilla is incomplete: reinstall it (pip install --force-reinstall tinychinchilla, "
        f"or from its repository), or set ${ENV_VAR} to a small_runs/ folder")


def _directory(directory: str | os.PathLike | None) -> Path:
    if directory is None:
        return small_runs_dir()
    path = Path(directory)
    if not _is_small_runs(path):
        raise FileNotFoundError(f"{path} has no {TABLE} and runs/: not a sweep folder")
    return path


def _check_seed(seed: int | None) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"seed must be an int (e.g. 0) or None for every seed, got {seed!r}")


def load_runs(seed: int | None = 0, directory: str | os.PathLike | None = None) -> list[dict]:
    """Rows of ``small_runs/runs.csv`` (schema: ``sweep.RUN_COLUMNS``), sorted by budget, size and
    seed; only ``seed``'s runs unless ``seed`` is None (lessons 02-04)."""
    _check_seed(seed)
    rows = read_table(_directory(directory) / TABLE)
    rows = [r for r in rows if seed is None or r["seed"] == seed]
    rows.sort(key=lambda r: (r["budget_flops"], r["params_non_embedding"], r["seed"]))
    return rows


def load_records(seed: int | None = 0, directory: str | os.PathLike | None = None) -> list[dict]:
    """The per-run records of ``small_runs/runs/*.json`` (``row``, ``model_config``,
    ``train_config``, ``curve``), sorted by budget, size and seed (lessons 02-03)."""
    _check_seed(seed)
    try:
        records = read_records(_directory(directory))
    except DamagedRecord as exc:
        raise DamagedRecord(
            f"{exc}: restore it (git checkout -- <that file>) or rerun the sweep on that folder, "
            "which moves it aside and redoes the run") from None
    return [r for r in records if seed is None or r["row"]["seed"] == seed]


def load_curves(seed: int | None = 0, directory: str | os.PathLike | None = None,
                loss: str = "train_loss") -> list[Curve]:
    """Every run's training curve as a ``fit.Curve`` for Approach 1 (lesson 03).

    ``n_params`` is the non-embedding count (the N the budgets were set with), ``flops`` the
    curve's 6ND with that N, ``tokens`` the characters seen so far, and ``loss`` the recorded
    train loss (the mean since the previous logged point, a light smoother). ``loss="val_loss"``
    keeps only the points where the validation loss was measured. Curves come in the order of
    ``load_records``: by budget, then size, then seed.
    """
    if loss not in ("train_loss", "val_loss"):
        raise ValueError(f"loss must be 'train_loss' or 'val_loss', got {loss!r}")
    curves = []
    for record in load_records(seed, directory):
        curve = record["curve"]
        flops = np.asarray(curve["flops"], dtype=float)
        tokens = np.asarray(curve["tokens"], dtype=float)
        values = np.asarray(curve[loss], dtype=float)
        keep = np.isfinite(values)
        steps = np.asarray(curve["step"], dtype=float)[keep] if "step" in curve else None
        curves.append(Curve(float(record["row"]["params_non_embedding"]), flops[keep], tokens[keep],
                            values[keep], steps))
    return curves


def isoflop_arrays(seed: int | None = 0, params: str = "non_embedding",
                   directory: str | os.PathLike | None = None,
                   loss: str = "final_val_loss") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, C, loss)`` arrays, one entry per run, for Approach 2 (lesson 04):
    ``fit.fit_approach2(*runs.isoflop_arrays())``.

    ``C`` is the IsoFLOP budget each run was sized for (``budget_flops``, the label that groups
    runs into profiles) and ``loss`` the final validation loss. ``params`` picks N:
    ``"non_embedding"`` (the kit's convention, and Kaplan et al.'s; the budgets were set with it)
    or ``"total"`` (embeddings included, as Hoffmann et al. count). The runs, their tokens and
    their budget labels are the same either way; only the N axis changes, which is what lesson 04
    uses to see how much the counting convention moves the exponent (Pearce & Song 2024).
    """
    if params not in _PARAMS:
        raise ValueError(f"params must be 'non_embedding' or 'total', got {params!r}")
    if loss not in ("final_val_loss", "final_train_loss"):
        raise ValueError(f"loss must be 'final_val_loss' or 'final_train_loss', got {loss!r}")
    rows = load_runs(seed, directory)
    n = np.array([r[_PARAMS[params]] for r in rows], dtype=float)
    c = np.array([r["budget_flops"] for r in rows], dtype=float)
    y = np.array([r[loss] for r in rows], dtype=float)
    return n, c, y


def budgets(seed: int | None = 0, directory: str | os.PathLike | None = None) -> list[float]:
    """The IsoFLOP budgets of the sweep, ascending (lesson 02)."""
    return sorted({r["budget_flops"] for r in load_runs(seed, directory)})


def best_run(budget: float, seed: int | None = 0, directory: str | os.PathLike | None = None) -> dict:
    """The row with the lowest final validation loss at IsoFLOP budget ``budget`` (lesson 02).

    ``budget`` is matched to the sweep's budgets to 0.1%, so ``1e12`` and ``3.16e12`` work.
    """
    rows = load_runs(seed, directory)
    if not (isinstance(budget, (int, float, np.number)) and math.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a positive number of FLOPs, got {budget!r}")
    members = [r for r in rows if math.isclose(r["budget_flops"], float(budget), rel_tol=1e-3)]
    if not members:
        have = ", ".join(f"{c:.3g}" for c in sorted({r["budget_flops"] for r in rows}))
        raise ValueError(f"no runs at budget {budget:.3g} FLOPs; the sweep has {have}")
    return min(members, key=lambda r: r["final_val_loss"])



def cosine_dir() -> Path:
    """``small_runs/cosine/``: the sweep the kit shipped before the WSD one, every run with the
    paper's cosine schedule (lesson 02 compares the two; its checkpoints are lesson 07's pair)."""
    return small_runs_dir() / "cosine"


def schedule_pairs(seed: int = 0, wsd: str | os.PathLike | None = None,
                   cosine: str | os.PathLike | None = None) -> list[dict]:
    """The runs both sweeps made: the same shape, budget and seed (so the same N and D), once as a
    WSD cooldown branch and once as a cosine run (lesson 02; small_runs/README.md).

    Each item has ``budget_flops``, ``shape``, ``params_non_embedding``, ``tokens``, ``steps``,
    ``wsd_loss``, ``cosine_loss`` and ``difference`` (WSD minus cosine, nats per character;
    negative where the cooldown branch ended lower), sorted by budget and size.
    """
    cosine_rows = {(r["budget_flops"], r["shape"]): r
                   for r in load_runs(seed, cosine if cosine is not None else cosine_dir())}
    pairs = []
    for r in load_runs(seed, wsd):
        twin = cosine_rows.get((r["budget_flops"], r["shape"]))
        if twin is None or r["schedule"] != "wsd":
            continue
        assert twin["tokens"] == r["tokens"], (r["run_id"], twin["run_id"])
        pairs.append({"budget_flops": r["budget_flops"], "shape": r["shape"],
                      "params_non_embedding": r["params_non_embedding"], "tokens": r["tokens"],
                      "steps": r["steps"], "wsd_loss": r["final_val_loss"],
                      "cosine_loss": twin["final_val_loss"],
                      "difference": r["final_val_loss"] - twin["final_val_loss"]})
    return pairs
