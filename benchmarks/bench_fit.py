"""Benchmark the Approach 3 fit (lesson 05): batched L-BFGS over all starts vs a per-start scipy loop.

Fits eq. 2 to one data set several ways, with the paper's procedure (Huber delta = 1e-3, L-BFGS
from the 4500-point grid of Appendix D.2, best objective kept):

* vectorised, full grid: ``fit_approach3(method="vectorized")`` (the default), all 4500 starts
  at once, each run to scipy's stopping rule, with the compiled objective where it builds
  (``kernel="auto"``; the one-off build into an empty cache is timed and printed first);
* vectorised, full grid, numpy objective: the same with ``kernel="numpy"`` (what runs where
  there is no C compiler);
* vectorised, pruned: the same with ``prune=True``: successive halving, where after 4, 8, 16,
  32, 64 and 128 iterations the worse half of the starts still running is stopped. About 3.7x
  faster, and on the Epoch points it ends at the full grid's optimum, but it is a heuristic that
  can miss the optimum on small noisy data (see ``fit_approach3``), hence not the default;
* loop: ``scipy.optimize.minimize(method="L-BFGS-B")`` once per start, with the analytic gradient
  and with scipy's finite differences;
* plain loop: the same, with the objective as it is usually first written (``scipy.special``'s
  ``logsumexp`` and ``huber``, finite-difference gradients): the "plain loop of scipy minimize
  calls" the speed target refers to. Running it on all 4500 starts takes minutes, so by default it
  runs on a subset (the vectorised winner's start plus random others) and the time is scaled up
  to 4500 starts; the output says so.

It prints the times (the vectorised ones as the median of ``--repeat`` interleaved runs), the
speed-ups, and whether each reaches the full grid's optimum. Data: Epoch AI's 240 points
digitised from Figure 4 if the CSV is beside the repository (../shared/reference, never shipped
with the project), otherwise 250 synthetic points from eq. 10 with 0.5% noise.

Measured on the Epoch points (2-core AMD EPYC VM with AVX2, one BLAS thread, gcc 12, glibc 2.36;
two runs of this script, each with --repeat 3, on 2026-11-23):

                                       run 1      run 2    speed-up of the default full grid
    build of the compiled objective    0.16 s     0.21 s   (once per machine, then cached)
    vectorised full grid (default)     1.35 s     1.37 s   best objective 0.0010182740178
    full grid, numpy objective         2.51 s     2.34 s   1.86x / 1.71x slower than the default
    vectorised pruned (prune=True)     0.35 s     0.37 s   3.9x / 3.7x faster than the default
    plain scipy loop (scaled)        399.3 s    401.2 s    295x, 293x  (numpy objective: 159x, 171x)
    scipy loop, analytic gradient     37.2 s     38.9 s     28x,  28x
    scipy loop, finite differences   204.5 s    236.8 s    151x, 173x

Wall and CPU times agreed within 1%. This VM's speed drifts by up to a third within minutes, which
the ratios, measured side by side, mostly cancel. All fits reach the same optimum: E = 1.8172, A =
477.8, B = 2143.4, alpha = 0.34731, beta = 0.36717 (objectives within 1e-7 of each other). The full
grid costs about 280,000 evaluations of the 240 points (43 L-BFGS iterations per start, 1.45
evaluations per iteration, in about 1,500 batched calls). The numpy objective spends about 23 ns per
point and row, half of it in torch's exp, exp and log; the compiled one about 8 ns (one pass,
libmvec's vector exp and log), after which the optimiser's own bookkeeping (numpy calls on (starts x
5) arrays) is about half of the fit.

    python benchmarks/bench_fit.py            # defaults
    python benchmarks/bench_fit.py --help
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy loads: scipy's L-BFGS-B calls BLAS on 5-vectors, and a
# threaded OpenBLAS on a busy 2-core machine makes each call about 10x slower, which would
# flatter the vectorised fit. (The fit's scipy loop also limits OpenBLAS itself; this covers other
# BLAS builds.) Both sides of the comparison then run on one core.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402,F401  (the fit imports it on first use; the lessons have it loaded already)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # run from a clone without installing

from tinychinchilla import _native, fit, paper  # noqa: E402

DEFAULT_CSV = REPO.parent / "shared" / "reference" / "chinchilla_fig4_epoch_digitized.csv"
N_GRID = 4500


def load_epoch(path: Path):
    """Epoch's digitised Figure 4: D = C / (6N), the 5 highest-loss points dropped as they did."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    n = np.array([float(r["Model Size"]) for r in rows])
    c = np.array([float(r["Training FLOP"]) for r in rows])
    y = np.array([float(r["loss"]) for r in rows])
    keep = np.argsort(y)[:-5]
    n, c, y = n[keep], c[keep], y[keep]
    return n, c / (6 * n), y


