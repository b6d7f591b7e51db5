"""Every number a lesson's text states about the paper or the shipped runs is pinned to the data.

The markdown of each lesson in ``PINNED`` (text, model answers and rubrics) is scanned for numbers.
Each one must be listed in that lesson's table below, either with an expression evaluated against
``tinychinchilla.paper`` / ``small_runs`` (through ``runs``) whose value, written at the precision
the text uses, is the number the text states; or as ``KIT`` (a number about the course itself:
run times, item counts, settings), ``QUOTE`` (inside a quotation of the paper, which
tests/test_quotes.py checks), ``ELSEWHERE`` (a fact from another work, named next to it) or
``PRINTED`` (printed by the lesson's own code: a live training run, which differs by machine, or a
bootstrap too slow to repeat here). A number in the text that is not in the table fails, and so does a
table entry the text no longer uses, so the two cannot drift apart.

Not scanned: references (Section 3.4, Table A3, eq. 10, Question 5, lesson 06, "2 points"),
years, arXiv ids, lesson numbers 00-09, bare integers 0-10 (list numbering, "three approaches"),
and numbers that are part of a word or an adjective ("GPT-3", "6ND", "5-shot", "2-core").
"""

import math
import re
from functools import cache
from pathlib import Path

import nbformat
import numpy as np
import pytest

from tinychinchilla import check, counting, fit, paper, runs, train

ROOT = Path(__file__).resolve().parents[1]
KIT = "kit"
QUOTE = "quote"

REFERENCE = re.compile(r"""(?x)
  (?:Sections?|Tables?|Figures?|Appendix|Appendices|eqs?\.|Approach(?:es)?|Questions?|[Ll]essons?
     |Problem|\bQ|Steps?)
  \s*(?:[A-Z]?\d+(?:\.\d+)*[a-z]?(?!\.?\w)
       (?:\s*(?:,|–|-|and|or|&)\s*[A-Z]?\d+(?:\.\d+)*[a-z]?(?!\.?\w))*)""")
# marks of the grading scheme: "(2 points, graded by hand)", "- 1 point:", "5 points each"
POINTS = re.compile(r"(?m)\(\d+ points?\b[^)]*\)|^\s*- \d+ points?\b|\b\d+ points? each|\b\d+ points?:")
NOT_A_CLAIM = re.compile(r"\b(?:19[5-9]\d|20[0-3]\d)\b(?!\.\d)|\d{4}\.\d{4,5}|https?://\S+|`[^`]*`|\]\([^)]*\)"
                         r"|10\^\{[^}]*[^\d}\-][^}]*\}")
NUMBER = re.compile(r"""(?x)
  (?<![\w.\-^{])                                        # not inside a word, e.g. GPT-3, sha256
  (?:(?P<mant>\d+(?:\.\d+)?)\s*(?:\\times|×)\s*10\^\{?(?P<exp>-?\d+)\}?   # 5.76 \\times 10^{23}
    |10\^\{?(?P<pexp>-?\d+)\}?                           # 10^{26}
    |(?P<num>[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[+\-]?\d+)?)(?P<unit>\s?[BTMK](?![\w])|%|×|x(?![\w]))?
  )
  (?![\w\-])                                             # not 6ND, 5-shot, 2-core
""")
SCALE = {"B": 1e9, "T": 1e12, "M": 1e6, "K": 1e3}


def numbers_in(text: str) -> list[str]:
    """The numbers ``text`` states, as written (``"1.43T"``, ``"17%"``, ``"5.76 \\times 10^{23}"``)."""
    for pattern in (NOT_A_CLAIM, REFERENCE, POINTS):
        text = pattern.sub(" ", text)
    found = []
    for m in NUMBER.finditer(text):
        token = m.group(0).strip()
        if m.group("num") is not None and not m.group("unit"):
            bare = m.group("num").lstrip("+-−").replace(",", "")
            if re.fullmatch(r"0\d", bare) or (re.fullmatch(r"\d+", bare) and int(bare) <= 10):
                continue  # lesson numbers, list numbering, small counts
        found.append(token)
    return found


def value_of(token: str) -> tuple[float, float]:
    """The value a token states and half a unit of its last written digit."""
    m = NUMBER.fullmatch(token)
    assert m, token
    if m.group("mant") is not None:
        mant, exp = m.group("mant"), int(m.group("exp"))
    elif m.group("pexp") is not None:
        return 10.0 ** int(m.group("pexp")), 0.5 * 10.0 ** int(m.group("pexp"))
    else:
        mant, exp = m.group("num").replace(",", "").replace("−", "-"), 0
        if "e" in mant:
            mant, e = mant.split("e")
            exp = int(e)
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    scale = 10.0 ** exp * SCALE.get((m.group("unit") or "").strip(), 1.0)
    return float(mant) * scale, 0.5 * 10.0 ** -decimals * scale


def stated_numbers(path: Path) -> dict[str, str]:
    """Every number the markdown of ``path`` states, with a little context for messages."""
    out = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for token in numbers_in(cell.source):
                out.setdefault(token, cell.id)
    return out


# ---------------------------------------------------------------------------------------------
# What the expressions may use
# ---------------------------------------------------------------------------------------------


def _power_law(rows):
    return fit.fit_power_law(paper.table_column(rows, "flops"), paper.table_column(rows, "params"))


def _appendix_f(name, tokens):
    shape = counting.Shape(**paper.TABLE_4[name], vocab_size=paper.TABLE_A9_VOCAB,
                           seq_len=paper.TABLE_A9_SEQ_LEN)
    return counting.appendix_f(shape).training_flops(tokens)


def _lesson_01() -> dict:
    """Lesson 01's model (3 layers, width 96, context 128, trained on 2,048,000 characters) and
    the kit's shapes of its Section 8, counted as the lesson counts them."""
    from tinychinchilla.data import load_corpus
    from tinychinchilla.model import GPTConfig

    vocab = load_corpus().vocab_size
    cfg = GPTConfig(vocab_size=vocab, context_length=128, n_layer=3, n_head=3, d_model=96)
    tokens = 2_048_000
    terms = counting.appendix_f(cfg)
    c6 = counting.flops_6nd(counting.param_counts(cfg).total, tokens)
    caf = counting.flops_appendix_f(cfg, tokens)
    ratios = []
    for d_model, n_layer, n_head in ((32, 1, 2), (48, 2, 2), (64, 2, 4), (96, 3, 3), (128, 4, 4)):
        other = GPTConfig(vocab_size=vocab, context_length=128, n_layer=n_layer, n_head=n_head, d_model=d_model)
        ratios.append(counting.flops_appendix_f(other, 1) / counting.flops_6nd(counting.param_counts(other).total, 1))
    a4 = [counting.Shape(r.n_layers, r.d_model, r.ffw_size, r.n_heads, r.kv_size, paper.TABLE_A9_VOCAB,
                         paper.TABLE_A9_SEQ_LEN) for r in paper.TABLE_A4]
    return {
        "vocab": vocab, "c6": c6, "caf": caf, "max_ratio": max(ratios),
        "context_share": terms.n_layers * (terms.attention_logits + terms.attention_softmax
                                           + terms.attention_reduction) / terms.forward(),
        "embedding_share": (terms.embeddings + terms.final_logits) / terms.forward(),
        "n_73m": counting.chinchilla_params(a4[0]), "ratio_73m_with": counting.table_a4_ratio(a4[0], True),
        "a4_ratios": [counting.table_a4_ratio(s) for s in a4],
    }


