"""The paper's three ways of estimating the compute-optimal frontier (Section 3), and bootstraps.

Hoffmann et al. 2022 estimate how the compute-optimal model size N_opt and token count D_opt
grow with the compute budget C, as power laws N_opt ∝ C^a and D_opt ∝ C^b (Table 2):

* Approach 1 (Section 3.1, lesson 03): ``fit_approach1`` takes whole training curves, finds for
  each FLOP value which run reached the lowest loss, and fits power laws to that envelope.
* Approach 2 (Section 3.2, lesson 04): ``fit_approach2`` fits a parabola to each IsoFLOP profile
  (final loss against log N at a fixed budget) and fits power laws to the parabolas' minima.
* Approach 3 (Section 3.3 and Appendix D.2, lesson 05): ``fit_approach3`` fits the parametric loss
  L(N, D) = E + A/N^alpha + B/D^beta (eq. 2) with the paper's Huber objective and L-BFGS from a
  grid of 4500 starting points (optionally pruned by successive halving, ``prune=True``), and
  ``efficient_frontier`` turns it into N_opt, D_opt (eq. 4).
* ``bootstrap_approach1/2/3`` resample the data to give Table 2's 10th-90th percentile intervals.

Throughout, C = 6ND is the FLOP approximation of Section 3 (``D = C / (6 N)``), logarithms are
natural, and inputs are validated up front so that a learner's mistake (a zero, a NaN, lists of
different lengths) gives a message saying what is wrong instead of a NaN fit, and data that cannot
determine what is asked (flat losses, a single budget) gives an ``UnidentifiableFit`` error saying
why instead of a number.

A reader can walk the package in this order (each module imports only the ones before it):

    common.py           FitError, UnidentifiableFit and the input checks
    power_law.py        y = k x^p fitted in log-log
    approach1.py        the envelope of training curves
    approach2.py        IsoFLOP parabolas
    objective_numpy.py  the Approach 3 objective in numpy
    native.py           the same objective compiled from _huber_lse.c, verified before loading
    objective.py        which of the two runs (kernel="auto" | "native" | "numpy")
    lbfgs.py            L-BFGS from many starts at once
    approach3.py        the parametric fit and its efficient frontier
    bootstrap.py        Table 2's intervals
"""

from .approach1 import Approach1Result, Curve, fit_approach1
from .approach2 import Approach2Result, IsoFlopParabola, fit_approach2
from .approach3 import (
    PRUNE_HALVING,
    Approach3Result,
    efficient_frontier,
    fit_approach3,
    paper_start_grid,
)
from .bootstrap import BootstrapResult, bootstrap_approach1, bootstrap_approach2, bootstrap_approach3
from .common import FitError, UnidentifiableFit
from .lbfgs import STATUS_NAMES, LbfgsResult, lbfgs_batched
from .objective import KERNELS, PAPER_HUBER_DELTA, PARAM_NAMES, huber_lse_objective
from .objective import _HuberLse  # noqa: F401  (private; the tests reach it as fit._HuberLse)
from .power_law import PowerLaw, fit_power_law

__all__ = [
    "FitError",
    "UnidentifiableFit",
    "PowerLaw",
    "fit_power_law",
    "Curve",
    "Approach1Result",
    "fit_approach1",
    "IsoFlopParabola",
    "Approach2Result",
    "fit_approach2",
    "PAPER_HUBER_DELTA",
    "PARAM_NAMES",
    "STATUS_NAMES",
    "KERNELS",
    "paper_start_grid",
    "huber_lse_objective",
    "LbfgsResult",
    "lbfgs_batched",
    "PRUNE_HALVING",
    "Approach3Result",
    "fit_approach3",
    "efficient_frontier",
    "BootstrapResult",
    "bootstrap_approach1",
    "bootstrap_approach2",
    "bootstrap_approach3",
]
