"""A tiny multiple-choice benchmark on held-out Shakespeare: the kit's analogue of MMLU (lesson 07).

Hoffmann et al. 2022 (Section 4.2) judge Chinchilla not only by loss but by downstream accuracy,
most prominently on MMLU (Hendrycks et al. 2021): 57 subjects of 4-choice questions, 5-shot, where
Chinchilla reaches 67.6% against Gopher's 60.0%. A 128-character model cannot answer exam
questions, so this module asks the question a character model can answer:

    Here are the 96 characters before a line of the test text. Which of these four 32-character
    lines comes next?

One choice is the real next line; the three distractors are real lines of the same held-out text,
taken from elsewhere (more than ``DISTRACTOR_MIN_DISTANCE`` characters away). Every choice is
therefore fluent Shakespeare, and only a model that uses the context, and knows how verse and
dialogue continue, beats the 25% of guessing. The items come from the TEST split (whole works
never trained on, see `data`), so a model cannot have memorised the answers.

Scoring follows lm-evaluation-harness's treatment of multiple-choice tasks such as MMLU: each
choice is scored by the log-likelihood the model assigns to it as a continuation of the prompt,
and the highest-scoring choice is the model's answer. In the original MMLU 5-shot format the
continuation is the answer letter (" A" .. " D") after a prompt listing the lettered choices; here
it is the text of the choice itself (a cloze-style item), because a 128-character model cannot
follow a lettered-answer format.

Usage::

    from tinychinchilla.evaluate import mc_accuracy
    result = mc_accuracy(model, corpus)   # 1000 items, 0-shot
    print(f"{100 * result.accuracy:.1f} +/- {100 * result.stderr:.1f} %")
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .data import Corpus
from .model import autocast

N_CHOICES = 4
RANDOM_BASELINE = 1.0 / N_CHOICES
DISTRACTOR_MIN_DISTANCE = 2000  # characters between an item and its distractors (and its shots)
SCORE_MODES = ("total", "per_char", "mutual_info")
UNCONDITIONAL_PROMPT = "\n"  # what `score="mutual_info"` conditions on instead of the context
DEFAULT_BATCH_ITEMS = 16  # items per forward pass (64 sequences): on one CPU thread, larger
# batches were slower (their activations outgrow the cache), smaller ones no faster

_ITEM_CACHE: dict[tuple, tuple] = {}


@dataclass(frozen=True)
class Item:
    """One question: ``context`` then the choice ``choices[answer]`` is the real text.

    ``offset`` is where the real continuation starts in the decoded test split (a line start);
    ``choice_offsets`` gives where each choice was taken from, in the same order as ``choices``.
    """

    context: str
    choices: tuple[str, ...]
    answer: int
    offset: int
    choice_offsets: tuple[int, ...]


@dataclass
class MCResult:
    """Accuracy on a set of items, with its binomial standard error sqrt(p (1 - p) / n)."""

    accuracy: float  # fraction correct, in [0, 1]
    stderr: float  # standard error of `accuracy` (as a fraction, not in points)
    n_items: int
    n_correct: int
    predictions: list[int]  # the chosen index for each item, in the order of the items
    random_baseline: float = RANDOM_BASELINE
    k_shot: int = 0
    score: str = "total"

    def to_dict(self, predictions: bool = False) -> dict:
        """Plain Python data (JSON-ready); the per-item predictions only if asked for."""
        d = asdict(self)
        if not predictions:
            del d["predictions"]
        return d


def _decode_fast(corpus: Corpus, tokens: torch.Tensor) -> str:
    """``corpus.decode`` for a long tensor, without a Python call per 0-d tensor."""
    chars = list(corpus.vocab)
    return "".join([chars[i] for i in tokens.tolist()])


def _positive_int(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def eligible_line_starts(text: str, context_chars: int = 96, choice_chars: int = 32) -> np.ndarray:
    """Offsets in ``text`` where an item's correct continuation may start (sorted, int64).

    A position p qualifies when it is a line start (``text[p - 1] == "\\n"``), there are at least
    ``context_chars`` characters before it and ``choice_chars`` after it, the first
    ceil(choice_chars / 2) characters from p hold no newline (so the choice is mostly one real line
    of verse or prose, not a speaker's name followed by the next line or a blank-line stage break),
    and the ``choice_chars`` characters are not all whitespace.
    """
    n = len(text)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    arr = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # one code point per entry
    is_nl = arr == ord("\n")
    is_space = np.isin(arr, [ord(c) for c in " \t\r\n\f\v"])
    nl_cum = np.concatenate([[0], np.cumsum(is_nl)])  # newlines in text[:i] = nl_cum[i]
    ink_cum = np.concatenate([[0], np.cumsum(~is_space)])  # non-whitespace chars in text[:i]
    starts = np.flatnonzero(is_nl) + 1  # positions just after a newline
    starts = starts[(starts >= context_chars) & (starts + choice_chars <= n)]
    half = (choice_chars + 1) // 2
    no_early_newline = nl_cum[starts + half] - nl_cum[starts] == 0
    has_ink = ink_cum[starts + choice_chars] - ink_cum[starts] > 0
    return starts[no_early_newline & has_ink].astype(np.int64)


def build_items(corpus: Corpus, n_items: int = 1000, context_chars: int = 96,
                choice_chars: int = 32, seed: int = 0) -> list[Item]:
    """Build ``n_items`` 4-choice items from the corpus's TEST split, deterministically.

    Items start at ``n_items`` distinct eligible line starts (see `eligible_line_starts`) drawn
    with ``numpy.random.default_rng(seed)`` and kept in text order. Each item's three distractors
    are ``choice_chars``-character stretches from other eligible line starts more than
    ``DISTRACTOR_MIN_DISTANCE`` characters away, with all four strings distinct. The position of
    the correct answer is a seeded shuffle of (0, 1, 2, 3, 0, 1, ...), so each letter A-D is right
    for n_items / 4 items (within one).

    The default n_items = 1000 keeps the standard error of the accuracy, sqrt(p (1 - p) / n),
    under 2 points at any p: at worst (p = 0.5) it is 1.58 points.

    Items are cached per (corpus text hash, arguments), so calling this after every run of a sweep
    costs nothing after the first call. Returns a new list each time (the items are frozen).
    """
    for name, value in (("n_items", n_items), ("context_chars", context_chars),
                        ("choice_chars", choice_chars)):
        _positive_int(name, value)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    key = (corpus.text_sha256, corpus.name, len(corpus.test), int(n_items), int(context_chars),
           int(choice_chars), int(seed))
    if key not in _ITEM_CACHE:
        _ITEM_CACHE[key] = tuple(_build_items(corpus, int(n_items), int(context_chars),
                                              int(choice_chars), int(seed)))
    return list(_ITEM_CACHE[key])


def _build_items(corpus: Corpus, n_items: int, context_chars: int, choice_chars: int,
                 seed: int) -> list[Item]:
    text = _decode_fast(corpus, corpus.test)
    starts = eligible_line_starts(text, context_chars, choice_chars)
    if len(starts) < n_items:
        raise ValueError(
            f"the test split ({len(text):,} characters) has only {len(starts):,} line starts "
            f"with {context_chars} characters before them and a {choice_chars}-character line "
            f"after; lower n_items to at most {len(starts):,} (or lower context_chars / "
            f"choice_chars)")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(starts), size=n_items, replace=False))
    answers = rng.permutation(np.arange(n_items) % N_CHOICES)
    n_distractors = N_CHOICES - 1
    items = []
    for idx, answer in zip(chosen.tolist(), answers.tolist()):
        offset = int(starts[idx])
        correct = text[offset:offset + choice_chars]
        # eligible starts more than DISTRACTOR_MIN_DISTANCE away: starts[:lo] and starts[hi:]
        lo = int(np.searchsorted(starts, offset - DISTRACTOR_MIN_DISTANCE, side="left"))
        hi = int(np.searchsorted(starts, offset + DISTRACTOR_MIN_DISTANCE, side="right"))
        n_far = lo + (len(starts) - hi)
        picked: list[tuple[str, int]] = []
        seen = {correct}

        def consider(r: int) -> None:
            pos = int(starts[r if r < lo else hi + (r - lo)])
            s = text[pos:pos + choice_chars]
            if s not in seen:
                seen.add(s)
                picked.append((s, pos))

        if n_far > 0:
            for r in rng.integers(0, n_far, size=8 * n_distractors).tolist():
                if len(picked) == n_distractors:
                    break
                consider(r)
            if len(picked) < n_distractors:  # rare: many repeated lines; try every candidate
                for r in rng.permutation(n_far).tolist():
                    if len(picked) == n_distractors:
                        break
                    consider(r)
        if len(picked) < n_distractors:
            raise ValueError(
                f"the item at test offset {offset} has only {len(picked)} distinct eligible lines "
                f"more than {DISTRACTOR_MIN_DISTANCE} characters away to use as distractors; the "
                f"test split ({len(text):,} characters) is too short: use a longer text or lower "
                f"choice_chars / context_chars")
        picked.insert(answer, (correct, offset))
        items.append(Item(context=text[offset - context_chars:offset],
                          choices=tuple(s for s, _ in picked), answer=int(answer),
                          offset=offset, choice_offsets=tuple(p for _, p in picked)))
    return items


def _shot_indices(items: list[Item], i: int, k_shot: int) -> list[int]:
    """The k solved examples for item i: items from about half the list away (so, far away in
    the text), each more than DISTRACTOR_MIN_DISTANCE from every choice of item i."""
    n = len(items)
    banned = items[i].choice_offsets
    out = []
    for step in range(n):
        j = (i + n // 2 + step) % n
        if j == i:
            continue
        if all(abs(items[j].offset - b) > DISTRACTOR_MIN_DISTANCE for b in banned):
            out.append(j)
            if len(out) == k_shot:
                return out
    raise ValueError(f"only {len(out)} of the {n} items are far enough from item {i} to serve as "
                     f"solved examples; lower k_shot to at most {len(out)} or use more items")


@torch.no_grad()
def score_items(model: torch.nn.Module, corpus: Corpus, items: list[Item], k_shot: int = 0,
                score: str = "total", batch_size: int = DEFAULT_BATCH_ITEMS) -> MCResult:
    """Answer every item with ``model`` and return the accuracy.

    Each choice is scored by its log-likelihood given the prompt (teacher forcing: one forward pass
    over prompt + choice, summing log p(character | everything before it) over the choice's
    characters). ``score="total"`` (the default) uses that sum; ``score="per_char"`` divides it by
    the choice's length, like lm-evaluation-harness's length-normalised ``acc_norm``. With the
    items of `build_items` all choices have the same length, so the two rank choices identically
    and give the same accuracy; both exist so that the choice can be discussed (lesson 07).

    ``score="mutual_info"`` (opt-in; lm-evaluation-harness calls it ``acc_mutual_info``) subtracts
    each choice's log-likelihood after a bare line start, log p(choice | "\\n"), so that a choice
    is not preferred merely for being common text; it measures how much the context raises each
    choice. It costs one extra short forward pass per choice. On these items it separates models
    that use their context better than the total does (a d_model=64 model at 1.73 nats/char
    validation loss: 29% by total, 38% by mutual information), but "total" stays the default, as
    the plain log-likelihood is how MMLU-style benchmarks are usually scored.

    ``k_shot`` solved examples (other items' context + correct continuation, each followed by a
    blank line) are put before the query, as in MMLU's 5-shot prompts. The whole prompt + choice
    is then cut from the LEFT to ``model.cfg.context_length`` characters, because the model cannot
    see further back. With the kit's 128-character context and the default 96 + 32 characters per
    item, that cut removes the examples entirely, so k > 0 gives exactly the 0-shot result; only
    with shorter items (or longer contexts) do the examples reach the model. Few-shot prompting is
    a capability of large models with long contexts; at this scale it adds nothing.

    ``batch_size`` counts items: all four choices of ``batch_size`` items go through the model in
    one forward pass, one sequence per choice, so no choice can see another. The model runs in
    eval mode under ``torch.no_grad`` on the device of its parameters, and its train/eval flag is
    restored afterwards. ``model(idx)`` must return ``(logits, _)`` with logits (B, T, V).
    """
    if score not in SCORE_MODES:
        raise ValueError(f"unknown score mode {score!r}: use one of {', '.join(SCORE_MODES)}")
    if not isinstance(k_shot, (int, np.integer)) or isinstance(k_shot, bool) or k_shot < 0:
        raise ValueError(f"k_shot must be a non-negative integer, got {k_shot!r}")
    _positive_int("batch_size", batch_size)
    items = list(items)
    _check_model_and_items(model, items, corpus)
    return _results(model, corpus, items, int(k_shot), int(batch_size), (score,))[score]


def _check_model_and_items(model: torch.nn.Module, items: list[Item], corpus: Corpus) -> None:
    if not items:
        raise ValueError("no items to score; build some with build_items(corpus, n_items=...)")
    cfg = getattr(model, "cfg", None)
    context_length = getattr(cfg, "context_length", None)
    if not isinstance(context_length, int) or context_length < 2:
        raise ValueError("model.cfg.context_length must be an integer >= 2 (the model's context)")
    longest = max(len(it.context) + max(len(c) for c in it.choices) for it in items)
    if longest > context_length:
        raise ValueError(
            f"an item needs {longest} characters (context_chars + choice_chars) but the model's "
            f"context_length is {context_length}; lower context_chars or choice_chars so that "
            f"they sum to at most {context_length}")
    if any(len(it.choices) != N_CHOICES for it in items):
        raise ValueError(f"every item must have {N_CHOICES} choices")
    vocab_size = getattr(cfg, "vocab_size", None)
    if vocab_size is not None and vocab_size != corpus.vocab_size:
        raise ValueError(
            f"the model has vocab_size={vocab_size} but the corpus {corpus.name!r} has "
            f"{corpus.vocab_size} characters: it was trained on another vocabulary, so its token ids "
            "mean other characters; load it with checkpoint.load_checkpoint(path, corpus) to check")


class NonFiniteLogits(ValueError):
    """The model produced NaN or infinite logits: its weights are broken; no accuracy is given."""


def _results(model: torch.nn.Module, corpus: Corpus, items: list[Item], k_shot: int,
             batch_size: int, modes: tuple[str, ...]) -> dict[str, MCResult]:
    """Score ``items`` once and read off the accuracy under each mode in ``modes``."""
    context_length = model.cfg.context_length
    lut = {ch: i for i, ch in enumerate(corpus.vocab)}

    def encode(s: str) -> list[int]:
        try:
            return [lut[ch] for ch in s]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in this corpus's vocabulary") from None

    # One token row per (item, choice): prompt + choice, cut from the left to the context length.
    rows: list[list[int]] = []
    n_choice: list[int] = []
    for i, it in enumerate(items):
        prompt = ""
        if k_shot:
            prompt = "".join(items[j].context + items[j].choices[items[j].answer] + "\n\n"
                             for j in _shot_indices(items, i, k_shot))
        prompt_ids = encode(prompt + it.context)
        for choice in it.choices:
            rows.append((prompt_ids + encode(choice))[-context_length:])
            n_choice.append(len(choice))

    conditional = _choice_logprobs(model, rows, n_choice, batch_size * N_CHOICES)
    results = {}
    for mode in modes:
        if mode == "total":
            scores = conditional
        elif mode == "per_char":
            scores = conditional / torch.tensor(n_choice, dtype=torch.float64)
        else:  # mutual_info
            prefix = encode(UNCONDITIONAL_PROMPT)
            unconditional = [(prefix + encode(choice))[-context_length:]
                             for it in items for choice in it.choices]
            scores = conditional - _choice_logprobs(model, unconditional, n_choice,
                                                    batch_size * N_CHOICES)
        predictions = scores.view(len(items), N_CHOICES).argmax(dim=1).tolist()
        n_correct = sum(int(p == it.answer) for p, it in zip(predictions, items))
        n = len(items)
        acc = n_correct / n
        results[mode] = MCResult(accuracy=acc, stderr=math.sqrt(acc * (1 - acc) / n), n_items=n,
                                 n_correct=n_correct, predictions=predictions, k_shot=k_shot,
                                 score=mode)
    return results


@torch.no_grad()
def _choice_logprobs(model: torch.nn.Module, rows: list[list[int]], n_choice: list[int],
                     batch_rows: int) -> torch.Tensor:
    """For each token row, the summed log-probability of its last ``n_choice[r]`` tokens given
    the tokens before them (float64, one value per row), ``batch_rows`` rows per forward pass."""
    try:
        device = next(model.parameters()).device
    except StopIteration:  # a parameter-free model (e.g. a test oracle) runs on the CPU
        device = torch.device("cpu")
    was_training = model.training
    model.eval()
    out = torch.empty(len(rows), dtype=torch.float64)
    try:
        for b0 in range(0, len(rows), batch_rows):
            batch = rows[b0:b0 + batch_rows]
            lens = torch.tensor([len(r) for r in batch])
            width = int(lens.max()) - 1  # inputs are a row without its last character
            # Right-padding: causal attention means the pad after a row never affects it.
            full = torch.zeros(len(batch), width + 1, dtype=torch.long)
            for r, ids in enumerate(batch):
                full[r, :len(ids)] = torch.tensor(ids)
            x, y = full[:, :-1].to(device), full[:, 1:].to(device)
            with autocast(device):
                logits, _ = model(x)  # (B, width, V)
            if not bool(torch.isfinite(logits).all()):
                # argmax over NaN scores picks choice 0 every time: an accuracy that looks real
                raise NonFiniteLogits(
                    "the model produced NaN or infinite logits, so its answers mean nothing; its "
                    "weights are broken (a diverged run or a damaged checkpoint): retrain it or "
                    "restore the checkpoint")
            # the choice's characters are the targets at positions [len - 1 - n_choice, len - 1);
            # only the positions from the earliest such start need the softmax
            nc = torch.tensor(n_choice[b0:b0 + batch_rows])[:, None]
            begin = lens[:, None] - 1 - nc
            first = int(begin.min())
            logp = F.log_softmax(logits[:, first:].float(), dim=-1)
            logp = logp.gather(2, y[:, first:, None])[..., 0].cpu().double()  # (B, width - first)
            pos = torch.arange(first, width)[None, :]
            mask = (pos >= begin) & (pos < lens[:, None] - 1)
            out[b0:b0 + len(batch)] = (logp * mask).sum(dim=1)
    finally:
        model.train(was_training)
    return out


def mc_accuracy(model: torch.nn.Module, corpus: Corpus, *, n_items: int = 1000,
                context_chars: int = 96, choice_chars: int = 32, seed: int = 0, k_shot: int = 0,
                score: str = "total", batch_size: int = DEFAULT_BATCH_ITEMS) -> MCResult:
    """`build_items` (cached) then `score_items`: the benchmark in one call, as the sweep uses it."""
    items = build_items(corpus, n_items=n_items, context_chars=context_chars,
                        choice_chars=choice_chars, seed=seed)
    return score_items(model, corpus, items, k_shot=k_shot, score=score, batch_size=batch_size)


def mc_accuracies(model: torch.nn.Module, corpus: Corpus, *, n_items: int = 1000,
                  context_chars: int = 96, choice_chars: int = 32, seed: int = 0,
                  modes: tuple[str, ...] = ("total", "mutual_info"),
                  batch_size: int = DEFAULT_BATCH_ITEMS) -> dict[str, MCResult]:
    """The benchmark under several scoring modes from one conditional pass (what the sweep
    records: "total", the usual MMLU-harness score, and "mutual_info", which separates small
    models better)."""
    unknown = set(modes) - set(SCORE_MODES)
    if unknown:
        raise ValueError(f"unknown score mode(s) {sorted(unknown)}: use {', '.join(SCORE_MODES)}")
    items = build_items(corpus, n_items=n_items, context_chars=context_chars,
                        choice_chars=choice_chars, seed=seed)
    _positive_int("batch_size", batch_size)
    _check_model_and_items(model, items, corpus)
    return _results(model, corpus, items, 0, batch_size, tuple(modes))
