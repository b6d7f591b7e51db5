"""tinychinchilla: reproduce the method of Hoffmann et al. 2022 ("Chinchilla") at tiny scale.

Data flows one way: corpus (`data`) -> model (`model`) -> training (`train`, `sweep`) ->
runs (`small_runs/`) -> fits (`fit`) -> lessons. `counting` holds parameter and FLOP counts,
`paper` the paper's tables as data, `evaluate` the multiple-choice harness and `check` the
learner's self-check.
"""

__version__ = "0.1.0"
