"""Train one model on a token or FLOP budget, with the schedule matched to the run (lessons 01-02).

Hoffmann et al. 2022, Section 3.1 and Figure A1: a cosine schedule whose cycle is longer than the
run leaves the learning rate high at the end and overestimates the loss of intermediate runs;
a cosine run here therefore decays to 10% of the peak over exactly its own token budget D.
Given a FLOP budget C instead, D = C / (6 N) (Section 2).

The other schedule, warm-up-stable-decay (``schedule="wsd"``; Hagele et al. 2024, "Scaling Laws
and Compute-Optimal Training Beyond Fixed Training Durations"), holds the peak rate after the
warm-up and decays only over the last ``cooldown_fraction`` of the steps. Until its cooldown a
WSD run does not depend on its length, so one constant-rate run can be branched into cooldowns
at many lengths (``tinychinchilla.branches``, lesson 02).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from .counting import flops_6nd, flops_appendix_f, flops_executed, param_counts
from .data import BatchSampler, Corpus, CorpusError, load_corpus, unigram_entropy
from .model import GPT, GPTConfig, autocast, pick_device


#: The largest token budget ``train`` accepts: 1e13 characters is months on a GPU at this scale,
#: so anything above is a typo (1e30, inf) that would otherwise run until killed.
MAX_TOKENS = 1e13


@dataclass
class TrainConfig:
    """How to train. Defaults come from the learning-rate and batch search in small_runs/README.md."""

    tokens: int | None = None  # D, the token budget; give this or `flops`
    flops: float | None = None  # C, the FLOP budget; D = C / (6 N) with N as `flops_params` says
    flops_params: str = "non_embedding"  # N in C = 6ND: Kaplan's non-embedding count, because at
    # this scale the embedding tables are a large share of N yet cost almost no FLOPs (a lookup)
    batch_size: int = 8  # sequences per step; 8 x 128 = 1024 tokens: at C = 1e12 a 4096-token batch
    # left the largest models ~100 steps and hid the IsoFLOP valley (DEVELOPERS.md)
    lr: float = 1e-2  # peak AdamW learning rate: best at every size in the pilot search
    # (small_runs/README.md: 1e-3, 3e-3, 1e-2, 3e-2 at 3k-330k parameters, C = 1e12)
    warmup_fraction: float = 0.05  # linear warm-up over the first 5% of steps (at least 1 step)
    warmup_steps: int | None = None  # a fixed warm-up instead of the fraction: branches of one
    # constant-rate run must share theirs (the sweep sets 5% of the shortest branch)
    schedule: str = "cosine"  # "cosine": the paper's; "wsd": warm-up, constant, then a cooldown
    cooldown_fraction: float = 0.2  # WSD: the last 20% of steps decay; small_runs/README.md
    # measures how such a run compares with the cosine run of the same N and D
    cooldown_shape: str = "1-sqrt"  # WSD decay to 0: "1-sqrt" (Hagele et al. 2024 find it beats
    # linear) or "linear"
    final_lr_ratio: float = 0.1  # cosine decays to 10% of the peak, as in the paper (Section 3.1)
    cosine_cycle_multiplier: float = 1.0  # cycle length / run length: 1.0 is the paper's rule;
    # lesson 02 sets > 1 to reproduce Figure A1's penalty
    weight_decay: float = 0.1  # on matrices only, as GPT-3 and Chinchilla use AdamW
    beta1: float = 0.9
    beta2: float = 0.95  # GPT-3 / Chinchilla value; steadier than 0.999 for short runs
    grad_clip: float = 1.0  # clip the global gradient norm (Chinchilla, Gopher)
    seed: int = 0  # weights and batches both derive from it: same seed, same run on CPU
    device: str = "auto"  # auto = CUDA, then MPS, then CPU
    curve_points: int = 40  # train loss recorded at this many log-spaced steps (Approach 1)
    val_points: int = 10  # validation loss at this many of them (each costs forward passes)
    val_windows: int = 32  # windows per intermediate validation estimate
    final_val_windows: int = 256  # windows for the final estimate (256 x 128 = 32,768 chars)

    def __post_init__(self):
        if (self.tokens is None) == (self.flops is None):
            raise ValueError("give exactly one budget: tokens (D) or flops (C)")
        if self.tokens is not None and not (self.tokens > 0 and math.isfinite(self.tokens)):
            raise ValueError(f"tokens must be positive, got {self.tokens}")
        if self.tokens is not None and self.tokens > MAX_TOKENS:
            raise ValueError(f"tokens={self.tokens:.3g} is more than this kit trains ({MAX_TOKENS:.0e}; "
                             "years on one machine): give a smaller budget")
        if self.flops is not None and not (self.flops > 0 and math.isfinite(self.flops)):
            raise ValueError(f"flops must be positive and finite, got {self.flops}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}")
        if self.flops_params not in ("non_embedding", "total"):
            raise ValueError(f"flops_params must be 'non_embedding' or 'total', got {self.flops_params!r}")
        for name in ("batch_size", "curve_points", "val_points", "val_windows", "final_val_windows"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"schedule must be 'cosine' or 'wsd', got {self.schedule!r}")
        if not 0 < self.cooldown_fraction <= 1:
            raise ValueError(f"cooldown_fraction must be in (0, 1], got {self.cooldown_fraction}")
        if self.cooldown_shape not in ("1-sqrt", "linear"):
            raise ValueError(f"cooldown_shape must be '1-sqrt' or 'linear', got {self.cooldown_shape!r}")
        if self.warmup_steps is not None and (isinstance(self.warmup_steps, bool)
                                              or not isinstance(self.warmup_steps, (int, np.integer))
                                              or self.warmup_steps < 1):
            raise ValueError(f"warmup_steps must be a whole number >= 1 or None, got {self.warmup_steps!r}")
        if self.cosine_cycle_multiplier < 1:
            raise ValueError("cosine_cycle_multiplier must be >= 1 (a cycle shorter than the run "
                             f"is not defined), got {self.cosine_cycle_multiplier}")


def warmup_steps(total_steps: int, cfg: TrainConfig) -> int:
    """Steps of linear warm-up: ``cfg.warmup_steps`` if set, else the fraction (at least 1)."""
    if cfg.warmup_steps is not None:
        return int(cfg.warmup_steps)
    return max(1, round(cfg.warmup_fraction * total_steps))


def cooldown_steps(total_steps: int, cfg: TrainConfig) -> int:
    """WSD: steps of the final decay, at least 1 (lesson 02)."""
    return max(1, round(cfg.cooldown_fraction * total_steps))


def lr_at(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """The learning rate at 0-based ``step`` of a run of ``total_steps`` (lessons 01-02).

    Both schedules start with a linear warm-up. ``cosine``: decay from ``cfg.lr`` to
    ``final_lr_ratio * cfg.lr`` over a cycle of ``cosine_cycle_multiplier * total_steps`` steps.
    ``wsd``: constant ``cfg.lr``, then over the last ``cooldown_steps`` a decay towards 0, as
    ``1 - sqrt(p)`` or ``1 - p`` with p the fraction of the cooldown done (Hagele et al. 2024).
    """
    warmup = warmup_steps(total_steps, cfg)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    if cfg.schedule == "wsd":
        cooldown = cooldown_steps(total_steps, cfg)
        start = total_steps - cooldown
        if step < start:
            return cfg.lr
        p = (step - start) / cooldown  # 0 at the first cooldown step, (c - 1) / c at the last
        return cfg.lr * (1 - (math.sqrt(p) if cfg.cooldown_shape == "1-sqrt" else p))
    cycle = cfg.cosine_cycle_multiplier * total_steps
    progress = min(1.0, (step - warmup) / max(1.0, cycle - warmup - 1))
    floor = cfg.final_lr_ratio
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def budget_tokens(model_cfg: GPTConfig, cfg: TrainConfig) -> int:
    """D for this run: given directly, or C / (6 N)."""
    if cfg.tokens is not None:
        return int(cfg.tokens)
    counts = param_counts(model_cfg)
    n = counts.non_embedding if cfg.flops_params == "non_embedding" else counts.total
    return int(cfg.flops / (6 * n))


def make_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on gains or biases)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates all tensors in one call: at d <= 64 the per-tensor Python overhead
    # of the default optimizer is a visible share of a step.
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused)


def train_step(model: GPT, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               lr: float, grad_clip: float, device: torch.device) -> float:
    """One optimiser step; returns the loss as a Python float."""
    for group in opt.param_groups:
        group["lr"] = lr
    with autocast(device):
        _, loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.item()


def fixed_windows(tokens: torch.Tensor, n_windows: int, context_length: int):
    """Evenly spaced windows over a split, the same for every run, so losses compare fairly."""
    n_windows = min(n_windows, len(tokens) // (context_length + 1))
    starts = torch.linspace(0, len(tokens) - context_length - 1, n_windows).long()
    w = tokens[starts[:, None] + torch.arange(context_length + 1)].long()  # (n, T+1)
    return w[:, :-1], w[:, 1:]


@torch.no_grad()
def evaluate_loss(model: GPT, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                  batch_size: int = 64) -> float:
    """Mean cross-entropy (nats per character) over the given windows."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        with autocast(device):
            _, loss = model(xb, yb)
        total += loss.item() * len(xb)
        count += len(xb)
    model.train(was_training)
    return total / count


