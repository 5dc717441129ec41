"""Writes the PyTorch golden files in tests/golden/ that tests/test_golden.c
compares unizoo against. Run from anywhere with Debian's python3 (torch 1.13,
CPU):  /usr/bin/python3 tests/reference/gen_golden.py

Every input and weight is drawn with numpy (fixed seeds), rounded to float32,
and only then widened to float64 for the PyTorch computation, so the reference
is the exact float64 answer for the very float32 values the C test loads; the
results are stored as float32 (targets as int64). The only difference left is
unizoo's float32 arithmetic. Each "loss" is sum(y * w) for a fixed random w
(y's gradient is w), unless stated otherwise. Rerunning rewrites
byte-identical files.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")
torch.set_default_dtype(torch.float64)


class Golden:
    """Collects named float32 arrays for one file."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.items = []

    def put(self, name, value):
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        value = np.asarray(value)
        if value.dtype.kind == "f":
            value = value.astype(np.float32)
        self.items.append((name, value))

    def leaf(self, name, shape, scale=1.0, offset=0.0):
        """A float32-rounded random leaf that requires grad, stored as `name`."""
        a = (self.rng.standard_normal(shape) * scale + offset).astype(np.float32)
        self.put(name, a)
        return torch.tensor(a.astype(np.float64), requires_grad=True)

    def const(self, name, array):
        a = np.asarray(array, dtype=np.float32)
        self.put(name, a)
        return torch.tensor(a.astype(np.float64))

    def save(self, filename, description):
        meta = {
            "generator": "tests/reference/gen_golden.py",
            "torch": torch.__version__,
            "precision": "computed in float64 from float32-rounded inputs, stored as float32",
            "description": description,
        }
        path = os.path.join(OUT_DIR, filename)
        safetensors_writer.save(path, self.items, meta)
        print(f"{filename}: {len(self.items)} tensors, {os.path.getsize(path)} bytes")


def attention(q, k, v, mask, causal, scale):
    """softmax(q k^T * scale + mask [+ causal]) v, written out since torch 1.13
    has no scaled_dot_product_attention. A query whose keys are all masked gets
    zeros and no gradient (unizoo's documented choice; PyTorch would give NaN)."""
    s = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        s = s + mask
    if causal:
        tq, tk = s.shape[-2], s.shape[-1]
        keep = torch.ones(tq, tk, dtype=torch.bool).tril()
        s = s.masked_fill(~keep, -math.inf)
    valid = torch.isfinite(s).any(-1, keepdim=True)
    p = torch.softmax(torch.where(valid, s, torch.zeros_like(s)), -1) * valid
    return p @ v


def backward_all(y, w, leaves):
    loss = (y * w).sum()
    loss.backward()
    return loss, [t.grad for t in leaves]


# ---- transformer block ---------------------------------------------------------

BLOCK_PARAMS = [  # (name, shape as a function of C and hidden)
    ("ln1.weight", lambda c, h: [c]),
    ("ln1.bias", lambda c, h: [c]),
    ("attn.qkv.weight", lambda c, h: [3 * c, c]),
    ("attn.qkv.bias", lambda c, h: [3 * c]),
    ("attn.proj.weight", lambda c, h: [c, c]),
    ("attn.proj.bias", lambda c, h: [c]),
    ("ln2.weight", lambda c, h: [c]),
    ("ln2.bias", lambda c, h: [c]),
    ("mlp.fc.weight", lambda c, h: [h, c]),
    ("mlp.fc.bias", lambda c, h: [h]),
    ("mlp.proj.weight", lambda c, h: [c, h]),
    ("mlp.proj.bias", lambda c, h: [c]),
]


def block_forward(x, p, heads, pre_ln, gelu, eps, mask, causal):
    b, t, c = x.shape
    d = c // heads

    def ln(h, which):
        return F.layer_norm(h, (c,), p[which + ".weight"], p[which + ".bias"], eps)

    def attn(h):
        qkv = F.linear(h, p["attn.qkv.weight"], p["attn.qkv.bias"])
        q, k, v = (z.reshape(b, t, heads, d).transpose(1, 2) for z in qkv.split(c, dim=-1))
        o = attention(q, k, v, mask, causal, 1.0 / math.sqrt(d))
        o = o.transpose(1, 2).reshape(b, t, c)
        return F.linear(o, p["attn.proj.weight"], p["attn.proj.bias"])

    def mlp(h):
        h = F.gelu(F.linear(h, p["mlp.fc.weight"], p["mlp.fc.bias"]), approximate=gelu)
        return F.linear(h, p["mlp.proj.weight"], p["mlp.proj.bias"])

    if pre_ln:
        h = x + attn(ln(x, "ln1"))
        return h + mlp(ln(h, "ln2"))
    h = ln(x + attn(x), "ln1")
    return ln(h + mlp(h), "ln2")