def synthetic(n_points: int, seed: int):
    """IsoFLOP-style points from eq. 10 (rounded) with 0.5% multiplicative noise."""
    rng = np.random.default_rng(seed)
    law = paper.EQ10_ROUNDED
    budgets = np.geomspace(6e18, 3e21, 10)
    per = int(np.ceil(n_points / budgets.size))
    n = np.concatenate([law.n_opt(c) * np.geomspace(1 / 8, 8, per) for c in budgets])[:n_points]
    c = np.repeat(budgets, per)[:n_points]
    d = c / (6 * n)
    return n, d, law.loss(n, d) * (1 + 0.005 * rng.standard_normal(n.size))


def timed(**kwargs):
    """Run fit_approach3 and return (result, wall seconds, CPU seconds of this process).

    On a shared machine the wall time depends on what else runs; the CPU time much less so,
    which is why both are printed and both ratios given."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    res = fit.fit_approach3(**kwargs)
    return res, time.perf_counter() - wall0, time.process_time() - cpu0


def median_times(runs) -> tuple[float, float]:
    """Median wall and CPU seconds of a list of ``timed`` results."""
    return float(np.median([r[1] for r in runs])), float(np.median([r[2] for r in runs]))


def describe(res: fit.Approach3Result) -> str:
    law = res.law
    return (
        f"objective {res.objective:.12g}  E={law.E:.5g} A={law.A:.5g} B={law.B:.5g} "
        f"alpha={law.alpha:.5g} beta={law.beta:.5g}  (a={law.a:.4f})"
    )


def compare(ref: fit.Approach3Result, other: fit.Approach3Result) -> tuple[float, float, bool]:
    """Relative objective gap, largest relative parameter gap, and 'same optimum' (1e-6 / 1e-3)."""
    gap_f = abs(other.objective - ref.objective) / ref.objective
    names = ("E", "A", "B", "alpha", "beta")
    gap_p = max(abs(getattr(other.law, k) / getattr(ref.law, k) - 1) for k in names)
    return gap_f, gap_p, gap_f < 1e-6 and gap_p < 1e-3


def plain_loop(n, d, y, starts, reduction: str):
    """One scipy L-BFGS-B call per start on the objective written the plain way."""
    from scipy.optimize import minimize
    from scipy.special import huber, logsumexp

    log_n, log_d, log_y = np.log(n), np.log(d), np.log(y)
    reduce = np.sum if reduction == "sum" else np.mean

    def objective(p):
        e, a, b, alpha, beta = p
        pred = logsumexp([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)], axis=0)
        return reduce(huber(fit.PAPER_HUBER_DELTA, pred - log_y))

    best = None
    for start in starts:
        res = minimize(objective, start, method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", choices=("auto", "epoch", "synthetic"), default="auto",
                        help="auto: the Epoch points if the CSV exists, else synthetic (default)")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV,
                        help=f"Epoch CSV (default {DEFAULT_CSV})")
    parser.add_argument("--points", type=int, default=250, help="synthetic points (default 250)")
    parser.add_argument("--loop-starts", type=int, default=100,
                        help=f"starts for the scipy loop; {N_GRID} = the whole grid (default 100)")
    parser.add_argument("--gradient", choices=("all", "analytic", "numeric", "plain"), default="all",
                        help="which scipy loop(s) to time (default all three)")
    parser.add_argument("--reduction", choices=("sum", "mean"), default="sum")
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each vectorised fit this many times, interleaved, and report the "
                             "median (default 3)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the start subset and the synthetic data")
    args = parser.parse_args(argv)

    if args.data == "epoch" and not args.csv.exists():
        parser.error(f"{args.csv} not found")
    if args.data == "epoch" or (args.data == "auto" and args.csv.exists()):
        n, d, y = load_epoch(args.csv)
        source = f"Epoch AI's digitised Figure 4 ({n.size} points, {args.csv})"
    else:
        n, d, y = synthetic(args.points, args.seed)
        source = f"synthetic: eq. 10 with 0.5% noise ({n.size} points)"
    grid = fit.paper_start_grid()
    print(f"data: {source}")
    print(f"objective: Huber(delta=1e-3) of log residuals, reduction={args.reduction}; "
          f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS')}\n")

    # The compiled objective's one-off cost: a build into an empty cache (a fit then loads it).
    with tempfile.TemporaryDirectory() as scratch:
        wall0 = time.perf_counter()
        try:
            _native.build(cache=Path(scratch))
            build_note = f"a fresh build took {time.perf_counter() - wall0:.2f} s (once per machine)"
        except RuntimeError as err:
            build_note = f"it does not build here: {err}"
    print(f"kernel: {_native.kernel_status()}; {build_note}\n")

    # The vectorised fits, interleaved so that all see the same load; medians reported.
    variants = {"default": {}, "numpy": {"kernel": "numpy"}, "pruned": {"prune": True}}
    runs = {name: [] for name in variants}
    for _ in range(max(1, args.repeat)):
        for name, options in variants.items():
            runs[name].append(timed(n_params=n, tokens=d, loss=y, reduction=args.reduction, **options))
    vec, vec_wall, vec_cpu = runs["default"][0][0], *median_times(runs["default"])
    num, num_wall, num_cpu = runs["numpy"][0][0], *median_times(runs["numpy"])
    pru, pru_wall, pru_cpu = runs["pruned"][0][0], *median_times(runs["pruned"])
    print(f"vectorised, all {N_GRID} starts (default, full grid, {vec.kernel} objective): "
          f"{vec_wall:.2f} s wall, {vec_cpu:.2f} s CPU (median of {len(runs['default'])})")
    print(f"  best start #{vec.best_start}: {describe(vec)}")
    print(f"  mean L-BFGS iterations per start {vec.n_iterations.mean():.1f}; {vec.status_counts}\n")
    gap_f, gap_p, numpy_same = compare(vec, num)
    print(f"vectorised, all {N_GRID} starts, numpy objective (kernel='numpy'): {num_wall:.2f} s wall, "
          f"{num_cpu:.2f} s CPU (median of {len(runs['numpy'])}); the default is "
          f"{num_wall / vec_wall:.2f}x faster (wall), {num_cpu / vec_cpu:.2f}x (CPU)")
    print(f"  best start #{num.best_start}: {describe(num)}")
    print(f"  vs the default: objective rel. gap {gap_f:.1e}, largest parameter rel. gap {gap_p:.1e} "
          f"-> same optimum: {'yes' if numpy_same else 'NO'}\n")
    n_pruned = int(np.sum(pru.status == 4))
    print(f"vectorised, successive halving (prune=True, rounds {[r for r, _ in pru.prune]}): "
          f"{pru_wall:.2f} s wall, {pru_cpu:.2f} s CPU (median of {len(runs['pruned'])}); "
          f"{vec_wall / pru_wall:.2f}x faster than the full grid (wall), {vec_cpu / pru_cpu:.2f}x (CPU)")
    print(f"  best start #{pru.best_start}: {describe(pru)}")
    print(f"  {n_pruned} of {N_GRID} starts pruned; L-BFGS iterations {pru.n_iterations.sum()} "
          f"vs {vec.n_iterations.sum()} for the full grid")
    gap_f, gap_p, pruned_same = compare(vec, pru)
    print(f"  vs the full grid: objective rel. gap {gap_f:.1e}, largest parameter rel. gap {gap_p:.1e} "
          f"-> same optimum: {'yes' if pruned_same else 'NO'}\n")

    k = min(max(1, args.loop_starts), N_GRID)
    if k == N_GRID:
        subset = np.arange(N_GRID)
        subset_note = f"all {N_GRID} starts"
    else:
        rng = np.random.default_rng(args.seed)
        others = rng.choice(np.delete(np.arange(N_GRID), vec.best_start), k - 1, replace=False)
        subset = np.sort(np.r_[vec.best_start, others])
        subset_note = (
            f"{k} of {N_GRID} starts (the vectorised winner #{vec.best_start} + {k - 1} random), "
            f"time scaled x{N_GRID / k:.1f} to {N_GRID} starts"
        )
    vec_sub = fit.fit_approach3(n, d, y, starts=grid[subset], reduction=args.reduction)

    kinds = {"all": (True, False), "analytic": (True,), "numeric": (False,), "plain": ()}[args.gradient]
    summary = []

    def report(label, result, wall, cpu, compare_subset):
        """Print one loop's timing, speed-ups and optimum against the vectorised fits."""
        scaled, scaled_cpu = wall * N_GRID / k, cpu * N_GRID / k
        ratios = (scaled / vec_wall, scaled_cpu / vec_cpu, scaled / pru_wall, scaled_cpu / pru_cpu)
        print(f"scipy L-BFGS-B loop, {label}: {subset_note}")
        print(f"  measured {wall:.2f} s wall / {cpu:.2f} s CPU -> {scaled:.1f} s wall / "
              f"{scaled_cpu:.1f} s CPU for {N_GRID} starts")
        print(f"  speed-up of the vectorised fit: full grid {ratios[0]:.0f}x (wall), {ratios[1]:.0f}x "
              f"(CPU); pruned {ratios[2]:.0f}x (wall), {ratios[3]:.0f}x (CPU)")
        print(f"  best: {describe(result)}")
        gap_f, gap_p, same = compare(vec, result)
        print(f"  vs vectorised full grid: objective rel. gap {gap_f:.1e}, "
              f"largest parameter rel. gap {gap_p:.1e} -> same optimum: {'yes' if same else 'NO'}")
        gap_f, gap_p, same_pruned = compare(pru, result)
        print(f"  vs vectorised pruned: objective rel. gap {gap_f:.1e}, "
              f"largest parameter rel. gap {gap_p:.1e} -> same optimum: {'yes' if same_pruned else 'NO'}")
        if compare_subset:
            gap_f, gap_p, same_sub = compare(vec_sub, result)
            print(f"  vs vectorised on the same {k} starts: objective rel. gap {gap_f:.1e}, "
                  f"parameter gap {gap_p:.1e} -> same optimum: {'yes' if same_sub else 'NO'}")
        print()
        same_numpy = compare(num, result)[2]
        summary.append((label, scaled, scaled_cpu, ratios, same, same_numpy, same_pruned))

    if args.gradient in ("all", "plain"):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        res = plain_loop(n, d, y, grid[subset], args.reduction)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        plain = SimpleNamespace(objective=res.fun, law=paper.LossLaw.from_log_params(res.x))
        report("plain objective, finite differences", plain, wall, cpu, compare_subset=False)
    for analytic in kinds:
        loop, wall, cpu = timed(n_params=n, tokens=d, loss=y, starts=grid[subset], method="loop",
                                analytic_gradient=analytic, reduction=args.reduction)
        report("analytic gradient" if analytic else "finite-difference gradient", loop, wall, cpu,
               compare_subset=True)

    print("summary (target: speed-up >= 250x over the plain loop, same optimum):")
    print(f"  vectorised full grid (default): {vec_wall:.2f} s wall, {vec_cpu:.2f} s CPU")
    print(f"  vectorised full grid, numpy objective: {num_wall:.2f} s wall, {num_cpu:.2f} s CPU; "
          f"same optimum as the default: {'yes' if numpy_same else 'no'}")
    print(f"  vectorised pruned (prune=True): {pru_wall:.2f} s wall, {pru_cpu:.2f} s CPU "
          f"({vec_wall / pru_wall:.2f}x faster); same optimum as the full grid: "
          f"{'yes' if pruned_same else 'no'}")
    scaled_note = " (scaled)" if k < N_GRID else ""
    for label, scaled, scaled_cpu, ratios, same, same_numpy, same_pruned in summary:
        print(f"  scipy loop ({label}): {scaled:.1f} s wall{scaled_note}")
        numpy_ratios = (scaled / num_wall, scaled_cpu / num_cpu)
        for name, wall_r, cpu_r, agree in (("full grid", ratios[0], ratios[1], same),
                                           ("full grid, numpy objective", *numpy_ratios, same_numpy),
                                           ("pruned", ratios[2], ratios[3], same_pruned)):
            verdict = "meets" if min(wall_r, cpu_r) >= 250 else "below"
            print(f"    vectorised {name}: {wall_r:.0f}x wall, {cpu_r:.0f}x CPU ({verdict} target); "
                  f"same optimum: {'yes' if agree else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
