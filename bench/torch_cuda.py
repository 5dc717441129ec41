#!/usr/bin/env python3
"""PyTorch twin of bench_cuda.c on the same GPU: the same cases, shapes, FLOP
counts and timing (warm-up, then the median of single iterations, each ended
by torch.cuda.synchronize, on CLOCK_MONOTONIC), printed as the same JSON
lines. Eager mode. The block's attention is the explicit softmax(q k^T *
scale + causal mask) v composition (the one unizoo computes, materialised);
the *_sdpa cases use F.scaled_dot_product_attention (PyTorch's fused flash
or memory-efficient kernels) for reference.

usage: bench/torch_cuda.py [reps]
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

WARMUP = 3
GEMM_N = 4096
B, T, C, H = 32, 256, 768, 12
MLP = 4 * C
D = C // H
ROWS = B * T


def now_ms():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) * 1e-6


def emit(case, gflop, step, reps):
    for _ in range(WARMUP):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = now_ms()
        step()
        torch.cuda.synchronize()
        times.append(now_ms() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"impl": "torch", "case": case, "ms": round(med, 4),
                      "ms_min": round(times[0], 4), "gflops": round(gflop / (med * 1e-3), 1)}),
          flush=True)


def block_gflop():
    lin = sum(3 * 2.0 * ROWS * i * o for i, o in [(C, 3 * C), (C, C), (C, MLP), (MLP, C)])
    return (lin + 12.0 * B * H * T * T * D) * 1e-9


def causal_attention(q, k, v):
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    att = att.masked_fill(mask, float("-inf"))
    return F.softmax(att, dim=-1) @ v


class Block(torch.nn.Module):
    """Pre-LN block: x + proj(attn(qkv(ln1(x)))), then x + fc2(gelu(fc1(ln2(x))))."""

    def __init__(self, sdpa):
        super().__init__()
        self.sdpa = sdpa
        self.ln1 = torch.nn.LayerNorm(C)
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.proj = torch.nn.Linear(C, C)
        self.ln2 = torch.nn.LayerNorm(C)
        self.fc1 = torch.nn.Linear(C, MLP)
        self.fc2 = torch.nn.Linear(MLP, C)

    def forward(self, x):
        b, t, c = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, t, 3, H, D).permute(2, 0, 3, 1, 4)
        if self.sdpa:
            y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        else:
            y = causal_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not torch.cuda.is_available():
        print("torch_cuda: no CUDA device visible to PyTorch, nothing measured")
        return
    dev = torch.device("cuda")
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name(0)}", file=sys.stderr)
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        prec = "tf32" if tf32 else "f32"
        a = torch.randn(GEMM_N, GEMM_N, device=dev)
        b = torch.randn(GEMM_N, GEMM_N, device=dev)
        emit(f"sgemm_4096_{prec}", 2.0 * GEMM_N ** 3 * 1e-9, lambda: a @ b, reps)
        del a, b
        for sdpa in (False, True):
            torch.manual_seed(0)
            blk = Block(sdpa).to(dev)
            x = torch.randn(B, T, C, device=dev)
            g = torch.randn(B, T, C, device=dev)

            def step():
                loss = (blk(x) * g).mean()
                loss.backward()
                blk.zero_grad(set_to_none=False)

            emit(f"block_b32_t256_c768_{prec}" + ("_sdpa" if sdpa else ""), block_gflop(), step, reps)
            del blk, x, g
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
