"""Time the kit's training step against a plain nanoGPT-style eager loop, side by side.

Both train the same shape on the same batches; the plain loop below is written here from scratch
in the usual style (separate modules, default AdamW, zero_grad, backward, clip, step). Prints the
time per step, the ratio plain / kit (> 1 means the kit is faster), the achieved GFLOP/s (the
FLOPs the model really performs: Appendix F without the embedding lookup), and the machine's
fp32 matmul peak measured in the same run.

    python benchmarks/bench_train_step.py            # d = 64 and d = 256
    python benchmarks/bench_train_step.py --widths 128 --steps 30
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from tinychinchilla.counting import flops_executed
from tinychinchilla.model import GPT, GPTConfig
from tinychinchilla.train import TrainConfig, make_optimizer, train_step


class PlainBlock(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(d, bias=False)
        self.c_attn = nn.Linear(d, 3 * d, bias=False)
        self.c_proj = nn.Linear(d, d, bias=False)
        self.ln_2 = nn.LayerNorm(d, bias=False)
        self.c_fc = nn.Linear(d, 4 * d, bias=False)
        self.mlp_proj = nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
        k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class PlainGPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.context_length, cfg.d_model)
        self.h = nn.ModuleList(PlainBlock(cfg.d_model, cfg.n_head) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=False)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def matmul_peak(n: int = 1024, repeats: int = 30) -> float:
    """Best-of-three fp32 GFLOP/s of an n x n matmul on this machine."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - t) / repeats)
    return 2 * n ** 3 / best / 1e9


def time_loop(step_fn, batches, warmup: int) -> float:
    for x, y in batches[:warmup]:
        step_fn(x, y)
    t = time.perf_counter()
    for x, y in batches[warmup:]:
        step_fn(x, y)
    return (time.perf_counter() - t) / (len(batches) - warmup)


def bench_width(d: int, n_layer: int, steps: int, warmup: int, rounds: int) -> dict:
    cfg = GPTConfig(vocab_size=84, context_length=128, n_layer=n_layer, n_head=max(1, d // 32), d_model=d)
    tcfg = TrainConfig(tokens=1)
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randint(0, 84, (tcfg.batch_size, cfg.context_length), generator=gen),
                torch.randint(0, 84, (tcfg.batch_size, cfg.context_length), generator=gen))
               for _ in range(steps + warmup)]
    device = torch.device("cpu")

    torch.manual_seed(0)
    kit = GPT(cfg)
    kit_opt = make_optimizer(kit, tcfg, device)
    torch.manual_seed(0)
    plain = PlainGPT(cfg)
    plain_opt = torch.optim.AdamW(plain.parameters(), lr=tcfg.lr, betas=(0.9, 0.95), weight_decay=0.1)

    def kit_step(x, y):
        train_step(kit, kit_opt, x, y, tcfg.lr, tcfg.grad_clip, device)

    def plain_step(x, y):
        loss = plain(x, y)
        plain_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
        plain_opt.step()
        loss.item()

    # Alternate the two several times and keep each one's best round, so a burst of load on the
    # machine does not land on one side only.
    kit_t, plain_t = math.inf, math.inf
    for _ in range(rounds):
        plain_t = min(plain_t, time_loop(plain_step, batches, warmup))
        kit_t = min(kit_t, time_loop(kit_step, batches, warmup))
    tokens = tcfg.batch_size * cfg.context_length
    flops = flops_executed(cfg, tokens)
    return {"d_model": d, "n_layer": n_layer, "kit_ms": kit_t * 1e3, "plain_ms": plain_t * 1e3,
            "ratio": plain_t / kit_t, "kit_gflops": flops / kit_t / 1e9,
            "plain_gflops": flops / plain_t / 1e9}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", type=int, nargs="+", default=[64, 256], help="d_model values (default 64 256)")
    p.add_argument("--n-layer", type=int, default=4, help="depth of every model (default %(default)s)")
    p.add_argument("--steps", type=int, default=40, help="timed steps per round (default %(default)s)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept (default %(default)s)")
    args = p.parse_args()

    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 1024^2 matmul peak {peak:.1f} GFLOP/s")
    print(f"{'d_model':>7} {'layers':>6} {'kit ms':>8} {'plain ms':>9} {'plain/kit':>9} {'kit GFLOP/s':>11} {'% of peak':>9}")
    for d in args.widths:
        r = bench_width(d, args.n_layer, args.steps, args.warmup, args.rounds)
        print(f"{r['d_model']:>7} {r['n_layer']:>6} {r['kit_ms']:>8.2f} {r['plain_ms']:>9.2f} "
              f"{r['ratio']:>9.3f} {r['kit_gflops']:>11.1f} {100 * r['kit_gflops'] / peak:>8.0f}%")


if __name__ == "__main__":
    main()
