"""PyTorch reference for bench/bench_mclrec.c: the same MCLRec (or SASRec)
training step on the same batches, timed the same way. Run with Debian's
python3 (torch 1.13, CPU), 2 threads:

    /usr/bin/python3 bench/reference/mclrec_torch.py BATCHES_FILE \
        [--variant mclrec|sasrec] [--cut] [--step2 official|lean] \
        [--batches N] [--warmup W] [--threads 2]

BATCHES_FILE is what `bench_mclrec --dump` wrote (padded to 50: int32 b,
len, ids, lengths, targets, then both views' ids and lengths per batch);
the first W batches are warm-up, the next N are timed. --cut slices each
batch (and its views) to its longest original history, as the C side's
--cut does.

The model is the official MCLRec (QinHsiu/MCLRec mclrec.py on RecBole 0.2's
TransformerEncoder): item + learned position embeddings, LayerNorm, dropout,
post-LN layers with separate query/key/value/dense Linears, attention and
hidden dropout 0.5, erf GELU, additive -10000 causal + padding mask, the
state at len-1, full-softmax CE over item_embedding[:n_items]. These are
tests/reference/gen_sasrec_golden.py's modules with the dropouts that the
eval-only golden leaves out. The augmenters are gen_mclrec_golden.py's
Extractor (imported). The contrastive losses are the official ones, with
the 2B x 2B "not self, not partner" mask built once instead of by a Python
loop on every call (the official mask_correlated_samples): a vectorised
reimplementation, value for value the same.

The step is the official trainer's joint: 0 schedule (three updates per
batch). --step2 official runs step 2 as the official code does: the batch
and both views are encoded with gradients on (9 encoder forwards per batch)
and the backward goes through the encoder too, whose gradient is then
discarded. --step2 lean does step 2 as recsys/mclrec.c does: the views are
encoded under no_grad and the original is not encoded (8 forwards, the
backward only through the augmenters) -- the same parameter updates, less
work. Prints one JSON line like bench_mclrec's.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "reference"))
from gen_mclrec_golden import Extractor  # noqa: E402

# gen_sasrec_golden (imported by gen_mclrec_golden) makes float64 the default
# for its golden values; the benchmark trains in float32 like the C side.
torch.set_default_dtype(torch.float32)

N_ITEMS = 12101                    # Beauty's items 1..12101
HIDDEN, LAYERS, HEADS, INNER, MAX_LEN = 64, 2, 2, 256, 50
DROPOUT, EPS, LMD, BETA, TAU, LR = 0.5, 1e-12, 0.0, 0.05, 1.0, 1e-3


class MultiHeadAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = HIDDEN // HEADS
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)
        self.dense = nn.Linear(HIDDEN, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.attn_dropout = nn.Dropout(DROPOUT)
        self.out_dropout = nn.Dropout(DROPOUT)

    def split(self, x):
        return x.view(x.size(0), x.size(1), HEADS, self.head).permute(0, 2, 1, 3)

    def forward(self, x, mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head) + mask
        probs = self.attn_dropout(nn.Softmax(dim=-1)(scores))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        ctx = ctx.view(ctx.size(0), ctx.size(1), HIDDEN)
        return self.LayerNorm(self.out_dropout(self.dense(ctx)) + x)


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense_1 = nn.Linear(HIDDEN, INNER)
        self.dense_2 = nn.Linear(INNER, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, x):
        h = self.dense_1(x)
        h = h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))
        return self.LayerNorm(self.dropout(self.dense_2(h)) + x)


class TransformerLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.multi_head_attention = MultiHeadAttention()
        self.feed_forward = FeedForward()

    def forward(self, x, mask):
        return self.feed_forward(self.multi_head_attention(x, mask))


class TransformerEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([TransformerLayer() for _ in range(LAYERS)])

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class SASRec(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_items = N_ITEMS + 1    # RecBole's count includes the padding id
        self.item_embedding = nn.Embedding(self.n_items + 1, HIDDEN, padding_idx=0)
        self.position_embedding = nn.Embedding(MAX_LEN, HIDDEN)
        self.trm_encoder = TransformerEncoder()
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.dropout = nn.Dropout(DROPOUT)
        for m in self.modules():      # RecBole's _init_weights
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.data.normal_(0.0, 0.02)
            if isinstance(m, nn.Linear):
                m.bias.data.zero_()

    @staticmethod
    def attention_mask(seq):
        keep = (seq > 0).long().unsqueeze(1).unsqueeze(2)
        n = seq.size(-1)
        causal = (torch.triu(torch.ones((1, n, n)), diagonal=1) == 0).unsqueeze(1).long()
        return (1.0 - (keep * causal).float()) * -10000.0

    def forward(self, seq, lengths):
        pos = torch.arange(seq.size(1), dtype=torch.long).unsqueeze(0).expand_as(seq)
        x = self.dropout(self.LayerNorm(self.item_embedding(seq) + self.position_embedding(pos)))
        out = self.trm_encoder(x, self.attention_mask(seq))
        index = (lengths - 1).view(-1, 1, 1).expand(-1, -1, out.shape[-1])
        return out.gather(dim=1, index=index).squeeze(1)

    def rec_loss(self, h, targets):
        logits = torch.matmul(h, self.item_embedding.weight[:self.n_items].t())
        return nn.functional.cross_entropy(logits, targets)


class Contrast:
    """The official contrast / info_nce / meta_contrast_rl_1 / meta_rl with
    the negatives' mask built once per batch size."""

    def __init__(self):
        self.masks = {}

    def pos_neg(self, a, b, temp):
        n = a.shape[0]
        if n not in self.masks:
            eye = torch.eye(2 * n, dtype=torch.bool)
            self.masks[n] = ~(eye | eye.roll(n, dims=1))
        z = torch.cat((a, b), dim=0)
        sim = torch.mm(z, z.T) / temp
        pos = torch.cat((torch.diag(sim, n), torch.diag(sim, -n)), dim=0).reshape(2 * n, 1)
        return pos, sim[self.masks[n]].reshape(2 * n, -1)

    def info_nce(self, a, b, temp):
        pos, neg = self.pos_neg(a, b, temp)
        logits = torch.cat((pos, neg), dim=1)
        return nn.functional.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))

    def rl(self, a, b):
        pos, neg = self.pos_neg(a, b, TAU)
        min_pos, max_neg = pos[:, 0], neg.max(dim=-1)[0]
        margin_pos = torch.minimum(min_pos, max_neg).unsqueeze(1)
        margin_neg = torch.maximum(min_pos, max_neg).unsqueeze(1)
        return (torch.clamp(pos - margin_pos, min=0).mean() +
                torch.clamp(margin_neg - neg, min=0).mean())


