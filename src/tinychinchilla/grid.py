"""The grid file of a sweep (TOML; see small_runs/grid.toml): budgets, shapes, seeds and schedule
(lesson 02).

``load_grid`` turns it into ``RunSpec``s, checking every value first, so that a typo is one
``GridError`` naming the field instead of a traceback hours into a sweep; ``select_shard`` splits
the runs between machines, keeping the warm-up-stable-decay branches of one constant-rate run
together (``RunSpec.trunk_key``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class GridError(ValueError):
    """The grid file is malformed; the message names the field and what to write instead."""


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to reproduce one run."""

    budget_flops: float
    shape: str
    d_model: int
    n_layer: int
    n_head: int
    context_length: int
    lr: float
    batch_size: int
    seed: int
    keep_checkpoint: bool = False
    schedule: str = "cosine"  # "cosine" (a run per budget) or "wsd" (cooldown branches of one run)
    warmup_steps: int = 0  # wsd: the warm-up its trunk shares (0 for cosine: 5% of its own steps)
    cooldown_fraction: float = 0.0  # wsd: share of the run's steps in the cooldown (0 for cosine)

    @property
    def run_id(self) -> str:
        cfg = asdict(self)
        cfg.pop("keep_checkpoint")
        if self.schedule == "cosine":  # the ids of runs made before WSD existed stay the same
            for key in ("schedule", "warmup_steps", "cooldown_fraction"):
                cfg.pop(key)
        digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:8]
        return f"C{self.budget_flops:.2e}_{self.shape}_s{self.seed}_{digest}".replace("+", "")

    @property
    def trunk_key(self) -> str:
        """Runs with the same key are trained together: WSD branches of one constant-rate run
        (everything but the budget equal). A cosine run is its own group."""
        if self.schedule == "cosine":
            return self.run_id
        cfg = asdict(self)
        for key in ("budget_flops", "keep_checkpoint"):
            cfg.pop(key)
        return json.dumps(cfg, sort_keys=True)

    def steps(self) -> int:
        """Optimiser steps of this run: D = C / (6 N) (``train.budget_tokens``) in whole batches."""
        from .model import GPTConfig
        from .train import TrainConfig, budget_tokens

        model = GPTConfig(context_length=self.context_length, n_layer=self.n_layer, n_head=self.n_head,
                          d_model=self.d_model)
        tokens = budget_tokens(model, TrainConfig(flops=self.budget_flops, batch_size=self.batch_size))
        return tokens // (self.batch_size * self.context_length)


#: Keys a grid file may use in each table (anything else is a typo, refused).
GRID_KEYS = {
    "top": {"defaults", "shapes", "budgets"},
    "defaults": {"context_length", "batch_size", "lr", "seeds", "schedule", "cooldown_fraction",
                 "warmup_steps"},
    "shapes": {"name", "d_model", "n_layer", "n_head", "lr"},
    "budgets": {"flops", "shapes", "keep_checkpoints", "context_length", "batch_size", "lr", "seeds"},
}


