"""What every fit shares: the ``FitError`` it raises and the checks its inputs go through.

Inputs are validated up front so that a learner's mistake (a zero, a NaN, lists of different
lengths) gives a message saying what is wrong instead of a NaN fit, and a problem the data cannot
answer (flat losses, one budget) gives a ``FitError`` saying why instead of a number.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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


class UnidentifiableFit(FitError):
    """The data cannot determine what the fit estimates (e.g. every loss equal, or one budget for
    two exponents): any answer would be an artefact of the optimiser, so none is returned. The
    message says what the data lacks and what to add."""


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



def rowdot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise dot products, computed the same way for a row whatever the batch size."""
    return np.einsum("ij,ij->i", u, v)
