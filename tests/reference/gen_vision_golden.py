"""Writes tests/golden/vision_encoder.safetensors, which tests/test_vision_encoder.c
compares unizoo's image encoder against. Run with Debian's python3 (torch 1.13):
    /usr/bin/python3 tests/reference/gen_vision_golden.py

As in gen_golden.py, weights and inputs are drawn with numpy, rounded to
float32 and computed with in float64, so the reference is exact for the very
values the C test loads. "loss" is a fixed random linear functional of every
output (sum of output * w.<output>); its gradients with respect to every
parameter and the images are stored as "<name>.grad".

Three parts:
- the image encoder (tiny config below) on a [2, 1, 32, 32] batch: tokens,
  per-layer boxes and objectness, encoder proposals (objectness of every
  memory token, boxes of the selected ones), the selected memory indices;
- the same with the proposal queries' contents taken from the selected
  memory tokens (query_content "selected"; every name prefixed "sel.");
- one DETR decoder layer alone (prefix "detr."), with a key padding mask.

The seed is checked for margins that float32 rounding on the C side cannot
cross: the gaps between the sorted objectness logits that decide the top-Q
selection and its order, and the distance of every ReLU input from 0.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_writer  # noqa: E402
from uzgen import vision  # noqa: E402

OUT = os.path.join(HERE, "..", "golden", "vision_encoder.safetensors")
torch.set_default_dtype(torch.float64)

CFG = dict(channels=1, widths=(4, 8, 8, 16), d=24, heads=2, ffn=32, n_queries=4, n_layers=2,
           n_pools=2, anchor_size=0.1)
DETR = dict(d=8, heads=2, ffn=16, B=2, Q=3, N=5)
MIN_GAP = 1e-3
MIN_RELU = 3e-5


def f32(a):
    return np.asarray(a, dtype=np.float32)


def randomize(module, rng):
    """Every parameter from numpy: weights ~ N(0, 1/fan_in), biases and
    embeddings ~ N(0, 0.3^2) scaled alike, layer-norm weights ~ 1 + N(0, 0.1^2)."""
    for name, p in module.named_parameters():
        shape = tuple(p.shape)
        if "norm" in name and name.endswith("weight"):
            a = 1 + 0.1 * rng.standard_normal(shape)
        elif len(shape) >= 2:
            a = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        else:
            a = 0.3 * rng.standard_normal(shape)
        with torch.no_grad():
            p.copy_(torch.tensor(f32(a).astype(np.float64)))


def functional(items, rng, outputs):
    """sum(o * w) over the outputs; the w's are stored as w.<name>."""
    loss = 0
    for name, o in outputs:
        w = f32(rng.standard_normal(tuple(o.shape)))
        items.append((f"w.{name}", w))
        loss = loss + (o * torch.tensor(w.astype(np.float64))).sum()
    return loss


def relu_margins(run):
    """Runs run() with F.relu recording the smallest |input|."""
    margins, relu = [], F.relu

    def spy(x, inplace=False):
        margins.append(x.detach().abs().min().item())
        return relu(x)
    F.relu = spy
    try:
        return run(), min(margins)
    finally:
        F.relu = relu


def image_encoder_part(items, seed, query_content="learned", prefix=""):
    rng = np.random.default_rng(seed)
    c = CFG
    enc = vision.ImageEncoder(c["channels"], c["widths"], c["d"], c["heads"], c["ffn"],
                              c["n_queries"], c["n_layers"], c["n_pools"], c["anchor_size"],
                              query_content=query_content)
    enc.eval()
    randomize(enc, rng)
    images = torch.tensor(f32(rng.uniform(-1, 1, (2, c["channels"], 32, 32))).astype(np.float64),
                          requires_grad=True)
    out, margin = relu_margins(lambda: enc(images))
    gaps = np.diff(-np.sort(-out["enc_logits"].detach().numpy(), 1)[:, :c["n_queries"] + 1], 1)
    if margin < MIN_RELU or (-gaps).min() < MIN_GAP:
        return None
    part = []
    # unizoo boxes only the selected tokens (the rest are never used).
    enc_boxes = out["enc_boxes"].gather(1, out["selected"][..., None].expand(-1, -1, 4))
    outputs = [("tokens", out["tokens"]), ("enc_logits", out["enc_logits"]),
               ("enc_boxes", enc_boxes)]
    for l in range(c["n_layers"]):
        outputs += [(f"layer{l}.boxes", out["layer_boxes"][l]),
                    (f"layer{l}.logits", out["layer_logits"][l])]
    for name, p in enc.named_parameters():
        part.append((name, f32(p.detach())))
    part.append(("images", f32(images.detach())))
    for name, o in outputs:
        part.append((name, f32(o.detach())))
    part.append(("selected", out["selected"].numpy().astype(np.int32)))
    loss = functional(part, rng, outputs)
    loss.backward()
    part.append(("loss", f32([loss.item()])))
    part.append(("images.grad", f32(images.grad)))
    for name, p in enc.named_parameters():
        part.append((f"{name}.grad", f32(p.grad)))
    items += [(prefix + name, a) for name, a in part]
    print(f"image encoder ({query_content}): seed {seed}, relu margin {margin:.2e}, top-Q gap {(-gaps).min():.2e}, "
          f"{sum(p.numel() for p in enc.parameters())} parameters")
    return items


def detr_part(items):
    rng = np.random.default_rng(5)
    c = DETR
    layer = vision.DetrDecoderLayer(c["d"], c["heads"], c["ffn"])
    layer.eval()
    randomize(layer, rng)

    def leaf(name, shape):
        a = f32(rng.standard_normal(shape))
        items.append((f"detr.{name}", a))
        return torch.tensor(a.astype(np.float64), requires_grad=True)
    tgt = leaf("tgt", (c["B"], c["Q"], c["d"]))
    query_pos = leaf("query_pos", (c["B"], c["Q"], c["d"]))
    memory = leaf("memory", (c["B"], c["N"], c["d"]))
    memory_pos = leaf("memory_pos", (c["N"], c["d"]))
    pad = torch.zeros(c["B"], c["N"], dtype=torch.bool)
    pad[1, -2:] = True
    items.append(("detr.key_padding_mask", pad.numpy().astype(np.uint8)))
    y = layer(tgt, query_pos, memory, memory_pos, key_padding_mask=pad)
    items.append(("detr.y", f32(y.detach())))
    for name, p in layer.named_parameters():
        items.append((f"detr.{name}", f32(p.detach())))
    loss = functional(items, rng, [("detr.y", y)])
    loss.backward()
    for name, t in [("tgt", tgt), ("query_pos", query_pos), ("memory", memory),
                    ("memory_pos", memory_pos)]:
        items.append((f"detr.{name}.grad", f32(t.grad)))
    for name, p in layer.named_parameters():
        items.append((f"detr.{name}.grad", f32(p.grad)))


def main():
    items = []
    for seed in range(100):
        if image_encoder_part(items, seed) is not None:
            break
    else:
        raise SystemExit("no seed with safe margins")
    for seed in range(100):
        if image_encoder_part(items, seed, "selected", "sel.") is not None:
            break
    else:
        raise SystemExit("no seed with safe margins (selected)")
    detr_part(items)
    meta = {
        "generator": "tests/reference/gen_vision_golden.py",
        "torch": torch.__version__,
        "precision": "computed in float64 from float32-rounded inputs, stored as float32",
        "config": repr(CFG),
        "detr": repr(DETR),
    }
    safetensors_writer.save(OUT, items, meta)
    print(f"{os.path.basename(OUT)}: {len(items)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
