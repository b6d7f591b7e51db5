"""The multiple-choice benchmark (evaluate.py): items, scoring, baselines, and argument errors."""

import collections
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from tinychinchilla import evaluate as ev
from tinychinchilla.model import GPT, GPTConfig

torch.set_num_threads(1)


def _decode(corpus, tokens) -> str:
    chars = list(corpus.vocab)
    return "".join(chars[i] for i in tokens.tolist())


@pytest.fixture(scope="module")
def test_text(corpus):
    return corpus.decode(corpus.test)  # the corpus's own decoder, on purpose (312k characters)


@pytest.fixture(scope="module")
def items(corpus):
    return ev.build_items(corpus)


@pytest.fixture(scope="module")
def untrained_result(corpus):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size))
    return ev.mc_accuracy(model, corpus)


class Oracle(nn.Module):
    """Knows the test text: at each position it predicts the character that follows the input so
    far in the test text (found by locating the longest prefix of the row there), so it puts
    almost all probability on the true continuation and next to none on any distractor."""

    def __init__(self, corpus, text):
        super().__init__()
        self.cfg = SimpleNamespace(context_length=128)
        self.text, self.vocab = text, list(corpus.vocab)
        self.lut = {ch: i for i, ch in enumerate(corpus.vocab)}

    def forward(self, idx):
        B, T = idx.shape
        logits = torch.zeros(B, T, len(self.vocab))
        for b in range(B):
            row = "".join(self.vocab[i] for i in idx[b].tolist())
            if row in self.text:
                m = T
            else:  # binary search for the longest prefix of the row present in the text
                lo, hi = 0, T  # row[:lo] is present, row[:hi] is not
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if row[:mid] in self.text else (lo, mid)
                m = lo
            pos = self.text.find(row[:m])
            m = min(m, len(self.text) - pos - 1)
            nxt = [self.lut[self.text[pos + t + 1]] for t in range(m)]
            logits[b, torch.arange(m), torch.tensor(nxt, dtype=torch.long)] = 30.0
        return logits, None


class Recorder(nn.Module):
    """Uniform predictions; remembers every input it was given."""

    def __init__(self, vocab_size, context_length=128):
        super().__init__()
        self.cfg = SimpleNamespace(context_length=context_length)
        self.vocab_size = vocab_size
        self.inputs = []
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, idx):
        self.inputs.append(idx.clone())
        return torch.zeros(*idx.shape, self.vocab_size) + self.weight, None


def test_items_are_deterministic_and_depend_on_the_seed(corpus, items):
    ev._ITEM_CACHE.clear()
    rebuilt = ev.build_items(corpus)  # built again from scratch, not from the cache
    assert rebuilt == items
    assert ev.build_items(corpus) == items  # and the cached copy is the same
    other = ev.build_items(corpus, seed=1)
    assert len(other) == len(items) == 1000
    assert [it.offset for it in other] != [it.offset for it in items]


def test_item_structure(items, test_text):
    starts = set(ev.eligible_line_starts(test_text).tolist())
    for it in items:
        assert len(it.context) == 96 and len(it.choices) == 4
        assert len(set(it.choices)) == 4 and all(len(c) == 32 for c in it.choices)
        assert it.offset in starts and test_text[it.offset - 1] == "\n"  # context ends a line
        assert test_text[it.offset - 96:it.offset] == it.context
        for k, (choice, off) in enumerate(zip(it.choices, it.choice_offsets)):
            assert test_text[off:off + 32] == choice
            assert "\n" not in choice[:16] and choice.strip()
            if k != it.answer:
                assert off in starts and abs(off - it.offset) > ev.DISTRACTOR_MIN_DISTANCE
        assert it.choice_offsets[it.answer] == it.offset
    counts = collections.Counter(it.answer for it in items)
    assert sorted(counts) == [0, 1, 2, 3] and min(counts.values()) >= 240


def test_items_come_from_the_test_split_only(corpus, items, test_text):
    train_text = _decode(corpus, corpus.train)
    assert train_text[:5000] == corpus.decode(corpus.train[:5000])
    for it in items[::50]:
        assert it.context + it.choices[it.answer] in test_text
        assert it.context not in train_text


def test_an_oracle_that_knows_the_answers_scores_100_percent(corpus, items, test_text):
    result = ev.score_items(Oracle(corpus, test_text), corpus, items)
    assert result.n_correct == result.n_items == 1000
    assert result.accuracy == 1.0 and result.stderr == 0.0


