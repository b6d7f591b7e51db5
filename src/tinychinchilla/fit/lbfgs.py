"""L-BFGS run from many starting points at once, each row on its own path (lesson 05).

``lbfgs_batched`` is what makes the paper's 4500-start grid (Appendix D.2) take seconds: every
row has its own memory, line search and stopping test, exactly as if it ran alone, but the rows
share each call of the objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .common import rowdot as _rowdot

# scipy's L-BFGS-B defaults; the batched optimiser uses the same stopping rules so that the
# vectorised fit and the per-start scipy loop are comparable (and so is their early stopping).
_SCIPY_FTOL = 2.220446049250313e-09
_SCIPY_GTOL = 1e-5
_SCIPY_MAXITER = 15000



#: Why each start stopped (``Approach3Result.status`` / ``LbfgsResult.status``).
STATUS_NAMES = (
    "converged: relative reduction of f <= ftol",
    "converged: max |gradient| <= gtol",
    "stopped: maxiter reached",
    "stopped: line search failed",
    "stopped: pruned (among the worst starts still running at a pruning round)",
)


@dataclass(frozen=True)
class LbfgsResult:
    """Per-row outcome of ``lbfgs_batched``: final x, f, gradient, iterations, evaluations, status."""

    x: np.ndarray
    fun: np.ndarray
    grad: np.ndarray
    nit: np.ndarray
    nfev: np.ndarray
    status: np.ndarray


def lbfgs_batched(
    fun: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    x0: Any,
    *,
    memory: int = 10,
    ftol: float = _SCIPY_FTOL,
    gtol: float = _SCIPY_GTOL,
    maxiter: int = _SCIPY_MAXITER,
    max_linesearch: int = 20,
    c1: float = 1e-4,
    c2: float = 0.9,
    prune: Sequence[tuple[int, float]] = (),
    prune_min_rows: int = 1,
) -> LbfgsResult:
    """Run an independent L-BFGS from every row of ``x0`` at once (lesson 05).

    ``fun(x, rows)`` returns ``(f, grad)`` for the parameter rows ``x`` whose indices in ``x0``
    are ``rows``; it must treat rows independently. Every row has its own L-BFGS memory (the
    last ``memory`` steps), its own weak-Wolfe line search (Armijo constant ``c1``, curvature
    constant ``c2``; backtracking by safeguarded quadratic interpolation, doubling while the slope
    is still steep) and its own stopping test, so each row follows exactly the path it would
    follow if it were optimised alone: the batch only shares the numpy calls. Rows that stop are
    removed from the working set.

    The stopping rules are scipy L-BFGS-B's (its defaults too): stop when
    (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= ftol, or max |grad| <= gtol, or after ``maxiter``
    iterations. A line search that fails with a non-empty memory clears the memory and retries
    from the same point with steepest descent; a failure from steepest descent ends that row.

    ``prune`` (successive halving, used by ``fit_approach3``) is a list of ``(round, keep)``:
    after that many rounds (L-BFGS iterations of the batch, so a row's ``nit`` is at most the
    round), only the fraction ``keep`` of the rows still running, and at least
    ``prune_min_rows`` of them, go on: those with the lowest objective at that moment (ties go to
    the lower row index). The others stop where they are with status 4. This is the one place
    where rows affect each other (through the ranking); a row that is kept follows exactly the
    path it follows without pruning, so the pruned run's best row is the unpruned run's best row
    whenever that row survives the rounds.
    """
    schedule = _prune_schedule(prune)
    if not (isinstance(prune_min_rows, (int, np.integer)) and prune_min_rows >= 1):
        raise ValueError(f"prune_min_rows must be a positive integer, got {prune_min_rows!r}")
    x_all = np.array(x0, dtype=float, ndmin=2)
    n_rows, dim = x_all.shape
    rows_all = np.arange(n_rows)
    f_all, g_all = fun(x_all, rows_all)
    f_all = np.array(f_all, dtype=float)
    g_all = np.array(g_all, dtype=float)
    nit_all = np.zeros(n_rows, dtype=int)
    nfev_all = np.ones(n_rows, dtype=int)
    status_all = np.full(n_rows, -1, dtype=int)

    start_ok = np.isfinite(f_all) & np.all(np.isfinite(g_all), axis=1)
    status_all[~start_ok] = 3
    status_all[start_ok & (np.abs(g_all).max(axis=1) <= gtol)] = 1

    # Working set: the rows still running, compacted as rows finish.
    rows = np.flatnonzero(status_all < 0)
    x, f, g = x_all[rows].copy(), f_all[rows].copy(), g_all[rows].copy()
    # Memory slot j of every row is s_hist[j] (contiguous); the newest pair is in the last slot
    # and unused slots are zero.
    s_hist = np.zeros((memory, rows.size, dim))
    y_hist = np.zeros((memory, rows.size, dim))
    rho = np.zeros((memory, rows.size))
    n_pairs = np.zeros(rows.size, dtype=int)
    nit = np.zeros(rows.size, dtype=int)
    nfev = np.ones(rows.size, dtype=int)
    n_rounds = 0

    while rows.size:
        n_rounds += 1
        k = rows.size
        # Two-loop recursion (Nocedal & Wright, Algorithm 7.4); empty slots are zero, so they
        # contribute nothing and rows with short histories need no special case.
        q = g.copy()
        alphas = np.empty((memory, k))
        for j in range(memory - 1, -1, -1):
            alphas[j] = rho[j] * _rowdot(s_hist[j], q)
            q -= alphas[j, :, None] * y_hist[j]
        yy = _rowdot(y_hist[-1], y_hist[-1])
        sy = _rowdot(s_hist[-1], y_hist[-1])
        gamma = np.where(n_pairs > 0, sy / np.where(yy > 0, yy, 1.0), 1.0)
        q *= gamma[:, None]
        for j in range(memory):
            beta_j = rho[j] * _rowdot(y_hist[j], q)
            q += s_hist[j] * (alphas[j] - beta_j)[:, None]
        d = -q
        slope = _rowdot(g, d)
        # Without memory, or if the memory gives no descent direction, use steepest descent with a
        # first step of length min(1, 1/||g||), as L-BFGS-B does.
        fresh = (n_pairs == 0) | ~(slope < 0)
        if fresh.any():
            d[fresh] = -g[fresh]
            slope[fresh] = -_rowdot(g[fresh], g[fresh])
            n_pairs[fresh] = 0
            s_hist[:, fresh] = 0.0
            y_hist[:, fresh] = 0.0
            rho[:, fresh] = 0.0
        t = np.where(fresh, np.minimum(1.0, 1.0 / np.sqrt(-slope)), 1.0)

        # -- per-row weak-Wolfe line search, evaluating only the rows still searching ----------
        lo = np.zeros(k)
        hi = np.full(k, np.inf)
        x_new, f_new, g_new = x.copy(), f.copy(), g.copy()
        lo_x, lo_f, lo_g = x.copy(), f.copy(), g.copy()  # best Armijo point so far
        done = np.zeros(k, dtype=bool)
        searching = np.arange(k)
        for _ in range(max_linesearch):
            # All rows try their first step; later trials only the rows still searching (a slice
            # instead of an index array avoids copies in the common first round).
            sel = slice(None) if searching.size == k else searching
            xt = x[sel] + t[sel, None] * d[sel]
            ft, gt = fun(xt, rows[sel])
            nfev[sel] += 1
            finite = np.isfinite(ft) & np.all(np.isfinite(gt), axis=1)
            armijo = finite & (ft <= f[sel] + c1 * t[sel] * slope[sel])
            steep = _rowdot(gt, d[sel]) < c2 * slope[sel]
            accept = armijo & ~steep
            grow = armijo & steep
            shrink = ~armijo
            acc = searching[accept]
            x_new[acc], f_new[acc], g_new[acc] = xt[accept], ft[accept], gt[accept]
            done[acc] = True
            gr = searching[grow]
            lo[gr] = t[gr]
            lo_x[gr], lo_f[gr], lo_g[gr] = xt[grow], ft[grow], gt[grow]
            sh = searching[shrink]
            hi[sh] = t[sh]
            # Next trial step: double while no upper bound is known, otherwise interpolate.
            t_next = t.copy()
            t_next[gr] = np.where(np.isfinite(hi[gr]), 0.5 * (lo[gr] + hi[gr]), 2.0 * t[gr])
            if sh.size:
                # Minimiser of the quadratic through f(0), f'(0) and f(t) (for lo == 0), kept in
                # the middle 80% of [lo, hi]; bisection if f(t) was not finite.
                f_t = ft[shrink]
                with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                    denom = 2.0 * (f_t - f[sh] - slope[sh] * t[sh])
                    quad = -slope[sh] * t[sh] ** 2 / denom
                width = hi[sh] - lo[sh]
                use_quad = (lo[sh] == 0) & np.isfinite(quad) & (denom > 0)
                guess = np.where(use_quad, quad, lo[sh] + 0.5 * width)
                t_next[sh] = np.clip(guess, lo[sh] + 0.1 * width, hi[sh] - 0.1 * width)
            t = t_next
            searching = searching[~accept]
            if not searching.size:
                break
        # Rows that ran out of trials: keep the best Armijo point if there is one.
        if searching.size:
            found = searching[lo[searching] > 0]
            x_new[found], f_new[found], g_new[found] = lo_x[found], lo_f[found], lo_g[found]
            done[found] = True

        failed = ~done
        retry = failed & (n_pairs > 0)  # clear the memory and try steepest descent next
        n_pairs[retry] = 0
        s_hist[:, retry] = 0.0
        y_hist[:, retry] = 0.0
        rho[:, retry] = 0.0
        status = np.full(k, -1, dtype=int)
        status[failed & ~retry] = 3

        # -- memory update and stopping tests for the rows that moved ---------------------------
        moved = np.flatnonzero(done)
        s = x_new[moved] - x[moved]
        yv = g_new[moved] - g[moved]
        sy = _rowdot(s, yv)
        keep = sy > np.finfo(float).eps * _rowdot(yv, yv)  # curvature pair usable
        upd = moved[keep]
        # Drop the oldest pair of the updated rows and append the new one.
        s_hist[:-1, upd] = s_hist[1:, upd]
        y_hist[:-1, upd] = y_hist[1:, upd]
        rho[:-1, upd] = rho[1:, upd]
        s_hist[-1, upd] = s[keep]
        y_hist[-1, upd] = yv[keep]
        rho[-1, upd] = 1.0 / sy[keep]
        n_pairs[upd] = np.minimum(n_pairs[upd] + 1, memory)

        f_old = f[moved]
        x[moved], f[moved], g[moved] = x_new[moved], f_new[moved], g_new[moved]
        nit[moved] += 1
        rel = (f_old - f[moved]) / np.maximum(np.maximum(np.abs(f_old), np.abs(f[moved])), 1.0)
        st = np.full(moved.size, -1)
        st[nit[moved] >= maxiter] = 2
        st[np.abs(g[moved]).max(axis=1) <= gtol] = 1
        st[rel <= ftol] = 0
        status[moved] = st

        keep_fraction = schedule.get(n_rounds)
        if keep_fraction is not None:
            running = np.flatnonzero(status < 0)
            n_keep = max(math.ceil(keep_fraction * running.size), int(prune_min_rows))
            if n_keep < running.size:
                ranked = running[np.argsort(f[running], kind="stable")]
                status[ranked[n_keep:]] = 4

        finished = status >= 0
        if finished.any():
            out = rows[finished]
            x_all[out], f_all[out], g_all[out] = x[finished], f[finished], g[finished]
            nit_all[out], nfev_all[out] = nit[finished], nfev[finished]
            status_all[out] = status[finished]
            keep_rows = ~finished
            rows = rows[keep_rows]
            x, f, g = x[keep_rows], f[keep_rows], g[keep_rows]
            s_hist, y_hist, rho = s_hist[:, keep_rows], y_hist[:, keep_rows], rho[:, keep_rows]
            n_pairs, nit, nfev = n_pairs[keep_rows], nit[keep_rows], nfev[keep_rows]

    return LbfgsResult(x_all, f_all, g_all, nit_all, nfev_all, status_all)


def _prune_schedule(prune: Any) -> dict[int, float]:
    """``prune`` as {round: keep fraction}, or a ValueError saying what is wrong with it."""
    try:
        pairs = [tuple(pair) for pair in prune]
    except TypeError:
        raise ValueError(
            f"prune must be a list of (round, keep fraction) pairs, got {prune!r}"
        ) from None
    schedule: dict[int, float] = {}
    for pair in pairs:
        ok = len(pair) == 2 and isinstance(pair[0], (int, np.integer)) and not isinstance(pair[0], bool)
        if ok:
            round_, keep = int(pair[0]), pair[1]
            ok = round_ >= 1 and isinstance(keep, (int, float, np.integer, np.floating)) and 0 < keep <= 1
        if not ok:
            raise ValueError(
                "each prune round must be (round, keep fraction) with an integer round >= 1 and "
                f"0 < keep <= 1, e.g. (10, 0.5); got {pair!r}"
            )
        if round_ in schedule:
            raise ValueError(f"prune round {round_} is listed twice")
        schedule[round_] = float(keep)
    return schedule