def gen_transformer_block():
    g = Golden(1)
    B, T, C, H, HID = 2, 5, 16, 4, 64
    x_data = g.leaf("x", [B, T, C]).detach()
    w = g.const("w", g.rng.standard_normal([B, T, C]))
    pad = np.zeros([B, 1, 1, T], dtype=np.float32)
    pad[1, :, :, 3:] = -np.inf  # the second sequence has 3 real tokens
    mask = g.const("mask", pad)
    # Pre-LN with tanh GELU (GPT-2) and post-LN with erf GELU and a large eps
    # (so the config's eps demonstrably reaches the op).
    for var, pre_ln, gelu, eps in (("pre", True, "tanh", 1e-5), ("post", False, "none", 1e-3)):
        params = {}
        for name, shape in BLOCK_PARAMS:
            shp = shape(C, HID)
            if name.startswith("ln") and name.endswith("weight"):
                params[name] = g.leaf(f"{var}.{name}", shp, 0.1, 1.0)
            else:
                # Weights of std ~1/sqrt(fan_in) (not the 0.02 training init)
                # so attention patterns and every branch matter in the output.
                std = 1.0 / math.sqrt(shp[-1]) if len(shp) == 2 else 0.1
                params[name] = g.leaf(f"{var}.{name}", shp, std)
        x = x_data.clone().requires_grad_(True)
        y = block_forward(x, params, H, pre_ln, gelu, eps, mask, True)
        names = [n for n, _ in BLOCK_PARAMS]
        loss, grads = backward_all(y, w, [x] + [params[n] for n in names])
        g.put(f"{var}.y", y)
        g.put(f"{var}.loss", loss.reshape(1))
        g.put(f"{var}.x.grad", grads[0])
        for n, gr in zip(names, grads[1:]):
            g.put(f"{var}.{n}.grad", gr)
    g.save("transformer_block.safetensors",
           "transformer block B=2 T=5 C=16 H=4 hidden=64 with padding mask [B,1,1,T] plus causal; "
           "pre: pre-LN, tanh GELU, eps 1e-5; post: post-LN, erf GELU, eps 1e-3; dropout 0")


# ---- conv stack --------------------------------------------------------------------

def min_relu_margin(a):
    return a.abs().min().item()


def min_maxpool_gap(a, k):
    """Smallest gap between the largest and second largest of each window
    whose maximum is positive (the rest get no gradient through the relu)."""
    n, c = a.shape[:2]
    u = F.unfold(a, kernel_size=k, stride=k).reshape(n, c, k * k, -1)
    top = u.topk(2, dim=2).values
    gap = top[:, :, 0] - top[:, :, 1]
    return gap[top[:, :, 0] > 0].min().item()