def _positive_int(where: str, value, path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GridError(f"{path}: {where} must be a positive whole number, got {value!r}")
    return value


def _positive_number(where: str, value, path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise GridError(f"{path}: {where} must be a positive number, got {value!r}")
    return float(value)


def _check_keys(where: str, table, allowed: set[str], path) -> None:
    if not isinstance(table, dict):
        raise GridError(f"{path}: {where} must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise GridError(f"{path}: {where} has unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _settings(where: str, settings: dict, path) -> dict:
    """Validated run settings (defaults overridden by a budget's own)."""
    seeds = settings.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or any(
            isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**63 for s in seeds):
        raise GridError(f"{path}: {where}.seeds must be a list of whole numbers >= 0, e.g. [0, 1], got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise GridError(f"{path}: {where}.seeds lists a seed twice: {seeds}")
    out = {"seeds": seeds,
           "context_length": _positive_int(f"{where}.context_length", settings.get("context_length", 128), path),
           "batch_size": _positive_int(f"{where}.batch_size", settings.get("batch_size", 8), path)}
    if "lr" in settings:
        out["lr"] = _positive_number(f"{where}.lr", settings["lr"], path)
    return out


def load_grid(path: str | os.PathLike) -> list[RunSpec]:
    """Read a grid file (TOML; see small_runs/grid.toml) into run specs, in a fixed order.

    Every value is checked before any run starts (types, ranges, unknown keys, repeated shape
    names), so that a typo is one ``GridError`` naming the field, not a traceback hours later.
    """
    try:
        grid = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise GridError(f"grid file {path} does not exist") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise GridError(f"cannot read grid file {path} ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"{path} is not valid TOML: {exc}") from None
    _check_keys("the grid", grid, GRID_KEYS["top"], path)
    defaults = grid.get("defaults", {})
    _check_keys("[defaults]", defaults, GRID_KEYS["defaults"], path)
    schedule = _schedule(defaults, path)
    defaults = {k: v for k, v in defaults.items() if k not in ("schedule", "cooldown_fraction", "warmup_steps")}
    shape_list = grid.get("shapes", [])
    if not isinstance(shape_list, list):
        raise GridError(f"{path}: shapes must be [[shapes]] tables")
    shapes = {}
    for i, s in enumerate(shape_list):
        _check_keys(f"shapes[{i}]", s, GRID_KEYS["shapes"], path)
        missing = {"name", "d_model", "n_layer", "n_head"} - set(s)
        if missing:
            raise GridError(f"{path}: shapes[{i}] lacks {sorted(missing)}")
        if not isinstance(s["name"], str) or not s["name"]:
            raise GridError(f"{path}: shapes[{i}].name must be a non-empty string, got {s['name']!r}")
        for key in ("d_model", "n_layer", "n_head"):
            _positive_int(f"shape {s['name']}: {key}", s[key], path)
        if "lr" in s:
            _positive_number(f"shape {s['name']}: lr", s["lr"], path)
        if s["d_model"] % s["n_head"]:
            raise GridError(f"{path}: shape {s['name']}: n_head={s['n_head']} must divide d_model={s['d_model']}")
        if s["name"] in shapes:
            raise GridError(f"{path}: two [[shapes]] are named {s['name']!r}; give each shape its own name")
        shapes[s["name"]] = s
    budgets = grid.get("budgets")
    if not budgets:
        raise GridError(f"{path}: no [[budgets]] tables; add at least one with flops and shapes")
    if not isinstance(budgets, list):
        raise GridError(f"{path}: budgets must be [[budgets]] tables")
    specs = []
    for i, b in enumerate(budgets):
        _check_keys(f"budgets[{i}]", b, GRID_KEYS["budgets"], path)
        flops = b.get("flops")
        if isinstance(flops, bool) or not isinstance(flops, (int, float)) or not 0 < flops < math.inf:
            raise GridError(f"{path}: budgets[{i}].flops must be a positive number, got {flops!r}")
        names = b.get("shapes", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise GridError(f"{path}: budgets[{i}].shapes must be a list of shape names, got {names!r}")
        keep_list = b.get("keep_checkpoints", [])
        if not isinstance(keep_list, list) or not all(isinstance(n, str) for n in keep_list):
            raise GridError(f"{path}: budgets[{i}].keep_checkpoints must be a list of shape names")
        keep = set(keep_list)
        for name in names:
            if name not in shapes:
                raise GridError(f"{path}: budgets[{i}] names shape {name!r}, which no [[shapes]] defines")
        unknown = keep - set(names)
        if unknown:
            raise GridError(f"{path}: budgets[{i}].keep_checkpoints names {sorted(unknown)} not in its shapes")
        settings = _settings(f"budgets[{i}]", {**defaults, **{k: v for k, v in b.items()
                                                              if k not in ("flops", "shapes", "keep_checkpoints")}}, path)
        for seed in settings["seeds"]:
            for name in names:
                s = shapes[name]
                specs.append(RunSpec(
                    budget_flops=float(flops), shape=name, d_model=s["d_model"], n_layer=s["n_layer"],
                    n_head=s["n_head"], context_length=settings["context_length"],
                    lr=float(s.get("lr", settings.get("lr", 3e-3))),
                    batch_size=settings["batch_size"], seed=seed, keep_checkpoint=name in keep))
    if schedule["schedule"] == "wsd":
        specs = _as_wsd(specs, schedule, path)
    ids = [s.run_id for s in specs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise GridError(f"{path}: the same run appears twice: {dup[:3]}")
    return specs


def _schedule(defaults: dict, path) -> dict:
    """The grid's schedule settings (``[defaults]`` only: one schedule per sweep)."""
    schedule = defaults.get("schedule", "cosine")
    if schedule not in ("cosine", "wsd"):
        raise GridError(f"{path}: [defaults].schedule must be \"cosine\" or \"wsd\", got {schedule!r}")
    out = {"schedule": schedule}
    if schedule == "cosine":
        extra = sorted({"cooldown_fraction", "warmup_steps"} & set(defaults))
        if extra:
            raise GridError(f"{path}: [defaults] sets {extra}, which only schedule = \"wsd\" uses")
        return out
    fraction = defaults.get("cooldown_fraction", 0.2)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise GridError(f"{path}: [defaults].cooldown_fraction must be a number in (0, 1), e.g. 0.2, got {fraction!r}")
    if "warmup_steps" not in defaults:
        raise GridError(f"{path}: schedule = \"wsd\" needs [defaults].warmup_steps, the warm-up all branches "
                        "of a run share, e.g. 50")
    return {**out, "cooldown_fraction": float(fraction),
            "warmup_steps": _positive_int("[defaults].warmup_steps", defaults["warmup_steps"], path)}


def _as_wsd(specs: list[RunSpec], schedule: dict, path) -> list[RunSpec]:
    """WSD: each size and seed trains once, so its branches share one warm-up; every branch's
    cooldown must start after it."""
    from .train import TrainConfig, cooldown_steps

    specs = [replace(s, schedule="wsd", cooldown_fraction=schedule["cooldown_fraction"],
                     warmup_steps=schedule["warmup_steps"]) for s in specs]
    wsd = TrainConfig(tokens=1, schedule="wsd", cooldown_fraction=schedule["cooldown_fraction"])
    for s in specs:
        steps = s.steps()
        start = steps - cooldown_steps(steps, wsd)
        if start < s.warmup_steps:
            raise GridError(f"{path}: {s.shape} at {s.budget_flops:g} FLOPs gets {steps} steps, so its cooldown "
                            f"would start at step {start}, inside the {s.warmup_steps}-step warm-up: drop this "
                            "shape from that budget, or lower warmup_steps")
    return specs


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, e.g. 1/4; got {text!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def select_shard(specs: list[RunSpec], shard: tuple[int, int] | None) -> list[RunSpec]:
    """Deterministic split: groups of runs trained together (``RunSpec.trunk_key``; a cosine run
    alone) sorted by their first run id, every n-th group from position i - 1."""
    if shard is None:
        return specs
    i, n = shard
    groups: dict[str, list[RunSpec]] = {}
    for s in specs:
        groups.setdefault(s.trunk_key, []).append(s)
    ordered = sorted(groups.values(), key=lambda g: min(s.run_id for s in g))
    return [s for k, g in enumerate(ordered) if k % n == i - 1 for s in g]