def _seed_swaps(fitter) -> list[float]:
    """``fitter(rows)`` for the shipped seed-0 runs with every reseeded run (each budget's three
    best sizes) swapped for seed 1, then seed 2 (lessons 03-05, 09)."""
    rows = runs.load_runs(seed=None)
    reseeded = {(r["budget_flops"], r["shape"]) for r in rows if r["seed"] > 0}
    return [fitter([r for r in rows if r["seed"] == (s if (r["budget_flops"], r["shape"]) in reseeded else 0)])
            for s in (1, 2)]


def _approach2_rows(rows):
    return fit.fit_approach2([r["params_non_embedding"] for r in rows], [r["budget_flops"] for r in rows],
                             [r["final_val_loss"] for r in rows])


def _approach3_rows(rows):
    n = np.array([r["params_non_embedding"] for r in rows], dtype=float)
    return fit.fit_approach3(n, np.array([r["budget_flops"] for r in rows]) / (6 * n),
                             np.array([r["final_val_loss"] for r in rows]))


@cache
def _lessons_03_04() -> dict:
    """Facts of the shipped sweep that lessons 03 and 04 state beyond ``shipped()``."""
    curves, rows = runs.load_curves(), runs.load_runs()
    r1 = fit.fit_approach1(curves)
    grid = r1.flop_grid[r1.used]
    losses = np.full((len(curves), grid.size), np.inf)
    for i, cv in enumerate(curves):
        inside = (grid >= cv.flops[0]) & (grid <= cv.flops[-1])
        losses[i, inside] = np.interp(np.log(grid[inside]), np.log(cv.flops), cv.loss)
    best = np.argmin(losses, axis=0)
    step = [np.interp(np.log(x), np.log(curves[i].flops), curves[i].steps) for i, x in zip(best, grid)]
    budgets = runs.budgets()
    n, c, loss = runs.isoflop_arrays(seed=0)
    upper = c >= budgets[-5]
    return {
        "below_smallest_budget": float(np.mean(grid < min(budgets))),  # grid is log-spaced: share of log range
        "cooldown_share": float(np.mean([s >= rows[i]["steps"] - rows[i]["cooldown_steps"] for i, s in zip(best, step)])),
        "r1_budgets_range": fit.fit_approach1(curves, flop_range=(min(budgets), max(budgets))).a,
        "r1_val": fit.fit_approach1(runs.load_curves(loss="val_loss")).a,
        "r2_upper_five": fit.fit_approach2(n[upper], c[upper], loss[upper]).a,
        "swaps": _record_seed_swaps(),
    }


def _record_seed_swaps() -> list[dict]:
    """Approaches 1 and 2 on the seed-0 runs with every reseeded run (each budget's three best
    sizes) swapped for seed 1, then seed 2, as lessons 03-04 do; the change from seed 0."""
    records = runs.load_records(seed=None)
    curves = runs.load_curves(seed=None)  # in the order of load_records
    rows = [rec["row"] for rec in records]
    reseeded = {(r["budget_flops"], r["shape"]) for r in rows if r["seed"] > 0}

    def fits(seed):
        keep = [i for i, r in enumerate(rows)
                if r["seed"] == (seed if (r["budget_flops"], r["shape"]) in reseeded else 0)]
        rs = [rows[i] for i in keep]
        c = [r["budget_flops"] for r in rs]
        y = [r["final_val_loss"] for r in rs]
        r2 = fit.fit_approach2([r["params_non_embedding"] for r in rs], c, y)
        return {"a1": fit.fit_approach1([curves[i] for i in keep]).a, "a2": r2.a,
                "n_opt": r2.n_opt[r2.budgets.tolist().index(1e12)],
                "a2t": fit.fit_approach2([r["params_total"] for r in rs], c, y).a}

    base = fits(0)
    return [{k: v / base[k] - 1 if k == "n_opt" else v - base[k] for k, v in fits(s).items()}
            for s in sorted({r["seed"] for r in rows} - {0})]


@cache
def shipped() -> dict:
    """Fits and facts of the shipped sweep that lessons 02-04 and 09 state."""
    rows = runs.load_runs(seed=None)
    seed0 = [r for r in rows if r["seed"] == 0]
    curves = runs.load_curves()
    n, c, loss = runs.isoflop_arrays(seed=0)
    nt, ct, lt = runs.isoflop_arrays(seed=0, params="total")
    r2 = fit.fit_approach2(n, c, loss)
    windows = [max(r["params_non_embedding"] for r in seed0 if r["budget_flops"] == b)
               / min(r["params_non_embedding"] for r in seed0 if r["budget_flops"] == b) for b in runs.budgets()]
    tokens_by_shape = {}
    for r in seed0:
        tokens_by_shape.setdefault(r["shape"], []).append(r["tokens"])
    smallest = min(cv.n_params for cv in curves)
    pairs, by_size = runs.schedule_pairs(), _by_size(rows)  # each read and grouped once
    return {
        "rows": rows, "seed0": seed0, "curves": curves,
        "r1": fit.fit_approach1(curves), "r2": r2, "r2t": fit.fit_approach2(nt, ct, lt),
        "r3": fit.fit_approach3(n, c / (6 * n), loss), "r3_mean": fit.fit_approach3(n, c / (6 * n), loss, reduction="mean"),
        "r3t": fit.fit_approach3(nt, c / (6 * n), loss),
        "r2_without_smallest": fit.fit_approach2(n[c > c.min()], c[c > c.min()], loss[c > c.min()]),
        "r1_without_smallest_size": fit.fit_approach1([cv for cv in curves if cv.n_params != smallest]),
        "r1_choices": {"edges": fit.fit_approach1(curves, exclude_edge_sizes=False).a,
                       "smooth": fit.fit_approach1(curves, smooth_decades=0.1).a,
                       "range": fit.fit_approach1(curves, flop_range=(3.16e10, 3.16e12)).a,
                       "val": fit.fit_approach1(runs.load_curves(loss="val_loss")).a},
        "r1_seed_swaps": _seed_swaps(lambda rs: fit.fit_approach1(
            [cv for cv, r in zip(runs.load_curves(seed=None), runs.load_runs(seed=None)) if r in rs]).a),
        "windows": windows, "tokens_span": {k: max(v) / min(v) for k, v in tokens_by_shape.items()},
        "ladder_span": max(r["params_non_embedding"] for r in seed0) / min(r["params_non_embedding"] for r in seed0),
        "run": lambda budget, shape: next(r for r in seed0 if r["budget_flops"] == budget and r["shape"] == shape),
        "n_points": [len(cv.flops) for cv in curves],
        "pairs": pairs, "wsd_cost_ratio": _wsd_cost_ratio(),
        # every reseeded (budget, shape): spread and mean over its seeds
        "spreads_all": {k: max(v) - min(v) for k, v in by_size.items() if len(v) > 1},
        "means_all": {k: float(np.mean(v)) for k, v in by_size.items() if len(v) > 1},
        # WSD minus cosine at each budget's three best cosine sizes
        "pairs_near": [p["difference"] for b in sorted({q["budget_flops"] for q in pairs})
                       for p in sorted((q for q in pairs if q["budget_flops"] == b),
                                       key=lambda q: q["cosine_loss"])[:3]],
        # lesson 06: Approach 2 without the two smallest budgets (the range of the earlier cosine sweep)
        "r2_upper_five": fit.fit_approach2(n[c >= runs.budgets()[2]], c[c >= runs.budgets()[2]],
                                           loss[c >= runs.budgets()[2]], drop_failed_budgets=True),
        # lesson 09: Approaches 2 and 3 with one budget left out, (a2, a3) by the budget left out
        "leave_one_budget_out": {b: (fit.fit_approach2(n[c != b], c[c != b], loss[c != b]).a,
                                     fit.fit_approach3(n[c != b], c[c != b] / (6 * n[c != b]), loss[c != b]).a)
                                 for b in runs.budgets()},
        # lesson 09: the exponents of Approaches 2 and 3 with the re-seeded runs swapped for seed 1, then 2
        "r2_seed_swap_a": [r.a for r in _seed_swaps(_approach2_rows)],
        "r3_seed_swap_a": [r.a for r in _seed_swaps(_approach3_rows)],
    }


