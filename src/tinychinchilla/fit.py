"""The paper's three ways of estimating the compute-optimal frontier (Section 3), and bootstraps.

Hoffmann et al. 2022 estimate how the compute-optimal model size N_opt and token count D_opt
grow with the compute budget C, as power laws N_opt ∝ C^a and D_opt ∝ C^b (Table 2):

* Approach 1 (Section 3.1, lesson 03): ``fit_approach1`` takes whole training curves, finds for
  each FLOP value which run reached the lowest loss, and fits power laws to that envelope.
* Approach 2 (Section 3.2, lesson 04): ``fit_approach2`` fits a parabola to each IsoFLOP profile
  (final loss against log N at a fixed budget) and fits power laws to the parabolas' minima.
* Approach 3 (Section 3.3 and Appendix D.2, lesson 05): ``fit_approach3`` fits the parametric loss
  L(N, D) = E + A/N^alpha + B/D^beta (eq. 2) with the paper's Huber objective and L-BFGS from a
  grid of 4500 starting points (optionally pruned by successive halving, ``prune=True``), and
  ``efficient_frontier`` turns it into N_opt, D_opt (eq. 4).
* ``bootstrap_approach1/2/3`` resample the data to give Table 2's 10th-90th percentile intervals.

Throughout, C = 6ND is the FLOP approximation of Section 3 (``D = C / (6 N)``), logarithms are
natural, and inputs are validated up front so that a learner's mistake (a zero, a NaN, lists of
different lengths) gives a message saying what is wrong instead of a NaN fit.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import optimize

from . import _native
from .paper import LossLaw

__all__ = [
    "FitError",
    "PowerLaw",
    "fit_power_law",
    "Curve",
    "Approach1Result",
    "fit_approach1",
    "IsoFlopParabola",
    "Approach2Result",
    "fit_approach2",
    "PAPER_HUBER_DELTA",
    "PARAM_NAMES",
    "STATUS_NAMES",
    "paper_start_grid",
    "huber_lse_objective",
    "LbfgsResult",
    "lbfgs_batched",
    "PRUNE_HALVING",
    "Approach3Result",
    "fit_approach3",
    "efficient_frontier",
    "BootstrapResult",
    "bootstrap_approach1",
    "bootstrap_approach2",
    "bootstrap_approach3",
]


class FitError(ValueError):
    """A fit that cannot be carried out on this data (not a typo in the input).

    ``kind`` is a short fixed label of what went wrong (bootstraps count failures by it) and
    ``budget`` names the IsoFLOP budget at fault when there is one (Approach 2), so that a lesson
    can report which budget to fix.
    """

    def __init__(self, message: str, budget: float | None = None, kind: str = "fit failed"):
        super().__init__(message)
        self.budget = budget
        self.kind = kind


# --------------------------------------------------------------------------------------------
# Input checks shared by all approaches
# --------------------------------------------------------------------------------------------


def _positive_array(name: str, values: Any, *, min_size: int = 1) -> np.ndarray:
    """``values`` as a 1-D float array of finite, strictly positive numbers, or a ValueError
    that says which entry is wrong. Everything here goes through a logarithm, hence > 0."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers; could not read {values!r}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per run), got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} has {arr.size} values; at least {min_size} are needed")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}[{i}] is {arr[i]} ({bad.size} non-finite value(s) in all): "
            "remove runs that diverged or were not logged before fitting"
        )
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}[{i}] is {arr[i]}, but it must be > 0 because the fit takes its logarithm; "
            "check the units (counts, not log values) and drop empty runs"
        )
    return arr


def _same_length(**arrays: np.ndarray) -> int:
    sizes = {name: len(arr) for name, arr in arrays.items()}
    if len(set(sizes.values())) != 1:
        listed = ", ".join(f"{name}: {n}" for name, n in sizes.items())
        raise ValueError(f"inputs must have one entry per run, but the lengths differ ({listed})")
    return next(iter(sizes.values()))


