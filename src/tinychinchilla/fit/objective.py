"""The Approach 3 objective (Section 3.3, eq. 3; lesson 05) and the choice of its implementation.

``_HuberLse`` is what the optimiser calls: the Huber loss of log-space residuals for many parameter
rows at once, computed by the compiled library (``native.py``) where it builds and verifies, and by
numpy (``objective_numpy.py``) elsewhere. ``huber_lse_objective`` is its public face for lessons.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import native
from .common import _positive_array, _same_length
from .objective_numpy import NumpyObjective

#: Huber threshold of Section 3.3 (delta = 10^-3).
PAPER_HUBER_DELTA = 1e-3

#: Parameter order used for Approach 3: x = (e, a, b, alpha, beta) with E = exp(e), A = exp(a),
#: B = exp(b) (the same order as ``LossLaw``'s fields).
PARAM_NAMES = ("e", "a", "b", "alpha", "beta")

def _check_reduction(reduction: str) -> None:
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")



#: Approach 3 objectives: "native" is the compiled one (``native.py``, built on first use), "numpy"
#: the numpy/torch one (``objective_numpy.py``), "auto" the compiled one where it builds and numpy elsewhere.
KERNELS = ("auto", "native", "numpy")


class _HuberLse:
    """Huber loss of the log-space residual, batched over parameter rows (Section 3.3, eq. 3).

    For a row x = (e, a, b, alpha, beta) and point i,
        r_i = LSE(a - alpha ln N_i, b - beta ln D_i, e) - ln L_i,
    and the objective is sum_i w_i Huber_delta(r_i) (divided by the number of points for
    ``reduction="mean"``). LSE(u, v, e) = ln(e^u + e^v + e^e) is ln of eq. 2's prediction
    E + A/N^alpha + B/D^beta written with log parameters. The gradient is analytic: dLSE/du is the
    softmax weight of u, and Huber'(r) = clip(r, -delta, delta).

    ``weights`` (per point, or per row and point) carry bootstrap resampling counts.

    ``kernel`` (see ``KERNELS``): where the compiled objective (``native.py``, ``_huber_lse.c``)
    builds, it evaluates each row in one fused pass over the points, about 3x faster than the
    numpy one (``objective_numpy.py``), which runs where there is no compiler; both compute each
    row the same way whatever rows share its batch.
    """

    def __init__(self, log_n, log_d, log_loss, delta, reduction, weights=None, chunk_elems=24576,
                 kernel="auto"):
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        compiled = None if kernel == "numpy" else native.load_kernel()
        if kernel == "native" and compiled is None:
            raise RuntimeError(f"kernel='native' was asked for, but {native.kernel_status()}")
        self.log_n = np.ascontiguousarray(log_n, dtype=float)
        self.log_d = np.ascontiguousarray(log_d, dtype=float)
        self.log_loss = np.ascontiguousarray(log_loss, dtype=float)
        self.delta = float(delta)
        self.native = None if compiled is None else compiled.bind(
            self.log_n, self.log_d, self.log_loss, self.delta)
        self._rows = self.native or NumpyObjective(
            self.log_n, self.log_d, self.log_loss, self.delta, chunk_elems)
        self.n_points = self.log_n.size
        self.scale = 1.0 / self.n_points if reduction == "mean" else 1.0
        self.weights = None if weights is None else np.asarray(weights, dtype=float)

    def __call__(self, x: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        w = self.weights
        if w is not None and w.ndim == 2:
            w = w[rows] if rows is not None else w[: x.shape[0]]
        f, g = self._rows(x, w)
        f *= self.scale
        g *= self.scale
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


def _approach3_inputs(n_params, tokens, loss):
    n = _positive_array("n_params", n_params)
    d = _positive_array("tokens", tokens)
    y = _positive_array("loss", loss)
    count = _same_length(n_params=n, tokens=d, loss=y)
    if count < 5:
        raise ValueError(f"Approach 3 fits 5 parameters and needs at least 5 runs, got {count}")
    return n, d, y
