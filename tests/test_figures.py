"""The lessons' figures draw, and are readable: lesson 05's Figure 4 analogue (labels that do not
overlap, points on the contours' colour scale), lesson 07's accuracy plot (error bars, a chance
line), lesson 06's Table 1 labels (no two overlap); and lesson 07's budget explorer."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from tinychinchilla import paper, plots, runs  # noqa: E402
from tinychinchilla.fit import fit_power_law  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _synthetic_runs():
    """A small IsoFLOP sweep on a known law (no fit needed): five budgets, seven sizes each."""
    law = paper.LossLaw(E=1.5, A=60.0, B=200.0, alpha=0.35, beta=0.3)
    budgets = np.geomspace(3e10, 3e12, 5)
    n, c = [], []
    for budget in budgets:
        centre = law.n_opt(budget)
        for factor in np.geomspace(1 / 8, 8, 7):
            n.append(centre * factor)
            c.append(budget)
    n, c = np.array(n), np.array(c)
    return law, n, c, law.loss(n, c / (6 * n))


def test_figure_4_analogue_draws_readably(tmp_path):
    law, n, c, loss = _synthetic_runs()
    ax, contours, points, labels = plots.plot_loss_contours(law, n, c, loss)
    ax.figure.savefig(tmp_path / "fig4.png", dpi=80)
    assert (tmp_path / "fig4.png").stat().st_size > 10_000
    assert len(labels) >= 3 and all(t.get_fontsize() >= 8 for t in labels)
    assert not plots.any_overlap(plots.text_boxes(labels)), "contour labels overlap"
    # one colour scale: each point has the colour the contours give its loss
    expected = contours.cmap(contours.norm(loss))
    assert np.allclose(points.get_facecolors()[:, :3], expected[:, :3], atol=1e-6)
    assert points.norm.vmin == contours.norm.vmin and points.norm.vmax == contours.norm.vmax
    # the frontier is eq. 4's
    frontier = next(line for line in ax.get_lines() if "frontier" in line.get_label())
    x, y = frontier.get_data()
    assert np.allclose(y, law.n_opt(x))


def test_accuracy_plot_has_error_bars_and_a_chance_line(tmp_path):
    rows = runs.load_runs(seed=0)
    best = [runs.best_run(b) for b in runs.budgets()]
    left, right = plots.plot_accuracy(rows, best, path=None)
    for ax in (left, right):
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 2, "both scorings need error bars"
        segments = bars[0].lines[2][0].get_segments()
        assert len(segments) == (len(rows) if ax is left else len(best))
        heights = [abs(s[1][1] - s[0][1]) / 2 for s in segments]  # +/- 1 s.e., in points
        assert all(0.5 < h < 5 for h in heights)
        chance = [line for line in ax.get_lines() if "chance" in line.get_label()]
        assert chance and set(chance[0].get_ydata()) == {25.0}
    left.figure.savefig(tmp_path / "accuracy.png", dpi=80)
    # the standard error drawn is the one runs.csv records
    first = [c for c in left.containers if isinstance(c, ErrorbarContainer)][0]
    s = first.lines[2][0].get_segments()[0]
    assert math.isclose(abs(s[1][1] - s[0][1]) / 2, 100 * rows[0]["mc_stderr"], rel_tol=1e-9)


def test_table_1_labels_do_not_overlap(tmp_path):
    t3 = fit_power_law(paper.table_column(paper.TABLE_3, "flops"), paper.table_column(paper.TABLE_3, "params"))
    curves = [("Approach 1", t3, "-"), ("Approach 3", paper.EQ10_UNROUNDED.n_opt, "--")]
    ax, labels = plots.plot_optimal_size(curves, paper.TABLE_1, mark_flops=paper.GOPHER_FLOPS)
    ax.figure.savefig(tmp_path / "sizes.png", dpi=80)
    assert sorted(t.get_text() for t in labels) == sorted(m.name for m in paper.TABLE_1)
    boxes = plots.text_boxes(labels)
    assert not plots.any_overlap(boxes), "model labels overlap"
    inset = labels[0].axes
    frame = inset.get_window_extent(ax.figure.canvas.get_renderer())
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)


def test_label_points_spreads_a_crowd():
    """The mechanism: eight labels on nearly one spot still do not overlap."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    xs, ys = 5 + 0.01 * np.arange(8), 5 + 0.01 * np.arange(8)
    labels = plots.label_points(ax, xs, ys, [f"model {i}" for i in range(8)])
    assert len(labels) == 8 and not plots.any_overlap(plots.text_boxes(labels))


# ---------------------------------------------------------------------------------------------
# Lesson 07's explorer
# ---------------------------------------------------------------------------------------------


