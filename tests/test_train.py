import subprocess
import sys

import pytest

from tinychinchilla.counting import param_counts
from tinychinchilla.model import GPTConfig
from tinychinchilla.train import (TrainConfig, TrainingDiverged, budget_tokens, lr_at, main, train)

TINY = dict(context_length=32, n_layer=1, n_head=2, d_model=32)


def tiny_cfg(corpus, **kw):
    return GPTConfig(vocab_size=corpus.vocab_size, **{**TINY, **kw})


def test_schedule_warms_up_then_decays_to_ten_percent_at_the_end():
    cfg = TrainConfig(tokens=1, lr=1e-3, warmup_fraction=0.1)
    steps = 100
    lrs = [lr_at(s, steps, cfg) for s in range(steps)]
    assert lrs[0] == pytest.approx(1e-4)
    assert max(lrs) == pytest.approx(1e-3)
    assert lrs[-1] == pytest.approx(1e-4)  # exactly 10% of the peak on the last step
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_longer_cosine_cycle_ends_with_higher_learning_rate():
    matched = TrainConfig(tokens=1, lr=1e-3)
    long = TrainConfig(tokens=1, lr=1e-3, cosine_cycle_multiplier=2.0)
    assert lr_at(99, 100, long) > 4 * lr_at(99, 100, matched)


def test_flop_budget_sets_tokens():
    m = GPTConfig()
    n = param_counts(m).non_embedding
    assert budget_tokens(m, TrainConfig(flops=6e9)) == int(6e9 / (6 * n))
    assert budget_tokens(m, TrainConfig(flops=6e9, flops_params="total")) == int(6e9 / (6 * param_counts(m).total))


def test_validation_loss_falls_on_real_text(corpus):
    result = train(tiny_cfg(corpus), TrainConfig(tokens=200 * 8 * 32, lr=1e-2), corpus, progress=False)
    assert result.steps == 200
    assert result.curve["val_loss"][0] > 4.0  # near log(84) = 4.43 at the start
    assert result.final_val_loss < 3.0  # well below the 3.29 unigram entropy within 200 steps
    assert result.tokens == 200 * 8 * 32 and result.epochs == pytest.approx(result.tokens / len(corpus.train))
    steps = result.curve["step"]
    assert steps[0] == 1 and steps[-1] == 200 and steps == sorted(set(steps))


def test_same_seed_same_run_on_cpu(corpus):
    cfg = TrainConfig(tokens=20 * 8 * 32, seed=7, device="cpu")
    a = train(tiny_cfg(corpus), cfg, corpus, progress=False)
    b = train(tiny_cfg(corpus), cfg, corpus, progress=False)
    assert a.curve["train_loss"] == b.curve["train_loss"] and a.final_val_loss == b.final_val_loss
    c = train(tiny_cfg(corpus), TrainConfig(tokens=20 * 8 * 32, seed=8, device="cpu"), corpus, progress=False)
    assert c.final_val_loss != a.final_val_loss


def test_budget_smaller_than_one_batch(corpus):
    with pytest.raises(ValueError, match="less than one batch of 256"):
        train(tiny_cfg(corpus), TrainConfig(tokens=100), corpus, progress=False)


def test_nan_loss_names_the_learning_rate(corpus):
    with pytest.raises(TrainingDiverged, match="learning rate 1e\\+30; lower lr"):
        train(tiny_cfg(corpus), TrainConfig(tokens=50 * 8 * 32, lr=1e30, grad_clip=0.0), corpus, progress=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "exactly one budget"),
    (dict(tokens=10, flops=10.0), "exactly one budget"),
    (dict(tokens=-5), "tokens must be positive"),
    (dict(flops=0.0), "flops must be positive"),
    (dict(tokens=10, lr=float("nan")), "lr must be a positive number"),
    (dict(tokens=10, batch_size=0), "batch_size must be positive"),
    (dict(tokens=10, cosine_cycle_multiplier=0.5), "cosine_cycle_multiplier must be >= 1"),
])
def test_bad_train_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_vocab_mismatch_is_explained(corpus):
    with pytest.raises(ValueError, match="set GPTConfig\\(vocab_size=corpus.vocab_size\\)"):
        train(GPTConfig(vocab_size=50, **TINY), TrainConfig(tokens=1000), corpus, progress=False)