# --------------------------------------------------------------------------------------------
# Power laws (used by all three approaches and by paper.project_table)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLaw:
    """``y = coefficient * x**exponent``; e.g. N_opt = k_N * C^a."""

    coefficient: float
    exponent: float

    def __call__(self, x: Any) -> Any:
        return self.coefficient * np.asarray(x, dtype=float) ** self.exponent

    def inverse(self, y: Any) -> Any:
        """The x at which the law reaches ``y`` (e.g. the budget at which N is optimal)."""
        return (np.asarray(y, dtype=float) / self.coefficient) ** (1.0 / self.exponent)


def fit_power_law(x: Any, y: Any) -> PowerLaw:
    """Least-squares fit of log y = log k + p log x (a straight line on a log-log plot).

    This is how Approaches 1 and 2 (lessons 03, 04) turn their (C, N_opt) and (C, D_opt) points
    into the exponents a and b of Table 2, and how lesson 06 fits Table 3's rows.
    """
    x = _positive_array("x", x)
    y = _positive_array("y", y)
    _same_length(x=x, y=y)
    if np.unique(x).size < 2:
        raise FitError("a power law needs at least two different x values", kind="too few points")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLaw(float(math.exp(intercept)), float(slope))


# --------------------------------------------------------------------------------------------
# Approach 1 (Section 3.1): the lower envelope of training curves
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """One training run for Approach 1: its size and its loss curve.

    ``flops``, ``tokens`` and ``loss`` are matching arrays, one entry per logged step.
    ``Curve.from_tokens`` fills in the FLOPs with C = 6ND.
    """

    n_params: float
    flops: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray

    @classmethod
    def from_tokens(cls, n_params: float, tokens: Any, loss: Any) -> "Curve":
        tokens = np.asarray(tokens, dtype=float)
        n = float(n_params)
        return cls(n, 6.0 * n * tokens, tokens, np.asarray(loss, dtype=float))


