"""PyTorch reference for bench/bench_generalist.c: the generalist's twin
(tests/reference/uzgen/generalist.py, the same parameter names, passes and
losses as models/generalist*.c) on the same data, from the same initial
weights, timed the same way. Run with Debian's python3 (torch 1.13, CPU):

    /usr/bin/python3 bench/reference/generalist_torch.py DIR \
        [--tasks classify,detect,caption,retrieve] [--mode train|infer|both] \
        [--steps N] [--reps N] [--warmup W] [--threads 2] [--flops]

DIR is what `bench_generalist --dump DIR` wrote: data.safetensors (the
digit and scene pools, boxes, captions, class names and every task's batch
order) and params.safetensors (the C side's initial weights, loaded here by
name). Inference first (no_grad, eval mode): per task REPS calls on the
first batch of the task's order after WARMUP untimed ones -- classification
(image embedding, the 10 class names through text encoder and g, cosine
scores, softmax), detection (image encoder, g over the image tokens, every
proposal against the names + background, objectness x best class),
greedy captioning (the image and the 225 pieces encoded once, then the
two-stream pass re-run for each of up to caption_len steps, where unizoo
encodes <SPE> and the image tokens once) and the retrieval image embedding. Then
training: per task WARMUP + STEPS steps, each the loss, backward,
torch.optim.AdamW (defaults, lr 1e-4) step and zero_grad. One JSON line per
task and mode, like bench_generalist's (wall and process CPU time).

Two parts of the twin are written for golden checks, not speed, and would
time Python instead of the model, so they are replaced here by the way a
PyTorch detector does them, value for value the same: the Hungarian
matching (the twin enumerates permutations) is DETR's HungarianMatcher --
the whole batch's cost matrix at once (cdist for L1), then
scipy.optimize.linear_sum_assignment per image (a pure-Python Hungarian
when scipy is missing; the JSON says which); and the two-stream caption mask
(a Python loop per caption and token in the twin) is built with broadcast
comparisons (checked against the twin's at start).

--flops counts, with torch.profiler, the multiply-adds of every matmul and
convolution (aten::mm, addmm, bmm, baddbmm, conv2d, x2 FLOPs each) of one
forward per task; a training step is taken as 3x its forward.
"""
import argparse
import json
import math
import os
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
from uzgen import generalist as uzg  # noqa: E402
from uzgen import text as uzt  # noqa: E402

try:
    from scipy.optimize import linear_sum_assignment
    MATCHER = "scipy"
except ImportError:  # pragma: no cover - depends on the machine
    linear_sum_assignment = None
    MATCHER = "python"

torch.set_default_dtype(torch.float32)

TASKS = uzg.TASKS
CFG = dict(channels=1, cls_size=32, scene_size=64, width=128, heads=4, widths=(16, 32, 64, 128),
           rpn_layers=2, queries=16, pools=2, text_layers=2, decoder_layers=2, vocab=512,
           text_len=8, caption_len=16, moe=True, experts=4, top_k=2, cost_obj=2.0,
           cost_l1=5.0, cost_giou=2.0, w_obj=1.0, w_l1=5.0, w_giou=2.0, bg_weight=0.1)
LR = 1e-4
FLOP_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::conv2d"}
_NP = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "U8": np.uint8, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        lo, hi = e["data_offsets"]
        out[name] = np.frombuffer(data[lo:hi], dtype=_NP[e["dtype"]]).reshape(e["shape"])
    return out, meta


