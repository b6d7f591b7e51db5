"""Approach 3 (Section 3.3, Appendix D.2; lesson 05): fit the parametric loss eq. 2.

L(N, D) = E + A/N^alpha + B/D^beta, fitted by minimising the Huber loss of log-space residuals
(``objective.py``) with L-BFGS (``lbfgs.py``) from the paper's grid of starting points, and
``efficient_frontier`` turns the fit into N_opt, D_opt (eq. 4).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from ..paper import LossLaw
from .common import FitError, UnidentifiableFit, _positive_array
from .lbfgs import STATUS_NAMES, _SCIPY_FTOL, _SCIPY_GTOL, _SCIPY_MAXITER, _prune_schedule, lbfgs_batched
from .objective import KERNELS, PAPER_HUBER_DELTA, _approach3_inputs, _check_reduction, _HuberLse
from .objective_numpy import _approach3_single

def paper_start_grid() -> np.ndarray:
    """The paper's 4500 L-BFGS starting points (Appendix D.2), as rows (e, a, b, alpha, beta).

    alpha, beta ∈ {0, 0.5, ..., 2}; e ∈ {-1, -0.5, ..., 1}; a, b ∈ {0, 5, ..., 25}:
    5 * 5 * 5 * 6 * 6 = 4500 points.
    """
    e = np.linspace(-1.0, 1.0, 5)
    ab = np.linspace(0.0, 25.0, 6)
    exps = np.linspace(0.0, 2.0, 5)
    return np.array(list(itertools.product(e, ab, ab, exps, exps)), dtype=float)



#: The schedule of ``fit_approach3(prune=True)``: successive halving. After 4, 8, 16, 32, 64 and
#: 128 rounds of L-BFGS, the half of the starts still running with the higher objective stop
#: (round: keep fraction).
PRUNE_HALVING = ((4, 0.5), (8, 0.5), (16, 0.5), (32, 0.5), (64, 0.5), (128, 0.5))

# Pruning never cuts the starts still running below this many.
_PRUNE_MIN_ROWS = 20


@dataclass(frozen=True)
class Approach3Result:
    """Approach 3's output (lesson 05).

    ``law`` is the best fit (lowest final objective over all starts); ``a`` and ``b`` are its
    frontier exponents (eq. 4). Per start: ``starts``, ``final_params``, ``final_objectives``,
    ``n_iterations`` and ``status`` (index into ``STATUS_NAMES``), so a lesson can look at how
    many starts reach the best basin. ``prune`` is the pruning schedule the fit ran with (empty:
    every start ran to its stopping rule); starts stopped by it have status 4 and their
    ``final_params``/``final_objectives`` are where they were stopped. ``kernel`` is the objective
    that ran: "native" (compiled) or "numpy".
    """

    law: LossLaw
    a: float
    b: float
    objective: float
    x: np.ndarray
    best_start: int
    starts: np.ndarray
    final_params: np.ndarray
    final_objectives: np.ndarray
    n_iterations: np.ndarray
    status: np.ndarray
    method: str
    reduction: str
    delta: float
    seconds: float
    prune: tuple[tuple[int, float], ...] = ()
    kernel: str = "numpy"

    @property
    def status_counts(self) -> dict[str, int]:
        """How many starts stopped for each reason."""
        counts = Counter(int(s) for s in self.status)
        return {STATUS_NAMES[s]: counts[s] for s in sorted(counts)}


@contextlib.contextmanager
def _one_blas_thread():
    """Limit OpenBLAS to one thread inside the block (what threadpoolctl does, in a few lines).

    scipy's L-BFGS-B calls BLAS on 5-vectors at every iteration. A threaded OpenBLAS wakes its
    threads for each call, and on a busy 2-core machine that makes the per-start loop about 10x
    slower, which would make lesson 05's timing comparison unfair. Looks for the OpenBLAS
    libraries loaded in this process (Linux: /proc/self/maps) and does nothing where there are
    none (another BLAS, another OS).
    """
    restore = []
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        # numpy and scipy wheels ship OpenBLAS with prefixed (and, for 64-bit ints, suffixed) names.
        for get_name, set_name in (
            ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
            ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("openblas_get_num_threads", "openblas_set_num_threads"),
        ):
            get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if get is not None and set_ is not None:
                restore.append((set_, int(get())))
                set_(1)
                break
    try:
        yield
    finally:
        for set_, n_threads in restore:
            set_(n_threads)


def _loop_fit(
    x0, log_n, log_d, log_loss, delta, scale, *, analytic_gradient, memory, ftol, gtol, maxiter
):
    """Per-start scipy L-BFGS-B (the straightforward way; lesson 05 compares it)."""
    if analytic_gradient:
        func = lambda x: _approach3_single(x, log_n, log_d, log_loss, delta, scale)  # noqa: E731
    else:
        func = lambda x: _approach3_single(x, log_n, log_d, log_loss, delta, scale)[0]  # noqa: E731
    out_x = np.empty_like(x0)
    out_f = np.empty(len(x0))
    out_nit = np.empty(len(x0), dtype=int)
    out_status = np.empty(len(x0), dtype=int)
    options = {"maxcor": memory, "ftol": ftol, "gtol": gtol, "maxiter": maxiter}
    with _one_blas_thread():
        for i, start in enumerate(x0):
            res = optimize.minimize(func, start, jac=analytic_gradient, method="L-BFGS-B", options=options)
            out_x[i], out_f[i], out_nit[i] = res.x, res.fun, res.nit
            # scipy's status: 0 converged (by f or by gradient, told apart by the message, whose
            # wording differs between scipy versions), 1 iteration/evaluation limit, 2 other.
            message = str(res.message).upper()
            if res.status == 0:
                out_status[i] = 1 if ("PROJ_G" in message or "GRADIENT" in message) else 0
            elif res.status == 1:
                out_status[i] = 2
            else:
                out_status[i] = 3
    return out_x, out_f, out_nit, out_status


#: Points whose loss, or whose budget C = 6ND, differ by less than this relative amount count
#: as equal for ``_check_identifiable``: digitised or logged values carry more noise than that.
_FLAT_LOSS = 1e-9
_SAME_BUDGET = 0.05


def _check_identifiable(n: np.ndarray, d: np.ndarray, y: np.ndarray, weights: Any) -> None:
    """Refuse (``UnidentifiableFit``) data from which eq. 2's exponents cannot be estimated.

    The optimiser always returns *some* law, so without these checks such data gives a confident
    wrong number: with every loss equal any alpha, beta fit (and a and b are arbitrary); with one
    size or one token count the corresponding exponent has nothing to be fitted on; with every
    point at one budget C = 6ND, ln D = ln(C/6) - ln N, so B and beta enter only as
    B (C/6)^-beta N^beta and the frontier's growth with C is not measured at all (noise-free data
    from one budget gave a = 0.414 against a true 0.452).
    """
    if weights is not None:
        used = weights > 0
        if not used.any():
            raise UnidentifiableFit("every weight is zero, so no point enters the objective; "
                                    "give some points a positive weight", kind="all weights zero")
        n, d, y = n[used], d[used], y[used]
    if np.ptp(y) <= _FLAT_LOSS * np.max(y):
        raise UnidentifiableFit(
            f"every loss is {y[0]:.6g}: flat data say nothing about how the loss falls with N and D, "
            "so any alpha and beta fit equally well; fit runs whose losses differ",
            kind="flat losses")
    for name, values, exponent in (("model size N", n, "alpha"), ("token count D", d, "beta")):
        if np.unique(values).size < 2:
            raise UnidentifiableFit(
                f"every point has the same {name} ({values[0]:.4g}), so {exponent} cannot be "
                f"estimated; add runs with other values of {name.split()[-1]}", kind="one value")
    log_c = np.log(n) + np.log(d)
    if np.ptp(log_c) <= math.log1p(_SAME_BUDGET):
        raise UnidentifiableFit(
            f"every point lies at one compute budget (C = 6ND = {6 * math.exp(log_c.mean()):.3g} "
            f"FLOPs, within {100 * _SAME_BUDGET:.0f}%): one budget cannot show how N_opt and D_opt "
            "grow with C, and alpha and beta trade off against B; add runs at other budgets",
            kind="single budget")


def _check_frontier(x: np.ndarray) -> None:
    """The fitted exponents must make a frontier: a = beta / (alpha + beta) needs alpha + beta > 0."""
    alpha, beta = float(x[3]), float(x[4])
    if not (alpha > 0 and beta > 0):
        raise UnidentifiableFit(
            f"the best fit has alpha = {alpha:.3g} and beta = {beta:.3g}; eq. 4's frontier needs both "
            "> 0 (the loss must fall with N and with D), which these data do not show",
            kind="no trade-off")


def fit_approach3(
    n_params: Any,
    tokens: Any,
    loss: Any,
    *,
    delta: float = PAPER_HUBER_DELTA,
    reduction: str = "sum",
    starts: Any = None,
    method: str = "vectorized",
    analytic_gradient: bool = True,
    memory: int = 10,
    ftol: float = _SCIPY_FTOL,
    gtol: float = _SCIPY_GTOL,
    maxiter: int = _SCIPY_MAXITER,
    weights: Any = None,
    prune: Any = False,
    kernel: str = "auto",
) -> Approach3Result:
    """Approach 3 (Section 3.3, eqs. 2-3, Appendix D.2; lesson 05): fit eq. 2 to (N, D, L) points.

    The law is L(N, D) = E + A/N^alpha + B/D^beta.

    As in the paper, with x = (e, a, b, alpha, beta) and A = e^a, B = e^b, E = e^e we minimise

        sum_i Huber_delta( LSE(a - alpha ln N_i, b - beta ln D_i, e) - ln L_i ),  delta = 1e-3,

    with L-BFGS from every point of ``paper_start_grid()`` (or the rows of ``starts``) and keep
    the start that ends with the lowest objective.

    * ``method="vectorized"`` (default) runs all starts together with ``lbfgs_batched`` and the
      analytic gradient; ``method="loop"`` calls ``scipy.optimize.minimize(method="L-BFGS-B")``
      once per start, with the analytic gradient or, if ``analytic_gradient=False``, scipy's
      finite differences (what a first attempt usually does). Both use scipy's default stopping
      rules unless ``ftol``, ``gtol``, ``maxiter`` are given. The two reach the same best optimum
      but single starts may stop at slightly different points (different line searches). The
      loop runs with OpenBLAS limited to one thread (see ``_one_blas_thread``), so that its
      timing is not inflated by BLAS threads fighting over a busy machine.
    * ``reduction="mean"`` divides the objective by the number of points. The optimum is the same
      but the stopping test (relative to max(|f|, 1)) then fires much earlier: lesson 05 uses
      this to discuss whether the original fit stopped early.
    * ``weights``: optional non-negative weight per point (bootstrap counts).
    * ``prune`` (vectorised only): ``False`` (default) runs every start to its stopping rule, the
      paper's procedure. ``True`` uses successive halving, ``PRUNE_HALVING``: all starts run
      together, and after 4, 8, 16, 32, 64 and 128 iterations the half of the starts still running
      with the higher objective is stopped (never fewer than 20 go on); a list of ``(round, keep
      fraction)`` pairs sets another schedule. Every start is evaluated, the kept ones follow
      exactly their unpruned paths, and on Epoch's points the pruned fit takes a fifth of the L-BFGS
      iterations (38,000 instead of 193,000). It is a heuristic, though: how low a start is after a
      few iterations says little about where it ends (the start that ends best often ranks in the
      worse half until 30-60 iterations), so the pruned fit finds the full grid's optimum only where
      many starts reach it. On Epoch's 240 points it does (objective within 1e-8, parameters within
      1e-4 of the full grid's, in a quarter of the time), and on the synthetic laws of the tests;
      but on 30 random laws with 99 or 264 noisy points it missed the full grid's optimum 5 times
      (objective up to 0.5% higher, a off by up to 0.03), and with ``reduction="mean"``, where most
      starts stop within a few iterations, it misses it on Epoch's points (objective 40% higher).
      Hence it is not the default.
    * ``kernel`` (vectorised only): the objective's implementation. ``"auto"`` (default) uses the
      compiled one (``_huber_lse.c``, built on first use with the machine's C compiler; about 3x
      faster than numpy, which makes the full grid about 1.7x faster) where it builds and passes
      its self-check, and the numpy one otherwise; ``"numpy"`` and ``"native"`` force one
      (``"native"`` raises if it is unavailable). ``result.kernel`` says which ran; both reach
      the same optimum.
    """
    _check_reduction(reduction)
    if method not in ("vectorized", "loop"):
        raise ValueError(f"method must be 'vectorized' or 'loop', got {method!r}")
    if prune is True:
        schedule = PRUNE_HALVING
    elif prune is False or prune is None:
        schedule = ()
    elif isinstance(prune, (str, bytes)) or not hasattr(prune, "__iter__"):
        raise ValueError(
            f"prune must be True, False or a list of (round, keep fraction) pairs, got {prune!r}"
        )
    else:
        schedule = tuple(sorted(_prune_schedule(prune).items()))
    if schedule and method != "vectorized":
        raise ValueError("prune is only supported with method='vectorized'")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "native" and method != "vectorized":
        raise ValueError("kernel='native' is only supported with method='vectorized'")
    if not (delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a positive number, got {delta}")
    n, d, y = _approach3_inputs(n_params, tokens, loss)
    x0 = paper_start_grid() if starts is None else np.array(starts, dtype=float, ndmin=2)
    if x0.ndim != 2 or x0.shape[1] != 5 or x0.shape[0] == 0 or not np.all(np.isfinite(x0)):
        raise ValueError(
            "starts must be an array of finite rows (e, a, b, alpha, beta), shape (n_starts, 5); "
            f"got shape {x0.shape}"
        )
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != n.shape or np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError(f"weights must be {n.size} non-negative finite numbers, one per point")
    _check_identifiable(n, d, y, weights)
    log_n, log_d, log_loss = np.log(n), np.log(d), np.log(y)

    t0 = time.perf_counter()
    if method == "vectorized":
        objective = _HuberLse(log_n, log_d, log_loss, delta, reduction, weights, kernel=kernel)
        kernel_used = "numpy" if objective.native is None else "native"
        res = lbfgs_batched(
            objective, x0, memory=memory, ftol=ftol, gtol=gtol, maxiter=maxiter,
            prune=schedule, prune_min_rows=_PRUNE_MIN_ROWS,
        )
        xs, fs, nits, status = res.x, res.fun, res.nit, res.status
    else:
        if weights is not None:
            raise ValueError("weights are only supported with method='vectorized'")
        scale = 1.0 / n.size if reduction == "mean" else 1.0
        kernel_used = "numpy"
        xs, fs, nits, status = _loop_fit(
            x0, log_n, log_d, log_loss, delta, scale, analytic_gradient=analytic_gradient,
            memory=memory, ftol=ftol, gtol=gtol, maxiter=maxiter,
        )
    seconds = time.perf_counter() - t0

    ok = np.isfinite(fs) & np.all(np.isfinite(xs), axis=1)
    if not ok.any():
        raise FitError(
            "no L-BFGS start ended at a finite objective; check the data", kind="no finite optimum"
        )
    best = int(np.flatnonzero(ok)[np.argmin(fs[ok])])
    _check_frontier(xs[best])
    law = LossLaw.from_log_params(xs[best])
    return Approach3Result(
        law=law,
        a=law.a,
        b=law.b,
        objective=float(fs[best]),
        x=xs[best].copy(),
        best_start=best,
        starts=x0,
        final_params=xs,
        final_objectives=fs,
        n_iterations=nits,
        status=status,
        method=method,
        reduction=reduction,
        delta=float(delta),
        seconds=seconds,
        prune=tuple((int(r), float(k)) for r, k in schedule),
        kernel=kernel_used,
    )


def efficient_frontier(law: LossLaw, flops: Any) -> tuple[Any, Any]:
    """Closed-form compute-optimal (N_opt, D_opt) of a fitted eq. 2 law at ``flops`` (eq. 4).

    N_opt = G (C/6)^a and D_opt = G^-1 (C/6)^b with G = (alpha A / (beta B))^(1/(alpha+beta)),
    a = beta/(alpha+beta), b = alpha/(alpha+beta). Lessons 05 and 06.
    """
    c = _positive_array("flops", flops)
    n_opt, d_opt = law.n_opt(c), law.d_opt(c)
    if np.ndim(flops) == 0:
        return float(n_opt[0]), float(d_opt[0])
    return n_opt, d_opt