def _as_curve(obj: Any, i: int) -> Curve:
    """Accept a ``Curve`` or a mapping with keys n_params, loss and flops and/or tokens."""
    if isinstance(obj, Mapping):
        missing = {"n_params", "loss"} - set(obj)
        if missing or not ({"flops", "tokens"} & set(obj)):
            raise ValueError(
                f"curve {i} must have keys 'n_params', 'loss' and 'flops' and/or 'tokens'; "
                f"it has {sorted(obj)}"
            )
        n = obj["n_params"]
        tokens = obj.get("tokens")
        flops = obj.get("flops")
        # Whichever of flops/tokens is missing follows from C = 6ND.
        if flops is None:
            flops = 6.0 * float(n) * np.asarray(tokens, dtype=float)
        if tokens is None:
            tokens = np.asarray(flops, dtype=float) / (6.0 * float(n))
        obj = Curve(n, flops, tokens, obj["loss"])
    elif not isinstance(obj, Curve):
        raise ValueError(f"curve {i} must be a Curve or a dict, got {type(obj).__name__}")
    n = _positive_array(f"curve {i} n_params", obj.n_params)
    if n.size != 1:
        raise ValueError(f"curve {i} n_params must be one number, got {obj.n_params!r}")
    flops = _positive_array(f"curve {i} flops", obj.flops, min_size=2)
    tokens = _positive_array(f"curve {i} tokens", obj.tokens, min_size=2)
    loss = _positive_array(f"curve {i} loss", obj.loss, min_size=2)
    _same_length(flops=flops, tokens=tokens, loss=loss)
    order = np.argsort(flops, kind="stable")
    flops, tokens, loss = flops[order], tokens[order], loss[order]
    if np.any(np.diff(flops) <= 0):
        raise ValueError(f"curve {i} has repeated FLOP values; keep one loss per logged step")
    return Curve(float(n[0]), flops, tokens, loss)


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with the window shrunk at both ends (no padding)."""
    if window <= 1 or values.size < 2:
        return values
    half = window // 2
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(values.size)
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, values.size)
    return (csum[hi] - csum[lo]) / (hi - lo)


@dataclass(frozen=True)
class Approach1Result:
    """Approach 1's output (lesson 03).

    ``flop_grid`` is the log-spaced grid; ``envelope_loss``, ``envelope_n``, ``envelope_tokens``
    are the lowest interpolated loss at each grid point and the size and token count of the run
    that reached it (NaN where no run covers that point); ``envelope_run`` is that run's index in
    the input (-1 where none). ``used`` marks the grid points that entered the power-law fits.
    """

    a: float
    b: float
    n_law: PowerLaw
    d_law: PowerLaw
    flop_grid: np.ndarray
    envelope_loss: np.ndarray
    envelope_n: np.ndarray
    envelope_tokens: np.ndarray
    envelope_run: np.ndarray
    used: np.ndarray
    smooth_decades: float


def fit_approach1(
    curves: Sequence[Curve | Mapping[str, Any]],
    *,
    n_grid: int = 1500,
    flop_range: tuple[float, float] | None = None,
    smooth_decades: float = 0.0,
    exclude_edge_sizes: bool = True,
) -> Approach1Result:
    """Approach 1 (Section 3.1, Figure 2; lesson 03): minimum over training curves.

    For every run we map FLOPs to loss by interpolating its curve linearly in log-FLOPs, only
    inside the FLOP range the run covers (no extrapolation). At ``n_grid`` log-spaced FLOP values
    (1500 as in the paper) we take the run with the lowest loss; its size N and its token count D
    at that FLOP value (interpolated linearly in log-log) are the envelope. Power laws
    N_opt = k C^a and D_opt = k' C^b are then fitted by least squares in log-log.

    Choices the paper leaves open:

    * ``smooth_decades``: the paper smooths each loss curve before interpolating but does not
      say how. We resample each run onto the common log-FLOP grid first and then apply a centred
      moving average ``smooth_decades`` wide in log10(FLOPs) (shrinking at a run's ends), so the
      smoothing has the same width in log space whatever the logging frequency. 0 = off.
    * ``exclude_edge_sizes``: where the smallest or the largest model in the sweep wins, the true
      optimum may lie beyond the sizes trained and the envelope is clipped; by default those grid
      points are left out of the power-law fit (they stay in the envelope arrays).
    * ``flop_range``: restrict the grid (default: from the smallest to the largest FLOP value
      any run reaches).
    """
    if isinstance(curves, (Curve, Mapping)):
        raise ValueError("curves must be a sequence of Curve objects or dicts, one per run")
    runs = [_as_curve(c, i) for i, c in enumerate(curves)]
    if len(runs) < 2:
        raise ValueError(
            f"Approach 1 needs at least two training curves of different sizes, got {len(runs)}"
        )
    if n_grid < 2:
        raise ValueError(f"n_grid must be at least 2, got {n_grid}")
    if smooth_decades < 0 or not math.isfinite(smooth_decades):
        raise ValueError(f"smooth_decades must be >= 0, got {smooth_decades}")

    if flop_range is None:
        lo = min(run.flops[0] for run in runs)
        hi = max(run.flops[-1] for run in runs)
    else:
        bounds = _positive_array("flop_range", flop_range)
        if bounds.size != 2 or bounds[1] <= bounds[0]:
            raise ValueError(f"flop_range must be (low, high) with low < high, got {flop_range}")
        lo, hi = float(bounds[0]), float(bounds[1])
    grid = np.geomspace(lo, hi, n_grid)
    log_grid = np.log(grid)
    step_decades = (math.log10(hi) - math.log10(lo)) / (n_grid - 1)
    window = 1 + 2 * int(round(smooth_decades / step_decades / 2)) if smooth_decades > 0 else 1

    # One row per run: loss and log-tokens on the grid, NaN outside the run's FLOP range.
    loss_on_grid = np.full((len(runs), n_grid), np.nan)
    logd_on_grid = np.full((len(runs), n_grid), np.nan)
    for r, run in enumerate(runs):
        logc = np.log(run.flops)
        inside = (log_grid >= logc[0]) & (log_grid <= logc[-1])
        if not inside.any():
            continue
        loss_on_grid[r, inside] = _moving_average(np.interp(log_grid[inside], logc, run.loss), window)
        logd_on_grid[r, inside] = np.interp(log_grid[inside], logc, np.log(run.tokens))

    covered = np.isfinite(loss_on_grid).any(axis=0)
    best = np.argmin(np.where(np.isfinite(loss_on_grid), loss_on_grid, np.inf), axis=0)
    cols = np.arange(n_grid)
    sizes = np.array([run.n_params for run in runs])
    env_run = np.where(covered, best, -1)
    env_loss = np.where(covered, loss_on_grid[best, cols], np.nan)
    env_n = np.where(covered, sizes[best], np.nan)
    env_d = np.where(covered, np.exp(logd_on_grid[best, cols]), np.nan)

    used = covered.copy()
    if exclude_edge_sizes:
        used &= (env_n != sizes.min()) & (env_n != sizes.max())
    if np.unique(env_n[used]).size < 2:
        raise FitError(
            "the loss envelope is won by fewer than two model sizes inside the fitted FLOP range"
            + (" (the smallest and largest sizes are excluded)" if exclude_edge_sizes else "")
            + "; train more model sizes spanning the budgets, or widen flop_range",
            kind="envelope won by one size",
        )
    n_law = fit_power_law(grid[used], env_n[used])
    d_law = fit_power_law(grid[used], env_d[used])
    return Approach1Result(
        a=n_law.exponent,
        b=d_law.exponent,
        n_law=n_law,
        d_law=d_law,
        flop_grid=grid,
        envelope_loss=env_loss,
        envelope_n=env_n,
        envelope_tokens=env_d,
        envelope_run=env_run,
        used=used,
        smooth_decades=float(smooth_decades),
    )


# --------------------------------------------------------------------------------------------
# Approach 2 (Section 3.2): IsoFLOP profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IsoFlopParabola:
    """The parabola loss ≈ c2 x^2 + c1 x + c0 with x = ln N, fitted to one IsoFLOP profile."""

    budget: float
    coefficients: tuple[float, float, float]
    n_opt: float
    d_opt: float
    loss_opt: float
    n_params: np.ndarray
    loss: np.ndarray

    def __call__(self, n_params: Any) -> Any:
        """The parabola's loss at ``n_params`` (for plotting the profile)."""
        return np.polyval(self.coefficients, np.log(np.asarray(n_params, dtype=float)))


@dataclass(frozen=True)
class Approach2Result:
    """Approach 2's output (lesson 04): one parabola per budget and the power laws across them.

    ``skipped`` lists ``(budget, reason)`` for budgets left out with ``drop_failed_budgets``.
    """

    a: float
    b: float
    n_law: PowerLaw
    d_law: PowerLaw
    budgets: np.ndarray
    n_opt: np.ndarray
    d_opt: np.ndarray
    loss_opt: np.ndarray
    parabolas: tuple[IsoFlopParabola, ...]
    skipped: tuple[tuple[float, str], ...] = ()


def _fit_isoflop_parabola(budget: float, n_params: np.ndarray, loss: np.ndarray) -> IsoFlopParabola:
    """Fit one IsoFLOP profile; FitError (naming the budget) if it has no interior minimum."""
    distinct = np.unique(n_params)
    if distinct.size < 3:
        raise FitError(
            f"IsoFLOP budget {budget:.3g} has {distinct.size} distinct model size(s); a parabola "
            "needs at least 3: train more sizes at this budget or drop it",
            budget,
            "fewer than 3 sizes",
        )
    x = np.log(n_params)
    # Centre x so the quadratic fit is well conditioned (ln N is ~20 with a spread of ~2).
    x0 = float(x.mean())
    c2, c1, c0 = np.polyfit(x - x0, loss, 2)
    if not c2 > 0:
        raise FitError(
            f"the parabola for IsoFLOP budget {budget:.3g} opens downward (curvature {c2:.3g}), so it "
            "has no minimum: the sizes may all lie on one side of the optimum, or the losses are noisy",
            budget,
            "parabola opens downward",
        )
    x_min = -c1 / (2 * c2)
    if not (x.min() - x0 <= x_min <= x.max() - x0):
        side = "smaller" if x_min < x.min() - x0 else "larger"
        raise FitError(
            f"the minimum for IsoFLOP budget {budget:.3g} is at N = {math.exp(x_min + x0):.3g}, outside "
            f"the sampled sizes [{n_params.min():.3g}, {n_params.max():.3g}] (no interior minimum): "
            f"train {side} models at this budget",
            budget,
            "no interior minimum",
        )
    # Back to coefficients in x = ln N (not centred) for the stored polynomial.
    coeffs = (float(c2), float(c1 - 2 * c2 * x0), float(c2 * x0 * x0 - c1 * x0 + c0))
    n_opt = math.exp(x_min + x0)
    return IsoFlopParabola(
        budget=float(budget),
        coefficients=coeffs,
        n_opt=n_opt,
        d_opt=budget / (6.0 * n_opt),  # C = 6ND at the optimum
        loss_opt=float(c0 - c1 * c1 / (4 * c2)),
        n_params=n_params,
        loss=loss,
    )


def fit_approach2(
    n_params: Any,
    flops_budget: Any,
    loss: Any,
    *,
    drop_failed_budgets: bool = False,
) -> Approach2Result:
    """Approach 2 (Section 3.2, Figure 3; lesson 04): IsoFLOP profiles.

    ``n_params``, ``flops_budget``, ``loss`` have one entry per run; ``flops_budget`` is the label
    of the IsoFLOP budget a run belongs to (runs with exactly equal labels form one profile).
    For each budget C a parabola of final loss in ln N gives N_opt(C); D_opt(C) = C / (6 N_opt)
    (C = 6ND). Power laws N_opt = k C^a and D_opt = k' C^b are then fitted in log-log.

    A budget with fewer than 3 distinct sizes, a parabola that opens downward, or a minimum
    outside the sampled sizes raises ``FitError`` naming the budget; with
    ``drop_failed_budgets=True`` such budgets are skipped and listed in ``result.skipped``
    instead. At least two usable budgets are needed for the power laws.
    """
    n = _positive_array("n_params", n_params)
    c = _positive_array("flops_budget", flops_budget)
    y = _positive_array("loss", loss)
    _same_length(n_params=n, flops_budget=c, loss=y)
    budgets = np.unique(c)
    if budgets.size < 2:
        raise FitError(
            f"Approach 2 needs IsoFLOP profiles at two or more budgets to fit N_opt ∝ C^a; all runs "
            f"have budget {budgets[0]:.3g}. Add runs at other budgets (the paper uses 9)",
            kind="single budget",
        )
    parabolas, skipped = [], []
    for budget in budgets:
        members = c == budget
        try:
            parabolas.append(_fit_isoflop_parabola(float(budget), n[members], y[members]))
        except FitError as err:
            if not drop_failed_budgets:
                raise
            skipped.append((float(budget), str(err)))
    if len(parabolas) < 2:
        raise FitError(
            f"only {len(parabolas)} of {budgets.size} budgets have an interior minimum; at least two "
            "are needed for the power law. " + " | ".join(reason for _, reason in skipped),
            kind="too few usable budgets",
        )
    b_arr = np.array([p.budget for p in parabolas])
    n_opt = np.array([p.n_opt for p in parabolas])
    d_opt = np.array([p.d_opt for p in parabolas])
    n_law = fit_power_law(b_arr, n_opt)
    d_law = fit_power_law(b_arr, d_opt)
    return Approach2Result(
        a=n_law.exponent,
        b=d_law.exponent,
        n_law=n_law,
        d_law=d_law,
        budgets=b_arr,
        n_opt=n_opt,
        d_opt=d_opt,
        loss_opt=np.array([p.loss_opt for p in parabolas]),
        parabolas=tuple(parabolas),
        skipped=tuple(skipped),
    )


# --------------------------------------------------------------------------------------------
# Approach 3 (Section 3.3, Appendix D.2): the parametric loss, fitted with Huber + L-BFGS
# --------------------------------------------------------------------------------------------

#: Huber threshold of Section 3.3 (delta = 10^-3).
PAPER_HUBER_DELTA = 1e-3

#: Parameter order used for Approach 3: x = (e, a, b, alpha, beta) with E = exp(e), A = exp(a),
#: B = exp(b) (the same order as ``LossLaw``'s fields).
PARAM_NAMES = ("e", "a", "b", "alpha", "beta")

# scipy's L-BFGS-B defaults; the batched optimiser uses the same stopping rules so that the
# vectorised fit and the per-start scipy loop are comparable (and so is their early stopping).
_SCIPY_FTOL = 2.220446049250313e-09
_SCIPY_GTOL = 1e-5
_SCIPY_MAXITER = 15000


def paper_start_grid() -> np.ndarray:
    """The paper's 4500 L-BFGS starting points (Appendix D.2), as rows (e, a, b, alpha, beta).

    alpha, beta ∈ {0, 0.5, ..., 2}; e ∈ {-1, -0.5, ..., 1}; a, b ∈ {0, 5, ..., 25}:
    5 * 5 * 5 * 6 * 6 = 4500 points.
    """
    e = np.linspace(-1.0, 1.0, 5)
    ab = np.linspace(0.0, 25.0, 6)
    exps = np.linspace(0.0, 2.0, 5)
    return np.array(list(itertools.product(e, ab, ab, exps, exps)), dtype=float)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


#: Approach 3 objectives: "native" is the compiled one (``_native``, built on first use), "numpy"
#: the numpy/torch one below, "auto" the compiled one where it builds and numpy elsewhere.
KERNELS = ("auto", "native", "numpy")

#: Columns the point axis is padded to a multiple of: torch's widest float64 vector loop (two
#: AVX-512 registers), so that every element of a chunk goes through the same vector code.
_LANES = 16
#: Below this many elements torch runs an elementwise op on one thread (at::internal::GRAIN_SIZE).
_TORCH_GRAIN = 32768


class _HuberLse:
    """Huber loss of the log-space residual, batched over parameter rows (Section 3.3, eq. 3).

    For a row x = (e, a, b, alpha, beta) and point i,
        r_i = LSE(a - alpha ln N_i, b - beta ln D_i, e) - ln L_i,
    and the objective is sum_i w_i Huber_delta(r_i) (divided by the number of points for
    ``reduction="mean"``). LSE(u, v, e) = ln(e^u + e^v + e^e) is ln of eq. 2's prediction
    E + A/N^alpha + B/D^beta written with log parameters. The gradient is analytic: dLSE/du is the
    softmax weight of u, and Huber'(r) = clip(r, -delta, delta).

    ``weights`` (per point, or per row and point) carry bootstrap resampling counts.

    ``kernel`` (see ``KERNELS``): where the compiled objective (``_native``, ``_huber_lse.c``)
    builds, it evaluates each row in one fused pass over the points, about 3x faster than the
    numpy code below, which runs where there is no compiler; both compute each row the same way
    whatever rows share its batch.

    Speed of the numpy objective (the full grid is about 280,000 evaluations of all points): rows
    are evaluated in chunks small enough for the (rows x points) temporaries to stay in the CPU
    cache; exp and log come from torch, whose vectorised float64 versions are 2-3x faster than
    numpy's on CPUs without AVX-512; and fused row sums (einsum) save passes over memory. Each row
    is still computed the same way whatever rows share its chunk, bit for bit: torch's vector loop
    covers every element only if the chunk's length is a multiple of its vector width (elements past
    the last full vector take a scalar path that may round differently), so the point axis is padded
    to a multiple of ``_LANES`` columns, and a chunk stays under torch's grain size so that torch
    does not split it over threads at an arbitrary element.
    """

    def __init__(self, log_n, log_d, log_loss, delta, reduction, weights=None, chunk_elems=24576,
                 kernel="auto"):
        import torch  # here rather than at import: fit's other parts do not need it

        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        compiled = None if kernel == "numpy" else _native.load_kernel()
        if kernel == "native" and compiled is None:
            raise RuntimeError(f"kernel='native' was asked for, but {_native.kernel_status()}")
        self._torch = torch
        self.log_n = np.ascontiguousarray(log_n, dtype=float)
        self.log_d = np.ascontiguousarray(log_d, dtype=float)
        self.log_loss = np.ascontiguousarray(log_loss, dtype=float)
        self.delta = float(delta)
        self.native = None if compiled is None else compiled.bind(
            self.log_n, self.log_d, self.log_loss, self.delta)
        self.n_points = self.log_n.size
        self.scale = 1.0 / self.n_points if reduction == "mean" else 1.0
        self.weights = None if weights is None else np.asarray(weights, dtype=float)
        # Padding columns repeat the last point; they are never part of a sum.
        width = -(-self.n_points // _LANES) * _LANES
        self.log_n_wide = np.concatenate([self.log_n, np.full(width - self.n_points, self.log_n[-1])])
        self.log_d_wide = np.concatenate([self.log_d, np.full(width - self.n_points, self.log_d[-1])])
        self.chunk = max(1, min(chunk_elems, _TORCH_GRAIN - 1) // width)
        self.log_n_ends = (self.log_n.min(), self.log_n.max())
        self.log_d_ends = (self.log_d.min(), self.log_d.max())

    def __call__(self, x: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        w = self.weights
        if w is not None and w.ndim == 2:
            w = w[rows] if rows is not None else w[: x.shape[0]]
        f, g = self._numpy_rows(x, w) if self.native is None else self.native(x, w)
        f *= self.scale
        g *= self.scale
        return f, g

    def _numpy_rows(self, x: np.ndarray, w: np.ndarray | None):
        """The unscaled objective in chunks of rows (``w``: per point, per row and point, or None)."""
        f = np.empty(x.shape[0])
        g = np.empty_like(x)
        row_w = w is not None and w.ndim == 2
        for start in range(0, x.shape[0], self.chunk):
            stop = min(start + self.chunk, x.shape[0])
            f[start:stop], g[start:stop] = self._chunk(x[start:stop], w[start:stop] if row_w else w)
        return f, g

    def _exp_inplace(self, values: np.ndarray) -> np.ndarray:
        t = self._torch.from_numpy(values)
        self._torch.exp(t, out=t)
        return values

    def _log(self, values: np.ndarray) -> np.ndarray:
        return self._torch.log(self._torch.from_numpy(values)).numpy()

    def _chunk(self, x: np.ndarray, w: np.ndarray | None):
        n_points = self.n_points
        e, a, b, alpha, beta = x.T
        # Exponents of the two power-law terms, (rows, padded points): ln(A/N^alpha), ln(B/D^beta).
        t1 = np.multiply.outer(-alpha, self.log_n_wide)
        t1 += a[:, None]
        t2 = np.multiply.outer(-beta, self.log_d_wide)
        t2 += b[:, None]
        # Rows whose exponents stay below ~700 cannot overflow, so exp can be taken directly (two
        # exps per point instead of three plus maxima). The exponents are linear in ln N and ln D,
        # so a row's largest is at an end of their range. The test is per row, so a row is
        # computed the same way whichever other rows share its chunk.
        top1 = a + np.maximum(-alpha * self.log_n_ends[0], -alpha * self.log_n_ends[1])
        top2 = b + np.maximum(-beta * self.log_d_ends[0], -beta * self.log_d_ends[1])
        safe = np.maximum(np.maximum(top1, top2), np.abs(e)) < 700.0
        if safe.all():
            u1 = self._exp_inplace(t1)
            u2 = self._exp_inplace(t2)
            total = u1 + u2
            total += np.exp(e)[:, None]
            lse = self._log(total)
        else:
            # Far from any sensible fit (e.g. a long line-search step): shift those rows by their
            # largest exponent so that exp cannot overflow.
            m = np.maximum(np.maximum(t1, t2), e[:, None])
            m[safe] = 0.0
            u1 = self._exp_inplace(t1 - m)
            u2 = self._exp_inplace(t2 - m)
            total = u1 + u2 + np.exp(e[:, None] - m)
            lse = self._log(total)
            lse += m
        # From here on, views of the real points only.
        r = lse[:, :n_points]
        r -= self.log_loss
        abs_r = np.abs(r)
        # Huber: 0.5 r^2 inside |r| <= delta, delta (|r| - delta/2) outside; with c = min(|r|, delta)
        # both cases are c |r| - c^2 / 2.
        c = np.minimum(abs_r, self.delta)
        cw = c if w is None else c * w
        f = _rowdot(cw, abs_r) - 0.5 * _rowdot(cw, c)
        dh = np.copysign(c, r, out=r)  # Huber'(r) = clip(r, -delta, delta)
        if w is not None:
            dh *= w
        # Softmax weights sum to one, so the E term's gradient is sum(Huber') minus the other two.
        dh_total = dh.sum(axis=1)
        dh /= total[:, :n_points]
        p1 = np.multiply(dh, u1[:, :n_points], out=u1[:, :n_points])  # Huber' * softmax weight of A/N^alpha
        p2 = np.multiply(dh, u2[:, :n_points], out=u2[:, :n_points])
        g = np.empty_like(x)
        g[:, 1] = p1.sum(axis=1)
        g[:, 2] = p2.sum(axis=1)
        # Row-by-row sums of products (einsum), not a BLAS matrix-vector product: BLAS may order a
        # row's sum differently depending on the matrix shape, and rows must not depend on their
        # neighbours.
        g[:, 3] = -np.einsum("ij,j->i", p1, self.log_n)
        g[:, 4] = -np.einsum("ij,j->i", p2, self.log_d)
        g[:, 0] = dh_total - g[:, 1] - g[:, 2]
        return f, g


def huber_lse_objective(
    params: Any,
    n_params: Any,
    tokens: Any,
    loss: Any,
    *,
    delta: float = PAPER_HUBER_DELTA,
    reduction: str = "sum",
) -> tuple[np.ndarray, np.ndarray]:
    """The Approach 3 objective and its gradient for one or many parameter rows (lesson 05).

    ``params`` is (5,) or (n_rows, 5) in the order (e, a, b, alpha, beta). Returns ``(f, grad)``
    with shapes (n_rows,) and (n_rows, 5). See ``fit_approach3`` for the formula.
    """
    _check_reduction(reduction)
    n, d, y = _approach3_inputs(n_params, tokens, loss)
    x = np.atleast_2d(np.asarray(params, dtype=float))
    if x.shape[-1] != 5:
        raise ValueError(f"params must have 5 columns (e, a, b, alpha, beta), got shape {x.shape}")
    return _HuberLse(np.log(n), np.log(d), np.log(y), delta, reduction)(x)


def _approach3_single(x, log_n, log_d, log_loss, delta, scale):
    """One parameter vector, plain 1-D numpy: what a per-start scipy loop calls."""
    e, a, b, alpha, beta = x
    t = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    m = t.max(axis=0)
    u = np.exp(t - m)
    total = u.sum(axis=0)
    r = m + np.log(total) - log_loss
    abs_r = np.abs(r)
    c = np.minimum(abs_r, delta)
    f = float(np.sum(c * (abs_r - 0.5 * c))) * scale
    wts = np.clip(r, -delta, delta) * u / total
    grad = np.array([wts[2].sum(), wts[0].sum(), wts[1].sum(), -wts[0] @ log_n, -wts[1] @ log_d]) * scale
    return f, grad


# -- batched L-BFGS ---------------------------------------------------------------------------


def _rowdot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise dot products, computed the same way for a row whatever the batch size."""
    return np.einsum("ij,ij->i", u, v)


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


# -- the Approach 3 fit -----------------------------------------------------------------------

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


def _approach3_inputs(n_params, tokens, loss):
    n = _positive_array("n_params", n_params)
    d = _positive_array("tokens", tokens)
    y = _positive_array("loss", loss)
    count = _same_length(n_params=n, tokens=d, loss=y)
    if count < 5:
        raise ValueError(f"Approach 3 fits 5 parameters and needs at least 5 runs, got {count}")
    return n, d, y


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


# --------------------------------------------------------------------------------------------
# Bootstrap (Table 2's 10th-90th percentile intervals)
# --------------------------------------------------------------------------------------------


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
