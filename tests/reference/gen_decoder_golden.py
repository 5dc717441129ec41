"""Writes tests/golden/unified_decoder.safetensors, which
tests/test_unified_decoder.c compares unizoo's text encoder, MoE FFN and
unified decoder against. Run with Debian's python3 (torch 1.13, CPU):
    /usr/bin/python3 tests/reference/gen_decoder_golden.py

Tiny config: d 32, 2 heads, MLP/expert hidden 32 (not 4d: the file must stay
under 300 KB), vocab 50, text length 6, 2 layers each; output projection to
16; 2 tasks. Two runs of the same computation, "dense." and "moe." (4
experts, top-2):
  text encoder on a padded caption batch [2, 6] (causal, as the caption
  context stream) and 5 one-token candidates;
  decoder on [SPE, 3 global + 2 regional image tokens, caption (context),
  6 query tokens] under the two-stream caption mask, and on [SPE, candidate];
  scores of the projected query outputs against the projected candidate
  <SPE> outputs for task 1;
  loss = sum(text * w_text) + sum(decoder * w_dec) + sum(scores * w_scores).
The moe run starts from the dense run's text-encoder outputs (stored, loaded
as leaves), so the text encoder's gradients are stored once.

Parameters are not stored: both sides fill them from their names with the
same integer hash (fill_param below, mirrored in the C test), giving exact
float32 values. Leaves are float32-rounded numpy draws; the reference runs in
float64 from those exact values and is stored as float32.
"""
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_writer  # noqa: E402
from uzgen import text as uzt  # noqa: E402

torch.set_default_dtype(torch.float64)

D, HEADS, HIDDEN, VOCAB, LEN, OUT_DIM, TASKS = 32, 2, 32, 50, 6, 16, 2
N_GLOBAL, N_REGION, TASK = 3, 2, 1
CAPTIONS = [[5, 17, 33, 2, 49, 8], [12, 7, 41, 3, 0, 0]]
CANDIDATES = [[4], [17], [23], [38], [49]]
M64 = (1 << 64) - 1


def fnv1a(name):
    h = 14695981039346656037
    for ch in name.encode():
        h = ((h ^ ch) * 1099511628211) & M64
    return h


