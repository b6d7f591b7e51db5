"""Approach 1 (Section 3.1, Figure 2; lesson 03): the lower envelope of training curves."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .common import FitError, _positive_array, _same_length
from .power_law import PowerLaw, fit_power_law


@dataclass(frozen=True)
class Curve:
    """One training run for Approach 1: its size and its loss curve.

    ``flops``, ``tokens`` and ``loss`` are matching arrays, one entry per logged step.
    ``steps`` (optional) is the optimiser step of each entry, which ``fit_approach1``'s
    ``smooth_steps`` needs. ``Curve.from_tokens`` fills in the FLOPs with C = 6ND.
    """

    n_params: float
    flops: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray
    steps: np.ndarray | None = None

    @classmethod
    def from_tokens(cls, n_params: float, tokens: Any, loss: Any, steps: Any = None) -> "Curve":
        tokens = np.asarray(tokens, dtype=float)
        n = float(n_params)
        return cls(n, 6.0 * n * tokens, tokens, np.asarray(loss, dtype=float),
                   None if steps is None else np.asarray(steps, dtype=float))


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
        obj = Curve(n, flops, tokens, obj["loss"], obj.get("steps"))
    elif not isinstance(obj, Curve):
        raise ValueError(f"curve {i} must be a Curve or a dict, got {type(obj).__name__}")
    n = _positive_array(f"curve {i} n_params", obj.n_params)
    if n.size != 1:
        raise ValueError(f"curve {i} n_params must be one number, got {obj.n_params!r}")
    flops = _positive_array(f"curve {i} flops", obj.flops, min_size=2)
    tokens = _positive_array(f"curve {i} tokens", obj.tokens, min_size=2)
    loss = _positive_array(f"curve {i} loss", obj.loss, min_size=2)
    _same_length(flops=flops, tokens=tokens, loss=loss)
    steps = None
    if obj.steps is not None:
        steps = _positive_array(f"curve {i} steps", obj.steps, min_size=2)
        _same_length(flops=flops, steps=steps)
    order = np.argsort(flops, kind="stable")
    flops, tokens, loss = flops[order], tokens[order], loss[order]
    if np.any(np.diff(flops) <= 0):
        raise ValueError(f"curve {i} has repeated FLOP values; keep one loss per logged step")
    if steps is not None:
        steps = steps[order]
        if np.any(np.diff(steps) <= 0):
            raise ValueError(f"curve {i}: its steps must increase with its FLOPs")
    return Curve(float(n[0]), flops, tokens, loss, steps)


def gaussian_smooth_steps(steps: np.ndarray, loss: np.ndarray, window: float) -> np.ndarray:
    """Gaussian smoothing over ``window`` optimiser steps (Appendix D.1; lesson 03), at the logged steps.

    The paper: "We use Gaussian smoothing with a window length of 10 steps to smooth the training
    curve." (Appendix D.1). Its curves have a loss for every step; the kit logs, at log-spaced
    steps, the mean train loss since the previous logged step. So each step k is given the logged
    mean of the interval that contains it (the interval ending at the first logged step >= k), and
    the smoothed value at a logged step s is the Gaussian-weighted mean of those per-step values
    over s - window/2 .. s + window/2 (near a run's ends, over as many steps on each side as exist
    on both, so the first and last points are left as they are). The paper gives no
    width for the Gaussian; we take sigma = window / 4, so that the window spans +-2 sigma. Where
    logged steps are closer together than the window (early in a run) this smooths as the paper
    did; where they are farther apart, each logged value already averages more steps than the
    window and the smoothing only mixes in the neighbouring interval's mean.
    """
    half = int(math.floor(window / 2))
    if half < 1:
        return loss
    offsets = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (offsets / (window / 4.0)) ** 2)
    k = steps[:, None] + offsets[None, :]  # (logged points, window) step numbers
    # Near a run's ends the window shrinks symmetrically (to the steps that exist on both sides),
    # so that a falling curve's first points are not pulled down by later, lower ones.
    reach = np.minimum(steps - steps[0], steps[-1] - steps)[:, None]
    inside = np.abs(offsets)[None, :] <= np.minimum(reach, half)
    interval = np.minimum(np.searchsorted(steps, k, side="left"), steps.size - 1)
    weights = np.where(inside, kernel[None, :], 0.0)
    return (weights * loss[interval]).sum(axis=1) / weights.sum(axis=1)


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
    smooth_steps: float = 0.0


def fit_approach1(
    curves: Sequence[Curve | Mapping[str, Any]],
    *,
    n_grid: int = 1500,
    flop_range: tuple[float, float] | None = None,
    smooth_decades: float = 0.0,
    smooth_steps: float = 0.0,
    exclude_edge_sizes: bool = True,
) -> Approach1Result:
    """Approach 1 (Section 3.1, Figure 2; lesson 03): minimum over training curves.

    For every run we map FLOPs to loss by interpolating its curve linearly in log-FLOPs, only
    inside the FLOP range the run covers (no extrapolation). At ``n_grid`` log-spaced FLOP values
    (1500 as in the paper) we take the run with the lowest loss; its size N and its token count D
    at that FLOP value (interpolated linearly in log-log) are the envelope. Power laws
    N_opt = k C^a and D_opt = k' C^b are then fitted by least squares in log-log.

    Choices the paper leaves open:

    * ``smooth_steps``: the paper's smoothing. Appendix D.1: "We use Gaussian smoothing with a
      window length of 10 steps to smooth the training curve." ``smooth_steps=10`` does that to
      each run's curve before interpolating (see ``gaussian_smooth_steps`` for what 10 steps
      means on the kit's log-spaced logged points); it needs each curve's ``steps``
      (``runs.load_curves`` fills them in). 0 (default) = off, because the kit's logged train
      loss is already the mean over all steps since the previous logged point, which is at least
      as wide as 10 steps except in a run's first few dozen steps.
    * ``smooth_decades``: an alternative of the kit's: resample each run onto the common log-FLOP
      grid first and then apply a centred moving average ``smooth_decades`` wide in
      log10(FLOPs) (shrinking at a run's ends), so the smoothing has the same width in log space
      whatever the logging frequency. 0 = off.
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
    if not (isinstance(smooth_steps, (int, float, np.integer, np.floating))
            and smooth_steps >= 0 and math.isfinite(smooth_steps)):
        raise ValueError(f"smooth_steps must be a number of steps >= 0 (the paper uses 10), got {smooth_steps!r}")
    if smooth_steps > 0:
        lacking = [i for i, run in enumerate(runs) if run.steps is None]
        if lacking:
            raise ValueError(
                f"smooth_steps needs each curve's optimiser steps, but curve {lacking[0]} has none; "
                "give Curve(..., steps=...) or a 'steps' key (runs.load_curves does)")
        runs = [Curve(run.n_params, run.flops, run.tokens,
                      gaussian_smooth_steps(run.steps, run.loss, float(smooth_steps)), run.steps)
                for run in runs]

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
        smooth_steps=float(smooth_steps),
    )

