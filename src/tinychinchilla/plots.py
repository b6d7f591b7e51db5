"""Figures in the style of the paper's (lessons 01-09). matplotlib only, Agg-safe."""

from __future__ import annotations

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg", "widget"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _finish(fig, path) -> None:
    """Lay out a figure this module made itself; with ``path``, save it there and close it."""
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=120)
        plt.close(fig)


def plot_training_curve(result, path=None, unigram: float | None = None, ax=None):
    """Loss against training FLOPs (log x), train and validation, as in Figure 2 (left)."""
    curve = result.curve if hasattr(result, "curve") else result["curve"]
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6, 4))
    flops = np.asarray(curve["flops"])
    ax.plot(flops, curve["train_loss"], label="train (mean since previous point)")
    val = np.asarray(curve["val_loss"], dtype=float)
    ok = np.isfinite(val)
    ax.plot(flops[ok], val[ok], "o-", label="validation")
    if unigram is not None:
        ax.axhline(unigram, color="gray", ls="--", lw=1, label=f"unigram entropy {unigram:.2f}")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (6ND)")
    ax.set_ylabel("loss (nats per character)")
    ax.legend()
    ax.grid(alpha=0.3)
    if own:
        _finish(fig, path)
    return ax


# ---------------------------------------------------------------------------------------------
# Labels that do not overlap
# ---------------------------------------------------------------------------------------------

# Offsets (in points) tried in turn for a point's label: right, above, below, left, further out.
_LABEL_OFFSETS = [(5, 2), (5, -10), (-5, 2), (-5, -10), (5, 11), (5, -19), (-5, 11), (-5, -19),
                  (5, 20), (5, -28), (-5, 20), (-5, -28), (12, -4), (-12, -4)]


def _overlaps(box, boxes, pad: float = 1.0) -> bool:
    return any(box.x0 < b.x1 + pad and b.x0 < box.x1 + pad and box.y0 < b.y1 + pad and b.y0 < box.y1 + pad
               for b in boxes)


def label_points(ax, xs, ys, names, fontsize: float = 8, **text_kwargs):
    """Write ``names`` next to the points ``(xs, ys)`` so that no two labels overlap (and no label
    leaves the axes where another place fits): each label takes the first free place of a few
    around its point, in data order. Returns the Text objects. Used for Table 1's models in
    lesson 06 and for the approaches in lesson 09."""
    fig = ax.figure
    fig.canvas.draw()  # the layout must be final for the extents to mean anything
    renderer = fig.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)

    def inside(box):
        return axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and axes_box.y0 <= box.y0 and box.y1 <= axes_box.y1

    # the points themselves are taken too (a 6-point square around each)
    centres = ax.transData.transform(np.column_stack([xs, ys]))
    from matplotlib.transforms import Bbox

    half = 3 * fig.dpi / 72
    placed = [Bbox.from_extents(cx - half, cy - half, cx + half, cy + half) for cx, cy in centres]
    texts = []
    for x, y, name in zip(xs, ys, names):
        chosen, fallback = None, None
        for dx, dy in _LABEL_OFFSETS:
            text = ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               ha="left" if dx > 0 else "right", va="bottom", **text_kwargs)
            box = text.get_window_extent(renderer)
            if not _overlaps(box, placed):
                if inside(box):
                    chosen = (text, box)
                    break
                if fallback is None:  # free but outside the axes: kept unless a place inside is free
                    fallback = (text, box)
                    continue
            text.remove()
        if chosen is None:
            chosen = fallback
        elif fallback is not None:
            fallback[0].remove()
        if chosen is None:  # every place is taken: the first one, overlapping
            text = ax.annotate(name, (x, y), xytext=_LABEL_OFFSETS[0], textcoords="offset points",
                               fontsize=fontsize, **text_kwargs)
            chosen = (text, text.get_window_extent(renderer))
        placed.append(chosen[1])
        texts.append(chosen[0])
    return texts