def test_silent_mode_writes_nothing_to_stderr(corpus, capfd):
    train(tiny_cfg(corpus), TrainConfig(tokens=5 * 8 * 32), corpus, progress=False)
    assert capfd.readouterr().err == ""


def test_cli_bad_input_is_one_line(corpus):
    proc = subprocess.run([sys.executable, "-m", "tinychinchilla.train", "--d-model", "30",
                           "--n-head", "4", "--tokens", "1e4", "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: n_head=4 must divide d_model=30 (try n_head=3)"
    proc = subprocess.run([sys.executable, "-m", "tinychinchilla.train", "--device", "tpu", "--quiet"],
                          capture_output=True, text=True)
    assert proc.stderr.strip().startswith("error: unknown device 'tpu'")


def test_cli_runs_and_reports(corpus, tmp_path, capsys):
    png = tmp_path / "curve.png"
    main(["--d-model", "32", "--n-layer", "1", "--n-head", "2", "--context-length", "32",
          "--tokens", "8192", "--quiet", "--sample-chars", "40", "--plot", str(png)])
    out = capsys.readouterr().out
    for word in ("parameters", "FLOPs", "tokens/s", "validation", "--- sample ---"):
        assert word in out
    assert png.stat().st_size > 10_000


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tinychinchilla.train", "--quiet", "--sample-chars", "0",
                           "--d-model", "16", "--n-head", "2", "--n-layer", "1", "--context-length", "16",
                           *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["--tokens", "inf"], "error: --tokens must be a positive finite number, got inf"),
    (["--tokens", "nan"], "error: --tokens must be a positive finite number, got nan"),
    (["--tokens", "0.5"], "error: --tokens must be a whole number of tokens >= 1, got 0.5"),
    (["--tokens", "1e30"], "error: --tokens 1e+30 is more than this kit trains"),
    (["--flops", "inf"], "error: --flops must be a positive finite number, got inf"),
    (["--flops", "1e40"], "error: the budget gives"),
    (["--seed", "1e30"], "--seed: must be from 0 to 2**63 - 1"),
    (["--seed", "-1"], "--seed: must be from 0 to 2**63 - 1"),
    (["--tokens", "1e4", "--plot", "/no/such/folder/curve.png"], "error: --plot /no/such/folder/curve.png: cannot write"),
    (["--tokens", "1e4", "--plot", "curve.txt"], "error: --plot curve.txt: unknown image type '.txt'"),
])
def test_cli_refuses_bad_budgets_and_paths_before_training(corpus, args, message):
    proc = _cli(*args)
    assert proc.returncode in (1, 2), proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert message in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_text_file_problems_are_one_line(tmp_path):
    proc = _cli("--tokens", "1e4", "--text-file", str(tmp_path))
    assert proc.returncode == 1 and proc.stderr.strip() == f"error: {tmp_path} is a folder; give the path of a UTF-8 text file."
    short = tmp_path / "short.txt"
    short.write_text("abcdefghij\n" * 1000)  # 11,000 characters: a 550-character validation split
    proc = _cli("--tokens", "1e4", "--text-file", str(short), "--context-length", "600")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: the val split has 550 characters, fewer than one window")


def test_cli_plot_without_extension_reports_the_png_it_writes(corpus, tmp_path, capsys):
    main(["--d-model", "16", "--n-layer", "1", "--n-head", "2", "--context-length", "16",
          "--tokens", "2048", "--quiet", "--sample-chars", "0", "--plot", str(tmp_path / "curve")])
    assert f"loss curve written to {tmp_path / 'curve.png'}" in capsys.readouterr().out
    assert (tmp_path / "curve.png").is_file() and not (tmp_path / "curve").exists()


def test_bad_seed_in_config():
    with pytest.raises(ValueError, match="seed must be a whole number"):
        TrainConfig(tokens=10, seed=10**30)
