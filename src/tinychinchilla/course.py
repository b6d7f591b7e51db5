"""The course's main job (`make course`): fetch the corpus, train a tiny GPT on the CPU or GPU and
report what it cost and how well it learned, then execute every solution notebook headless in
fast mode (the grading path) and print a pass/time table."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .data import CorpusError, load_corpus, unigram_entropy
from .model import GPTConfig
from .train import TrainConfig, TrainingDiverged, report, sample_text, train

# ~90 s on a 2-core CPU: large enough to spell words and keep the play format, small enough to wait for.
DEMO_MODEL = dict(d_model=96, n_layer=3, n_head=3, context_length=128)
DEMO_TOKENS = 2_000_000


REPO = Path(__file__).resolve().parents[2]


@contextmanager
def _kernel_environment(fast: bool):
    """Environment the notebook kernels inherit: one torch thread each (two cores are shared),
    no warnings, and fast mode on or off."""
    saved = dict(os.environ)
    os.environ.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    if fast:
        os.environ["TINYCHINCHILLA_FAST"] = "1"
    else:
        os.environ.pop("TINYCHINCHILLA_FAST", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_notebook(path: str | os.PathLike, fast: bool = True, cell_timeout: int = 300,
                 workdir: str | os.PathLike | None = None):
    """Execute a notebook headless (nbclient) and return it with its outputs, and the seconds taken.

    Raises nbclient's CellExecutionError, whose message names the failing cell, on an error.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with _kernel_environment(fast):
        NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", startup_timeout=120,
                       resources={"metadata": {"path": str(workdir or Path(path).parent)}}).execute()
    return nb, time.perf_counter() - start


def run_lessons(folder: Path = REPO / "solutions") -> bool:
    """Run every solution notebook in fast mode; print a table; True when all pass."""
    from nbclient.exceptions import CellExecutionError

    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        print(f"no notebooks in {folder}")
        return False
    print(f"\n== the lessons, executed headless in fast mode ({folder}) ==")
    print(f"{'lesson':<40} {'result':<8} {'seconds':>8}")
    all_ok = True
    for path in paths:
        try:
            _, seconds = run_notebook(path)
            result = "pass"
        except CellExecutionError as exc:
            seconds, result, all_ok = float("nan"), "FAIL", False
            reason = str(exc).strip().splitlines()[-1][:200]
        print(f"{path.stem:<40} {result:<8} {seconds:>8.1f}")
        if result == "FAIL":
            print(f"    {reason}")
    return all_ok


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tinychinchilla.course", description=__doc__)
    p.add_argument("--out", default="out/course", help="folder for the figures (default %(default)s)")
    p.add_argument("--tokens", type=float, default=DEMO_TOKENS,
                   help="token budget of the demo run (default %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default %(default)s)")
    p.add_argument("--skip-demo", action="store_true", help="only execute the lessons")
    p.add_argument("--skip-lessons", action="store_true", help="only train the demo model")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    if not args.skip_demo:
        demo(args)
    ok = True if args.skip_lessons else run_lessons()
    print(f"\ndone in {time.perf_counter() - start:.0f} s")
    return 0 if ok else 1


def demo(args: argparse.Namespace) -> None:
    """Train the demo model and report it."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # a live progress bar on a terminal; in a log (`make course > log`) its thousands of '\r'
    # updates would bury the report, so one line before and the report after instead
    live = sys.stdout.isatty() and sys.stderr.isatty()
    try:
        corpus = load_corpus()
        model_cfg = GPTConfig(vocab_size=corpus.vocab_size, **DEMO_MODEL)
        if not live:
            print(f"training the demo model ({DEMO_MODEL}) on {int(args.tokens):,} tokens ...", flush=True)
        result = train(model_cfg, TrainConfig(tokens=int(args.tokens), device=args.device), corpus,
                       progress=live)
    except (ValueError, CorpusError, TrainingDiverged) as exc:
        raise SystemExit(f"error: {exc}")
    print("== a tiny transformer, trained on Shakespeare ==")
    report(result, corpus)
    print("\n--- sample ---")
    print(sample_text(result.model, corpus, prompt="ROMEO.\n", chars=300))
    print("--------------")
    from .plots import plot_training_curve

    png = out / "loss_curve.png"
    plot_training_curve(result, png, unigram=unigram_entropy(corpus.val))
    print(f"loss curve: {png}")
    margin = unigram_entropy(corpus.val) - result.final_val_loss
    print(f"validation loss is {margin:.2f} nats/char below the unigram entropy")


if __name__ == "__main__":
    raise SystemExit(main())
