import math

import pytest
import torch

from tinychinchilla.model import GPT, GPTConfig, pick_device


def test_forward_shapes_and_initial_loss():
    cfg = GPTConfig(vocab_size=84, context_length=32, n_layer=2, n_head=2, d_model=32)
    model = GPT(cfg)
    x, y = torch.randint(0, 84, (2, 3, 32))
    logits, loss = model(x, y)
    assert logits.shape == (3, 32, 84)
    # small init: predictions are near uniform, so the loss is near log V
    assert abs(loss.item() - math.log(84)) < 0.1
    assert model(x)[1] is None


def test_attention_is_causal():
    cfg = GPTConfig(vocab_size=20, context_length=16, n_layer=2, n_head=2, d_model=16)
    model = GPT(cfg).eval()
    x = torch.randint(0, 20, (1, 16))
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % 20  # change only the future
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    assert torch.allclose(a[0, :10], b[0, :10], atol=1e-6)
    assert not torch.allclose(a[0, 10:], b[0, 10:])


def test_output_layer_is_tied_to_token_embedding():
    model = GPT(GPTConfig())
    assert model.head.weight.data_ptr() == model.tok_emb.weight.data_ptr()


def test_sequence_longer_than_context_is_refused():
    model = GPT(GPTConfig(context_length=8))
    with pytest.raises(ValueError, match="exceeds context_length 8"):
        model(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize("kwargs, message", [
    (dict(d_model=0), "d_model must be a positive integer"),
    (dict(n_layer=-1), "n_layer must be a positive integer"),
    (dict(vocab_size=2.5), "vocab_size must be a positive integer"),
    (dict(d_model=64, n_head=5), "n_head=5 must divide d_model=64 \\(try n_head=4\\)"),
    (dict(d_ff=0), "d_ff must be a positive integer or None"),
    (dict(dropout=1.0), "dropout must be in"),
])
def test_bad_config_is_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**kwargs)


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            pick_device("cuda")


def test_generate_appends_tokens():
    model = GPT(GPTConfig(vocab_size=10, context_length=8, n_layer=1, n_head=1, d_model=8))
    out = model.generate(torch.zeros(2, 3, dtype=torch.long), 12, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 15) and int(out.max()) < 10
