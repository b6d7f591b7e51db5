"""The compiled Approach 3 objective (``_huber_lse.c``): built on first use, optional (lesson 05).

``objective._HuberLse`` spends most of a full-grid fit in the objective, and numpy cannot fuse its ~20
passes over (rows x points) arrays; the C version does the whole objective in one pass per row
with vectorised exp and log (glibc's libmvec), about 3x faster. It is compiled the first time a
fit needs it, with the C compiler the machine has (``$CC``, else ``cc``), into the kit's cache
(``$TINYCHINCHILLA_CACHE/native``, beside the corpus), and reused from there; a build takes
about 0.2 s. The build writes the library's size and sha256 beside it
(``huber_lse-<key>.json``), and every load checks them first: a library that was truncated or
altered since (which ``ctypes`` would load and then crash on with a bus error) is rebuilt, and if
the rebuild does not verify either it is skipped, never loaded. Before it is used it must also
reproduce the numpy objective (``objective_numpy.py``) on a few test rows.

Where any of that fails (no compiler, not glibc, the self-check) the fit quietly uses the numpy
objective, which gives the same optimum more slowly: nothing is printed, since a graded notebook
cell must not write to stderr. ``kernel_status()`` says which one runs and why.
``TINYCHINCHILLA_NATIVE=0`` turns the compiled kernel off.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The C source stays at the package's top level (where package data ships it).
SOURCE = Path(__file__).resolve().parents[1] / "_huber_lse.c"
#: -fopenmp-simd honours the `omp simd` pragmas without OpenMP threads; -fno-math-errno lets exp
#: and log be vectorised; -march=native because the library is built on the machine that runs it.
CFLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math",
          "-fPIC", "-shared")
LIBS = ("-lmvec", "-lm")
_OFF = ("0", "false", "no", "off")


class NativeKernel:
    """The loaded library. ``bind`` fixes the data and returns the objective of parameter rows."""

    def __init__(self, path: Path):
        self.path = path
        self._fn = ctypes.CDLL(str(path)).huber_lse
        self._fn.restype = None
        # Pointers as plain addresses: building ctypes pointer objects costs more than a small call.
        p = ctypes.c_void_p
        self._fn.argtypes = [ctypes.c_long, ctypes.c_long, p, p, p, p, p, ctypes.c_long,
                             ctypes.c_double, p, p]

    def bind(self, log_n, log_d, log_loss, delta: float):
        """``objective(x, weights) -> (f, grad)``: the unscaled summed objective of rows ``x``
        (k, 5), with ``weights`` (p,), (k, p) or None, for these points."""
        ones = np.ones(len(log_n))  # the weights when there are none
        points = [np.ascontiguousarray(v, dtype=float) for v in (log_n, log_d, log_loss, ones)]
        n_points = points[0].size
        address_n, address_d, address_loss, address_ones = (v.ctypes.data for v in points)

        def objective(x, weights=None):
            x = np.ascontiguousarray(x, dtype=float)
            k = x.shape[0]
            if weights is None:
                address_w, stride = address_ones, 0
            else:
                weights = np.ascontiguousarray(weights, dtype=float)
                address_w, stride = weights.ctypes.data, (n_points if weights.ndim == 2 else 0)
            f = np.empty(k)
            grad = np.empty((k, 5))
            self._fn(k, n_points, x.ctypes.data, address_n, address_d, address_loss, address_w,
                     stride, delta, f.ctypes.data, grad.ctypes.data)
            return f, grad

        objective.points = points  # keeps the arrays behind the addresses alive
        return objective


_status = "not loaded yet"


def kernel_status() -> str:
    """Which Approach 3 objective fits use, and why (loads the compiled one if need be)."""
    load_kernel()
    return _status


def _cache_dir() -> Path:
    from ..data import cache_dir

    return cache_dir() / "native"


def _build_key(compiler: str) -> str:
    """Hash of everything the library depends on: source, flags, compiler version, CPU."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30,
                             check=False).stdout
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line for line in fh if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    parts = [SOURCE.read_bytes(), " ".join(CFLAGS + LIBS).encode(), version.encode(), cpu.encode(),
             platform.machine().encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


class DamagedLibrary(RuntimeError):
    """The library on disk is not the one that was built (truncated, altered, or its record lost)."""


def _stamp_path(library: Path) -> Path:
    """Where the build records the library's size and sha256: ``huber_lse-<key>.json``."""
    return library.with_suffix(".json")


def _fingerprint(path: Path | str) -> dict:
    data = Path(path).read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def verify(library: Path) -> None:
    """Raise ``DamagedLibrary`` unless ``library`` has the size and sha256 its build recorded.

    Loading a truncated shared library maps pages past its end, and the first call into them kills
    the process with a bus error; this check runs before every load so that never happens.
    """
    stamp = _stamp_path(library)
    try:
        expected = json.loads(stamp.read_text())
        expected = {"size": int(expected["size"]), "sha256": str(expected["sha256"])}
    except (OSError, ValueError, KeyError, TypeError):
        raise DamagedLibrary(f"{library} has no readable build record {stamp.name}") from None
    try:
        found = _fingerprint(library)
    except OSError as exc:
        raise DamagedLibrary(f"{library} cannot be read ({exc})") from None
    if found != expected:
        raise DamagedLibrary(
            f"{library} is damaged: {found['size']} bytes, sha256 {found['sha256'][:12]}..., but the "
            f"build wrote {expected['size']} bytes, sha256 {expected['sha256'][:12]}...")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def build(compiler: str | None = None, cache: Path | None = None) -> Path:
    """Compile ``_huber_lse.c`` into the cache (unless a verified build is there) and return the
    library's path.

    A library there that fails ``verify`` (damaged, or without its build record) is built again.
    Raises ``RuntimeError`` saying why when there is no compiler or the build fails.
    """
    compiler = compiler or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler or not shutil.which(compiler):
        raise RuntimeError("no C compiler found (set $CC or install gcc)")
    cache = cache or _cache_dir()
    target = cache / f"huber_lse-{_build_key(compiler)}.so"
    try:
        verify(target)
        return target
    except DamagedLibrary:
        pass  # missing or damaged: build it again below
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # Build beside the target and rename, so that two processes never load a half-written
        # file; the record goes in first, so a library in place always has one to check against.
        fd, tmp = tempfile.mkstemp(suffix=".so", prefix=".huber_lse-", dir=cache)
    except OSError as exc:
        raise RuntimeError(f"cannot write the build cache {cache} ({exc})") from None
    os.close(fd)
    try:
        proc = subprocess.run([compiler, *CFLAGS, "-o", tmp, str(SOURCE), *LIBS],
                              capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{compiler} failed: {proc.stderr.strip()[-500:]}")
        os.chmod(tmp, 0o755)
        _write_atomic(_stamp_path(target), json.dumps(_fingerprint(tmp)).encode())
        os.replace(tmp, target)
    except OSError as exc:
        raise RuntimeError(f"cannot write the build cache {cache} ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _self_check(kernel: NativeKernel) -> None:
    """The library must reproduce the numpy objective (``objective_numpy``) on test rows."""
    from .objective_numpy import NumpyObjective

    rng = np.random.default_rng(0)
    log_n = np.log(np.geomspace(1e6, 1e10, 37))
    log_d = np.log(np.geomspace(1e9, 1e12, 37))[rng.permutation(37)]
    log_loss = np.log(1.7 + 400 * np.exp(-0.34 * log_n) + 400 * np.exp(-0.28 * log_d))
    log_loss += 0.01 * rng.standard_normal(37)
    x = np.column_stack([rng.uniform(-1, 1, 8), rng.uniform(0, 8, 8), rng.uniform(0, 8, 8),
                         rng.uniform(0, 1, 8), rng.uniform(0, 1, 8)])
    x[0] = (np.log(1.7), np.log(400), np.log(400), 0.34, 0.28)  # residuals inside delta too
    x[1, 1] = 800.0  # exp(a) would overflow: the max-shifted loop
    weights = rng.integers(0, 3, (8, 37)).astype(float)
    for w in (None, weights[0], weights):
        ref = NumpyObjective(log_n, log_d, log_loss, 1e-3)(x, w)
        got = kernel.bind(log_n, log_d, log_loss, 1e-3)(x, w)
        scale = np.abs(ref[1]).max(axis=1, keepdims=True) + 1e-300
        if not (np.allclose(got[0], ref[0], rtol=1e-12, atol=0)
                and np.allclose(got[1] / scale, ref[1] / scale, rtol=0, atol=1e-9)):
            raise RuntimeError("the compiled objective does not reproduce the numpy one")


@lru_cache(maxsize=1)
def load_kernel() -> NativeKernel | None:
    """The compiled objective, or None (``kernel_status()`` then says why). Built once per process."""
    global _status
    if os.environ.get("TINYCHINCHILLA_NATIVE", "").strip().lower() in _OFF:
        _status = "numpy objective: the compiled kernel is turned off (TINYCHINCHILLA_NATIVE=0)"
        return None
    try:
        path = build()
        verify(path)  # also when build() just checked it: never hand ctypes an unverified file
        kernel = NativeKernel(path)
        _self_check(kernel)
    except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as exc:
        _status = f"numpy objective: the compiled kernel is unavailable ({exc})"
        return None
    _status = f"compiled objective ({kernel.path})"
    return kernel