def mclrec_loss(model, aug, con, batch, mode, lean):
    ids, lengths, targets, v1, l1, v2, l2 = batch
    loss = 0.0
    if mode != "step2":
        loss = model.rec_loss(model(ids, lengths), targets)
    elif not lean:
        model(ids, lengths)           # the official code encodes it and drops it
    with torch.set_grad_enabled(not (lean and mode == "step2")):
        h1, h2 = model(v1, l1), model(v2, l2)
        cl1 = con.info_nce(h1, h2, TAU)
    loss = loss + LMD * cl1
    z1, z2 = aug[0](h1), aug[1](h2)
    cl2 = con.info_nce(h1, z2, 1.0) + con.info_nce(h2, z1, 1.0) + con.info_nce(z1, z2, 1.0)
    reg = 0.1 * (con.rl(h1, z2) + con.rl(h2, z1) + con.rl(z1, z2))
    return loss + (cl2 + reg if mode == "step2" else BETA * (cl2 + reg))


def set_trainable(module, on):
    for p in module.parameters():
        p.requires_grad = on


def read_batches(path, count, cut):
    raw = np.fromfile(path, dtype="<i4")
    out, at = [], 0
    while at < raw.size and len(out) < count:
        b, w = int(raw[at]), int(raw[at + 1])
        at += 2
        parts = []
        for size in (b * w, b, b, b * w, b, b * w, b):
            parts.append(raw[at:at + size])
            at += size
        ids, lengths, targets, v1, l1, v2, l2 = parts
        width = int(lengths.max()) if cut else w
        t = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
        grid = lambda a: t(a.reshape(b, w)[:, :width].copy())  # noqa: E731
        out.append((grid(ids), t(lengths), t(targets), grid(v1), t(l1), grid(v2), t(l2)))
    if len(out) < count:
        sys.exit(f"{path}: {len(out)} batches, {count} needed")
    return out


def encoder_flop(b, width):
    """bench_mclrec.c's count: per token and layer 8 d^2 + 4 d inner + 4 len d."""
    return b * width * LAYERS * (8 * HIDDEN * HIDDEN + 4 * HIDDEN * INNER + 4 * width * HIDDEN)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("batches_file")
    ap.add_argument("--variant", choices=("mclrec", "sasrec"), default="mclrec")
    ap.add_argument("--cut", action="store_true")
    ap.add_argument("--step2", choices=("official", "lean"), default="official")
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epoch-batches", type=int, default=514)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(2020)
    batches = read_batches(a.batches_file, a.warmup + a.batches, a.cut)
    lean = a.step2 == "lean"

    model = SASRec()
    aug = [Extractor(HIDDEN), Extractor(HIDDEN)]
    con = Contrast()
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=0)
    opt_aug = torch.optim.Adam([{"params": aug[0].parameters()},
                                {"params": aug[1].parameters()}], lr=LR, weight_decay=0)
    model.train()

    def step(batch):
        if a.variant == "sasrec":
            opt.zero_grad()
            loss = model.rec_loss(model(batch[0], batch[1]), batch[2])
            loss.backward()
            opt.step()
            return
        for mode, optimizer in (("step1", opt), ("step2", opt_aug), ("step3", opt)):
            optimizer.zero_grad()
            for m in aug:
                set_trainable(m, mode == "step2")
            loss = mclrec_loss(model, aug, con, batch, mode, lean)
            loss.backward()
            optimizer.step()

    times, flop = [], 0.0
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        step(batch)
        t1 = time.perf_counter()
        if i >= a.warmup:
            times.append((t1 - t0) * 1e3)
            b, width = batch[0].shape
            f = encoder_flop(b, width)
            ce = 2.0 * b * HIDDEN * (N_ITEMS + 1)
            if a.variant == "sasrec":
                flop += 3 * (f + ce)
            else:
                # Steps 1 and 3: 3 x (3F + CE); step 2: official 3F forward
                # + backward through the 2 views (4F), lean 2F.
                flop += 2 * 3 * (3 * f + ce) + (2 * f if lean else 7 * f)
    mean = statistics.mean(times)
    gflop = flop / len(times) * 1e-9
    case = "%s_%s" % (a.variant, "cut" if a.cut else "pad")
    if a.variant == "mclrec" and lean:
        case += "_lean"
    print(json.dumps({
        "impl": "torch", "case": case, "threads": torch.get_num_threads(),
        "batches": len(times), "ms_mean": round(mean, 1),
        "ms_median": round(statistics.median(times), 1), "ms_min": round(min(times), 1),
        "epoch_batches": a.epoch_batches, "epoch_s": round(mean * 1e-3 * a.epoch_batches, 1),
        "gflop_batch": round(gflop, 2), "gflops": round(gflop / (mean * 1e-3), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch": torch.__version__}))


if __name__ == "__main__":
    main()
