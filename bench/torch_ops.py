#!/usr/bin/python3
"""PyTorch twin of bench_ops.c: the same cases, shapes, FLOP counts and timing
(warm-up, then the median of single-iteration repeats on CLOCK_MONOTONIC),
printed as the same JSON lines. Runs on Debian's torch 1.13 CPU build, which
has no F.scaled_dot_product_attention, so attention is the explicit
softmax(q k^T * scale + causal mask) v composition a user of that version writes.

usage: bench/torch_ops.py [reps] [case-substring]
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

THREADS = 2
WARMUP = 3

# Shapes of the benchmarked transformer block: batch 32, seq 64, width 256,
# 4 heads of 64, MLP 1024.
B, T, C, H, MLP = 32, 64, 256, 4, 1024
D = C // H
ROWS = B * T

LINEARS = [  # name, in, out
    ("linear_qkv", C, 3 * C),
    ("linear_proj", C, C),
    ("linear_fc1", C, MLP),
    ("linear_fc2", MLP, C),
]


def now_ms():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) * 1e-6


def emit(case, gflop, step, reps, warmup=WARMUP):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = now_ms()
        step()
        times.append(now_ms() - t0)
    times.sort()
    med = times[len(times) // 2] if len(times) % 2 else 0.5 * (times[len(times) // 2 - 1] + times[len(times) // 2])
    print(json.dumps({"impl": "torch", "case": case, "ms": round(med, 4), "ms_min": round(times[0], 4),
                      "gflop": round(gflop, 6), "gflops": round(gflop / (med * 1e-3), 2), "reps": reps}),
          flush=True)


def linear_gflop(rows, fin, fout):
    # forward GEMM 2 m n k; backward dx and dw are one such GEMM each.
    return 3 * 2.0 * rows * fin * fout * 1e-9


def attention_gflop(b, h, t, d):
    # q k^T and p v: 2 t t d each, forward; backward dq, dk, dv, dp: twice that.
    # Counted dense (causal masking halves the useful work in both libraries' math).
    return 3 * 4.0 * b * h * t * t * d * 1e-9


def layer_norm_gflop(n, c):
    # Nominal 8 flops/element forward (mean, centre, square, sum, scale, affine),
    # 16 backward.
    return 24.0 * n * c * 1e-9


def conv_gflop(n, ci, co, oh, ow, kh, kw):
    return 3 * 2.0 * n * co * oh * ow * ci * kh * kw * 1e-9


def block_gflop():
    lin = sum(linear_gflop(ROWS, i, o) for _, i, o in LINEARS)
    return lin + attention_gflop(B, H, T, D)


def causal_attention(q, k, v):
    t = q.shape[-2]
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)
    att = att.masked_fill(mask, float("-inf"))
    return F.softmax(att, dim=-1) @ v


class Block(torch.nn.Module):
    """Pre-LN block: x + proj(attn(qkv(ln1(x)))), then x + fc2(gelu(fc1(ln2(x))))."""

    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(C)
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.proj = torch.nn.Linear(C, C)
        self.ln2 = torch.nn.LayerNorm(C)
        self.fc1 = torch.nn.Linear(C, MLP)
        self.fc2 = torch.nn.Linear(MLP, C)

    def forward(self, x):
        b, t, c = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, H, D).permute(2, 0, 3, 1, 4)
        y = causal_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    print(json.dumps({"impl": "torch", "info": "torch %s, %d threads" % (torch.__version__,
                                                                         torch.get_num_threads())}),
          flush=True)

    def want(name):
        return only in name

    for name, fin, fout in LINEARS:
        if not want(name):
            continue
        x = torch.randn(ROWS, fin, requires_grad=True)
        lin = torch.nn.Linear(fin, fout)
        dy = torch.randn(ROWS, fout)

        def step(x=x, lin=lin, dy=dy):
            x.grad = None
            lin(x).backward(dy)

        emit(name, linear_gflop(ROWS, fin, fout), step, reps)

    if want("attention"):
        q, k, v = (torch.randn(B, H, T, D, requires_grad=True) for _ in range(3))
        dy = torch.randn(B, H, T, D)

        def step():
            q.grad = k.grad = v.grad = None
            causal_attention(q, k, v).backward(dy)

        emit("attention", attention_gflop(B, H, T, D), step, reps)

    if want("layer_norm"):
        x = torch.randn(ROWS, C, requires_grad=True)
        ln = torch.nn.LayerNorm(C)
        dy = torch.randn(ROWS, C)

        def step():
            x.grad = None
            ln(x).backward(dy)

        emit("layer_norm", layer_norm_gflop(ROWS, C), step, reps)

    if want("conv2d"):
        x = torch.randn(32, 64, 32, 32, requires_grad=True)
        conv = torch.nn.Conv2d(64, 64, 3, padding=1)
        dy = torch.randn(32, 64, 32, 32)

        def step():
            x.grad = None
            conv(x).backward(dy)

        emit("conv2d", conv_gflop(32, 64, 64, 32, 32, 3, 3), step, reps)

    if want("block"):
        blk = Block()
        opt = torch.optim.SGD(blk.parameters(), lr=1e-3)
        x = torch.randn(B, T, C)
        g = torch.randn(B, T, C)

        def step():
            loss = (blk(x) * g).mean()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        emit("block", block_gflop(), step, reps)

    if want("sgemm_2048"):
        a = torch.randn(2048, 2048)
        b = torch.randn(2048, 2048)
        emit("sgemm_2048", 2.0 * 2048 ** 3 * 1e-9, lambda: torch.mm(a, b), max(3, reps // 2))


if __name__ == "__main__":
    main()