def _by_size(rows) -> dict:
    """(budget, shape) -> the final validation losses of its seeds."""
    out = {}
    for r in rows:
        out.setdefault((r["budget_flops"], r["shape"]), []).append(r["final_val_loss"])
    return out


def _wsd_cost_ratio() -> float:
    """6ND of every step the shipped WSD grid trains, over what a run per budget would (lesson 02)."""
    from collections import defaultdict

    from tinychinchilla.grid import load_grid
    from tinychinchilla.model import GPTConfig

    lengths = defaultdict(list)
    for s in load_grid(runs.small_runs_dir() / "grid.toml"):
        lengths[(s.d_model, s.n_layer, s.n_head, s.seed, s.cooldown_fraction)].append(s.steps())
    cosine = wsd = 0.0
    for (d, layers, heads, _, fraction), steps in lengths.items():
        per_step = 6 * counting.param_counts(GPTConfig(d_model=d, n_layer=layers, n_head=heads)).non_embedding * 1024
        cool = [train.cooldown_steps(n, train.TrainConfig(tokens=1, cooldown_fraction=fraction)) for n in steps]
        cosine += per_step * sum(steps)
        wsd += per_step * (max(n - c for n, c in zip(steps, cool)) + sum(cool))
    return wsd / cosine


@cache
def names() -> dict:
    t3 = _power_law(paper.TABLE_3)
    a2 = _power_law(paper.TABLE_A3["approach2"])
    a3 = _power_law(paper.TABLE_A3_CORRECTED["approach3"])
    n, c, loss = runs.isoflop_arrays(seed=0)
    tiny = fit.fit_approach2(n, c, loss, drop_failed_budgets=True)
    budgets = runs.budgets()
    small, large = runs.best_run(budgets[0]), runs.best_run(budgets[-1])
    g, ch = paper.GOPHER, paper.CHINCHILLA
    return {
        "paper": paper, "runs": runs, "fit": fit, "math": math, "np": np,
        "T3": paper.TABLE_3, "A3": paper.TABLE_A3_CORRECTED, "T6": paper.TABLE_6,
        "A6": paper.TABLE_A6, "T2": paper.TABLE_2, "G": g, "CH": ch, "C": paper.GOPHER_FLOPS,
        "t3": t3, "a2": a2, "a3": a3, "tiny": tiny,
        "c6": 6 * ch.params * ch.tokens, "g6": 6 * g.params * g.tokens,
        "caf": _appendix_f("Chinchilla", ch.tokens), "gaf": _appendix_f("Gopher", g.tokens),
        "small": small, "large": large,
        "train_chars": runs.best_run(budgets[0])["tokens"] / runs.best_run(budgets[0])["epochs"],
        "counting": counting, "check": check, "train": train, "l01": _lesson_01(), "S": shipped(),
        "L34": _lessons_03_04(),
        "lr_end": lambda m: train.lr_at(999, 1000, train.TrainConfig(tokens=1, cosine_cycle_multiplier=m)) / train.TrainConfig(tokens=1).lr,
    }


def evaluate(expression: str) -> float:
    builtins = {"round": round, "len": len, "min": min, "max": max, "abs": abs, "float": float}
    return float(eval(expression, {"__builtins__": builtins, **names()}))  # noqa: S307 (test data)


# ---------------------------------------------------------------------------------------------
# The tables: number as written -> expression, KIT or QUOTE
# ---------------------------------------------------------------------------------------------

ELSEWHERE = "elsewhere"  # a fact from another work, named next to it (e.g. MMLU's size, Hendrycks et al.)
# a number the lesson's own code prints and the text reports as "my run" or "about": from a run the
# lesson trains live (it differs by machine) or from a bootstrap too slow to repeat here
PRINTED = "printed"

