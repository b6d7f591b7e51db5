"""Parameters and FLOPs, counted three ways (lesson 01).

* ``flops_6nd``: C = 6 N D, the approximation the Chinchilla paper uses for its fits
  (Hoffmann et al. 2022, Section 2 and Appendix F: 2 N D forward, 4 N D backward).
* ``flops_kaplan``: Kaplan et al. 2020, Table 1: C = (6 N + 6 n_layer n_ctx d_attn) D with N the
  non-embedding parameters; the second term is the attention over the context.
* ``appendix_f``: the paper's Appendix F count, term by term, per sequence of ``seq_len`` tokens:
  embeddings, attention (QKV, QK logits, softmax, reduction, projection), dense block, final
  logits; backward = 2 x forward.

Table A4 convention. Appendix F's text lists the embedding and final-logit terms, yet the published
Table A4 ratios (1.03, 1.10, 1.08, 1.04, 1.03, 0.99) come out only when the FLOP count leaves both
out and N is the Chinchilla architecture's own parameter count: attention and MLP weights with
biases, the Transformer-XL relative-position weights (a d_model x d_model matrix and two d_model
bias vectors per layer), LayerNorm scales and offsets, and exactly one vocab x d_model matrix.
``table_a4_ratio`` computes both conventions so a lesson can show the difference (73M: 1.025 vs
1.58).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import GPTConfig


@dataclass(frozen=True)
class Shape:
    """What Appendix F needs to know about a transformer. ``kv_size * n_heads`` is the attention
    width; it equals d_model for the kit's GPT but differs from it in some Table A9 rows."""

    n_layers: int
    d_model: int
    ffw_size: int
    n_heads: int
    kv_size: int
    vocab_size: int
    seq_len: int

    @property
    def attn_width(self) -> int:
        return self.n_heads * self.kv_size

    @classmethod
    def from_config(cls, cfg: GPTConfig) -> "Shape":
        return cls(cfg.n_layer, cfg.d_model, cfg.ffw_size, cfg.n_head, cfg.head_size,
                   cfg.vocab_size, cfg.context_length)


@dataclass(frozen=True)
class ParamCounts:
    total: int
    embedding: int  # token + position embedding tables (the tied output layer is the token table)
    non_embedding: int  # Kaplan et al.'s N: everything else


def param_counts(cfg: GPTConfig) -> ParamCounts:
    """Count the kit's GPT parameters from its shape alone (lesson 01: learners do this by hand)."""
    d, f, V, T, L = cfg.d_model, cfg.ffw_size, cfg.vocab_size, cfg.context_length, cfg.n_layer
    b = 1 if cfg.bias else 0
    attention = 3 * d * d + b * 3 * d + d * d + b * d  # fused QKV, then output projection
    mlp = d * f + b * f + f * d + b * d
    layernorms = 2 * (d + b * d)  # two per block: scale, and offset when bias=True
    per_layer = attention + mlp + layernorms
    embedding = V * d + T * d  # the output layer is tied to the token table: no extra matrix
    total = embedding + L * per_layer + (d + b * d)  # + final LayerNorm
    return ParamCounts(total=total, embedding=embedding, non_embedding=total - embedding)


def flops_6nd(n_params: float, tokens: float) -> float:
    """Training FLOPs by C = 6 N D (Chinchilla Section 2; Kaplan et al. 2020 Section 2.1)."""
    return 6.0 * n_params * tokens


def flops_kaplan(cfg: GPTConfig, tokens: float) -> float:
    """Kaplan et al. 2020, Table 1: forward 2N + 2 n_layer n_ctx d_attn per token, training 3x."""
    n = param_counts(cfg).non_embedding
    return 3.0 * (2.0 * n + 2.0 * cfg.n_layer * cfg.context_length * cfg.d_model) * tokens


@dataclass(frozen=True)
class AppendixF:
    """Forward FLOPs of one sequence, term by term (Hoffmann et al. 2022, Appendix F)."""

    embeddings: float
    attention_qkv: float
    attention_logits: float
    attention_softmax: float
    attention_reduction: float
    attention_projection: float
    dense: float
    final_logits: float
    n_layers: int
    seq_len: int

    @property
    def per_layer(self) -> float:
        return (self.attention_qkv + self.attention_logits + self.attention_softmax
                + self.attention_reduction + self.attention_projection + self.dense)

    def forward(self, include_embeddings_and_logits: bool = True) -> float:
        core = self.n_layers * self.per_layer
        if include_embeddings_and_logits:
            return self.embeddings + core + self.final_logits
        return core

    def training_flops(self, tokens: float, include_embeddings_and_logits: bool = True) -> float:
        """Forward + backward (= 2 x forward) over ``tokens`` tokens."""
        return 3.0 * self.forward(include_embeddings_and_logits) * tokens / self.seq_len


def appendix_f(shape: Shape | GPTConfig) -> AppendixF:
    """The Appendix F terms for one sequence of ``shape.seq_len`` tokens."""
    s = Shape.from_config(shape) if isinstance(shape, GPTConfig) else shape
    S, d, w, V = s.seq_len, s.d_model, s.attn_width, s.vocab_size
    return AppendixF(
        embeddings=2 * S * V * d,
        attention_qkv=2 * 3 * S * d * w,
        attention_logits=2 * S * S * w,
        attention_softmax=3 * s.n_heads * S * S,
        attention_reduction=2 * S * S * w,
        attention_projection=2 * S * w * d,
        dense=2 * S * (d * s.ffw_size + d * s.ffw_size),
        final_logits=2 * S * d * V,
        n_layers=s.n_layers,
        seq_len=S,
    )


def flops_appendix_f(cfg: GPTConfig, tokens: float, include_embeddings_and_logits: bool = True) -> float:
    """Training FLOPs of the kit's GPT over ``tokens`` tokens by the Appendix F count."""
    return appendix_f(cfg).training_flops(tokens, include_embeddings_and_logits)


def flops_executed(cfg: GPTConfig, tokens: float) -> float:
    """Training FLOPs the kit's GPT really performs: Appendix F without the embedding term, which
    the paper counts as a one-hot matmul but which runs as a table lookup. Used for GFLOP/s."""
    terms = appendix_f(cfg)
    return 3.0 * (terms.forward(True) - terms.embeddings) * tokens / terms.seq_len


def chinchilla_params(shape: Shape) -> int:
    """Parameters of a Chinchilla-architecture model (the N of Table A4).

    Per layer: Q, K, V and output projections of width ``attn_width`` with biases; the
    Transformer-XL relative-position weights (one d_model x d_model matrix, two d_model biases);
    MLP with biases; two LayerNorms (scale and offset). Plus a final LayerNorm and one
    vocab x d_model matrix. Relative positions mean no learned position table.
    """
    d, w, f = shape.d_model, shape.attn_width, shape.ffw_size
    attention = 4 * d * w + 3 * w + d
    relative_position = d * d + 2 * d
    mlp = 2 * d * f + f + d
    layernorms = 2 * 2 * d
    return (shape.n_layers * (attention + relative_position + mlp + layernorms)
            + 2 * d + shape.vocab_size * d)


def table_a4_ratio(shape: Shape, include_embeddings_and_logits: bool = False) -> float:
    """Appendix F FLOPs / 6ND for a Chinchilla-architecture model (Table A4).

    The default (without embeddings and logits) is the convention that reproduces the table.
    """
    flops = appendix_f(shape).training_flops(shape.seq_len, include_embeddings_and_logits)
    return flops / flops_6nd(chinchilla_params(shape), shape.seq_len)
