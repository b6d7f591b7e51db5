"""One constant-rate run per model size, cooled down at every token budget it needs (lesson 02).

An IsoFLOP sweep trains each model size at several budgets. With the paper's cosine schedule every
(N, D) is its own run from scratch (Section 3.1: the cycle must match D). With warm-up-stable-decay
(Hagele et al. 2024; ``TrainConfig(schedule="wsd")``) the learning rate does not depend on the
run's length until the cooldown, so one run at constant rate serves them all: it is saved at the
step where each budget's cooldown starts, and from each saved state a short cooldown branch
finishes that budget's run. The branch is bit for bit the run a separate WSD training of that
length gives (``tests/test_branches.py``), for 1 trunk plus ``cooldown_fraction`` of every
budget's steps instead of every budget's steps in full.

    trunk:    warm-up |------ constant rate ------------------------------------------->
    branches:                 \\ cooldown (D1)          \\ cooldown (D2)          \\ (D3)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch

from .data import Corpus
from .model import GPTConfig
from .train import Run, TrainConfig, TrainResult, cooldown_steps, log_points, steps_for, warmup_steps


class BranchError(ValueError):
    """The branches cannot share one constant-rate run; the message says which setting differs."""


def trunk_config(cfgs: list[TrainConfig]) -> TrainConfig:
    """The shared run of ``cfgs``: all WSD with a fixed warm-up and equal but for the budget."""
    if not cfgs:
        raise BranchError("no branches given")
    for cfg in cfgs:
        if cfg.schedule != "wsd":
            raise BranchError(f"branches need schedule='wsd', got {cfg.schedule!r}")
        if cfg.warmup_steps is None:
            raise BranchError("branches need a fixed warmup_steps (a warm-up fraction would differ "
                              "between lengths); e.g. 5% of the shortest branch's steps")
    common = [replace(c, tokens=None, flops=1.0) for c in cfgs]
    for c in common[1:]:
        if c != common[0]:
            diff = [k for k, v in asdict(c).items() if asdict(common[0])[k] != v]
            raise BranchError(f"branches differ in {diff}: only the budget (tokens or flops) may differ")
    return cfgs[0]


def trunk_id(model_cfg: GPTConfig, trunk: TrainConfig) -> str:
    """A name for the constant-rate run: a hash of everything but the budget (and the device)."""
    key = {k: v for k, v in asdict(trunk).items() if k not in ("tokens", "flops", "device")}
    text = json.dumps({"model": model_cfg.to_dict(), "train": key}, sort_keys=True)
    return f"d{model_cfg.d_model}-L{model_cfg.n_layer}_s{trunk.seed}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _save_state(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file renamed into place: a kill leaves the old file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    from .sweep import temporary_prefix

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _latest_state(state_dir: Path, name: str, before: int) -> dict | None:
    """The saved state of trunk ``name`` with the most steps, at most ``before``; None if none.
    A file that cannot be read (a damaged disk, another version) is skipped, not trusted."""
    best = None
    for path in sorted(state_dir.glob("step*.pt")):
        try:
            step = int(path.stem[4:])
        except ValueError:
            continue
        if step <= before and (best is None or step > best[0]):
            best = (step, path)
    if best is None:
        return None
    try:
        state = torch.load(best[1], weights_only=False)
    except Exception:  # noqa: BLE001 - any unreadable file means: start from scratch
        return None
    return state if state.get("trunk") == name and state.get("step") == best[0] else None


def train_branches(model_cfg: GPTConfig, cfgs: list[TrainConfig], corpus: Corpus,
                   on_branch: Callable[[int, TrainResult], None],
                   skip: Callable[[int], bool] = lambda i: False,
                   state_dir: str | os.PathLike | None = None, keep_model: bool = True) -> dict:
    """Train one constant-rate run and cool it down once per config in ``cfgs`` (lesson 02).

    Each finished branch is handed to ``on_branch(i, result)`` (``i`` indexes ``cfgs``) while its
    model is in memory, e.g. to evaluate it and write its record. Branches for which ``skip(i)``
    is true (already recorded) are not trained; the trunk stops at the last cooldown it needs.
    With ``state_dir`` the trunk's state at each cooldown start is saved there, so a run killed
    mid-way resumes from the last saved state; the folder is removed when all branches are done.
    A branch's ``wall_seconds`` is the time a separate run of its length would take (its share
    of the trunk plus its cooldown); the returned dict gives the time actually spent.
    """
    trunk = trunk_config(cfgs)
    name = trunk_id(model_cfg, trunk)
    steps = [steps_for(model_cfg, c) for c in cfgs]
    starts = [s - cooldown_steps(s, c) for s, c in zip(steps, cfgs)]
    for i, (s, b) in enumerate(zip(steps, starts)):
        if b < warmup_steps(s, cfgs[i]):
            raise BranchError(f"branch {i} ({s} steps) would start its cooldown at step {b}, inside "
                              f"the {warmup_steps(s, cfgs[i])}-step warm-up; shorten warmup_steps or "
                              "drop this budget")
    todo = sorted((i for i in range(len(cfgs)) if not skip(i)), key=lambda i: (starts[i], steps[i]))
    stats = {"trunk": name, "branches_trained": len(todo), "trunk_steps": 0, "cooldown_steps": 0,
             "resumed_from_step": None}
    if not todo:
        return stats
    folder = Path(state_dir) / name if state_dir is not None else None
    # The trunk measures the validation loss wherever some branch logs one before its cooldown.
    trunk_val = set().union(*({v for v in log_points(steps[i], cfgs[i])[1] if v <= starts[i]} for i in todo))
    run = Run(model_cfg, trunk, corpus)
    if folder is not None:
        saved = _latest_state(folder, name, starts[todo[0]])
        if saved is not None and {v for v in trunk_val if v <= saved["step"]} <= set(saved["val"]):
            run.restore(saved)
            stats["resumed_from_step"] = saved["step"]
    first_step = run.step
    for i in todo:
        # Until its cooldown a WSD run's rate does not depend on its length: any branch's length
        # gives the trunk's rate.
        run.advance(starts[i], steps[i], trunk_val)
        state = run.snapshot()
        if folder is not None:
            _save_state(folder / f"step{starts[i]:09d}.pt", {**state, "trunk": name})
        run.advance(steps[i], steps[i], {v for v in log_points(steps[i], cfgs[i])[1] if v > starts[i]})
        stats["cooldown_steps"] += steps[i] - starts[i]
        on_branch(i, run.result(cfgs[i], keep_model=keep_model))
        run.restore(state)
    stats["trunk_steps"] = run.step - first_step
    if folder is not None:
        for path in folder.glob("*"):
            path.unlink(missing_ok=True)
        folder.rmdir()
    return stats