PINNED: dict[str, dict[str, str]] = {
    "00-setup-and-tour": {
        # the paper in one page
        "300B": "G.tokens", "400": "paper.RUNS_BEHIND_THE_FITS['models']",
        "70M": "paper.RUNS_BEHIND_THE_FITS['min_params']", "16B": "paper.RUNS_BEHIND_THE_FITS['max_params']",
        "5B": "paper.RUNS_BEHIND_THE_FITS['min_tokens']", "500B": "paper.RUNS_BEHIND_THE_FITS['max_tokens']",
        "0.5": "np.mean([T2[k].a for k in ('approach1', 'approach2', 'approach3')])",
        "0.50": "T2['approach1'].a", "0.49": "T2['approach2'].a", "0.51": "T2['approach2'].b",
        "0.46": "T2['approach3'].a", "0.54": "T2['approach3'].b",
        "0.73": "T2['kaplan'].a", "0.27": "T2['kaplan'].b",
        "20": "round(np.median([r.tokens / r.params for r in T3]), -1)",
        "70B": "CH.params", "1.4T": "CH.tokens", "280B": "G.params",
        "57": "paper.N_MMLU_TASKS", "67.6%": "T6['Chinchilla']", "60.0%": "T6['Gopher']",
        "67.5%": "paper.MMLU_CHINCHILLA_ABSTRACT", "51": "paper.TASKS_IMPROVED_OVER_GOPHER",
        "4×": "G.params / CH.params",
        # how to write numbers: examples from Table 1
        "280": "G.params / 1e9", "1.4": "CH.tokens / 1e12",
        # Table 1 as a markdown table
        "137 B": "paper.table_1_model('LaMDA').params", "168 B": "paper.table_1_model('LaMDA').tokens",
        "175 B": "paper.table_1_model('GPT-3').params", "300 B": "paper.table_1_model('GPT-3').tokens",
        "178 B": "paper.table_1_model('Jurassic').params", "280 B": "G.params",
        "530B": "paper.table_1_model('MT-NLG').params", "530 B": "paper.table_1_model('MT-NLG').params",
        "270 B": "paper.table_1_model('MT-NLG').tokens", "70 B": "CH.params", "1.4 T": "CH.tokens",
        # the compute gap
        "17%": "100 * (c6 / g6 - 1)", "19.5%": "100 * (caf / gaf - 1)",
        "5.76e23": "C",
    },
    "01-tiny-transformer": {
        "1.5": KIT,  # minutes of the training run
        "84": "l01['vocab']", "128": KIT, "96": KIT, "2,048,000": KIT,  # the lesson's model and D
        "32": "paper.TABLE_A9_VOCAB / 1000",  # "32,000-token vocabulary"
        "20%": "100 * (l01['caf'] / l01['c6'] - 1)", "1.2×": "l01['caf'] / l01['c6']",
        "1.20": "l01['caf'] / l01['c6']", "5.20e12": "l01['caf']", "4.34e12": "l01['c6']",
        "17": "100 * (1 - l01['c6'] / l01['caf'])",  # 6ND is 17% below Appendix F
        "20": "100 * (l01['caf'] / l01['c6'] - 1)",  # "20–37%" in the summary
        "18%": "100 * l01['context_share']", "4%": "100 * l01['embedding_share']",
        "37%": "100 * (l01['max_ratio'] - 1)",
        "0.9": KIT, "0.95": KIT, "0.1": KIT, "12": KIT,  # AdamW's betas, weight decay; 2 x 12 d^2
        "10%": "100 * (max(l01['a4_ratios']) - 1)",  # Table A4 within 10% (also: the final LR ratio)
        "1.03": "paper.TABLE_A4[0].ratio_rounded", "1.10": "paper.TABLE_A4[1].ratio_rounded",
        "1.08": "paper.TABLE_A4[2].ratio_rounded", "1.04": "paper.TABLE_A4[3].ratio_rounded",
        "0.99": "paper.TABLE_A4[5].ratio_rounded", "1.0250": "l01['a4_ratios'][0]",
        "32,000": "paper.TABLE_A9_VOCAB", "2048": "paper.TABLE_A9_SEQ_LEN", "640": "paper.TABLE_A4[0].d_model",
        "73M": "float(paper.TABLE_A4[0].name[:-1]) * 1e6",  # the model's name in Table A4
        "73.8M": "l01['n_73m']", "20.5M": "paper.TABLE_A9_VOCAB * paper.TABLE_A4[0].d_model",
        "1.58": "l01['ratio_73m_with']",
    },
    "02-schedules-budgets-sweeps": {
        "1×": "paper.FIGURE_A1_CYCLE_MULTIPLIERS[0]", "1.1×": "paper.FIGURE_A1_CYCLE_MULTIPLIERS[1]",
        "1.25×": "paper.FIGURE_A1_CYCLE_MULTIPLIERS[2]", "1.5×": "paper.FIGURE_A1_CYCLE_MULTIPLIERS[3]",
        "2×": "paper.FIGURE_A1_CYCLE_MULTIPLIERS[4]", "5×": "paper.FIGURE_A1_CYCLE_MULTIPLIERS[5]",
        "20": "round(np.median([r.tokens / r.params for r in T3]), -1)",  # (also "about 20 s" per run)
        "10%": "100 * train.TrainConfig(tokens=1).final_lr_ratio", "0.1": "train.TrainConfig(tokens=1).final_lr_ratio",
        "5%": "100 * train.TrainConfig(tokens=1).warmup_fraction", "0.05": "train.TrainConfig(tokens=1).warmup_fraction",
        "57%": "100 * lr_end(2.0)", "90%": "90 if lr_end(5.0) > 0.9 else 0", "92%": "100 * lr_end(5.0)",
        "16": KIT, "3,120": "S['run'](3.16e10, 'd16-L1')['params_non_embedding']",  # d16-L1: width 16
        "10^{-2}": "train.TrainConfig(tokens=1).lr", "128": KIT, "4M": KIT, "3,906": "4e6 / (8 * 128)",
        "488": KIT, "3×": KIT,  # fast mode's runs
        "6,731×": "S['ladder_span']", "117": "min(r['params_non_embedding'] for r in S['seed0'])",
        "45": "S['ladder_span'] ** 2 / 1e6",
        "787,584": "max(r['params_non_embedding'] for r in S['seed0'])", "10^{12}": "runs.budgets()[5]", "120": "6 * 20",
        "91": "math.sqrt(1e12 / 120) / 1e3", "1.8M": "1e12 / (6 * math.sqrt(1e12 / 120))",
        "3.16 \\times 10^{10}": "runs.budgets()[2]",
        # re-runs of 3.16e10 of the cosine sweep on other CPUs (measured, README): not in small_runs/
        "0.0001": KIT, "0.002": KIT, "0.004": KIT, "0.071": KIT, "0.031": KIT, "0.079": KIT,
        "92": "S['run'](3.16e10, 'd48-L2')['steps']", "207": "S['run'](3.16e10, 'd32-L2')['steps']",
        "0.0042": "min(S['spreads_all'].values())", "0.15": "max(S['spreads_all'].values())",
        "3.16e12": "runs.budgets()[-1]", "0.138": "S['spreads_all'][(runs.budgets()[0], 'd16-L1')]",
        "10^{10}": "runs.budgets()[1]", "0.0015": "abs(S['means_all'][(1e10, 'd12-L1')] - S['means_all'][(1e10, 'd16-L1')])",
        # the model answer's own Figure A1 run (full mode, printed by the lesson's cell)
        "2.171": PRINTED, "2.223": PRINTED, "2.290": PRINTED, "2.313": PRINTED, "0.14": PRINTED,
        "48×": "S['run'](1e12, 'd24-L1')['tokens'] / S['run'](1e12, 'd96-L3')['tokens']",
        "23.9M": "S['run'](1e12, 'd24-L1')['tokens']", "0.5M": "S['run'](1e12, 'd96-L3')['tokens']",
        "0.73": "T2['kaplan'].a", "0.5": "np.mean([T2[k].a for k in ('approach1', 'approach2', 'approach3')])",
        # Section 7: warm-up-stable-decay against the cosine sweep
        "169": "min(runs.best_run(b)['tokens'] / runs.best_run(b)['params_non_embedding'] for b in runs.budgets())",
        "541": "max(runs.best_run(b)['tokens'] / runs.best_run(b)['params_non_embedding'] for b in runs.budgets())",
        "40": KIT, "20%": "100 * train.TrainConfig(tokens=1).cooldown_fraction",
        "32": "len([p for p in S['pairs'] if p['difference'] < 0])", "35": "len(S['pairs'])",
        "0.046": "-np.median([p['difference'] for p in S['pairs']])",
        "0.015": "-max(S['pairs_near'])", "0.146": "-min(S['pairs_near'])",
        "81%": "100 * S['wsd_cost_ratio']",
    },
    "03-approach1-envelope": {
        "51": "len(S['curves'])", "1,500": "paper.SECTION_3_1['flop_values']",
        "0.50": "T2['approach1'].a", "0.73": "T2['kaplan'].a", "0.27": "T2['kaplan'].b",
        "0.488": "T2['approach1'].a_interval[0]", "0.502": "T2['approach1'].a_interval[1]",
        "27": "min(S['n_points'])", "38": "max(S['n_points'])",
        "2.5": KIT,  # sigma = window / 4 (fit.approach1.gaussian_smooth_steps)
        "16": "paper.SECTION_3_1['horizon_span']", "16×": "paper.SECTION_3_1['horizon_span']",
        "320×": "S['tokens_span']['d32-L2']", "2×": KIT,  # the ladder's step
        "0.016": KIT,  # the answer spec's tolerance
        "−0.003": "L34['swaps'][0]['a1']",
        "0.42": "S['r1'].a",  # (also the validation-loss curves' a, L34['r1_val'])
        "0.58": "L34['r1_budgets_range']",  # (also S['r1'].b)
        "39%": "100 * L34['below_smallest_budget']", "14%": "100 * L34['cooldown_share']",
        "0.39": PRINTED,  # the bootstrap's interval (its upper end 0.44), printed by Section 5
        "0.70": "S['r1_choices']['range']", "0.44": "S['r1_choices']['edges']",
        "0.015": "max(abs(w['a1']) for w in L34['swaps'])", "−0.015": "L34['swaps'][1]['a1']",
    },
    "04-approach2-isoflop": {
        "0.49": "T2['approach2'].a", "0.51": "T2['approach2'].b", "0.73": "T2['kaplan'].a", "0.27": "T2['kaplan'].b",
        "0.5": "np.mean([T2[k].a for k in ('approach1', 'approach2', 'approach3')])",
        "0.462": "T2['approach2'].a_interval[0]", "0.534": "T2['approach2'].a_interval[1]",
        "0.483": "T2['approach2'].b_interval[0]", "0.529": "T2['approach2'].b_interval[1]",
        "0.50": "T2['approach1'].a", "0.46": "T2['approach3'].a", "0.54": "T2['approach3'].b",
        "32,768": KIT,  # validation characters
        "6 \\times 10^{18}": "paper.SECTION_3_2_BUDGETS[0]", "3 \\times 10^{21}": "paper.SECTION_3_2_BUDGETS[1]",
        "3.16 \\times 10^{12}": "runs.budgets()[-1]",
        "10^{12}": "[b for b in runs.budgets() if b == 1e12][0]", "24,736": "runs.best_run(1e12)['params_non_embedding']",
        "3.16 \\times 10^{9}": "runs.budgets()[0]", "123": "max(S['windows'])", "0.66": "L34['r2_upper_five']",
        "0.68": "fit.fit_approach2(*runs.isoflop_arrays(directory=runs.cosine_dir())).a",
        "0.006": KIT, "3%": KIT,  # the answer spec's tolerances
        "+0.005": "L34['swaps'][0]['a2']", "−0.003": "L34['swaps'][1]['a2']",
        "+2.9%": "100 * L34['swaps'][0]['n_opt']", "+1.2%": "100 * L34['swaps'][1]['n_opt']",
        "4.9%": "100 * (1 - runs.best_run(1e12)['params_non_embedding'] / S['r2'].n_opt[S['r2'].budgets.tolist().index(1e12)])",
        "47": "min(S['windows'])",
        "175B": "paper.table_1_model('GPT-3').params", "530B": "paper.table_1_model('MT-NLG').params",
        "300B": "G.tokens", "4×": "G.params / CH.params", "4.7×": "CH.tokens / G.tokens",
        "17%": "100 * (c6 / g6 - 1)", "5.88e23": "c6", "5.04e23": "g6",
        "5.4": "10 ** T2['kaplan'].a", "1.9": "10 ** T2['kaplan'].b",
        "5.4×": "10 ** T2['kaplan'].a", "1.9×": "10 ** T2['kaplan'].b",
        "5.5×": "paper.SECTION_1_KAPLAN_10X['params']", "1.8×": "paper.SECTION_1_KAPLAN_10X['tokens']",
        "0.74": "math.log10(paper.SECTION_1_KAPLAN_10X['params'])",
        "0.26": "math.log10(paper.SECTION_1_KAPLAN_10X['tokens'])",
        "10×": "10", "3.1×": "10 ** T2['approach2'].a", "3.2×": "10 ** T2['approach2'].b",
        "70B": "CH.params", "1.4T": "CH.tokens", "280B": "G.params",
        "0.56": "S['r2'].a", "0.42": "S['r2t'].a", "0.14": "S['r2'].a - S['r2t'].a",
        "20": "round(np.median([r.tokens / r.params for r in T3]), -1)",
    },
    "05-approach3-parametric-loss": {
        "10^{-3}": "fit.PAPER_HUBER_DELTA",
        "4,500": "len(fit.paper_start_grid())",
        "30": KIT,  # seconds of run time
        # the start grid of Appendix D.2
        "0.5": "np.diff(np.unique(fit.paper_start_grid()[:, 3]))[0]",
        "-0.5": "np.unique(fit.paper_start_grid()[:, 0])[1]",
        "25": "fit.paper_start_grid()[:, 1].max()",
        "2.2 \\times 10^{-9}": KIT, "10^{-5}": KIT,  # scipy's L-BFGS-B defaults
        # Epoch's points: the paper's procedure, and their own
        "0.514": "paper.EPOCH_EXACT_GRID.a", "0.347": "paper.EPOCH_EXACT_GRID.alpha",
        "0.367": "paper.EPOCH_EXACT_GRID.beta",
        "0.463": ELSEWHERE, "240": ELSEWHERE,  # Epoch's 240 points  # the mean fit on Epoch's digitised points, printed by the online cell
        "0.46": "T2['approach3'].a",
        "1.8172": "paper.EPOCH_REFIT.E", "482.01": "paper.EPOCH_REFIT.A", "2085.43": "paper.EPOCH_REFIT.B",
        "0.3478": "paper.EPOCH_REFIT.alpha", "0.3658": "paper.EPOCH_REFIT.beta", "0.51": "paper.EPOCH_REFIT.a",
        "0.348": "paper.EPOCH_REFIT.alpha", "0.366": "paper.EPOCH_REFIT.beta",
        "90%": "paper.TABLE_2_PERCENTILES[1]",
        "0.001": "T2['approach3'].a_interval[1] - T2['approach3'].a_interval[0]",
        "400": "paper.RUNS_BEHIND_THE_FITS['models']",
        "477.8": "paper.EPOCH_EXACT_GRID.A", "2143.9": "paper.EPOCH_EXACT_GRID.B",
        "0.3473": "paper.EPOCH_EXACT_GRID.alpha", "0.3672": "paper.EPOCH_EXACT_GRID.beta",
        "0.454": "T2['approach3'].a_interval[0]", "0.455": "T2['approach3'].a_interval[1]",
        "0.4565": "paper.EQ10_UNROUNDED.a", "0.50": "T2['approach1'].a", "0.49": "T2['approach2'].a",
        # the model answer: the shipped runs' sum and mean fits, and Section 6's bootstrap widths
        "14": "np.median(S['r3_mean'].n_iterations)", "50": "np.median(S['r3'].n_iterations)",
        "0.22": PRINTED, "0.31": PRINTED,
    },
    "06-table3-projections": {
        "5.76 \\times 10^{23}": "C", "67B": "T3[3].params", "1.5T": "T3[3].tokens", "280B": "G.params",
        "300B": "G.tokens", "4×": "G.params / CH.params", "0.50": "t3.exponent",
        "400M": "T3[0].params", "10T": "T3[-1].params",
        "20": "round(np.median([r.tokens / r.params for r in T3]), -1)",
        "576 × 10^23": QUOTE,  # the homework's misprint, quoted
        "5×": "T3[3].tokens / G.tokens",
        "40": "paper.SECTION_4_OPTIMUM_RANGE[0] / 1e9", "70": "paper.SECTION_4_OPTIMUM_RANGE[1] / 1e9",
        "70B": "CH.params", "1.4T": "CH.tokens",
        "67 \\times 10^9": "T3[3].params", "67": "T3[3].params / 1e9", "1.43": "C / (6 * T3[3].params) / 1e12",
        "1.5": "T3[3].tokens / 1e12", "6.0 \\times 10^{23}": "6 * T3[3].params * T3[3].tokens",
        "10^{26}": "paper.SECTION_3_4['1T']['min_flops']", "250×": "paper.SECTION_3_4['1T']['min_gopher_multiple']",
        "1.27 \\times 10^{26}": "T3[7].flops", "21.2T": "T3[7].tokens", "71×": "T3[7].tokens / G.tokens",
        "174": "paper.SECTION_3_4['1T']['min_flops'] / C", "1T": "T3[7].params", "221.3": "T3[7].gopher_units",
        "0.49": "T2['approach2'].a",
        "1.69": "paper.EQ10_ROUNDED.E", "406.4": "paper.EQ10_ROUNDED.A", "410.7": "paper.EQ10_ROUNDED.B",
        "0.34": "paper.EQ10_ROUNDED.alpha", "0.28": "paper.EQ10_ROUNDED.beta",
        "0.33917084": "paper.EQ10_UNROUNDED.alpha", "0.2849083": "paper.EQ10_UNROUNDED.beta",
        "32B": "paper.EQ10_ROUNDED.n_opt(C)", "40B": "paper.EQ10_UNROUNDED.n_opt(C)", "42B": "a3(C)",
        "25%": "100 * (paper.EQ10_UNROUNDED.n_opt(C) / paper.EQ10_ROUNDED.n_opt(C) - 1)",
        "1.6": "1 / (paper.EQ10_UNROUNDED.alpha + paper.EQ10_UNROUNDED.beta)",
        "0.459": "a3.exponent", "0.4565": "paper.EQ10_UNROUNDED.a",
        "175B": "paper.TABLE_A3['approach3'][4].params", "175": "paper.TABLE_A3['approach3'][4].params / 1e9",
        "1.26 \\times 10^{24}": "paper.TABLE_A3['approach3'][4].flops",
        "12.0T": "paper.TABLE_A3['approach3'][4].tokens", "12.0": "paper.TABLE_A3['approach3'][4].tokens / 1e12",
        "1.26 \\times 10^{25}": "A3['approach3'][4].flops",
        "4.41 \\times 10^{24}": "paper.SECTION_3_4['175B']['flops']", "4.2T": "paper.SECTION_3_4['175B']['min_tokens']",
        "10^{25}": "paper.SECTION_3_4['280B']['flops']", "6.8T": "paper.SECTION_3_4['280B']['tokens']",
        "3.85 \\times 10^{24}": "T3[4].flops", "3.7T": "T3[4].tokens",
        "9.90 \\times 10^{24}": "T3[5].flops", "5.9T": "T3[5].tokens",
        "4.54 \\times 10^{24}": "A3['approach2'][4].flops", "4.3T": "A3['approach2'][4].tokens",
        "7.1T": "A3['approach2'][5].tokens",
        "1.43T": "C / (6 * T3[3].params)", "10B": "T3[2].params",
        "46": "math.floor(1 / T3[2].gopher_units)",  # printed 1/46: 1/46.8 truncated
        "1.23 \\times 10^{22}": "T3[2].flops", "46.8": "C / T3[2].flops",
        "20.1T": "A3['approach3'][5].tokens", "21.0T": "A3['approach3'][5].flops / (6 * 280e9)",
        "4.1T": "A3['approach3'][3].tokens", "4.25T": "A3['approach3'][3].flops / (6 * 67e9)",
        "17%": "100 * (c6 / g6 - 1)", "19.5%": "100 * (caf / gaf - 1)",
        "6.3 × 10^23": QUOTE, "5.76 × 10^23": QUOTE,  # Appendix F's sentence, quoted
        "5.88 \\times 10^{23}": "c6", "5.04 \\times 10^{23}": "g6",
        "5.68 \\times 10^{23}": "caf", "4.75 \\times 10^{23}": "gaf",
        "5.88e23": "c6", "5.04e23": "g6", "5.68e23": "caf", "4.75e23": "gaf", "5.76e23": "C",
        # your own law, extrapolated
        "10^{21}": "paper.SECTION_3_2_BUDGETS[1] / 3", "3 \\times 10^{21}": "paper.SECTION_3_2_BUDGETS[1]",
        "10^{24}": "C",
        "3 \\times 10^{9}": "runs.budgets()[0]", "3 \\times 10^{12}": "runs.budgets()[-1]",
        "3 \\times 10^{10}": "S['r2_upper_five'].budgets[0]",
        "0.05": KIT,  # a hypothetical change of the exponent
        "3.5": "10 ** (0.05 * round(math.log10(C / runs.budgets()[-1])))",  # the text's 10^(0.05 x 11)
        "0.56": "tiny.a", "0.73": "T2['kaplan'].a",
        "8.0 \\times 10^{10}": "tiny.n_law(C)", "1.2×": "tiny.n_law(C) / T3[3].params",
        "1.2T": "C / (6 * tiny.n_law(C))", "11": "math.log10(C / runs.budgets()[-1])",
        "0.665": "S['r2_upper_five'].a", "1.4 \\times 10^{12}": "S['r2_upper_five'].n_law(C)",
        "21×": "S['r2_upper_five'].n_law(C) / T3[3].params",
        "4.4M": "train_chars",
    },
    "07-mmlu-downstream": {
        "1,000": KIT, "200": KIT, "96": KIT, "95%": KIT,  # items, context, interval level
        "50%": KIT,  # the upper end of the accuracies the standard error is quoted for
        "57": "paper.N_MMLU_TASKS", "67.6%": "T6['Chinchilla']", "7.6%": QUOTE, "7%": QUOTE,
        "5.76 \\times 10^{23}": "C",
        "7.6": "T6['Chinchilla'] - T6['Gopher']", "+7.6": "T6['Chinchilla'] - T6['Gopher']",
        "12.7%": "100 * (T6['Chinchilla'] / T6['Gopher'] - 1)",
        "25%": "T6['random']",
        "1.4": "100 * large['mc_stderr']", "3.5": "100 * math.sqrt(0.5 * 0.5 / 200)",
        "14,000": ELSEWHERE,  # MMLU's test questions (Hendrycks et al. 2021)
        "70B": "CH.params", "1.4T": "CH.tokens", "60.0%": "T6['Gopher']",
        "51": "paper.TASKS_IMPROVED_OVER_GOPHER", "63.4%": "T6['June 2023 forecast']",
        "4.2": "T6['Chinchilla'] - T6['June 2023 forecast']",
        "22.2": "T6['average human expert'] - T6['Chinchilla']", "89.8%": "T6['average human expert']",
    },
    "08-homework-pretraining": {
        "576 × 10^23": QUOTE, "5.76 \\times 10^{23}": "C", "10×": "10",
        "0.49": "T2['approach2'].a", "0.462": "T2['approach2'].a_interval[0]",
        "0.534": "T2['approach2'].a_interval[1]", "0.51": "T2['approach2'].b",
        "0.483": "T2['approach2'].b_interval[0]", "0.529": "T2['approach2'].b_interval[1]",
        "0.50": "T2['approach1'].a", "0.46": "T2['approach3'].a", "0.54": "T2['approach3'].b",
        "0.73": "T2['kaplan'].a", "0.27": "T2['kaplan'].b",
        "3.2×": "10 ** 0.5", "5.4": "10 ** T2['kaplan'].a", "1.9": "10 ** T2['kaplan'].b",
        "5.4×": "10 ** T2['kaplan'].a", "1.9×": "10 ** T2['kaplan'].b",
        "5.5×": "paper.SECTION_1_KAPLAN_10X['params']", "1.8×": "paper.SECTION_1_KAPLAN_10X['tokens']",
        "0.74": "math.log10(paper.SECTION_1_KAPLAN_10X['params'])",
        "0.26": "math.log10(paper.SECTION_1_KAPLAN_10X['tokens'])",
        "20": "round(np.median([r.tokens / r.params for r in T3]), -1)", "300B": "G.tokens",
        "1.5T": "T3[3].tokens", "67.8B": "t3(C)", "1.42": "C / (6 * t3(C)) / 1e12", "280B": "G.params",
        "4.2×": "G.params / T3[3].params", "5×": "T3[3].tokens / G.tokens", "63B": "a2(C)",
        "40B": "paper.EQ10_UNROUNDED.n_opt(C)", "32B": "paper.EQ10_ROUNDED.n_opt(C)",
        "40": "paper.SECTION_4_OPTIMUM_RANGE[0] / 1e9", "70": "paper.SECTION_4_OPTIMUM_RANGE[1] / 1e9",
        "70B": "CH.params", "1.4T": "CH.tokens", "67B": "T3[3].params", "4×": "G.params / CH.params",
        "576e23": QUOTE,  # the homework's misprint
        "5.88 \\times 10^{23}": "c6", "5.04 \\times 10^{23}": "g6",
        "5.68 \\times 10^{23}": "caf", "4.75 \\times 10^{23}": "gaf",
        "17%": "100 * (c6 / g6 - 1)", "19.5%": "100 * (caf / gaf - 1)",
        "+7.6": "T6['Chinchilla'] - T6['Gopher']", "7.6": "T6['Chinchilla'] - T6['Gopher']",
        "5.76e23": "C", "5.88e23": "c6", "5.04e23": "g6", "5.68e23": "caf", "4.75e23": "gaf",
        "57": "paper.N_MMLU_TASKS", "7.6%": QUOTE,
        "67.6%": "T6['Chinchilla']", "60.0%": "T6['Gopher']",
        "12.7%": "100 * (T6['Chinchilla'] / T6['Gopher'] - 1)", "51": "paper.TASKS_IMPROVED_OVER_GOPHER",
        "34.5%": "T6['average human rater']", "25%": "T6['random']", "63.4%": "T6['June 2023 forecast']",
        "22.2": "T6['average human expert'] - T6['Chinchilla']", "89.8%": "T6['average human expert']",
        "90%": "paper.MMLU_HIGH_ACCURACY", "67.5%": "paper.MMLU_CHINCHILLA_ABSTRACT",
        "57.1%": "T6['June 2022 forecast']",
        "1.27 \\times 10^{26}": "T3[7].flops", "221.3": "T3[7].gopher_units", "21.2T": "T3[7].tokens",
        "10^{26}": "paper.SECTION_3_4['1T']['min_flops']",
        "250×": "paper.SECTION_3_4['1T']['min_gopher_multiple']",
        "250": "paper.SECTION_3_4['1T']['min_gopher_multiple']",
        "174": "paper.SECTION_3_4['1T']['min_flops'] / C", "174×": "paper.SECTION_3_4['1T']['min_flops'] / C",
        "71×": "T3[7].tokens / G.tokens", "10^{12}": "T3[7].params", "3 \\times 10^{11}": "G.tokens",
        "1.8 \\times 10^{24}": "6 * T3[7].params * G.tokens", "120B": "t3(6 * T3[7].params * G.tokens)",
        "1.59 \\times 10^{26}": "A3['approach2'][7].flops", "26.5T": "A3['approach2'][7].tokens",
        "5.65 \\times 10^{26}": "A3['approach3'][7].flops", "94.1T": "A3['approach3'][7].tokens",
        "1T": "T3[7].params", "1.27e26": "T3[7].flops", "221": "T3[7].gopher_units",
    },
    "09-why-approaches-disagree": {
        "51": "len(S['curves'])", "0.42": "S['r1'].a",  # (0.42 is also Approach 2 with total N, 0.424)
        "0.56": "S['r2'].a", "0.35": "S['r3t'].a",
        "0.50": "T2['approach1'].a", "0.49": "T2['approach2'].a", "0.46": "T2['approach3'].a",  # (0.46 is also the shipped Approach 3, 0.463)
        "400": "paper.RUNS_BEHIND_THE_FITS['models']", "70M": "paper.RUNS_BEHIND_THE_FITS['min_params']",
        "16B": "paper.RUNS_BEHIND_THE_FITS['max_params']", "0.51": "paper.EPOCH_REFIT.a",
        "0.454": "T2['approach3'].a_interval[0]", "0.455": "T2['approach3'].a_interval[1]",
        "0.4565": "paper.EQ10_UNROUNDED.a", "0.73": "T2['kaplan'].a",
        "0.514": "paper.EPOCH_EXACT_GRID.a", "0.463": ELSEWHERE,  # the mean fit on Epoch's points (lesson 05)
        "−0.05": "0.463 - paper.EPOCH_EXACT_GRID.a",
        "6 \\times 10^{18}": "paper.SECTION_3_2_BUDGETS[0]", "3 \\times 10^{21}": "paper.SECTION_3_2_BUDGETS[1]",
        "+0.006": "check._reference('09.parabola_bias')",
        "0.14": "check._reference('09.spread_a')",
        "0.04": "T2['approach1'].a - T2['approach3'].a",  # Table 2's spread (also: one budget moves a2 by up to 0.04)
        "84%": "100 * max(1 - r['params_non_embedding'] / r['params_total'] for r in S['seed0'])",
        # bootstrap intervals, printed by Section 2's cell (200 resamples each)
        "0.38": PRINTED, "0.45": PRINTED, "0.54": PRINTED, "0.59": PRINTED, "0.31": PRINTED, "0.61": PRINTED,
        "−0.1": "S['r3t'].a - S['r3'].a", "-0.1": "S['r2t'].a - S['r2'].a",
        "+0.10": "S['r2'].a - S['r3'].a", "+0.08": "S['r2t'].a - S['r3t'].a",
        "0.60": "S['r2_without_smallest'].a",
        "0.07": "max(abs(a3 - S['r3'].a) for a2, a3 in S['leave_one_budget_out'].values())",
        "+0.04": "min(a2 - a3 for a2, a3 in S['leave_one_budget_out'].values())",
        "+0.18": "max(a2 - a3 for a2, a3 in S['leave_one_budget_out'].values())",
        "−0.004": "S['r3_mean'].a - S['r3'].a",  # the mean-Huber refit on the shipped runs
        # seed swaps (seeds 1 and 2 at each budget's three best sizes): the largest move of each a
        "0.015": "max(abs(a - S['r1'].a) for a in S['r1_seed_swaps'])",
        "0.005": "max(abs(a - S['r2'].a) for a in S['r2_seed_swap_a'])",
        "0.011": "max(abs(a - S['r3'].a) for a in S['r3_seed_swap_a'])",
        "0.01": KIT, "0.5": "np.mean([T2[k].a for k in ('approach1', 'approach2', 'approach3')])",
        "40B": "paper.EQ10_UNROUNDED.n_opt(C)", "67B": "T3[3].params",
        "0.05": KIT, "3.5": "10 ** (0.05 * round(math.log10(C / runs.budgets()[-1])))",
    },
}


