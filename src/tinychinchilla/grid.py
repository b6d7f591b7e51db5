"""The grid file of a sweep (TOML; see small_runs/grid.toml): budgets, shapes and seeds (lesson 02).

``load_grid`` turns it into ``RunSpec``s, checking every value first, so that a typo is one
``GridError`` naming the field instead of a traceback hours into a sweep; ``select_shard`` splits
the runs between machines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
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

    @property
    def run_id(self) -> str:
        cfg = asdict(self)
        cfg.pop("keep_checkpoint")
        digest = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:8]
        return f"C{self.budget_flops:.2e}_{self.shape}_s{self.seed}_{digest}".replace("+", "")


#: Keys a grid file may use in each table (anything else is a typo, refused).
GRID_KEYS = {
    "top": {"defaults", "shapes", "budgets"},
    "defaults": {"context_length", "batch_size", "lr", "seeds"},
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
    ids = [s.run_id for s in specs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise GridError(f"{path}: the same run appears twice: {dup[:3]}")
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
    """Deterministic split: runs sorted by id, every n-th one from position i - 1."""
    if shard is None:
        return specs
    i, n = shard
    ordered = sorted(specs, key=lambda s: s.run_id)
    return [s for k, s in enumerate(ordered) if k % n == i - 1]