def text_boxes(texts, fig=None):
    """The window extents of ``texts`` (after a draw), for tests and for checking by eye."""
    fig = fig or texts[0].figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts]


def any_overlap(boxes, pad: float = 0.0) -> bool:
    """True when two of the boxes overlap."""
    return any(_overlaps(b, boxes[i + 1:], pad) for i, b in enumerate(boxes))


# ---------------------------------------------------------------------------------------------
# Lesson 05: the analogue of Figure 4 (left)
# ---------------------------------------------------------------------------------------------


def plot_loss_contours(law, n_params, flops, loss, ax=None, n_levels: int = 10, path=None):
    """Contours of the fitted loss ``law.loss(N, C / 6N)`` over training FLOPs and parameters,
    the runs as points and the efficient frontier N_opt(C) of eq. 4, as in Figure 4 (left).

    The contour lines and the points share one colour scale (one colormap and one norm, shown by
    the colour bar), so a point's colour is the loss at which it would sit on the contours; the
    contour labels are 8 pt, at round values, and never overlap. Returns
    ``(ax, contour_set, points, labels)``."""
    from matplotlib.colors import Normalize

    n_params, flops, loss = (np.asarray(v, dtype=float) for v in (n_params, flops, loss))
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7, 4.8))
    c_grid = np.geomspace(flops.min() / 3, flops.max() * 30, 160)
    n_grid = np.geomspace(n_params.min() / 3, n_params.max() * 3, 160)
    CC, NN = np.meshgrid(c_grid, n_grid)
    loss_grid = law.loss(NN, CC / (6 * NN))
    # levels at round values over the range of the runs (and a little beyond)
    lo, hi = min(loss.min(), np.quantile(loss_grid, 0.02)), max(loss.max(), np.quantile(loss_grid, 0.6))
    step = min((s for s in (0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if (hi - lo) / s <= n_levels), default=1.0)
    levels = np.arange(np.floor(lo / step) * step, hi + step / 2, step).round(6)
    norm = Normalize(vmin=min(levels[0], loss.min()), vmax=max(levels[-1], loss.max()))
    cmap = plt.get_cmap("viridis")
    cs = ax.contour(CC, NN, loss_grid, levels=levels, cmap=cmap, norm=norm, linewidths=1.0)
    labels = ax.clabel(cs, fmt="%g", fontsize=8, inline=True, inline_spacing=4)
    kept_boxes, kept = [], []
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for text in labels:  # matplotlib may put two labels on top of each other: keep the first
        box = text.get_window_extent(renderer)
        if _overlaps(box, kept_boxes, pad=2.0):
            text.remove()
        else:
            kept_boxes.append(box)
            kept.append(text)
    points = ax.scatter(flops, n_params, c=loss, cmap=cmap, norm=norm, edgecolor="k", linewidths=0.6, s=36,
                        zorder=3, label="runs (colour: final loss)")
    n_opt = law.n_opt(c_grid)
    ax.plot(c_grid, n_opt, color="tab:red", lw=2, label=f"efficient frontier, a = {law.a:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(n_grid[0], n_grid[-1])
    ax.set_xlabel("training FLOPs C")
    ax.set_ylabel("parameters N")
    ax.figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax,
                       label="loss, nats/char (lines: fitted law; points: runs)")
    ax.legend(loc="upper left", fontsize=8)
    if own:
        _finish(fig, path)
    return ax, cs, points, kept


# ---------------------------------------------------------------------------------------------
# Lesson 07: accuracy against loss and compute
# ---------------------------------------------------------------------------------------------

CHANCE_ACCURACY = 25.0  # percent: four choices


def _stderr_points(accuracy: np.ndarray, n_items: np.ndarray) -> np.ndarray:
    p = accuracy / 100
    return 100 * np.sqrt(p * (1 - p) / n_items)


def plot_accuracy(rows, best_rows, axes=None, path=None):
    """Lesson 07's two panels: the multiple-choice accuracy of every run against its final loss,
    and that of the best run of each budget against compute. Each point carries its standard
    error (±1 s.e., binomial, from the number of items), both scorings are shown, and the 25%
    of guessing among four choices is drawn as the chance line. ``rows``/``best_rows``: rows of
    runs.csv (``runs.load_runs()`` and ``runs.best_run(b)`` for each budget). Returns the axes."""
    loss = np.array([r["final_val_loss"] for r in rows], dtype=float)
    acc = 100 * np.array([r["mc_accuracy"] for r in rows], dtype=float)
    acc_pmi = 100 * np.array([r["mc_accuracy_pmi"] for r in rows], dtype=float)
    stderr = 100 * np.array([r["mc_stderr"] for r in rows], dtype=float)
    # the number of items follows from the log-likelihood scoring's own standard error
    p = acc / 100
    n_items = np.where(stderr > 0, p * (1 - p) / np.maximum(stderr / 100, 1e-12) ** 2, 1000.0)
    budget = np.array([r["budget_flops"] for r in rows], dtype=float)
    own = axes is None
    if own:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    left, right = axes
    from matplotlib.colors import LogNorm

    norm = LogNorm(vmin=budget.min(), vmax=budget.max())
    cmap = plt.get_cmap("viridis")
    for values, err, marker, label in ((acc, stderr, "o", "log-likelihood scoring"),
                                       (acc_pmi, _stderr_points(acc_pmi, n_items), "^", "mutual-information scoring")):
        left.errorbar(loss, values, yerr=err, fmt="none", ecolor="0.6", elinewidth=0.8, capsize=1.5, zorder=1)
        sc = left.scatter(loss, values, c=budget, cmap=cmap, norm=norm, marker=marker, s=26, zorder=2,
                          edgecolor="k", linewidths=0.3, label=label)
    left.axhline(CHANCE_ACCURACY, color="tab:red", ls="--", lw=1, label="chance (4 choices): 25%")
    left.set_xlabel("final validation loss (nats per character)")
    left.set_ylabel("accuracy (%), ±1 standard error")
    left.legend(fontsize=8, loc="upper right")
    left.figure.colorbar(sc, ax=left, label="compute budget C (FLOPs)")

    b = np.array([r["budget_flops"] for r in best_rows], dtype=float)
    best = 100 * np.array([r["mc_accuracy"] for r in best_rows], dtype=float)
    best_pmi = 100 * np.array([r["mc_accuracy_pmi"] for r in best_rows], dtype=float)
    best_err = 100 * np.array([r["mc_stderr"] for r in best_rows], dtype=float)
    right.errorbar(b, best, yerr=best_err, fmt="o-", color="k", capsize=3, label="log-likelihood scoring")
    right.errorbar(b, best_pmi, yerr=_stderr_points(best_pmi, np.full(best_pmi.shape, float(np.median(n_items)))),
                   fmt="^--", color="0.4", capsize=3, label="mutual-information scoring")
    right.axhline(CHANCE_ACCURACY, color="tab:red", ls="--", lw=1, label="chance: 25%")
    right.set_xscale("log")
    right.set_xlabel("compute budget C (FLOPs)")
    right.set_ylabel("accuracy of the budget's best run (%)")
    right.legend(fontsize=8, loc="upper left")
    for ax in axes:
        ax.grid(alpha=0.3)
    if own:
        _finish(fig, path)
    return axes


# ---------------------------------------------------------------------------------------------
# Lesson 06: compute-optimal size by approach, with Table 1's models (cf. Figure 1)
# ---------------------------------------------------------------------------------------------


def plot_optimal_size(curves, models, flops=None, mark_flops=None, ax=None, path=None):
    """Compute-optimal parameters against training FLOPs, one line per approach, and the models
    of Table 1 as labelled points at their 6ND compute (labels placed so they do not overlap).

    ``curves``: (label, function of C returning N_opt, line style) triples; ``models``: rows with
    ``name``, ``params`` and ``tokens`` (``paper.TABLE_1``); ``mark_flops``: a budget drawn as a
    vertical line (Gopher's). The models span less than a decade of compute, so they are labelled
    in a zoomed inset. Returns ``(ax, labels)`` (the labels live on the inset)."""
    flops = np.logspace(18, 29, 60) if flops is None else np.asarray(flops, dtype=float)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, n_opt, style in curves:
        ax.loglog(flops, n_opt(flops), style, label=label)
    xs = np.array([6 * m.params * m.tokens for m in models])
    ys = np.array([m.params for m in models], dtype=float)
    ax.plot(xs, ys, "k.", ms=6, label="Table 1's models (6ND; zoomed in the inset)")
    if mark_flops is not None:
        ax.axvline(mark_flops, color="grey", lw=0.6)
    ax.set_xlabel("training FLOPs C")
    ax.set_ylabel("compute-optimal parameters N_opt")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    # the six models span less than one decade of the eleven: label them in a zoomed inset
    inset = ax.inset_axes([0.56, 0.07, 0.42, 0.44])
    zoom = np.geomspace(xs.min() / 2.5, xs.max() * 2.5, 40)
    for label, n_opt, style in curves:
        inset.loglog(zoom, n_opt(zoom), style)
    inset.plot(xs, ys, "k.", ms=6)
    if mark_flops is not None:
        inset.axvline(mark_flops, color="grey", lw=0.6)
    inset.set_xlim(zoom[0], zoom[-1])
    inset.set_ylim(ys.min() / 3, ys.max() * 3)
    inset.tick_params(labelsize=6)
    inset.set_title("Table 1's models at their 6ND compute", fontsize=7)
    ax.indicate_inset_zoom(inset, edgecolor="0.5")
    if own:
        fig.tight_layout()
    order = np.argsort(xs)  # GPT-3 and Jurassic (175B and 178B on 300B tokens) nearly coincide
    labels = label_points(inset, xs[order], ys[order], [models[i].name for i in order], fontsize=6.5)
    if own and path:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return ax, labels


# ---------------------------------------------------------------------------------------------
# Lesson 09: the exponents of every approach, with their intervals
# ---------------------------------------------------------------------------------------------


def plot_exponents(entries, ax=None, marks=None, path=None):
    """A forest plot of the frontier exponent a: one row per ``(label, a, interval, colour)``
    (``interval`` a (low, high) pair, e.g. the 10th-90th percentiles of a bootstrap, or None;
    drawn as a bar apart from the point, since Table 2's Approach 3 interval misses its own
    estimate), top to bottom, and vertical reference lines ``marks`` ({label: a}, e.g. Kaplan's 0.73).
    Returns the axes."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(7, 0.42 * len(entries) + 1.2))
    y = np.arange(len(entries))[::-1]
    for yi, (label, a, interval, colour) in zip(y, entries):
        if interval is not None:  # drawn apart from the point: an interval may miss its estimate
            lo, hi = interval
            ax.plot([lo, hi], [yi, yi], "-", color=colour, lw=1.5, marker="|", ms=8)
            ax.plot([a], [yi], "o", color=colour, ms=5)
        else:
            ax.plot([a], [yi], "D", color=colour, ms=5)
    for name, value in (marks or {}).items():
        ax.axvline(value, color="0.5", ls=":", lw=1)
        ax.annotate(name, (value, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                    textcoords="offset points", fontsize=7, color="0.3")
    ax.set_yticks(y)
    ax.set_yticklabels([e[0] for e in entries], fontsize=8)
    ax.set_xlabel("frontier exponent a of N_opt ∝ C^a (bars: 10th-90th percentile)")
    ax.grid(axis="x", alpha=0.3)
    if own:
        _finish(fig, path)
    return ax