def lesson_path(stem: str) -> Path:
    return ROOT / "solutions" / f"{stem}.ipynb"


@pytest.mark.parametrize("stem", sorted(PINNED))
def test_every_stated_number_is_pinned(stem):
    stated = stated_numbers(lesson_path(stem))
    table = PINNED[stem]
    missing = {t: cell for t, cell in stated.items() if t not in table}
    stale = sorted(set(table) - set(stated))
    assert not missing, f"{stem}: numbers in the text with no pin (token: cell): {missing}"
    assert not stale, f"{stem}: pins for numbers the text no longer states: {stale}"


CASES = [(stem, token, spec) for stem, table in sorted(PINNED.items())
         for token, spec in table.items() if spec not in (KIT, QUOTE, ELSEWHERE, PRINTED)]


@pytest.mark.parametrize("stem, token, expression", CASES,
                         ids=[f"{s}:{t}" for s, t, _ in CASES])
def test_stated_number_matches_the_data(stem, token, expression):
    stated, half_unit = value_of(token)
    actual = evaluate(expression)
    # the text may round (0.5 unit of its last digit) but not be wrong; 1e-9 for float noise
    assert abs(actual - stated) <= half_unit * (1 + 1e-9) + 1e-12 * abs(stated), \
        f"{stem}: the text says {token}, {expression} = {actual:.6g}"


