"""Approach 2 (Section 3.2, Figure 3; lesson 04): IsoFLOP profiles."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .common import FitError, UnidentifiableFit, _positive_array, _same_length
from .power_law import PowerLaw, fit_power_law


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


#: A fitted parabola shallower than this, relative to the loss, over its sizes is flat.
_FLAT_PROFILE = 1e-9


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
    # The parabola's depth over the sampled sizes: below ~1e-9 of the loss it is rounding, not
    # curvature (all-equal losses fit c2 ~ 1e-16 of either sign, and its "minimum" is noise).
    depth = abs(c2) * (x.max() - x.min()) ** 2 / 4
    if depth <= _FLAT_PROFILE * float(np.max(np.abs(loss))):
        raise UnidentifiableFit(
            f"the IsoFLOP profile at budget {budget:.3g} is flat (every loss {loss[0]:.6g}, to within "
            "rounding), so it has no minimum to find: check that the losses were read correctly, or "
            "drop this budget",
            budget,
            "flat profile",
        )
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

