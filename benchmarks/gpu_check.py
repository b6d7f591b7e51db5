"""The kit on a GPU, checked in one command (issue 20, item 6). Needs a CUDA device; refuses
cleanly without one.

On a CUDA machine, from a checkout with the kit installed (`make install`), it

1. trains the demo model of `make course` (tinychinchilla.course.DEMO_MODEL, 2M tokens) on the
   GPU and on the CPU, and prints tokens/s of each and the final validation-loss difference;
2. runs one budget of the shipped sweep (C = 3.16e10 FLOPs, eight sizes, seed 0) on the GPU and
   prints, per run, tokens/s and the loss difference from the CPU-made run in small_runs/;
3. executes every solution notebook headless in fast mode (the kernels see the GPU) and prints
   the time of each.

    python benchmarks/gpu_check.py                 # everything, ~5 min on a recent GPU (estimate)
    python benchmarks/gpu_check.py --skip-cpu      # no CPU demo run
    python benchmarks/gpu_check.py --json out.json # also write the numbers as JSON

bf16 autocast on the GPU rounds differently from fp32 on the CPU, so losses differ: near each
budget's optimum the difference should stay inside the seed spread of small_runs (0.004-0.15
nats); the short runs of the largest models may move by ~0.1 nats, as they do
between CPUs (small_runs/README.md). Put the printed figures in the README's GPU section.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP_BUDGET = 3.16e10


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_check.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="the CUDA device to check (default %(default)s)")
    p.add_argument("--skip-cpu", action="store_true", help="do not train the demo on the CPU for comparison")
    p.add_argument("--skip-sweep", action="store_true", help="do not run the sweep budget")
    p.add_argument("--skip-lessons", action="store_true", help="do not execute the lessons")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    return p


def demo_run(device: str, corpus) -> dict:
    from tinychinchilla.course import DEMO_MODEL, DEMO_TOKENS
    from tinychinchilla.model import GPTConfig
    from tinychinchilla.train import TrainConfig, train

    result = train(GPTConfig(vocab_size=corpus.vocab_size, **DEMO_MODEL),
                   TrainConfig(tokens=DEMO_TOKENS, device=device), corpus, progress=False)
    return {"device": result.device, "tokens_per_second": result.tokens_per_second,
            "wall_seconds": result.wall_seconds, "final_val_loss": result.final_val_loss}


def sweep_budget(device: str) -> list[dict]:
    from tinychinchilla import runs, sweep

    grid = runs.small_runs_dir() / "grid.toml"
    specs = [s for s in sweep.load_grid(grid) if abs(s.budget_flops / SWEEP_BUDGET - 1) < 1e-3 and s.seed == 0]
    shipped = {r["run_id"]: r for r in runs.load_runs(seed=None)}
    with tempfile.TemporaryDirectory(prefix="tinychinchilla-gpu-sweep-") as tmp:
        sweep.run_sweep(specs, tmp, jobs=1, device=device, evaluate_mc=False, progress=False)
        mine = sweep.read_table(Path(tmp) / "runs.csv")
    out = []
    for r in mine:
        ref = shipped[r["run_id"]]
        out.append({"shape": r["shape"], "steps": r["steps"], "tokens_per_second": r["tokens"] / r["wall_seconds"],
                    "cpu_tokens_per_second": ref["tokens"] / ref["wall_seconds"],
                    "final_val_loss": r["final_val_loss"], "shipped_val_loss": ref["final_val_loss"],
                    "difference": r["final_val_loss"] - ref["final_val_loss"]})
    return out


def lessons() -> list[dict]:
    from nbclient.exceptions import CellExecutionError

    from tinychinchilla.course import run_notebook

    out = []
    for path in sorted((REPO / "solutions").glob("[0-9][0-9]-*.ipynb")):
        try:
            _, seconds = run_notebook(path, fast=True)
            out.append({"lesson": path.stem, "result": "pass", "seconds": seconds})
        except CellExecutionError as exc:
            out.append({"lesson": path.stem, "result": "FAIL", "seconds": None,
                        "reason": str(exc).strip().splitlines()[-1][:200]})
        print(f"  {out[-1]['lesson']:<40} {out[-1]['result']:<5} "
              f"{out[-1]['seconds'] or float('nan'):>7.1f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False; torch "
              f"{torch.__version__}). Run it on a machine with an NVIDIA GPU and a CUDA build of "
              "PyTorch; nothing was run.", file=sys.stderr)
        return 2
    from tinychinchilla.data import load_corpus

    report = {"gpu": torch.cuda.get_device_name(args.device), "torch": torch.__version__,
              "cuda": torch.version.cuda, "cpu": platform.processor() or platform.machine()}
    print(f"GPU: {report['gpu']} | torch {report['torch']} (CUDA {report['cuda']})", flush=True)
    corpus = load_corpus()
    start = time.perf_counter()

    print("\n== 1. the demo model (make course) ==", flush=True)
    report["demo_gpu"] = demo_run(args.device, corpus)
    print(f"  GPU: {report['demo_gpu']['tokens_per_second']:>10,.0f} tokens/s, "
          f"val loss {report['demo_gpu']['final_val_loss']:.4f}", flush=True)
    if not args.skip_cpu:
        report["demo_cpu"] = demo_run("cpu", corpus)
        diff = report["demo_gpu"]["final_val_loss"] - report["demo_cpu"]["final_val_loss"]
        print(f"  CPU: {report['demo_cpu']['tokens_per_second']:>10,.0f} tokens/s, "
              f"val loss {report['demo_cpu']['final_val_loss']:.4f}", flush=True)
        print(f"  GPU / CPU speed {report['demo_gpu']['tokens_per_second'] / report['demo_cpu']['tokens_per_second']:.1f}x; "
              f"loss difference GPU - CPU {diff:+.4f} nats", flush=True)

    if not args.skip_sweep:
        print(f"\n== 2. the sweep budget C = {SWEEP_BUDGET:.3g} on the GPU vs small_runs (CPU) ==", flush=True)
        report["sweep"] = sweep_budget(args.device)
        print(f"  {'shape':>8} {'steps':>6} {'GPU tok/s':>10} {'CPU tok/s':>10} {'GPU loss':>9} "
              f"{'shipped':>8} {'diff':>8}")
        for r in report["sweep"]:
            print(f"  {r['shape']:>8} {r['steps']:>6,} {r['tokens_per_second']:>10,.0f} "
                  f"{r['cpu_tokens_per_second']:>10,.0f} {r['final_val_loss']:>9.4f} "
                  f"{r['shipped_val_loss']:>8.4f} {r['difference']:>+8.4f}", flush=True)

    if not args.skip_lessons:
        print("\n== 3. the lessons, fast mode, on the GPU ==", flush=True)
        report["lessons"] = lessons()

    report["seconds"] = time.perf_counter() - start
    print(f"\ndone in {report['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    failed = [r["lesson"] for r in report.get("lessons", []) if r["result"] != "pass"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