@dataclass
class TrainResult:
    """What one run produced: a small record (the model itself is kept only in memory)."""

    model_config: dict
    train_config: dict
    params_total: int
    params_non_embedding: int
    tokens: int
    steps: int
    flops_6nd: float  # 6 N D with N as train_config["flops_params"] says
    flops_appendix_f: float  # the paper's Appendix F count with embeddings and logits
    final_train_loss: float
    final_val_loss: float
    epochs: float  # tokens / training-split length: how often the corpus was repeated
    wall_seconds: float
    tokens_per_second: float
    device: str
    torch_version: str
    curve: dict = field(default_factory=dict)  # step, tokens, flops, train_loss, val_loss arrays
    model: GPT | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """Every field but the model, as plain Python data (JSON-ready)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the learning rate to lower."""


def log_points(total_steps: int, cfg: TrainConfig) -> tuple[np.ndarray, set[int]]:
    """The steps where a run of ``total_steps`` logs its train loss (log-spaced, for Approach 1)
    and those of them where it also measures a validation loss (the last one excepted: the final
    loss is measured on all ``final_val_windows``)."""
    curve_steps = np.unique(np.geomspace(1, total_steps, cfg.curve_points).round().astype(int))
    val_steps = set(np.unique(np.geomspace(1, total_steps, cfg.val_points).round().astype(int)).tolist())
    return curve_steps, (val_steps & set(curve_steps.tolist())) - {total_steps}


