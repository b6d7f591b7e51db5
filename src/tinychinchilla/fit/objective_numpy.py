"""The Approach 3 objective in numpy (and torch's exp and log): what runs where there is no C compiler.

``NumpyObjective`` evaluates the unscaled Huber-LSE objective of Section 3.3 and its gradient for
many parameter rows at once; ``native.py`` is the compiled version of the same function, checked
against this one before it is used, and ``objective._HuberLse`` picks between them.
``_approach3_single`` is the one-row version a per-start scipy loop calls (lesson 05).
"""

from __future__ import annotations

import numpy as np

from .common import rowdot as _rowdot

#: Columns the point axis is padded to a multiple of: torch's widest float64 vector loop (two
#: AVX-512 registers), so that every element of a chunk goes through the same vector code.
_LANES = 16
#: Below this many elements torch runs an elementwise op on one thread (at::internal::GRAIN_SIZE).
_TORCH_GRAIN = 32768


class NumpyObjective:
    """sum_i w_i Huber_delta(LSE(a - alpha ln N_i, b - beta ln D_i, e) - ln L_i) and its gradient,
    for rows x = (e, a, b, alpha, beta); see ``objective._HuberLse`` for the formula.

    Speed (the full grid is about 280,000 evaluations of all points): rows are evaluated in chunks
    small enough for the (rows x points) temporaries to stay in the CPU cache; exp and log come
    from torch, whose vectorised float64 versions are 2-3x faster than numpy's on CPUs without
    AVX-512; and fused row sums (einsum) save passes over memory. Each row is computed the same
    way whatever rows share its chunk, bit for bit: torch's vector loop covers every element only
    if the chunk's length is a multiple of its vector width (elements past the last full vector
    take a scalar path that may round differently), so the point axis is padded to a multiple of
    ``_LANES`` columns, and a chunk stays under torch's grain size so that torch does not split it
    over threads at an arbitrary element.
    """

    def __init__(self, log_n, log_d, log_loss, delta: float, chunk_elems: int = 24576):
        import torch  # here rather than at import: the rest of fit does not need it

        self._torch = torch
        self.log_n = np.ascontiguousarray(log_n, dtype=float)
        self.log_d = np.ascontiguousarray(log_d, dtype=float)
        self.log_loss = np.ascontiguousarray(log_loss, dtype=float)
        self.delta = float(delta)
        self.n_points = self.log_n.size
        # Padding columns repeat the last point; they are never part of a sum.
        width = -(-self.n_points // _LANES) * _LANES
        self.log_n_wide = np.concatenate([self.log_n, np.full(width - self.n_points, self.log_n[-1])])
        self.log_d_wide = np.concatenate([self.log_d, np.full(width - self.n_points, self.log_d[-1])])
        self.chunk = max(1, min(chunk_elems, _TORCH_GRAIN - 1) // width)
        self.log_n_ends = (self.log_n.min(), self.log_n.max())
        self.log_d_ends = (self.log_d.min(), self.log_d.max())

    def __call__(self, x: np.ndarray, w: np.ndarray | None = None):
        """The unscaled objective of rows ``x`` in chunks (``w``: per point, per row and point, or
        None); returns ``(f, grad)`` with shapes (rows,) and (rows, 5)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
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
