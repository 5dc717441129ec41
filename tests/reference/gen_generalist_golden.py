"""Writes tests/golden/generalist.safetensors, which tests/test_generalist_golden.c
compares unizoo's whole generalist (models/generalist_net.c and
generalist_loss.c over the image encoder, text encoder and unified decoder)
against. Run with Debian's python3 (torch 1.13, CPU):
    /usr/bin/python3 tests/reference/gen_generalist_golden.py

Tiny config (CFG below), twice: "dense." and "moe." (4 experts, top-2). Per
run and task (classify, detect, caption, retrieve) the training loss of a
fixed batch and its gradient with respect to every parameter. The data is a
hand-made uz_gen_data: 4 digit images 32x32 with labels; 4 scene images
48x48 with COCO boxes (in pixels of images of stated, non-square sizes,
categories mapped to classes through category_class; one image without
boxes) and 5 captions (image 1 has two, which the caption task uses;
retrieval batches only images with exactly one caption, so the C side's
random pick of a caption is forced); 11 class-name texts (10 classes and
background). Batches: classify digits [1, 3, 0]; detect scenes [2, 3, 0];
caption rows [2, 4] (images 1 and 3); retrieve scenes [3, 0, 2].

Gradients: a full model has ~80k parameters (MoE ~105k) per task and run,
too many to store, so for each parameter tensor (rows in the byte order of
the names, as C's strcmp sorts them) grad_proj holds P projections sum(grad *
r_k) with r_k uniform in [-1, 1) from the name hash (proj_vector below,
mirrored in C) and, last, the L2 norm of the gradient; grad_small holds the
whole gradient of every tensor of at most SMALL elements, concatenated in
the same order.

Parameters are not stored: both sides fill them from their names with the
integer hash of gen_decoder_golden.py's fill_param, generalised to any rank
(fan_in = product of all dims but the first). Images are stored as bytes and
normalised as the C side does, in float32; the reference runs in float64
from those exact values and is stored as float32.

Every image is drawn (seed search) so that float32 rounding on the C side
cannot change a discrete choice: ReLU inputs at least MIN_RELU from 0, the
objectness gaps that decide the top-Q selection and its order at least
MIN_GAP, the Hungarian matchings of every prediction set at least MIN_COST
from the second-best assignment, and for matched pairs every box coordinate
difference (L1's |.|, GIoU's min/max corners and intersection extents) at
least MIN_KINK from 0. The MoE routes of every attribute used have top-k
probability gaps of at least MIN_GAP.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_writer  # noqa: E402
from uzgen import generalist as uzg  # noqa: E402
from uzgen import text as uzt  # noqa: E402

torch.set_default_dtype(torch.float64)

CFG = dict(channels=1, cls_size=32, scene_size=48, width=32, heads=2, widths=(8, 8, 16, 32),
           rpn_layers=1, queries=4, pools=1, text_layers=1, decoder_layers=1, vocab=40,
           text_len=4, caption_len=6, moe=False, experts=4, top_k=2, cost_obj=2.0, cost_l1=5.0,
           cost_giou=2.0, w_obj=1.0, w_l1=5.0, w_giou=2.0,
           bg_weight=float(np.float32(0.1)))
P, SMALL = 4, 128
MIN_RELU, MIN_GAP, MIN_COST, MIN_KINK = 1e-5, 1e-4, 1e-3, 1e-5
M64 = (1 << 64) - 1

# The data (see the docstring). Ids: 0 pad, 1 unk, 2 bos, 3 eos.
EOS = 3
CLASS_NAMES = [[4, 5, 0, 0], [6, 0, 0, 0], [7, 8, 9, 0], [10, 11, 12, 13], [14, 0, 0, 0],
               [15, 16, 0, 0], [17, 0, 0, 0], [18, 19, 20, 0], [21, 22, 0, 0], [23, 0, 0, 0],
               [24, 25, 0, 0]]
DIGIT_LABELS = [7, 2, 9, 4]
SCENE_SIZES = [(120, 80), (96, 96), (64, 100), (80, 80)]   # (width, height) of the originals
CATEGORY_CLASS = [3, 8, 0, 5]
# Annotations in file order: image, category index, bbox x, y, w, h (pixels).
ANNOTATIONS = [(2, 1, [6, 10, 30, 44]), (0, 0, [10, 8, 50, 40]), (2, 3, [30, 50, 28, 40]),
               (0, 2, [70, 20, 40, 50]), (1, 1, [20, 30, 60, 50]), (2, 0, [4, 70, 24, 22])]
CAPTIONS = [[30, 31, 32, EOS, 0, 0], [33, 34, EOS, 0, 0, 0], [35, 36, 37, 38, 39, EOS],
            [26, 27, EOS, 0, 0, 0], [28, 29, 30, 31, EOS, 0]]
CAPTION_IMAGE = [0, 1, 1, 2, 3]
BATCH = dict(classify=[1, 3, 0], detect=[2, 3, 0], caption=[2, 4], retrieve=[3, 0, 2])


def fnv1a(name):
    h = 14695981039346656037
    for ch in name.encode():
        h = ((h ^ ch) * 1099511628211) & M64
    return h


def hash_uniform(name, n):
    """n values in [-1, 1): ((splitmix64(fnv1a(name) + i) >> 40) - 2^23) / 2^23."""
    with np.errstate(over="ignore"):
        x = np.uint64(fnv1a(name)) + np.arange(n, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return ((x >> np.uint64(40)).astype(np.int64) - (1 << 23)).astype(np.float64) / float(1 << 23)


def fill_param(name, shape):
    """Rank >= 2: v sqrt(3 / fan_in) (std 1/sqrt(fan_in)); "logit_scale":
    log(1/0.07) + 0.1 v; other 1-D "*.weight" (layer norms): 1 + 0.1 v; other
    1-D: 0.1 v. Computed in float64, rounded once to float32."""
    v = hash_uniform(name, int(np.prod(shape)))
    if len(shape) >= 2:
        v = v * math.sqrt(3.0 / int(np.prod(shape[1:])))
    elif name.endswith("logit_scale"):
        v = math.log(1 / 0.07) + 0.1 * v
    elif name.endswith(".weight"):
        v = 1.0 + 0.1 * v
    else:
        v = 0.1 * v
    return v.astype(np.float32).reshape(shape)


def proj_vector(k, name, n):
    """The k-th projection vector of parameter `name`: hash of "proj<k>:<name>"."""
    return hash_uniform(f"proj{k}:{name}", n)


def normalise(pixels):
    """uint8 -> float32 as uz_gen_images_batch: p * (2 / 255) - 1, then float64."""
    x = pixels.astype(np.float32) * (np.float32(2.0) / np.float32(255.0)) - np.float32(1.0)
    return torch.from_numpy(x.astype(np.float64))


def build(moe):
    torch.manual_seed(0)
    model = uzg.Generalist(dict(CFG, moe=moe))
    model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(fill_param(name, list(p.shape)).astype(np.float64)))
    return model


def relu_margin(run):
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


def topq_gap(enc, q):
    s = -np.sort(-enc["enc_logits"].detach().numpy(), 1)[:, :q + 1]
    return (-np.diff(s, axis=1)).min()


def truth_of(images):
    """Ground truth of scene images as uz_gen_data gives it (float32 maths as
    gather_truth): start, boxes cxcywh relative, classes."""
    start, boxes, cls = [0], [], []
    for i in images:
        w, h = (np.float32(v) for v in SCENE_SIZES[i])
        for img, cat, (x, y, bw, bh) in ANNOTATIONS:
            if img != i:
                continue
            x, y, bw, bh = (np.float32(v) for v in (x, y, bw, bh))
            half = np.float32(0.5)
            boxes.append([(x + half * bw) / w, (y + half * bh) / h, bw / w, bh / h])
            cls.append(CATEGORY_CLASS[cat])
        start.append(len(boxes))
    return dict(start=start, boxes=torch.tensor(np.asarray(boxes, np.float32).astype(np.float64)),
                cls=cls)


def kink_margin(enc, truth, matches):
    """Smallest |difference| among the matched pairs' coordinates, corners and
    intersection extents (where L1 and GIoU have kinks)."""
    sets = [(enc["enc_logits"].gather(1, enc["selected"]),
             enc["enc_boxes"].gather(1, enc["selected"][..., None].expand(-1, -1, 4)))]
    sets += list(zip(enc["layer_logits"], enc["layer_boxes"]))
    worst = math.inf
    for (_, boxes), match in zip(sets, matches):
        flat = boxes.detach().reshape(-1, 4)
        for i, m in enumerate(match):
            if m < 0:
                continue
            a, b = flat[i], truth["boxes"][m]
            ca, cb = uzg.cxcywh_to_xyxy(a), uzg.cxcywh_to_xyxy(b)
            iw = min(ca[2], cb[2]) - max(ca[0], cb[0])
            ih = min(ca[3], cb[3]) - max(ca[1], cb[1])
            worst = min(worst, (a - b).abs().min().item(), (ca - cb).abs().min().item(),
                        abs(iw.item()), abs(ih.item()))
    return worst


def draw_image(model, size, seed, truth=None):
    """A uint8 image [1, size, size] whose encoder pass (and matchings, given
    its truth) clears the margins; the seed grows until one does."""
    for s in range(seed, seed + 200):
        rng = np.random.default_rng(s)
        pixels = rng.integers(0, 256, (1, CFG["channels"], size, size), dtype=np.uint8)
        x = normalise(pixels)
        with torch.no_grad():
            enc, margin = relu_margin(lambda: model.image(x))
            if margin < MIN_RELU or topq_gap(enc, CFG["queries"]) < MIN_GAP:
                continue
            if truth is not None and truth["start"][-1] > 0:
                _, info = model.detect_loss(x, truth, class_ids())
                if (min(info["gaps"]) < MIN_COST
                        or kink_margin(info["enc"], truth, info["matches"]) < MIN_KINK):
                    continue
        return pixels[0], s
    raise SystemExit(f"no image with safe margins from seed {seed}")


def class_ids():
    return torch.tensor(CLASS_NAMES)


def check_routes(model):
    """Every attribute the generalist uses routes clear of top-k ties."""
    attrs = [uzt.moe_attribute(t, tg, m) for t in uzt.TASKS for tg in (False, True)
             for m in uzt.MODALITIES]
    for layer in model.decoder.layers:
        probs, _ = layer.moe.routes([(1, a) for a in attrs])
        s = torch.sort(probs, dim=-1, descending=True).values
        gap = (s[:, layer.moe.top_k - 1] - s[:, layer.moe.top_k]).min().item()
        assert gap > MIN_GAP, f"near-tie in the MoE routing (gap {gap})"


def task_loss(model, task, data):
    idx = BATCH[task]
    if task == "classify":
        x = normalise(data["digits"][idx])
        return model.classify_loss(x, torch.tensor([DIGIT_LABELS[i] for i in idx]),
                                   class_ids())[0]
    if task == "detect":
        return model.detect_loss(normalise(data["scenes"][idx]), truth_of(idx), class_ids())[0]
    if task == "caption":
        images = [CAPTION_IMAGE[i] for i in idx]
        ids = torch.tensor([CAPTIONS[i] for i in idx])
        lengths = [sum(v != 0 for v in CAPTIONS[i]) for i in idx]
        return model.caption_loss(normalise(data["scenes"][images]), ids, lengths,
                                  CFG["vocab"])[0]
    rows = [CAPTION_IMAGE.index(i) for i in idx]
    assert all(CAPTION_IMAGE.count(i) == 1 for i in idx)
    return model.retrieve_loss(normalise(data["scenes"][idx]),
                               torch.tensor([CAPTIONS[r] for r in rows]))[0]


def main():
    items = []

    def put(name, a):
        items.append((name, a))

    dense = build(False)
    digits, seeds = [], []
    for i in range(len(DIGIT_LABELS)):
        px, s = draw_image(dense, CFG["cls_size"], 1000 * i)
        digits.append(px)
        seeds.append(s)
    scenes = []
    for i in range(len(SCENE_SIZES)):
        px, s = draw_image(dense, CFG["scene_size"], 1000 * (10 + i), truth_of([i]))
        scenes.append(px)
        seeds.append(s)
    data = dict(digits=np.stack(digits), scenes=np.stack(scenes))
    print("image seeds", seeds)

    put("digits.images", data["digits"])
    put("digits.labels", np.asarray(DIGIT_LABELS, np.int32))
    put("scenes.images", data["scenes"])
    put("coco.image_size", np.asarray(SCENE_SIZES, np.int32))
    put("coco.bbox", np.asarray([a[2] for a in ANNOTATIONS], np.float32))
    put("coco.image", np.asarray([a[0] for a in ANNOTATIONS], np.int32))
    put("coco.category", np.asarray([a[1] for a in ANNOTATIONS], np.int32))
    put("category_class", np.asarray(CATEGORY_CLASS, np.int32))
    put("captions.ids", np.asarray(CAPTIONS, np.int32))
    put("caption_image", np.asarray(CAPTION_IMAGE, np.int32))
    put("classes.ids", np.asarray(CLASS_NAMES, np.int32))
    for task in uzg.TASKS:
        put(f"batch.{task}", np.asarray(BATCH[task], np.int32))

    for run, moe in (("dense", False), ("moe", True)):
        model = dense if not moe else build(True)
        if moe:
            check_routes(model)
        params = sorted(model.named_parameters(), key=lambda kv: kv[0].encode())
        put(f"{run}.numel", np.asarray([p.numel() for _, p in params], np.int32))
        vectors = [np.stack([proj_vector(k, n, p.numel()) for k in range(P)]) for n, p in params]
        for task in uzg.TASKS:
            loss, margin = relu_margin(lambda: task_loss(model, task, data))
            assert margin >= MIN_RELU, (run, task, margin)
            grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for (_, p), g in zip(params, grads)]
            proj = np.zeros((len(params), P + 1))
            small = []
            for j, g in enumerate(grads):
                flat = g.detach().reshape(-1).numpy()
                proj[j, :P] = vectors[j] @ flat
                proj[j, P] = np.linalg.norm(flat)
                if flat.size <= SMALL:
                    small.append(flat)
            put(f"{run}.{task}.loss", np.asarray([loss.item()], np.float32))
            put(f"{run}.{task}.grad_proj", proj.astype(np.float32))
            put(f"{run}.{task}.grad_small", np.concatenate(small).astype(np.float32))
            print(f"{run} {task}: loss {loss.item():.6f}, |grad| "
                  f"{np.linalg.norm(proj[:, P]):.4f}, {len(params)} tensors, "
                  f"{sum(p.numel() for _, p in params)} parameters")

    meta = {
        "generator": "tests/reference/gen_generalist_golden.py",
        "torch": torch.__version__,
        "precision": "computed in float64 from float32 inputs and weights, stored as float32",
        "config": repr(CFG),
        "projections": str(P),
        "small": str(SMALL),
    }
    path = os.path.join(HERE, "..", "golden", "generalist.safetensors")
    safetensors_writer.save(path, items, meta)
    print(f"generalist.safetensors: {len(items)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