class Run:
    """One model being trained, step by step (lesson 01's loop, shared by ``train`` and the
    constant-rate runs that ``tinychinchilla.branches`` cools down at many lengths).

    It keeps every step's train loss and the validation losses measured so far, so a run's loss
    curve can be cut at any length, and ``snapshot``/``restore`` save and reload its whole state
    (weights, optimiser moments, the batch sampler's generator): training on from a restored
    state gives bit for bit what training straight through gives.
    """

    def __init__(self, model_cfg: GPTConfig, cfg: TrainConfig, corpus: Corpus):
        if model_cfg.vocab_size != corpus.vocab_size:
            raise ValueError(f"model vocab_size={model_cfg.vocab_size} but the corpus has "
                             f"{corpus.vocab_size} characters; set GPTConfig(vocab_size=corpus.vocab_size)")
        for split in ("train", "val"):
            if len(getattr(corpus, split)) <= model_cfg.context_length:
                raise ValueError(
                    f"the {split} split has {len(getattr(corpus, split)):,} characters, fewer than one "
                    f"window of context_length + 1 = {model_cfg.context_length + 1}; use a shorter "
                    "context (--context-length) or a longer text")
        self.model_cfg, self.cfg, self.corpus = model_cfg, cfg, corpus
        self.device = pick_device(cfg.device)
        self.per_step = cfg.batch_size * model_cfg.context_length
        counts = param_counts(model_cfg)
        self.counts = counts
        self.n_for_flops = counts.non_embedding if cfg.flops_params == "non_embedding" else counts.total
        torch.manual_seed(cfg.seed)
        self.model = GPT(model_cfg).to(self.device)
        self.opt = make_optimizer(self.model, cfg, self.device)
        self.sampler = BatchSampler(corpus.train, cfg.batch_size, model_cfg.context_length, cfg.seed)
        self.val_x, self.val_y = fixed_windows(corpus.val, cfg.final_val_windows, model_cfg.context_length)
        self.step = 0  # optimiser steps done
        self.losses: list[float] = []  # train loss of every step done
        self.val: dict[int, float] = {}  # step -> validation loss on val_windows windows
        self.seconds = 0.0  # time spent in training steps and intermediate evaluations

    def advance(self, until: int, total_steps: int, val_steps: set[int] = frozenset(), bar=None) -> None:
        """Train steps ``self.step .. until - 1`` at the learning rate of a run of ``total_steps``,
        measuring the validation loss after each step listed in ``val_steps``."""
        self.model.train()
        start = time.perf_counter()
        cfg, device = self.cfg, self.device
        for step in range(self.step, until):
            x, y = self.sampler.next()
            loss = train_step(self.model, self.opt, x.to(device), y.to(device),
                              lr_at(step, total_steps, cfg), cfg.grad_clip, device)
            if not math.isfinite(loss):
                if bar is not None:
                    bar.close()
                raise TrainingDiverged(f"loss became {loss} at step {step + 1} of {total_steps} with peak "
                                       f"learning rate {cfg.lr:g}; lower lr (try {cfg.lr / 3:.2g})")
            self.losses.append(loss)
            self.step = done = step + 1
            if done in val_steps:
                self.val[done] = evaluate_loss(self.model, self.val_x[:cfg.val_windows],
                                               self.val_y[:cfg.val_windows], device)
            if bar is not None:
                bar.update(1)
                if done % 50 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}")
        self.seconds += time.perf_counter() - start

    def result(self, train_cfg: TrainConfig, keep_model: bool = True, wall: float | None = None) -> TrainResult:
        """The record of the run as it stands now (``self.step`` steps), described by ``train_cfg``."""
        steps, per_step = self.step, self.per_step
        curve_steps, val_steps = log_points(steps, self.cfg)
        curve = {"step": [], "tokens": [], "flops": [], "train_loss": [], "val_loss": []}
        previous = 0
        for done in curve_steps.tolist():
            # the train loss at a point is the mean since the previous point: a cheap smoother
            curve["step"].append(done)
            curve["tokens"].append(done * per_step)
            curve["flops"].append(flops_6nd(self.n_for_flops, done * per_step))
            curve["train_loss"].append(float(np.mean(self.losses[previous:done])))
            curve["val_loss"].append(self.val[done] if done in val_steps else float("nan"))
            previous = done
        final_val = evaluate_loss(self.model, self.val_x, self.val_y, self.device)
        curve["val_loss"][-1] = final_val
        tokens = steps * per_step
        wall = self.seconds if wall is None else wall
        return TrainResult(
            model_config=self.model_cfg.to_dict(), train_config=asdict(train_cfg),
            params_total=self.counts.total, params_non_embedding=self.counts.non_embedding,
            tokens=tokens, steps=steps, flops_6nd=flops_6nd(self.n_for_flops, tokens),
            flops_appendix_f=flops_appendix_f(self.model_cfg, tokens),
            final_train_loss=curve["train_loss"][-1], final_val_loss=final_val,
            epochs=tokens / len(self.corpus.train), wall_seconds=wall, tokens_per_second=tokens / wall,
            device=str(self.device), torch_version=torch.__version__, curve=curve,
            model=self.model if keep_model else None)

    def snapshot(self) -> dict:
        """The whole training state, copied (``torch.save``-able)."""
        return {"step": self.step, "losses": list(self.losses), "val": dict(self.val),
                "seconds": self.seconds, "model": copy.deepcopy(self.model.state_dict()),
                "opt": copy.deepcopy(self.opt.state_dict()),
                "sampler": self.sampler.generator.get_state().clone()}

    def restore(self, state: dict) -> None:
        """Go back to a ``snapshot`` (of this run, or one loaded from disk)."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(copy.deepcopy(state["opt"]))
        self.sampler.generator.set_state(state["sampler"])
        self.step, self.losses = state["step"], list(state["losses"])
        self.val, self.seconds = {int(k): v for k, v in state["val"].items()}, state["seconds"]


def steps_for(model_cfg: GPTConfig, cfg: TrainConfig) -> int:
    """Optimiser steps of a run: its token budget in whole batches (at least one; checked)."""
    tokens = budget_tokens(model_cfg, cfg)
    per_step = cfg.batch_size * model_cfg.context_length
    steps = tokens // per_step
    if steps < 1:
        raise ValueError(f"the budget gives {tokens:,} tokens, less than one batch of "
                         f"{per_step:,} (batch_size x context_length); raise the budget or shrink the batch")
    if steps * per_step > MAX_TOKENS:
        raise ValueError(f"the budget gives {steps * per_step:.3g} tokens, more than this kit trains "
                         f"({MAX_TOKENS:.0e}; years on one machine): give a smaller budget")
    return steps


def train(model_cfg: GPTConfig, cfg: TrainConfig, corpus: Corpus | None = None,
          progress: bool = True, keep_model: bool = True) -> TrainResult:
    """Train ``model_cfg`` on ``corpus`` (Shakespeare by default) for the budget in ``cfg``.

    Lesson 01 calls it live; lesson 02 and the sweep call it once per run. ``progress=False``
    keeps stderr silent (graded cells).
    """
    corpus = corpus if corpus is not None else load_corpus()
    steps = steps_for(model_cfg, cfg)
    run = Run(model_cfg, cfg, corpus)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc=f"d={model_cfg.d_model} L={model_cfg.n_layer}", leave=False)
    run.advance(steps, steps, log_points(steps, cfg)[1], bar)
    if bar is not None:
        bar.close()
    return run.result(cfg, keep_model)


def sample_text(model: GPT, corpus: Corpus, prompt: str = "\n", chars: int = 300, seed: int = 0) -> str:
    """Generate ``chars`` characters after ``prompt`` (lesson 01)."""
    device = next(model.parameters()).device
    idx = corpus.encode(prompt).long()[None, :].to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    model.eval()
    out = model.generate(idx, chars, generator=gen)
    return corpus.decode(out[0, len(prompt):].tolist())


def _seed(text: str) -> int:
    """--seed: a whole number (``1e3`` is accepted when it is one)."""
    try:
        value = float(text) if any(c in text.lower() for c in ".e") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if isinstance(value, float):
        if not (math.isfinite(value) and value == int(value)):
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}")
        value = int(value)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**63 - 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    m, t = GPTConfig(), TrainConfig(tokens=1)
    p = argparse.ArgumentParser(
        prog="python -m tinychinchilla.train",
        description="Train a tiny GPT on Shakespeare (or your text) with a cosine (or "
                    "warm-up-stable-decay) schedule matched to its token budget, then report "
                    "size, FLOPs, speed and loss.")
    g = p.add_argument_group("model shape")
    g.add_argument("--d-model", type=int, default=m.d_model, help="width (default %(default)s)")
    g.add_argument("--n-layer", type=int, default=m.n_layer, help="depth (default %(default)s)")
    g.add_argument("--n-head", type=int, default=m.n_head, help="attention heads; must divide --d-model (default %(default)s)")
    g.add_argument("--context-length", type=int, default=m.context_length, help="characters of context (default %(default)s)")
    b = p.add_argument_group("budget (give one)")
    b.add_argument("--tokens", type=float, default=None, help="token budget D, e.g. 2e6")
    b.add_argument("--flops", type=float, default=None, help="FLOP budget C, e.g. 1e12; D = C / (6 N)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=float, default=t.lr, help="peak learning rate (default %(default)s)")
    o.add_argument("--batch-size", type=int, default=t.batch_size, help="sequences per step (default %(default)s)")
    o.add_argument("--seed", type=_seed, default=t.seed, help="seed for weights and batches, a whole number (default %(default)s)")
    o.add_argument("--device", default=t.device, help="auto, cpu, cuda or mps (default %(default)s)")
    o.add_argument("--schedule", choices=["cosine", "wsd"], default=t.schedule,
                   help="cosine decay to 10%% over the run (the paper's) or warm-up-stable-decay "
                        "(default %(default)s)")
    o.add_argument("--cooldown-fraction", type=float, default=t.cooldown_fraction,
                   help="wsd: share of the steps in the final decay (default %(default)s)")
    o.add_argument("--warmup-steps", type=int, default=None,
                   help="a fixed warm-up in steps (default: 5%% of the run)")
    r = p.add_argument_group("input and output")
    r.add_argument("--text-file", default=None, help="train on this UTF-8 text file instead of Shakespeare")
    r.add_argument("--sample-chars", type=int, default=300, help="characters to generate at the end (default %(default)s; 0 for none)")
    r.add_argument("--plot", default=None, help="write the loss curve to this PNG file")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _check_budget_flag(flag: str, value: float | None) -> None:
    """One line naming the flag for a budget that is not a usable number (before any work)."""
    if value is None:
        return
    if not (math.isfinite(value) and value > 0):
        raise SystemExit(f"error: {flag} must be a positive finite number, got {value}")
    if flag == "--tokens" and (value < 1 or value != int(value)):
        raise SystemExit(f"error: --tokens must be a whole number of tokens >= 1, got {value:g}")


def plot_path(path: str) -> Path:
    """Where ``--plot`` will write: ``.png`` added when there is no extension (matplotlib does
    that too, so the report names the real file), and the folder checked before training."""
    out = Path(path)
    if not out.suffix:
        out = out.with_name(out.name + ".png")
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        raise SystemExit(f"error: --plot {path}: unknown image type {out.suffix!r}; use one of "
                         f"{', '.join('.' + f for f in sorted(formats))}")
    folder = out.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK) or out.is_dir():
        raise SystemExit(f"error: --plot {path}: cannot write there ({folder} is not a writable folder"
                         + (f", and {out} is a folder" if out.is_dir() else "") + ")")
    return out


def main(argv: list[str] | None = None) -> TrainResult:
    args = build_parser().parse_args(argv)
    if args.tokens is None and args.flops is None:
        args.tokens = 2e6
    _check_budget_flag("--tokens", args.tokens)
    _check_budget_flag("--flops", args.flops)
    if args.tokens is not None and args.tokens > MAX_TOKENS:
        raise SystemExit(f"error: --tokens {args.tokens:g} is more than this kit trains "
                         f"({MAX_TOKENS:.0e}; years on one machine)")
    if args.seed < 0 or args.seed >= 2**63:
        raise SystemExit(f"error: --seed must be from 0 to 2**63 - 1, got {args.seed}")
    plot = plot_path(args.plot) if args.plot else None
    try:
        corpus = load_corpus(args.text_file)
        model_cfg = GPTConfig(vocab_size=corpus.vocab_size, context_length=args.context_length,
                              n_layer=args.n_layer, n_head=args.n_head, d_model=args.d_model)
        cfg = TrainConfig(tokens=None if args.tokens is None else int(args.tokens),
                          flops=args.flops, lr=args.lr, batch_size=args.batch_size,
                          seed=args.seed, device=args.device, schedule=args.schedule,
                          cooldown_fraction=args.cooldown_fraction, warmup_steps=args.warmup_steps)
        result = train(model_cfg, cfg, corpus, progress=not args.quiet)
    except (ValueError, CorpusError, TrainingDiverged) as exc:
        raise SystemExit(f"error: {exc}")
    report(result, corpus)
    if args.sample_chars > 0:
        print("\n--- sample ---")
        print(sample_text(result.model, corpus, chars=args.sample_chars, seed=args.seed))
        print("--------------")
    if plot is not None:
        from .plots import plot_training_curve
        try:
            plot_training_curve(result, plot, unigram=unigram_entropy(corpus.val))
        except OSError as exc:
            raise SystemExit(f"error: could not write {plot} ({exc.strerror or exc})")
        print(f"loss curve written to {plot}")
    return result


def report(result: TrainResult, corpus: Corpus) -> None:
    """Print the run's size, cost, speed and loss (what `make course` shows)."""
    cfg = GPTConfig(**result.model_config)
    gflops = flops_executed(cfg, result.tokens) / result.wall_seconds / 1e9
    print(f"corpus        {corpus.name}: {len(corpus.train):,} training characters, vocab {corpus.vocab_size}")
    print(f"parameters    {result.params_total:,} total, {result.params_non_embedding:,} non-embedding")
    print(f"budget        {result.tokens:,} tokens in {result.steps:,} steps ({result.epochs:.3f} epochs)")
    print(f"FLOPs         6ND {result.flops_6nd:.3g} | Appendix F {result.flops_appendix_f:.3g}")
    print(f"speed         {result.tokens_per_second:,.0f} tokens/s, {gflops:.1f} GFLOP/s on {result.device}, {result.wall_seconds:.1f} s")
    print(f"loss          train {result.final_train_loss:.4f} | validation {result.final_val_loss:.4f} nats/char "
          f"(unigram entropy {unigram_entropy(corpus.val):.4f})")


if __name__ == "__main__":
    main()
    sys.exit(0)