def gen_conv_stack():
    g = Golden(2)
    x = g.leaf("x", [2, 3, 12, 10])
    p = {
        "conv1.weight": g.leaf("conv1.weight", [8, 3, 3, 3], 1.0 / math.sqrt(27)),
        "conv1.bias": g.leaf("conv1.bias", [8], 0.1),
        "conv2.weight": g.leaf("conv2.weight", [8, 4, 3, 3], 1.0 / math.sqrt(36)),
        "conv2.bias": g.leaf("conv2.bias", [8], 0.1),
        "fc.weight": g.leaf("fc.weight", [5, 8], 1.0 / math.sqrt(8)),
        "fc.bias": g.leaf("fc.bias", [5], 0.1),
    }
    w = g.const("w", g.rng.standard_normal([2, 5]))
    a = F.conv2d(x, p["conv1.weight"], p["conv1.bias"], stride=1, padding=1)
    # float32 rounding must not flip a relu or change a max-pool winner.
    assert min_relu_margin(a) > 1e-4, "conv_stack: relu input too close to 0, change the seed"
    a = F.relu(a)
    assert min_maxpool_gap(a, 2) > 1e-4, "conv_stack: max-pool near tie, change the seed"
    a = F.max_pool2d(a, 2)                                                  # [2,8,6,5]
    a = F.conv2d(a, p["conv2.weight"], p["conv2.bias"], stride=2, padding=1, groups=2)  # [2,8,3,3]
    a = F.avg_pool2d(a, 3, stride=2, padding=1)                            # [2,8,2,2]
    a = F.adaptive_avg_pool2d(a, (1, 1)).flatten(1)                         # [2,8]
    y = F.linear(a, p["fc.weight"], p["fc.bias"])                          # [2,5]
    names = list(p)
    loss, grads = backward_all(y, w, [x] + [p[n] for n in names])
    g.put("y", y)
    g.put("loss", loss.reshape(1))
    g.put("x.grad", grads[0])
    for n, gr in zip(names, grads[1:]):
        g.put(n + ".grad", gr)
    # Adaptive pooling with overlapping, uneven windows (7 -> 3 rows, 5 -> 2 cols).
    ax = g.leaf("adaptive.x", [2, 3, 7, 5])
    aw = g.const("adaptive.w", g.rng.standard_normal([2, 3, 3, 2]))
    ay = F.adaptive_avg_pool2d(ax, (3, 2))
    _, (agx,) = backward_all(ay, aw, [ax])
    g.put("adaptive.y", ay)
    g.put("adaptive.x.grad", agx)
    g.save("conv_stack.safetensors",
           "x[2,3,12,10] -> conv1(3->8,k3,s1,p1) -> relu -> maxpool(2) -> conv2(8->8,k3,s2,p1,groups 2) "
           "-> avgpool(k3,s2,p1, count_include_pad) -> adaptive avg pool (1,1) -> flatten -> fc(8->5); "
           "adaptive.*: adaptive avg pool [2,3,7,5] -> (3,2)")


# ---- attention ---------------------------------------------------------------------

ATTN_CASES = [  # name, causal, scale (0 = 1/sqrt(D)), mask builder
    ("plain", False, 0.0, None),
    ("causal", True, 0.0, None),
    ("mask", False, 0.5, "random"),
    ("padding", True, 0.0, "padding"),
    ("fully_masked", True, 0.0, "fully_masked"),
]


def gen_attention():
    g = Golden(3)
    B, H, TQ, TK, D = 2, 3, 4, 6, 8
    q0 = g.leaf("q", [B, H, TQ, D]).detach()
    k0 = g.leaf("k", [B, H, TK, D]).detach()
    v0 = g.leaf("v", [B, H, TK, D]).detach()
    w = g.const("w", g.rng.standard_normal([B, H, TQ, D]))
    for name, causal, scale, kind in ATTN_CASES:
        mask = None
        if kind == "random":
            mask = g.const(f"{name}.mask", g.rng.standard_normal([TQ, TK]))
        elif kind is not None:
            pad = np.zeros([B, 1, 1, TK], dtype=np.float32)
            if kind == "padding":
                pad[0, ..., 5:] = -np.inf
                pad[1, ..., 3:] = -np.inf
            else:  # with causal, queries 0 and 1 of the second batch see no key
                pad[1, ..., :2] = -np.inf
            mask = g.const(f"{name}.mask", pad)
        q, k, v = (t.clone().requires_grad_(True) for t in (q0, k0, v0))
        y = attention(q, k, v, mask, causal, scale if scale > 0 else 1.0 / math.sqrt(D))
        _, grads = backward_all(y, w, [q, k, v])
        g.put(f"{name}.y", y)
        for t, gr in zip("qkv", grads):
            g.put(f"{name}.{t}.grad", gr)
    g.save("attention.safetensors",
           "q[2,3,4,8], k,v[2,3,6,8]; plain; causal (top-left); mask: additive [4,6] with scale 0.5; "
           "padding: [B,1,1,Tk] -inf plus causal; fully_masked: rows with no visible key give zeros")


# ---- cross entropy -------------------------------------------------------------------

CE_CASES = [  # name, logits shape, logit scale, ignore_index, ignored rows
    ("small", [7, 5], 2.0, -100, [2, 5]),
    ("big", [4, 2000], 3.0, -100, [1]),
    ("3d", [2, 3, 5], 1.0, 3, None),
]