def hungarian(cost):
    """Minimum-cost assignment of the columns of cost [Q, G] (G <= Q) to
    distinct rows: (rows, cols). scipy's, or the O(G^2 Q) shortest
    augmenting path method when scipy is missing."""
    if linear_sum_assignment is not None:
        return linear_sum_assignment(cost)
    c = cost.T.tolist()                       # G rows (truth) x Q columns (queries)
    n, m = len(c), len(c[0])
    u, v, p, way = [0.0] * (n + 1), [0.0] * (m + 1), [0] * (m + 1), [0] * (m + 1)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = [math.inf] * (m + 1), [False] * (m + 1)
        while p[j0]:
            used[j0], i0, delta, j1 = True, p[j0], math.inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = c[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    pairs = sorted((j - 1, p[j] - 1) for j in range(1, m + 1) if p[j])
    return np.array([q for q, _ in pairs]), np.array([g for _, g in pairs])


def fast_caption_mask(b, n_img, length, lengths):
    """uzt.caption_mask by broadcasting: context j sees context c <= j, query
    j sees context c < j and itself, all only for c < the caption's length."""
    p = 1 + n_img
    t = p + 2 * length
    j = torch.arange(length)[:, None]
    c = torch.arange(length)[None, :]
    valid = c[None] < torch.as_tensor(lengths).reshape(-1, 1, 1)
    zero, ninf = torch.tensor(0.0), torch.tensor(-math.inf)
    m = torch.full((b, 1, t, t), -math.inf)
    m[:, :, :, :p] = 0
    m[:, 0, p:p + length, p:p + length] = torch.where((c <= j)[None] & valid, zero, ninf)
    m[:, 0, p + length:, p:p + length] = torch.where((c < j)[None] & valid, zero, ninf)
    m[:, 0, p + length:, p + length:] = torch.where((c == j)[None] & valid, zero, ninf)
    return m


class BenchGeneralist(uzg.Generalist):
    def proposal_loss(self, logits, boxes, truth):
        """The twin's proposal_loss with DETR's batched matcher."""
        cfg = self.cfg
        B, Q = logits.shape
        start, tboxes = truth["start"], truth["boxes"]
        total = int(start[-1])
        match = np.full(B * Q, -1, dtype=np.int64)
        if total:
            with torch.no_grad():
                p = torch.sigmoid(logits.reshape(-1))
                pos = uzg.FOCAL_ALPHA * (1 - p) ** uzg.FOCAL_GAMMA * -torch.log(p + 1e-8)
                neg = (1 - uzg.FOCAL_ALPHA) * p ** uzg.FOCAL_GAMMA * -torch.log(1 - p + 1e-8)
                flat = boxes.detach().reshape(B * Q, 4)
                cost = (cfg["cost_obj"] * (pos - neg)[:, None]
                        + cfg["cost_l1"] * torch.cdist(flat, tboxes, p=1)
                        - cfg["cost_giou"] * uzg.giou_matrix(flat, tboxes))
                cost = cost.reshape(B, Q, total).numpy()
            for b in range(B):
                g0, g1 = int(start[b]), int(start[b + 1])
                if g1 > g0:
                    rows, cols = hungarian(cost[b, :, g0:g1])
                    match[b * Q + rows] = g0 + cols
        matched = np.nonzero(match >= 0)[0]
        target = torch.from_numpy((match >= 0).astype(np.float32))
        norm = 1.0 / max(total, 1)
        loss = uzg.focal_loss(logits.reshape(-1), target).sum() * (cfg["w_obj"] * norm)
        if len(matched):
            pred = boxes.reshape(B * Q, 4)[torch.from_numpy(matched)]
            want = tboxes[torch.from_numpy(match[matched])]
            loss = loss + (pred - want).abs().sum() * (cfg["w_l1"] * norm)
            loss = loss + uzg.giou_loss(pred, want).sum() * (cfg["w_giou"] * norm)
        return loss, match.tolist(), math.inf


class Bench:
    def __init__(self, folder):
        self.data, meta = read_safetensors(os.path.join(folder, "data.safetensors"))
        params, _ = read_safetensors(os.path.join(folder, "params.safetensors"))
        self.pieces, self.eos = int(meta["pieces"]), int(meta["eos"])
        self.banned = [int(v) for v in meta["banned"].split(",")]
        self.model = BenchGeneralist(CFG)
        self.model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()},
                                   strict=True)
        self.model.eval()
        d = self.data
        self.class_ids = torch.from_numpy(d["classes.ids"].astype(np.int64))
        self.order = d["order"]
        self.starts = d["truth.start"].astype(np.int64)
        self.rng = np.random.default_rng(2024)

    @staticmethod
    def normalise(pixels):
        """uint8 -> float, p * (2 / 255) - 1, as uz_gen_images_batch."""
        return torch.from_numpy(pixels).float() * (2.0 / 255.0) - 1.0

    def scenes(self, idx):
        return self.normalise(self.data["scenes.images"][idx])

    def truth(self, idx):
        start, rows = [0], []
        for i in idx:
            rows.extend(range(self.starts[i], self.starts[i + 1]))
            start.append(len(rows))
        return dict(start=np.asarray(start), boxes=torch.from_numpy(self.data["truth.boxes"][rows]),
                    cls=self.data["truth.cls"][rows])

    def loss(self, task, idx):
        d, m = self.data, self.model
        if task == "classify":
            x = self.normalise(d["digits.images"][idx])
            y = torch.from_numpy(d["digits.labels"][idx].astype(np.int64))
            return m.classify_loss(x, y, self.class_ids)[0]
        if task == "detect":
            return m.detect_loss(self.scenes(idx), self.truth(idx), self.class_ids)[0]
        if task == "caption":
            images = d["captions.image"][idx]
            ids = torch.from_numpy(d["captions.ids"][idx].astype(np.int64))
            lengths = d["captions.lengths"][idx].tolist()
            return m.caption_loss(self.scenes(images), ids, lengths, self.pieces)[0]
        # One of each image's captions, drawn (the C side draws from its stream).
        rows = [3 * int(i) + int(self.rng.integers(3)) for i in idx]
        ids = torch.from_numpy(d["captions.ids"][rows].astype(np.int64))
        return m.retrieve_loss(self.scenes(idx), ids)[0]

    # ---- inference (no_grad) ----

    def classify(self, x):
        m = self.model
        a, _ = m.image_embedding("classify", x)
        c = m.embed_texts("classify", True, self.class_ids[:uzg.N_CLASSES])
        return torch.softmax(m.decoder.scores(TASKS.index("classify"), a, c), -1)

    def detect(self, x):
        m = self.model
        enc = m.image(x)
        B, Q = enc["logits"].shape
        ng = enc["n_global"]
        h = m.decode_image("detect", enc)
        a = m.decoder.output(h[:, 1 + ng:1 + ng + Q].reshape(B * Q, -1))
        c = m.embed_texts("detect", True, self.class_ids)
        p = torch.softmax(m.decoder.scores(TASKS.index("detect"), a, c), -1)
        best, cls = p[:, :uzg.N_CLASSES].max(-1)
        return best * torch.sigmoid(enc["logits"].reshape(-1)), cls, enc["boxes"]

    def caption_greedy(self, x):
        m, L = self.model, CFG["caption_len"]
        enc = m.image(x)
        enc = dict(tokens=enc["tokens"], n_global=enc["n_global"])
        v = m.embed_vocab(self.pieces)
        B = x.shape[0]
        ids = torch.zeros(B, L, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        lengths = torch.full((B,), L, dtype=torch.long)
        steps = 0
        for t in range(L):
            q = m.caption_queries(enc, ids, [t + 1] * B)[:, t]
            s = m.decoder.scores(TASKS.index("caption"), q, v)
            s[:, self.banned] = -math.inf
            best = torch.log_softmax(s, -1).argmax(-1)
            ids[:, t] = torch.where(done, ids[:, t], best)
            newly = ~done & (best == self.eos)
            lengths[newly] = t + 1
            done |= newly
            steps = t + 1
            if bool(done.all()):
                break
        return ids, lengths, steps

    def retrieve(self, x):
        return self.model.image_embedding("retrieve", x)[0]

    def infer_input(self, task, batch):
        idx = self.order[TASKS.index(task), 0, :batch]
        if task == "caption":
            idx = self.data["captions.image"][idx]
        key = "digits.images" if task == "classify" else "scenes.images"
        return self.normalise(self.data[key][idx])

    def infer_once(self, task, x):
        out = getattr(self, {"caption": "caption_greedy"}.get(task, task))(x)
        return out[2] if task == "caption" else 0


def count_flops(run):
    with torch.profiler.profile(with_flops=True) as prof:
        run()
    return float(sum(e.flops for e in prof.key_averages() if e.key in FLOP_OPS))


def report(mode, task, a, times, cpu, loss0=None, steps=0, gflop=None):
    times = sorted(times)
    row = {"impl": "torch", "mode": mode, "task": task, "threads": torch.get_num_threads(),
           "batch": a.batch, "runs": len(times), "ms_min": round(times[0], 2),
           "ms_median": round(statistics.median(times), 2), "cpu_ms_min": round(min(cpu), 2),
           "images_per_s": round(1e3 * a.batch / times[0], 1), "loss0": loss0,
           "decode_steps": steps,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "matcher": MATCHER, "torch": torch.__version__}
    if gflop is not None:
        row["gflop"] = round(gflop, 3)
    print(json.dumps(row), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--mode", choices=("train", "infer", "both"), default="both")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flops", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(2024)
    tasks = [t for t in TASKS if t in a.tasks.split(",")]
    uzt.caption_mask = fast_caption_mask
    bench = Bench(a.folder)
    total, a.batch = bench.order.shape[1], bench.order.shape[2]
    lens = [16, 3, 9, 1]
    if not torch.equal(fast_caption_mask(4, 5, 16, lens), ORIGINAL_CAPTION_MASK(4, 5, 16, lens)):
        sys.exit("generalist_torch.py: the broadcast caption mask differs from the twin's")
    if a.warmup + a.steps > total:
        sys.exit(f"generalist_torch.py: {a.warmup + a.steps} batches asked, the dump has {total}")

    if a.mode in ("infer", "both"):
        for task in tasks:
            x = bench.infer_input(task, a.batch)
            times, cpu, steps = [], [], 0
            with torch.no_grad():
                for i in range(a.warmup + a.reps):
                    t0, c0 = time.perf_counter(), time.process_time()
                    steps = bench.infer_once(task, x)
                    t1, c1 = time.perf_counter(), time.process_time()
                    if i >= a.warmup:
                        times.append((t1 - t0) * 1e3)
                        cpu.append((c1 - c0) * 1e3)
                gflop = (count_flops(lambda: bench.infer_once(task, x)) * 1e-9
                         if a.flops else None)
            report("infer", task, a, times, cpu, steps=steps, gflop=gflop)

    if a.mode in ("train", "both"):
        model = bench.model
        opt = torch.optim.AdamW(model.parameters(), lr=LR)
        for task in tasks:
            order = bench.order[TASKS.index(task)]
            times, cpu, loss0 = [], [], None
            for i in range(a.warmup + a.steps):
                t0, c0 = time.perf_counter(), time.process_time()
                loss = bench.loss(task, order[i])
                loss.backward()
                opt.step()
                opt.zero_grad()
                t1, c1 = time.perf_counter(), time.process_time()
                if i == 0:
                    loss0 = round(loss.item(), 6)
                if i >= a.warmup:
                    times.append((t1 - t0) * 1e3)
                    cpu.append((c1 - c0) * 1e3)
            gflop = None
            if a.flops:
                gflop = 3e-9 * count_flops(lambda: bench.loss(task, order[0]))
            report("train", task, a, times, cpu, loss0=loss0, gflop=gflop)


ORIGINAL_CAPTION_MASK = uzt.caption_mask

if __name__ == "__main__":
    main()
