"""Training speed with the kit imported before torch and after it, side by side, under load.

libgomp (torch's OpenMP runtime on Linux) reads its wait policy once, when torch loads it. The kit
asks for sleeping threads (OMP_WAIT_POLICY=PASSIVE) when it is imported first; when torch came
first it gives torch one thread more than the CPUs, which makes libgomp spin only briefly (see
tinychinchilla/__init__.py). This benchmark keeps a second process busy on one core (a pure
Python loop), then trains the demo model of `make course` for a fixed number of tokens in fresh
processes, alternating the two import orders, and prints tokens/s of each and their ratio.
`--baseline` adds torch-first without the kit's fix (threads reset to the CPU count), the
spinning default that made lesson 01 take 1,193 s on a busy 2-core machine.

    python benchmarks/bench_import_order.py                 # 2 rounds of 60k tokens each
    python benchmarks/bench_import_order.py --rounds 3 --tokens 100000 --baseline
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, sys
order, reset = sys.argv[1], sys.argv[2] == "1"
if order == "kit-first":
    import tinychinchilla, torch
else:
    import torch, tinychinchilla
if reset:  # undo the kit's fix: the spinning default
    torch.set_num_threads(len(os.sched_getaffinity(0)))
from tinychinchilla.course import DEMO_MODEL
from tinychinchilla.data import load_corpus
from tinychinchilla.model import GPTConfig
from tinychinchilla.train import TrainConfig, train
corpus = load_corpus()
result = train(GPTConfig(vocab_size=corpus.vocab_size, **DEMO_MODEL),
               TrainConfig(tokens=int(sys.argv[3]), device="cpu"), corpus, progress=False)
print(json.dumps({"tokens_per_second": result.tokens_per_second, "threads": torch.get_num_threads(),
                  "policy": os.environ.get("OMP_WAIT_POLICY")}))
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_import_order.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=60_000, help="tokens per timed run (default %(default)s)")
    p.add_argument("--rounds", type=int, default=2, help="runs of each variant, alternated (default %(default)s)")
    p.add_argument("--baseline", action="store_true",
                   help="also time torch-first without the kit's fix (slow under load)")
    p.add_argument("--no-load", action="store_true", help="do not start the busy second process")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    variants = [("kit-first", "0"), ("torch-first", "0")] + ([("torch-first", "1")] if args.baseline else [])
    busy = None if args.no_load else subprocess.Popen([sys.executable, "-c", "while True: pass"])
    results: dict[tuple[str, str], list[dict]] = {v: [] for v in variants}
    try:
        for _ in range(args.rounds):
            for order, reset in variants:
                out = subprocess.run([sys.executable, "-c", CHILD, order, reset, str(args.tokens)],
                                     capture_output=True, text=True, env=env, check=True).stdout
                results[(order, reset)].append(json.loads(out.strip().splitlines()[-1]))
    finally:
        if busy is not None:
            busy.kill()
    load = "one busy process" if busy else "no extra load"
    print(f"demo model, {args.tokens:,} tokens per run, {args.rounds} rounds, {load}, "
          f"{len(os.sched_getaffinity(0))} CPUs, load average now {os.getloadavg()[0]:.1f}")
    print(f"{'variant':<34} {'threads':>7} {'policy':>8} {'tokens/s per round':>28} {'median':>8}")
    medians = {}
    for (order, reset), rows in results.items():
        name = order + (" (kit's fix undone)" if reset == "1" else "")
        medians[(order, reset)] = statistics.median(r["tokens_per_second"] for r in rows)
        per_round = ", ".join(f"{r['tokens_per_second']:,.0f}" for r in rows)
        print(f"{name:<34} {rows[0]['threads']:>7} {rows[0]['policy'] or '-':>8} {per_round:>28} "
              f"{medians[(order, reset)]:>8,.0f}")
    ratio = medians[("torch-first", "0")] / medians[("kit-first", "0")]
    print(f"torch-first / kit-first: {ratio:.2f}x (1.00 = the order does not matter)")
    if args.baseline:
        print(f"torch-first without the fix / kit-first: "
              f"{medians[('torch-first', '1')] / medians[('kit-first', '0')]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
