#!/usr/bin/python3
"""PyTorch twin of bench_optim.c: the same 10,010,000 parameters (ten
1000x1000 weights, ten 1000-element biases), the same timing (warm-up, then
the median of single timed steps on CLOCK_MONOTONIC) and the same JSON lines.
Debian's torch 1.13 (CPU) with 2 threads. torch.optim.SGD and AdamW run in
their default (for-loop) form and with foreach=True; torch has no LAMB or
MT-AdamW, so those are written with the torch._foreach_* ops a user of 1.13
would reach for (per-tensor norms by torch.norm: 1.13 has no _foreach_norm).

usage: bench/torch_optim.py [reps] [case-substring]
"""
import json
import sys
import time

import torch

THREADS = 2
WARMUP = 2
LAYERS, DIM = 10, 1000


def now_ms():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) * 1e-6


def make_params():
    g = torch.Generator().manual_seed(1)
    ps = []
    for _ in range(LAYERS):
        for shape in ((DIM, DIM), (DIM,)):
            p = torch.nn.Parameter(torch.randn(shape, generator=g) * 0.02)
            p.grad = torch.randn(shape, generator=g) * 1e-3
            ps.append(p)
    return ps


class Lamb:
    """TFA/apex adam_w_mode LAMB with bias correction, trust ratio per tensor."""

    def __init__(self, ps, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, wd=0.01):
        self.ps, self.lr, self.b1, self.b2, self.eps, self.wd = ps, lr, betas[0], betas[1], eps, wd
        self.m = [torch.zeros_like(p) for p in ps]
        self.v = [torch.zeros_like(p) for p in ps]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        ws, gs = [p.data for p in self.ps], [p.grad for p in self.ps]
        torch._foreach_mul_(self.m, self.b1)
        torch._foreach_add_(self.m, gs, alpha=1 - self.b1)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, gs, gs, value=1 - self.b2)
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        denom = torch._foreach_sqrt(torch._foreach_div(self.v, bc2))
        torch._foreach_add_(denom, self.eps)
        r = torch._foreach_div(torch._foreach_div(self.m, bc1), denom)
        torch._foreach_add_(r, ws, alpha=self.wd)
        for w, u in zip(ws, r):
            wn, rn = torch.norm(w), torch.norm(u)
            ratio = (wn / rn).item() if wn > 0 and rn > 0 else 1.0
            w.add_(u, alpha=-self.lr * ratio)


class MtAdamW:
    """Uni-Perceiver v2 task-balanced AdamW: g * omega/||g||, moments / s_k."""

    def __init__(self, ps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, wd=0.01, omega=1.0, s=0.5):
        self.ps, self.lr, self.b1, self.b2, self.eps, self.wd = ps, lr, betas[0], betas[1], eps, wd
        self.omega, self.s = omega, s
        self.m = [torch.zeros_like(p) for p in ps]
        self.v = [torch.zeros_like(p) for p in ps]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        ws, gs = [p.data for p in self.ps], [p.grad for p in self.ps]
        norm = torch.norm(torch.stack([torch.norm(g) for g in gs]))
        g = torch._foreach_mul(gs, (self.omega / norm).item())
        torch._foreach_mul_(self.m, self.b1)
        torch._foreach_add_(self.m, g, alpha=(1 - self.b1) / self.s)
        torch._foreach_mul_(self.v, self.b2)
        torch._foreach_addcmul_(self.v, g, g, value=(1 - self.b2) / self.s)
        torch._foreach_mul_(ws, 1 - self.lr * self.wd)
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, bc2 ** 0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(ws, self.m, denom, value=-self.lr / bc1)


CASES = [
    ("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9)),
    ("sgd_momentum_foreach", lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, foreach=True)),
    ("adamw", lambda ps: torch.optim.AdamW(ps, lr=1e-3)),
    ("adamw_foreach", lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True)),
    ("mt_adamw", lambda ps: MtAdamW(ps)),
    ("lamb", lambda ps: Lamb(ps)),
]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    only = sys.argv[2] if len(sys.argv) > 2 else None
    torch.set_num_threads(THREADS)
    for name, make in CASES:
        if only and only not in name:
            continue
        ps = make_params()
        n = sum(p.numel() for p in ps)
        opt = make(ps)
        times = []
        for i in range(WARMUP + reps):
            t0 = now_ms()
            opt.step()
            if i >= WARMUP:
                times.append(now_ms() - t0)
        times.sort()
        med = times[reps // 2] if reps % 2 else 0.5 * (times[reps // 2 - 1] + times[reps // 2])
        print(json.dumps({"impl": "torch", "case": name, "params": n, "ms": round(med, 3),
                          "ms_min": round(times[0], 3),
                          "mparams_per_s": round(n / (med * 1e-3) * 1e-6, 1), "reps": reps,
                          "threads": THREADS, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
