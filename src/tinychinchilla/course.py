"""The course's main job (`make course`): fetch the corpus, train a tiny GPT on the CPU or GPU,
and report what it cost and how well it learned."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .data import CorpusError, load_corpus, unigram_entropy
from .model import GPTConfig
from .train import TrainConfig, TrainingDiverged, report, sample_text, train

# ~90 s on a 2-core CPU: large enough to spell words and keep the play format, small enough to wait for.
DEMO_MODEL = dict(d_model=96, n_layer=3, n_head=3, context_length=128)
DEMO_TOKENS = 2_000_000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tinychinchilla.course", description=__doc__)
    p.add_argument("--out", default="out/course", help="folder for the figures (default %(default)s)")
    p.add_argument("--tokens", type=float, default=DEMO_TOKENS,
                   help="token budget of the demo run (default %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        corpus = load_corpus()
        model_cfg = GPTConfig(vocab_size=corpus.vocab_size, **DEMO_MODEL)
        result = train(model_cfg, TrainConfig(tokens=int(args.tokens), device=args.device), corpus)
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
    print(f"validation loss is {margin:.2f} nats/char below the unigram entropy; "
          f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