def fill_param(name, shape):
    """Element i of parameter `name`: z = splitmix64(fnv1a(name) + i), v =
    ((z >> 40) - 2^23) / 2^23 in [-1, 1); 2-D: v sqrt(3 / shape[1]) (std
    1/sqrt(fan_in)); 1-D "*.weight" (layer norms): 1 + 0.1 v; "logit_scale":
    log(1/0.07) + 0.1 v; other 1-D: 0.1 v. Computed in float64, rounded once
    to float32 (the C test does the same)."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        x = np.uint64(fnv1a(name)) + np.arange(n, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    v = ((x >> np.uint64(40)).astype(np.int64) - (1 << 23)).astype(np.float64) / float(1 << 23)
    if len(shape) == 2:
        v = v * math.sqrt(3.0 / shape[1])
    elif name.endswith("logit_scale"):
        v = math.log(1 / 0.07) + 0.1 * v
    elif name.endswith(".weight"):
        v = 1.0 + 0.1 * v
    else:
        v = 0.1 * v
    return v.astype(np.float32).reshape(shape)


def fill_module(module, prefix):
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(fill_param(prefix + name, list(p.shape)).astype(np.float64)))


class Golden:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.items = []

    def put(self, name, value):
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        value = np.asarray(value)
        self.items.append((name, value.astype(np.float32) if value.dtype.kind == "f" else value))

    def leaf_from(self, name, a):
        a = np.asarray(a, dtype=np.float32)
        self.put(name, a)
        return torch.tensor(a.astype(np.float64), requires_grad=True)

    def leaf(self, name, shape):
        return self.leaf_from(name, self.rng.standard_normal(shape))

    def const(self, name, shape):
        a = self.rng.standard_normal(shape).astype(np.float32)
        self.put(name, a)
        return torch.tensor(a.astype(np.float64))


def check_routes(dec, segment_attrs):
    """Fails when any top-k choice is within 1e-3 of a tie (float32 could flip it)."""
    for layer in dec.layers:
        probs, _ = layer.moe.routes([(1, a) for a in segment_attrs])
        s = torch.sort(probs, dim=-1, descending=True).values
        gap = (s[:, layer.moe.top_k - 1] - s[:, layer.moe.top_k]).min().item()
        assert gap > 1e-3, f"near-tie in the MoE routing (gap {gap})"


def main():
    g = Golden(5)
    cap_ids = torch.tensor(CAPTIONS)
    cand_ids = torch.tensor(CANDIDATES)
    lengths = [int((r != 0).sum()) for r in cap_ids]
    g.put("caption_ids", cap_ids.numpy().astype(np.int32))
    g.put("candidate_ids", cand_ids.numpy().astype(np.int32))
    img_g = g.leaf("image_global", [2, N_GLOBAL, D])
    img_r = g.leaf("image_region", [2, N_REGION, D])
    queries = g.leaf("queries", [2, LEN, D])
    t_dec = 1 + N_GLOBAL + N_REGION + 2 * LEN
    w_text = g.const("w_text", [2, LEN, D])
    w_dec = g.const("w_dec", [2, t_dec, D])
    w_scores = g.const("w_scores", [2 * LEN, len(CANDIDATES)])
    mask = uzt.caption_mask(2, N_GLOBAL + N_REGION, LEN, lengths)
    attrs = {
        "image": uzt.moe_attribute("caption", False, "image"),
        "text": uzt.moe_attribute("caption", False, "text"),
        "query": uzt.moe_attribute("caption", False, "caption_query"),
        "cand": uzt.moe_attribute("caption", True, "text"),
    }

    text = uzt.TextEncoder(VOCAB, LEN, D, HEADS, 2, HIDDEN)
    fill_module(text, "text.")
    te_cap, te_cand = text(cap_ids, causal=True), text(cand_ids)

    for run, moe in (("dense", None), ("moe", (4, 2))):
        dec = uzt.UnifiedDecoder(D, HEADS, 2, HIDDEN, moe, OUT_DIM, TASKS)
        fill_module(dec, "dec.")
        if moe:
            check_routes(dec, list(attrs.values()))
            cap = g.leaf_from("moe.text_in", te_cap.detach().numpy())
            cand = g.leaf_from("moe.cand_in", te_cand.detach().numpy())
            leaves = [("image_global", img_g), ("image_region", img_r), ("queries", queries),
                      ("text_in", cap), ("cand_in", cand)]
            params = list(dec.named_parameters(prefix="dec"))
        else:
            cap, cand = te_cap, te_cand
            leaves = [("image_global", img_g), ("image_region", img_r), ("queries", queries)]
            params = (list(text.named_parameters(prefix="text"))
                      + list(dec.named_parameters(prefix="dec")))
        h = dec([(img_g, "image_global", attrs["image"]), (img_r, "image_region", attrs["image"]),
                 (cap, "text", attrs["text"]), (queries, "caption_query", attrs["query"])], mask)
        q = dec.output(h[:, 1 + N_GLOBAL + N_REGION + LEN:]).reshape(2 * LEN, OUT_DIM)
        c = dec.output(dec([(cand, "text", attrs["cand"])])[:, 0])
        scores = dec.scores(TASK, q, c)
        loss = (h * w_dec).sum() + (scores * w_scores).sum()
        if not moe:
            loss = loss + (te_cap * w_text).sum()
            g.put("dense.text", te_cap)
        tensors = [t for _, t in leaves] + [p for _, p in params]
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        g.put(f"{run}.decoder", h)
        g.put(f"{run}.scores", scores)
        g.put(f"{run}.loss", loss.reshape(1))
        for (name, t), gr in zip(leaves + params, grads):
            g.put(f"{run}.{name}.grad", torch.zeros_like(t) if gr is None else gr)

    meta = {
        "generator": "tests/reference/gen_decoder_golden.py",
        "torch": torch.__version__,
        "precision": "computed in float64 from float32 inputs and weights, stored as float32",
        "description": __doc__.split("\n\n")[1],
    }
    path = os.path.join(HERE, "..", "golden", "unified_decoder.safetensors")
    safetensors_writer.save(path, g.items, meta)
    print(f"unified_decoder.safetensors: {len(g.items)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
