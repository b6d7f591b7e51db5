"""Save and load trained models with what is needed to trust them (the sweep, lesson 07).

A checkpoint is a ``torch.save`` dict that ``torch.load(weights_only=True)`` can read:

    model_config    GPTConfig as a dict (the model's shape)
    state_dict      the weights
    corpus          {"name", "text_sha256", "vocab"}: the text it was trained on and its
                    vocabulary (token id = position in ``vocab``)
    weights_sha256  a hash of every tensor, written when it was saved

``load_checkpoint`` is the one way the kit loads a model back. It refuses, with one line saying
why, a file that is not a checkpoint, weights that changed since they were saved (a flipped bit,
NaN), weights that are not finite, and a model trained on another corpus or vocabulary than the
one it is about to be scored on: each of these used to be scored without complaint (a bit-flipped
model scored 25.5%, NaN weights exactly 25.0%), which is a wrong number that looks like a result.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from .data import Corpus
from .model import GPT, GPTConfig

#: Keys every kit checkpoint has.
KEYS = ("model_config", "state_dict", "corpus", "weights_sha256")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


def weights_sha256(state_dict: dict) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def corpus_record(corpus: Corpus) -> dict:
    return {"name": corpus.name, "text_sha256": corpus.text_sha256, "vocab": corpus.vocab}


def save_checkpoint(model: GPT, corpus: Corpus, path: str | os.PathLike) -> Path:
    """Write ``model`` (trained on ``corpus``) to ``path`` atomically, readable by everyone."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    payload = {"model_config": model.cfg.to_dict(), "state_dict": state,
               "corpus": corpus_record(corpus), "weights_sha256": weights_sha256(state)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, corpus: Corpus | None = None,
                    device: str | torch.device = "cpu") -> GPT:
    """The model saved at ``path``, checked, in eval mode on ``device`` (lesson 07).

    Raises ``CheckpointError`` if the file is not a kit checkpoint, if its weights differ from the
    ones saved (hash), contain NaN or infinity, or do not fit its config, or, when ``corpus`` is
    given, if it was trained on another text or vocabulary than ``corpus``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged zip or pickle
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path} is not a readable checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in KEYS):
        have = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not a kit checkpoint: it needs the keys {list(KEYS)}, "
                              f"it has {have} (save models with checkpoint.save_checkpoint)")
    state = ckpt["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: state_dict is not a dict of tensors")
    if weights_sha256(state) != ckpt["weights_sha256"]:
        raise CheckpointError(f"{path}: the weights differ from the ones saved (hash mismatch): "
                              "the file is damaged; restore it or train the model again")
    unique = {v.data_ptr(): v for v in state.values() if v.is_floating_point()}  # tied weights once
    bad = sum(int((~torch.isfinite(v)).sum()) for v in unique.values())
    if bad:
        raise CheckpointError(f"{path}: {bad} weights are NaN or infinite; the run diverged")
    record = ckpt["corpus"]
    if not isinstance(record, dict) or not {"text_sha256", "vocab"} <= set(record):
        raise CheckpointError(f"{path}: its corpus record is malformed")
    try:
        cfg = GPTConfig(**ckpt["model_config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model_config ({exc})") from None
    if cfg.vocab_size != len(record["vocab"]):
        raise CheckpointError(f"{path}: vocab_size {cfg.vocab_size} does not match its vocabulary "
                              f"of {len(record['vocab'])} characters")
    if corpus is not None:
        if record["vocab"] != corpus.vocab:
            raise CheckpointError(
                f"{path} was trained with a {len(record['vocab'])}-character vocabulary, not this "
                f"corpus's {corpus.vocab_size} ({corpus.name}): its token ids mean other characters")
        if record["text_sha256"] != corpus.text_sha256:
            raise CheckpointError(
                f"{path} was trained on another text ({record.get('name', '?')}, sha256 "
                f"{str(record['text_sha256'])[:12]}...) than {corpus.name} (sha256 "
                f"{corpus.text_sha256[:12]}...); score it on the corpus it was trained on")
    model = GPT(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(f"{path}: the weights do not fit its model_config ({detail[:300]})") from None
    return model.to(device).eval()
