"""tinychinchilla: reproduce the method of Hoffmann et al. 2022 ("Chinchilla") at tiny scale.

Data flows one way: corpus (`data`) -> model (`model`) -> training (`train`, `sweep`) ->
runs (`small_runs/`) -> fits (`fit`) -> lessons. `counting` holds parameter and FLOP counts,
`paper` the paper's tables as data, `evaluate` the multiple-choice harness and `check` the
learner's self-check.
"""

__version__ = "0.1.0"

import os as _os
import sys as _sys

# torch's OpenMP threads (GNU libgomp on Linux) spin while they wait for work. On a 2-core machine
# where anything else is busy, two spinning threads made training ~40x slower (measured: 1.4 s/step
# instead of 37 ms); waiting threads that sleep lose nothing measurable under load. libgomp reads
# its wait policy once, when torch loads it, so:
# * kit imported before torch (the command-line tools, the lessons' set-up cell): ask for sleeping
#   threads with OMP_WAIT_POLICY=PASSIVE;
# * torch already imported: the policy can no longer change, but libgomp spins only ~100 times
#   instead of ~300,000 ("throttled") when it runs more threads than CPUs, so the kit gives torch
#   one intra-op thread more than the CPUs it may use. Under load this is as fast as PASSIVE (and
#   far faster than the spinning default); benchmarks/bench_import_order.py measures both orders.
# A wait policy, spin count or thread count the user set is kept either way.
_USER_SET = any(_os.environ.get(v) for v in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS"))


def _tame_spinning_threads() -> None:
    import torch

    if _USER_SET or not _sys.platform.startswith("linux") or "OpenMP" not in torch.__config__.parallel_info():
        return
    cpus = len(_os.sched_getaffinity(0))
    if torch.get_num_threads() <= cpus:
        torch.set_num_threads(cpus + 1)


if "torch" in _sys.modules:
    _tame_spinning_threads()
else:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