def test_an_untrained_gpt_scores_near_chance(untrained_result):
    r = untrained_result
    assert r.n_items == 1000 and len(r.predictions) == 1000
    assert set(r.predictions) <= {0, 1, 2, 3}
    assert r.random_baseline == 0.25
    assert abs(r.accuracy - 0.25) < 0.045  # about 3 standard errors at n = 1000
    assert r.accuracy == r.n_correct / r.n_items
    assert r.stderr == pytest.approx(math.sqrt(r.accuracy * (1 - r.accuracy) / 1000))
    assert r.stderr < 0.02
    assert math.sqrt(0.5 * 0.5 / 1000) < 0.02  # the worst case p = 0.5 too
    assert "predictions" not in r.to_dict() and len(r.to_dict(predictions=True)["predictions"]) == 1000


def test_score_modes_rank_equal_length_choices_alike_and_training_flag_is_restored(corpus):
    items = ev.build_items(corpus, n_items=100)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size)).train()
    total = ev.score_items(model, corpus, items, score="total")
    assert model.training
    model.eval()
    per_char = ev.score_items(model, corpus, items, score="per_char", batch_size=7)
    assert not model.training
    assert per_char.predictions == total.predictions and per_char.score == "per_char"
    mutual = ev.score_items(model, corpus, items, score="mutual_info")
    assert mutual.n_items == 100 and set(mutual.predictions) <= {0, 1, 2, 3}


def test_the_oracle_also_wins_under_mutual_information_scoring(corpus, items, test_text):
    # every choice is real text after a line start, so the oracle finds each one likely on its
    # own; only the context tells the real one apart
    result = ev.score_items(Oracle(corpus, test_text), corpus, items[:100], score="mutual_info")
    assert result.accuracy == 1.0


def test_k_shot_prompts(corpus):
    # With 96 + 32 characters per item the 128-character window cuts the example off entirely.
    items = ev.build_items(corpus, n_items=100)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size))
    zero = ev.score_items(model, corpus, items, k_shot=0)
    one = ev.score_items(model, corpus, items, k_shot=1)
    assert one.predictions == zero.predictions and one.k_shot == 1

    # With shorter items the example reaches the model: check the exact prompt.
    short = ev.build_items(corpus, n_items=100, context_chars=48, choice_chars=24)
    rec = Recorder(corpus.vocab_size)
    result = ev.score_items(rec, corpus, short, k_shot=1, batch_size=10)
    assert result.n_items == 100 and 0.0 <= result.accuracy <= 1.0
    assert set(result.predictions) <= {0, 1, 2, 3}
    first_row = _decode(corpus, rec.inputs[0][0])
    shot = short[ev._shot_indices(short, 0, 1)[0]]
    assert abs(shot.offset - short[0].offset) > ev.DISTRACTOR_MIN_DISTANCE
    expected = (shot.context + shot.choices[shot.answer] + "\n\n" + short[0].context
                + short[0].choices[0])[-128:]
    assert first_row == expected[:-1]
    assert len(rec.inputs[0]) == 40  # 10 items x 4 choices per forward pass


def test_bad_arguments_are_refused(corpus, items):
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size))
    for bad in (0, -3):
        with pytest.raises(ValueError, match="n_items must be a positive integer"):
            ev.build_items(corpus, n_items=bad)
    with pytest.raises(ValueError, match="lower n_items"):
        ev.build_items(corpus, n_items=100_000)
    too_long = ev.build_items(corpus, n_items=10, context_chars=100, choice_chars=32)
    with pytest.raises(ValueError, match="context_length is 128; lower context_chars or choice_chars"):
        ev.score_items(model, corpus, too_long)
    with pytest.raises(ValueError, match="unknown score mode 'mean'"):
        ev.score_items(model, corpus, items, score="mean")
    with pytest.raises(ValueError, match="k_shot"):
        ev.score_items(model, corpus, items, k_shot=-1)
    with pytest.raises(ValueError, match="lower k_shot"):
        ev.score_items(model, corpus, items[:3], k_shot=5)
    with pytest.raises(ValueError, match="no items"):
        ev.score_items(model, corpus, [])


