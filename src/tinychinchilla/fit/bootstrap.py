"""Bootstrap of each approach's exponents: Table 2's 10th-90th percentile intervals (lessons 03-05)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..paper import LossLaw
from .approach1 import Curve, _as_curve, fit_approach1
from .approach2 import fit_approach2
from .approach3 import fit_approach3
from .common import FitError, _positive_array, _same_length
from .lbfgs import lbfgs_batched
from .objective import PAPER_HUBER_DELTA, _approach3_inputs, _check_reduction, _HuberLse

@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap of one approach's exponents (Table 2; lessons 03-05).

    ``a`` and ``b`` are the full-data estimates; ``a_samples``/``b_samples`` the successful
    refits. ``n_failed`` resamples could not be fitted (``failures`` counts them by
    ``FitError.kind``, e.g. ``{"no interior minimum": 12}``).
    """

    approach: int
    a: float
    b: float
    a_samples: np.ndarray
    b_samples: np.ndarray
    n_boot: int
    n_failed: int
    failures: dict[str, int] = field(default_factory=dict)
    percentiles: tuple[float, float] = (10.0, 90.0)

    @property
    def a_interval(self) -> tuple[float, float]:
        lo, hi = np.percentile(self.a_samples, self.percentiles)
        return float(lo), float(hi)

    @property
    def b_interval(self) -> tuple[float, float]:
        lo, hi = np.percentile(self.b_samples, self.percentiles)
        return float(lo), float(hi)


def _check_boot(n_boot: int) -> None:
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")


def _summarise(approach, point, a_s, b_s, n_boot, failures, percentiles) -> BootstrapResult:
    n_failed = sum(failures.values())
    if n_failed == n_boot:
        raise FitError(
            f"all {n_boot} bootstrap resamples failed: {dict(failures)}", kind="all resamples failed"
        )
    return BootstrapResult(
        approach, point.a, point.b, np.array(a_s), np.array(b_s), n_boot, n_failed, dict(failures),
        tuple(float(p) for p in percentiles),
    )


def _refit_resamples(n_boot: int, refit: Callable[[], Any]) -> tuple[list, list, Counter]:
    """Call ``refit`` (one fit of a fresh resample) ``n_boot`` times; collect a, b and the
    failures by kind."""
    a_s, b_s, failures = [], [], Counter()
    for _ in range(n_boot):
        try:
            res = refit()
        except FitError as err:
            failures[err.kind] += 1
            continue
        a_s.append(res.a)
        b_s.append(res.b)
    return a_s, b_s, failures


def bootstrap_approach1(
    curves: Sequence[Curve | Mapping[str, Any]],
    *,
    n_boot: int = 100,
    seed: int = 0,
    percentiles: tuple[float, float] = (10.0, 90.0),
    **fit_kwargs: Any,
) -> BootstrapResult:
    """Bootstrap Approach 1 (lesson 03): resample whole training curves with replacement.

    A run drawn twice changes nothing in the envelope, so each resample effectively trains a
    random subset of the sizes. Resamples whose fit fails (e.g. one size wins everywhere) are
    counted in ``n_failed``.
    """
    _check_boot(n_boot)
    runs = [_as_curve(c, i) for i, c in enumerate(curves)]
    point = fit_approach1(runs, **fit_kwargs)
    rng = np.random.default_rng(seed)
    a_s, b_s, failures = _refit_resamples(
        n_boot, lambda: fit_approach1([runs[i] for i in rng.integers(0, len(runs), len(runs))], **fit_kwargs))
    return _summarise(1, point, a_s, b_s, n_boot, failures, percentiles)


