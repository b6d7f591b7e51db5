"""Power laws y = k x^p, fitted in log-log (Approaches 1 and 2, and ``paper.project_table``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .common import FitError, _positive_array, _same_length


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