def test_choice_log_likelihoods_match_a_direct_computation(corpus, items):
    # rows of different lengths share a padded batch; each must score as if it ran alone
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size)).eval()
    texts = [(items[0].context + items[0].choices[1], 32), (items[1].context[-20:] + "ab", 2),
             (items[2].context[-8:] + items[2].choices[0][:10], 10)]
    rows = [corpus.encode(t).long().tolist() for t, _ in texts]
    got = ev._choice_logprobs(model, rows, [n for _, n in texts], batch_rows=8)
    for (t, n), row, value in zip(texts, rows, got.tolist()):
        ids = torch.tensor(row)[None, :]
        with torch.no_grad():
            logp = torch.log_softmax(model(ids[:, :-1])[0], dim=-1)[0]  # (len - 1, V)
        expected = sum(logp[p - 1, row[p]].item() for p in range(len(row) - n, len(row)))
        assert value == pytest.approx(expected, abs=1e-4)


def test_mc_accuracies_share_one_pass_and_match_score_items(corpus):
    from tinychinchilla.evaluate import mc_accuracies

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=corpus.vocab_size, n_layer=1, d_model=16, n_head=2))
    both = mc_accuracies(model, corpus, n_items=200)
    items = ev.build_items(corpus, n_items=200)
    for mode in ("total", "mutual_info"):
        alone = ev.score_items(model, corpus, items, score=mode)
        assert both[mode].predictions == alone.predictions and both[mode].score == mode
    with pytest.raises(ValueError, match="unknown score mode"):
        mc_accuracies(model, corpus, modes=("best",))


# -- checkpoints: one kit function loads and checks them (lesson 07) --------------------------


def _tiny_model(vocab_size=84, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, context_length=128, n_layer=1, n_head=2, d_model=16))


def test_checkpoint_round_trip_and_damage_is_refused(corpus, tmp_path):
    from tinychinchilla.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

    model = _tiny_model()
    path = save_checkpoint(model, corpus, tmp_path / "m.pt")
    loaded = load_checkpoint(path, corpus)
    assert not loaded.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)

    # A flipped bit in the weights: refused by the hash (it used to score 25.5%).
    ckpt = torch.load(path, weights_only=True)
    flipped = dict(ckpt, state_dict=dict(ckpt["state_dict"]))
    key = next(k for k, v in flipped["state_dict"].items() if v.dim() == 2)
    w = flipped["state_dict"][key].clone()
    w.view(-1).view(torch.int32)[3] ^= 1 << 30
    flipped["state_dict"][key] = w
    torch.save(flipped, tmp_path / "flipped.pt")
    with pytest.raises(CheckpointError, match="differ from the ones saved"):
        load_checkpoint(tmp_path / "flipped.pt", corpus)

    # NaN weights saved as such (a diverged run): refused (they used to score exactly 25.0%).
    broken = _tiny_model()
    with torch.no_grad():
        next(broken.parameters()).view(-1)[:16] = float("nan")
    save_checkpoint(broken, corpus, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="16 weights are NaN"):
        load_checkpoint(tmp_path / "nan.pt", corpus)

    # Another vocabulary, or another text with the same 84 characters.
    wide = dataclasses_replace(corpus, vocab=corpus.vocab + "".join(chr(0x100 + i) for i in range(16)))
    save_checkpoint(_tiny_model(vocab_size=100), wide, tmp_path / "v100.pt")
    with pytest.raises(CheckpointError, match="100-character vocabulary, not this corpus's 84"):
        load_checkpoint(tmp_path / "v100.pt", corpus)
    other_text = dataclasses_replace(corpus, name="my_text.txt", text_sha256="0" * 64)
    save_checkpoint(_tiny_model(), other_text, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="trained on another text"):
        load_checkpoint(tmp_path / "other.pt", corpus)

    # Not a checkpoint at all, a truncated file, an old-style dict without the corpus record.
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt", corpus)
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pt", corpus)
    torch.save({"model_config": ckpt["model_config"], "state_dict": ckpt["state_dict"]}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="not a kit checkpoint"):
        load_checkpoint(tmp_path / "old.pt", corpus)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", corpus)


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_scoring_refuses_nan_logits_and_another_vocabulary(corpus, items):
    broken = _tiny_model()
    with torch.no_grad():
        next(broken.parameters()).view(-1)[:16] = float("nan")
    with pytest.raises(ev.NonFiniteLogits, match="NaN or infinite logits"):
        ev.score_items(broken, corpus, items[:8])
    for vocab_size in (50, 100):  # 50 used to raise an unexplained IndexError, 100 was scored
        with pytest.raises(ValueError, match=f"vocab_size={vocab_size} but the corpus"):
            ev.score_items(_tiny_model(vocab_size=vocab_size), corpus, items[:8])