@pytest.mark.parametrize("text, expected", [
    ("Table 3 prints 1.27e26 FLOPs, 221.3 Gopher units and 21.2T tokens (Section 3.4)",
     ["1.27e26", "221.3", "21.2T"]),
    ("$5.76 \\times 10^{23}$ FLOPs, $10^{26}$, about 17% more, 4× smaller, 70B on 1.4T",
     ["5.76 \\times 10^{23}", "10^{26}", "17%", "4×", "70B", "1.4T"]),
    ("Question 12 (2 points, graded by hand); eqs. 2–4; lessons 03–05; GPT-3; 5-shot; 6ND; 3 of 9",
     []),
    ("22.2 points below the expert", ["22.2"]),
])
def test_the_scan_reads_numbers_as_written(text, expected):
    assert numbers_in(text) == expected


def test_values_and_precision():
    assert value_of("1.43T") == pytest.approx((1.43e12, 0.005e12))
    assert value_of("17%") == (17.0, 0.5)
    assert value_of("5.76 \\times 10^{23}") == pytest.approx((5.76e23, 0.005e23))
    assert value_of("4,500") == (4500.0, 0.5)


# Lessons whose text has not been pinned yet (their numbers are printed by their code cells but not
# listed here); a new lesson must be added to PINNED or here, so none is skipped by accident.
NOT_YET_PINNED: tuple[str, ...] = ()


def test_every_lesson_is_pinned_or_listed_as_not_yet():
    stems = {p.stem for p in (ROOT / "solutions").glob("*.ipynb")}
    assert stems == set(PINNED) | set(NOT_YET_PINNED)
    assert not set(PINNED) & set(NOT_YET_PINNED)
