"""Figures in the style of the paper's (lessons 01-07). matplotlib only, Agg-safe."""

from __future__ import annotations

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "nbagg", "widget"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


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
        fig.tight_layout()
        if path:
            fig.savefig(path, dpi=120)
            plt.close(fig)
    return ax