def _explorer_namespace():
    nb = nbformat.read(ROOT / "solutions" / "07-mmlu-downstream.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and "def explore(" in c.source)
    from tinychinchilla import fit

    namespace = {"fit": fit, "paper": paper, "np": np}
    exec(source, namespace)  # noqa: S102 - the lesson's own cell
    return namespace


def test_explorer_starts_exactly_at_gophers_budget(capsys):
    pytest.importorskip("ipywidgets")
    ns = _explorer_namespace()
    slider, box = ns["units_w"], ns["flops_w"]
    assert slider.value == 1.0 and box.value == paper.GOPHER_FLOPS
    # the slider's own grid contains 1 Gopher unit, so the front end has nothing to snap
    steps = (math.log10(slider.value) - slider.min) / slider.step
    assert abs(steps - round(steps)) < 1e-9
    assert slider.min <= math.log10(1e18 / paper.GOPHER_FLOPS) and slider.max >= math.log10(1e28 / paper.GOPHER_FLOPS)
    assert slider.layout.width == "95%"
    out = capsys.readouterr().out
    assert "5.76e+23 FLOPs = 1 x Gopher's" in out and "6.78e+10 = 67.8B" in out and "nats per token" in out
    table = [line for line in out.splitlines() if line.startswith("Approach ")]
    assert len(table) == 6 and all(len(line) <= 80 for line in table)  # twice: the print and the widget


def test_explorer_follows_the_slider_and_the_text_box(capsys):
    pytest.importorskip("ipywidgets")
    ns = _explorer_namespace()
    capsys.readouterr()
    ns["units_w"].value = 10.0
    assert math.isclose(ns["flops_w"].value, 10 * paper.GOPHER_FLOPS, rel_tol=1e-12)
    ns["flops_w"].value = 1.27e26
    rows = ns["explore"](1.27e26)
    assert [r[0] for r in rows] == list(ns["LAWS"])
    assert math.isclose(rows[0][1], 1e12, rel_tol=0.05)  # Table 3: 1T parameters at 1.27e26


def test_exponent_forest_plot_draws_intervals_that_miss_their_estimate(tmp_path):
    """Lesson 09's plot: Table 2's Approach 3 interval (0.454, 0.455) does not contain 0.46."""
    t2 = paper.TABLE_2
    entries = [("Approach 1, Table 2", t2["approach1"].a, t2["approach1"].a_interval, "tab:blue"),
               ("Approach 3, Table 2", t2["approach3"].a, t2["approach3"].a_interval, "tab:green"),
               ("Besiroglu et al. 2024", paper.EPOCH_REFIT.a, None, "tab:green")]
    ax = plots.plot_exponents(entries, marks={"Kaplan et al. 0.73": 0.73})
    ax.figure.savefig(tmp_path / "exponents.png", dpi=80)
    assert [t.get_text() for t in ax.get_yticklabels()] == [e[0] for e in entries]
    bars = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert sorted(tuple(line.get_xdata()) for line in bars) == sorted([t2["approach1"].a_interval, t2["approach3"].a_interval])
    assert any(list(line.get_xdata()) == [0.73, 0.73] for line in ax.get_lines())


IPYWIDGETS_7 = "7.7.1"  # Colab's (tests/test_colab_env.py)


def test_explorer_on_ipywidgets_7(tmp_path):
    """The same cell with Colab's ipywidgets 7.7.1 (installed with pip into the kit's cache, and
    put first on the path of a fresh process): it starts at 1 Gopher unit and follows the slider."""
    import os
    import subprocess
    import sys

    env = os.environ.get("TINYCHINCHILLA_CACHE")
    target = (Path(env).expanduser() if env else Path.home() / ".cache" / "tinychinchilla") / f"ipywidgets-{IPYWIDGETS_7}"
    if not (target / "ipywidgets" / "__init__.py").exists():
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--no-deps", "--target", str(target), f"ipywidgets=={IPYWIDGETS_7}",
                               "ipython_genutils"], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"pip could not install ipywidgets {IPYWIDGETS_7}:\n{done.stderr[-2000:]}"
    script = f"""
import math, nbformat, ipywidgets
assert ipywidgets.__version__ == {IPYWIDGETS_7!r}, ipywidgets.__version__
from tinychinchilla import fit, paper
nb = nbformat.read({str(ROOT / "solutions" / "07-mmlu-downstream.ipynb")!r}, as_version=4)
ns = {{"fit": fit, "paper": paper}}
exec(next(c.source for c in nb.cells if "def explore(" in c.source), ns)
slider = ns["units_w"]
assert type(slider).__name__ == "FloatLogSlider" and slider.value == 1.0
ns["units_w"].value = 100.0
assert math.isclose(ns["flops_w"].value, 100 * paper.GOPHER_FLOPS, rel_tol=1e-12)
print("explorer ok on", ipywidgets.__version__)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(target)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"explorer ok on {IPYWIDGETS_7}" in done.stdout
    assert "N_opt (params)" in done.stdout and "6.78e+10 = 67.8B" in done.stdout
