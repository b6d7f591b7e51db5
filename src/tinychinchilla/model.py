"""A small GPT in one file (lesson 01).

Pre-LayerNorm decoder-only transformer (Radford et al. 2019, GPT-2; Xiong et al. 2020 for the
pre-LN placement), causal scaled-dot-product attention (Vaswani et al. 2017), GELU MLP
(Hendrycks & Gimpel 2016). Token embeddings are tied to the output layer (Press & Wolf 2017), so
the model holds exactly one vocab x d_model matrix, as the Chinchilla paper's parameter count does
(Table A4, see `counting`). Shapes: B batch, T time (context), C channels (d_model), V vocab.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    """The model's shape. Every default is the kit's smallest useful model on a 2-core CPU."""

    vocab_size: int = 84  # the Shakespeare corpus has 84 distinct characters; set from the corpus
    context_length: int = 128  # ~3 lines of verse: enough context for a character model to learn
    # words and metre, short enough that attention stays a small share of the FLOPs at d <= 256
    n_layer: int = 2  # depth; the sweep scales depth and width together (small_runs/README.md)
    n_head: int = 4  # heads of width d_model / n_head = 16 at the default width
    d_model: int = 64  # the smallest width at which a character model gets well below unigram loss
    d_ff: int | None = None  # MLP hidden width; None means 4 * d_model as in GPT-2 and Chinchilla
    dropout: float = 0.0  # no dropout: every run here sees each token about once (Chinchilla too)
    bias: bool = False  # no biases in linear layers or LayerNorms: fewer parameters, same loss
    # (nanoGPT's finding), and the GPT-2-small shape then counts exactly 124,337,664 parameters

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "n_layer", "n_head", "d_model"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.d_ff is not None and (not isinstance(self.d_ff, int) or self.d_ff <= 0):
            raise ValueError(f"GPTConfig.d_ff must be a positive integer or None, got {self.d_ff!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"n_head={self.n_head} must divide d_model={self.d_model} "
                             f"(try n_head={_largest_divisor_at_most(self.d_model, self.n_head)})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def ffw_size(self) -> int:
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def head_size(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


def _largest_divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, min(n, k) + 1) if n % d == 0)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)  # one matmul for Q, K, V
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
        # (B, T, C) -> (B, n_head, T, head_size)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.ffw_size, bias=cfg.bias)
        self.down = nn.Linear(cfg.ffw_size, cfg.d_model, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.down(F.gelu(self.up(x))))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # pre-LN: normalise the branch input, keep the residual raw
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied: one vocab x d_model matrix
        self.apply(self._init_weights)
        # GPT-2's scaled init: each residual branch's output layer gets std 0.02 / sqrt(2 n_layer),
        # so the residual stream's variance does not grow with depth.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Return logits (B, T, V) and, with targets, the mean cross-entropy in nats per char."""
        B, T = idx.shape
        if T > self.cfg.context_length:
            raise ValueError(f"sequence length {T} exceeds context_length {self.cfg.context_length}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        logits = self.head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(B * T, -1), targets.reshape(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.8,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``max_new_tokens`` characters after ``idx`` (B, T); returns (B, T + new)."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.cfg.context_length:])
            probs = F.softmax(logits[:, -1, :].float() / temperature, dim=-1)  # (B, V)
            nxt = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
        return idx


DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; any other name must be available here."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}: use one of {', '.join(DEVICES)} (or cuda:N)")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name.startswith("cuda") and not cuda:
        raise ValueError(f"device {name!r} requested but this torch build sees no CUDA GPU; "
                         "use --device auto or cpu")
    if name == "mps" and not mps:
        raise ValueError("device 'mps' requested but Apple's MPS backend is not available; "
                         "use --device auto or cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (tensor cores, no loss scaling needed); full fp32 elsewhere, where
    bf16 matmuls are either unsupported (MPS on older torch) or slower (most CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