def bootstrap_approach2(
    n_params: Any,
    flops_budget: Any,
    loss: Any,
    *,
    n_boot: int = 100,
    seed: int = 0,
    percentiles: tuple[float, float] = (10.0, 90.0),
    **fit_kwargs: Any,
) -> BootstrapResult:
    """Bootstrap Approach 2 (lesson 04): resample runs with replacement *within each budget*.

    Resampling inside each IsoFLOP profile keeps every budget present with its own number of runs
    (resampling across budgets would sometimes drop a whole budget, which is a change of design,
    not noise). A resample with fewer than 3 distinct sizes at some budget, or no interior
    minimum, fails unless ``drop_failed_budgets=True`` is passed; failures are counted.
    """
    _check_boot(n_boot)
    n = _positive_array("n_params", n_params)
    c = _positive_array("flops_budget", flops_budget)
    y = _positive_array("loss", loss)
    _same_length(n_params=n, flops_budget=c, loss=y)
    point = fit_approach2(n, c, y, **fit_kwargs)
    groups = [np.flatnonzero(c == budget) for budget in np.unique(c)]
    rng = np.random.default_rng(seed)

    def refit():
        pick = np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
        return fit_approach2(n[pick], c[pick], y[pick], **fit_kwargs)

    a_s, b_s, failures = _refit_resamples(n_boot, refit)
    return _summarise(2, point, a_s, b_s, n_boot, failures, percentiles)


def bootstrap_approach3(
    n_params: Any,
    tokens: Any,
    loss: Any,
    *,
    n_boot: int = 100,
    seed: int = 0,
    starts: str = "best",
    grid: Any = None,
    percentiles: tuple[float, float] = (10.0, 90.0),
    **fit_kwargs: Any,
) -> BootstrapResult:
    """Bootstrap Approach 3 (lesson 05): resample the (N, D, L) points with replacement.

    The full-data fit starts from ``grid`` (default: the paper's 4500 points). A resample is
    expressed as integer weights (how often each point was drawn), which gives the same objective
    as the resampled data. ``starts`` says where each resample's L-BFGS starts:

    * ``"best"`` (default): from the full-data optimum. All resamples then run together as rows
      of one batched L-BFGS, so 1000 resamples take seconds. With scipy's loose default ``ftol`` a
      start that is already near-optimal stops almost at once, which makes the interval far too
      narrow (on the Epoch points: a in (0.513, 0.514)); pass e.g. ``ftol=0, gtol=1e-9`` to follow
      each resample to its own optimum (a in (0.49, 0.54)).
    * ``"grid"``: from every point of ``grid`` for every resample (as slow as ``n_boot`` fits).

    ``fit_kwargs`` (delta, reduction, ftol, gtol, maxiter, memory, kernel) go to the optimiser. Resamples
    whose optimum is not finite are counted as failed.
    """
    _check_boot(n_boot)
    if starts not in ("best", "grid"):
        raise ValueError(f"starts must be 'best' or 'grid', got {starts!r}")
    n, d, y = _approach3_inputs(n_params, tokens, loss)
    grid_kwargs = {k: v for k, v in fit_kwargs.items() if k != "method"}
    point = fit_approach3(n, d, y, starts=grid, **grid_kwargs)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n.size, np.full(n.size, 1.0 / n.size), size=n_boot).astype(float)
    a_s, b_s, failures = [], [], Counter()
    if starts == "best":
        delta = grid_kwargs.pop("delta", PAPER_HUBER_DELTA)
        reduction = grid_kwargs.pop("reduction", "sum")
        _check_reduction(reduction)
        names = ("memory", "ftol", "gtol", "maxiter")
        lb_kwargs = {k: grid_kwargs[k] for k in names if k in grid_kwargs}
        objective = _HuberLse(np.log(n), np.log(d), np.log(y), delta, reduction, weights=counts,
                              kernel=grid_kwargs.get("kernel", "auto"))
        res = lbfgs_batched(objective, np.tile(point.x, (n_boot, 1)), **lb_kwargs)
        for x, fval in zip(res.x, res.fun):
            if not (np.isfinite(fval) and np.all(np.isfinite(x))):
                failures["non-finite optimum"] += 1
                continue
            law = LossLaw.from_log_params(x)
            a_s.append(law.a)
            b_s.append(law.b)
    else:
        for w in counts:
            try:
                res = fit_approach3(n, d, y, starts=grid, weights=w, **grid_kwargs)
            except FitError as err:
                failures[err.kind] += 1
                continue
            if not np.all(np.isfinite(res.x)):
                failures["non-finite optimum"] += 1
                continue
            a_s.append(res.a)
            b_s.append(res.b)
    return _summarise(3, point, a_s, b_s, n_boot, failures, percentiles)
