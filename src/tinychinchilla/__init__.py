"""tinychinchilla: reproduce the method of Hoffmann et al. 2022 ("Chinchilla") at tiny scale.

Data flows one way: corpus (`data`) -> model (`model`) -> training (`train`, `sweep`) ->
runs (`small_runs/`) -> fits (`fit`) -> lessons. `counting` holds parameter and FLOP counts,
`paper` the paper's tables as data, `evaluate` the multiple-choice harness and `check` the
learner's self-check.
"""

__version__ = "0.1.0"

import os as _os

# torch's OpenMP threads spin while they wait for work. On a 2-core machine where anything else
# is busy, two spinning threads made training ~40x slower (measured: 1.4 s/step instead of 37 ms);
# waiting threads that sleep lose nothing measurable under load. Only takes effect when the kit is
# imported before torch (the command-line tools always are); a value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

