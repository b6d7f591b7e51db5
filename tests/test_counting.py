import itertools

import pytest

from tinychinchilla import counting
from tinychinchilla.counting import (Shape, appendix_f, chinchilla_params, flops_6nd, flops_kaplan,
                                     param_counts, table_a4_ratio)
from tinychinchilla.model import GPT, GPTConfig


@pytest.mark.parametrize("d_model, n_layer, n_head, context, vocab, bias, d_ff", [
    (d, L, h, T, V, b, f)
    for (d, h), L, T, V, b, f in itertools.product(
        [(8, 1), (32, 4), (48, 3), (96, 6)], [1, 3], [16, 128], [2, 84, 257], [False, True], [None, 40])
])
def test_param_count_equals_numel(d_model, n_layer, n_head, context, vocab, bias, d_ff):
    cfg = GPTConfig(vocab_size=vocab, context_length=context, n_layer=n_layer, n_head=n_head,
                    d_model=d_model, bias=bias, d_ff=d_ff)
    model = GPT(cfg)
    counts = param_counts(cfg)
    assert counts.total == sum(p.numel() for p in model.parameters())
    embedding = model.tok_emb.weight.numel() + model.pos_emb.weight.numel()
    assert counts.embedding == embedding
    assert counts.non_embedding == counts.total - embedding


def test_gpt2_small_without_biases():
    cfg = GPTConfig(vocab_size=50257, context_length=1024, n_layer=12, n_head=12, d_model=768)
    assert param_counts(cfg).total == 124_337_664


def _paper_shape(m):
    from tinychinchilla.paper import TABLE_A9_SEQ_LEN, TABLE_A9_VOCAB

    return Shape(m.n_layers, m.d_model, m.ffw_size, m.n_heads, m.kv_size, TABLE_A9_VOCAB, TABLE_A9_SEQ_LEN)


def test_table_a4_ratios_reproduced():
    from tinychinchilla.paper import TABLE_A4

    assert len(TABLE_A4) == 6
    for m in TABLE_A4:
        ratio = table_a4_ratio(_paper_shape(m))
        assert ratio == pytest.approx(m.ratio_unrounded, abs=0.005), m.name
        assert round(ratio, 2) == pytest.approx(m.ratio_rounded, abs=1e-9), m.name


def test_full_appendix_f_count_differs_for_small_models():
    from tinychinchilla.paper import TABLE_A4

    first = _paper_shape(TABLE_A4[0])  # 73M
    assert table_a4_ratio(first, include_embeddings_and_logits=True) == pytest.approx(1.58, abs=0.01)
    last = _paper_shape(TABLE_A4[-1])  # 6.8B: embeddings matter less as models grow
    assert table_a4_ratio(last, include_embeddings_and_logits=True) == pytest.approx(1.028, abs=0.002)


def test_paper_parameter_count_of_73m_model():
    # 73,825,280 is what Table A4's "73M" stands for under this count (relative-position weights,
    # biases and LayerNorms included, one vocab x d_model matrix)
    shape = Shape(10, 640, 2560, 10, 64, 32_000, 2048)
    assert chinchilla_params(shape) == 73_825_280


def test_appendix_f_terms_and_backward_is_twice_forward():
    cfg = GPTConfig(vocab_size=84, context_length=128, n_layer=2, n_head=4, d_model=64)
    t = appendix_f(cfg)
    S, d = 128, 64
    assert t.attention_qkv == 6 * S * d * d
    assert t.attention_softmax == 3 * 4 * S * S
    assert t.dense == 4 * S * d * 256
    assert t.forward(True) == t.embeddings + 2 * t.per_layer + t.final_logits
    assert t.training_flops(S) == 3 * t.forward(True)
    assert counting.flops_appendix_f(cfg, 10 * S) == pytest.approx(30 * t.forward(True))


def test_kaplan_adds_the_attention_term_to_6n():
    cfg = GPTConfig(vocab_size=84, context_length=128, n_layer=2, n_head=4, d_model=64)
    n = param_counts(cfg).non_embedding
    tokens = 1000
    assert flops_kaplan(cfg, tokens) == pytest.approx(flops_6nd(n, tokens) + 6 * 2 * 128 * 64 * tokens)
    # at this tiny width the attention term is about a sixth of 6N: 6ND undercounts by ~17%
    assert flops_kaplan(cfg, tokens) / flops_6nd(n, tokens) - 1 == pytest.approx(0.166, abs=0.001)


def test_shape_attention_width_can_differ_from_d_model():
    s = Shape(n_layers=1, d_model=100, ffw_size=400, n_heads=4, kv_size=16, vocab_size=10, seq_len=8)
    assert s.attn_width == 64
    assert appendix_f(s).attention_projection == 2 * 8 * 64 * 100