def gen_cross_entropy():
    g = Golden(4)
    for name, shape, scale, ignore, ignored in CE_CASES:
        classes = shape[-1]
        rows = int(np.prod(shape[:-1]))
        x0 = g.leaf(f"{name}.logits", shape, scale).detach()
        tgt = g.rng.integers(0, classes, rows)
        if ignored is not None:
            tgt[ignored] = ignore
        else:  # ignore_index is a real class here: those rows are skipped
            tgt[[0, 4]] = ignore
        g.put(f"{name}.targets", tgt.astype(np.int64))
        for ls, tag in ((0.0, "ls0"), (0.1, "ls01")):
            x = x0.clone().requires_grad_(True)
            loss = F.cross_entropy(x.reshape(rows, classes), torch.tensor(tgt), ignore_index=ignore,
                                   label_smoothing=ls)
            loss.backward()
            g.put(f"{name}.{tag}.loss", loss.reshape(1))
            g.put(f"{name}.{tag}.grad", x.grad)
    g.save("cross_entropy.safetensors",
           "mean cross entropy; small [7,5] and big [4,2000] with ignore_index -100 rows; "
           "3d [2,3,5] with ignore_index 3 (a valid class); label smoothing 0 (ls0) and 0.1 (ls01); "
           "loss is the op's output itself, grad its gradient")


# ---- softmax, log-softmax, layer norm ---------------------------------------------------

def gen_softmax_layernorm():
    g = Golden(5)
    x0 = g.leaf("softmax.x", [2, 3, 6]).detach()
    m = np.zeros([3, 6], dtype=np.float32)
    m[0, [1, 4]] = -np.inf
    m[1] = g.rng.standard_normal(6)
    m[2] = -np.inf  # a fully masked row: zeros / -inf and no gradient
    mask = g.const("softmax.mask", m)
    w = g.const("softmax.w", g.rng.standard_normal([2, 3, 6]))
    valid = torch.isfinite(mask).any(-1, keepdim=True)
    safe_mask = torch.where(valid, mask, torch.zeros_like(mask))
    # Masked log-probabilities (-inf) get weight 0 in the loss.
    wl = g.const("log_softmax.w", np.where(np.isfinite(m), w.numpy(), 0.0))
    for name in ("softmax", "softmax_nomask", "log_softmax"):
        x = x0.clone().requires_grad_(True)
        if name == "softmax":
            y = torch.softmax(x + safe_mask, -1) * valid
            _, (gx,) = backward_all(y, w, [x])
        elif name == "softmax_nomask":
            y = torch.softmax(x, -1)
            _, (gx,) = backward_all(y, w, [x])
        else:
            ls = torch.log_softmax(x + safe_mask, -1)
            y = torch.where(valid & torch.isfinite(mask), ls, torch.full_like(ls, -math.inf))
            _, (gx,) = backward_all(torch.where(torch.isfinite(y), y, torch.zeros_like(y)), wl, [x])
        g.put(f"{name}.y", y)
        g.put(f"{name}.x.grad", gx)

    C = 16
    lw = g.leaf("ln.weight", [C], 0.2, 1.0)
    lb = g.leaf("ln.bias", [C], 0.2)
    lnw = g.const("ln.w", g.rng.standard_normal([3, 5, C]))
    x_plain = g.leaf("ln.x", [3, 5, C], 1.5).detach()
    x_offset = g.leaf("ln_offset.x", [3, 5, C], 1.0, 100.0).detach()
    for name, xin, affine in (("ln", x_plain, True), ("ln_noaffine", x_plain, False),
                              ("ln_offset", x_offset, True)):
        x = xin.clone().requires_grad_(True)
        weight = lw.detach().clone().requires_grad_(True) if affine else None
        bias = lb.detach().clone().requires_grad_(True) if affine else None
        y = F.layer_norm(x, (C,), weight, bias, 1e-5)
        leaves = [x] + ([weight, bias] if affine else [])
        _, grads = backward_all(y, lnw, leaves)
        g.put(f"{name}.y", y)
        g.put(f"{name}.x.grad", grads[0])
        if affine:
            g.put(f"{name}.weight.grad", grads[1])
            g.put(f"{name}.bias.grad", grads[2])
    g.save("softmax_layernorm.safetensors",
           "softmax / log_softmax over the last dim of [2,3,6] with mask [3,6] (-inf entries, one "
           "fully masked row) and without; layer norm over C=16 of [3,5,16], eps 1e-5, with and "
           "without affine, and with inputs offset by 100 (cancellation)")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    gen_transformer_block()
    gen_conv_stack()
    gen_attention()
    gen_cross_entropy()
    gen_softmax_layernorm()


if __name__ == "__main__":
    main()
