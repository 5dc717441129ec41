"""PyTorch twin of unizoo's generalist assembly: models/generalist_net.c (the
shared passes) and models/generalist_loss.c (the four training losses), on
top of the block twins in vision.py and text.py.

Parameter names equal unizoo's: the image encoder under "image.", the text
encoder under "text.", the unified decoder under "decoder.". Every module
computes in the default dtype (the golden scripts set float64) without
dropout. The losses take the batch as plain arrays (what the C side reads
from its uz_gen_data) and also return what a golden generator must check for
margins: the Hungarian matchings with their cost gaps.
"""
import itertools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import text as uzt
from . import vision

TASKS = uzt.TASKS
N_CLASSES = 10          # UZ_GEN_CLASSES: the class names; row 10 is "background"
IGNORE = -100
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0


def focal_loss(logits, targets, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA):
    """torchvision.ops.sigmoid_focal_loss, reduction "none"."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * ce * (1 - p_t) ** gamma


def cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def giou_loss(pred, target, eps=1e-7):
    """torchvision.ops.generalized_box_iou_loss (reduction "none") of cxcywh
    rows converted to corners (vision/boxes.h, uz_box_giou_loss)."""
    x1, y1, x2, y2 = cxcywh_to_xyxy(pred).unbind(-1)
    x1g, y1g, x2g, y2g = cxcywh_to_xyxy(target).unbind(-1)
    xk1, yk1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xk2, yk2 = torch.min(x2, x2g), torch.min(y2, y2g)
    inter = torch.where((yk2 > yk1) & (xk2 > xk1), (xk2 - xk1) * (yk2 - yk1),
                        torch.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    area_c = (torch.max(x2, x2g) - torch.min(x1, x1g)) * (torch.max(y2, y2g) - torch.min(y1, y1g))
    return 1 - (iou - (area_c - union) / (area_c + eps))


def giou_matrix(a, b):
    """GIoU of every cxcywh row of a [n, 4] with every row of b [m, 4] -> [n, m]
    (uz_box_giou_matrix: no eps, empty intersections 0)."""
    a, b = cxcywh_to_xyxy(a)[:, None], cxcywh_to_xyxy(b)[None]
    iw = (torch.min(a[..., 2], b[..., 2]) - torch.max(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.min(a[..., 3], b[..., 3]) - torch.max(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    cw = torch.max(a[..., 2], b[..., 2]) - torch.min(a[..., 0], b[..., 0])
    ch = torch.max(a[..., 3], b[..., 3]) - torch.min(a[..., 1], b[..., 1])
    c = cw * ch
    return inter / union - (c - union) / c


def brute_force_assignment(cost):
    """Minimum-cost matching of the G columns of cost [Q, G] (G <= Q) to
    distinct rows, by enumeration: (rows[g] for each column g, the gap to
    the second-best assignment, inf when there is no other)."""
    q, g = cost.shape
    totals = []
    for rows in itertools.permutations(range(q), g):
        totals.append((sum(float(cost[r, j]) for j, r in enumerate(rows)), rows))
    totals.sort(key=lambda t: t[0])
    gap = totals[1][0] - totals[0][0] if len(totals) > 1 else math.inf
    return totals[0][1], gap


class Generalist(nn.Module):
    """cfg: a dict with the uz_gen_config fields (channels, width, heads,
    widths, queries, rpn_layers, pools, text_layers, decoder_layers, vocab,
    text_len, caption_len, moe, experts, top_k, cost_obj, cost_l1, cost_giou,
    w_obj, w_l1, w_giou, bg_weight)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["width"]
        self.image = vision.ImageEncoder(cfg["channels"], cfg["widths"], d, cfg["heads"], 4 * d,
                                         cfg["queries"], cfg["rpn_layers"], cfg["pools"])
        self.text = uzt.TextEncoder(cfg["vocab"], max(cfg["caption_len"], cfg["text_len"]), d,
                                    cfg["heads"], cfg["text_layers"])
        moe = (cfg["experts"], cfg["top_k"]) if cfg["moe"] else None
        self.decoder = uzt.UnifiedDecoder(d, cfg["heads"], cfg["decoder_layers"], moe=moe,
                                          out_dim=d, tasks=len(TASKS))

    # ---- generalist_net.c --------------------------------------------------------------

    @staticmethod
    def attr(task, target, modality):
        return uzt.moe_attribute(task, target, modality)

    def image_parts(self, task, enc):
        a = self.attr(task, False, "image")
        ng = enc["n_global"]
        return [(enc["tokens"][:, :ng], "image_global", a),
                (enc["tokens"][:, ng:], "image_region", a)]

    def decode_image(self, task, enc):
        return self.decoder(self.image_parts(task, enc))

    def spe(self, h):
        return self.decoder.output(h[:, 0])

    def image_embedding(self, task, images):
        enc = self.image(images)
        return self.spe(self.decode_image(task, enc)), enc

    def embed_texts(self, task, target, ids):
        """ids [n, len] (long) -> normalised <SPE> outputs [n, D]."""
        t = self.text(ids)
        mask = uzt.padding_mask(ids, 1)
        return self.spe(self.decoder([(t, "text", self.attr(task, target, "text"))], mask))

    def embed_vocab(self, n_pieces):
        ids = torch.arange(n_pieces)[:, None]
        return self.embed_texts("caption", True, ids)

    def caption_queries(self, enc, ids, lengths):
        """enc of B images, ids [B, L], lengths [B] -> query outputs [B, L, D]."""
        b, length = ids.shape
        parts = self.image_parts("caption", enc)
        context = self.text(ids, causal=True)
        queries = self.text.position_embedding.weight[:length].expand(b, length, -1)
        parts += [(context, "text", self.attr("caption", False, "text")),
                  (queries, "caption_query", self.attr("caption", False, "caption_query"))]
        n_img = enc["tokens"].shape[1]
        h = self.decoder(parts, uzt.caption_mask(b, n_img, length, lengths))
        return self.decoder.output(h[:, 1 + n_img + length:])

    # ---- generalist_loss.c -------------------------------------------------------------

    def classify_loss(self, images, labels, class_ids):
        """images [n, C, S, S] normalised, labels [n], class_ids [11, text_len]."""
        a, _ = self.image_embedding("classify", images)
        c = self.embed_texts("classify", True, class_ids[:N_CLASSES])
        s = self.decoder.scores(TASKS.index("classify"), a, c)
        return F.cross_entropy(s, labels), {}

    def proposal_loss(self, logits, boxes, truth):
        """One prediction set (logits [B, Q], boxes [B, Q, 4]) against truth
        (start [B + 1], boxes [G, 4] cxcywh, cls [G]): the focal-cost
        Hungarian matching per image and the focal + L1 + GIoU loss, each
        summed over the batch and divided by the number of true boxes.
        Returns (loss, match [B * Q] of truth rows or -1, smallest gap)."""
        cfg = self.cfg
        B, Q = logits.shape
        start, tboxes = truth["start"], truth["boxes"]
        total = int(start[-1])
        match = [-1] * (B * Q)
        min_gap = math.inf
        lv, bv = logits.detach(), boxes.detach()
        for b in range(B):
            g0, G = int(start[b]), int(start[b + 1] - start[b])
            if G == 0:
                continue
            p = torch.sigmoid(lv[b])
            pos = FOCAL_ALPHA * (1 - p) ** FOCAL_GAMMA * -torch.log(p + 1e-8)
            neg = (1 - FOCAL_ALPHA) * p ** FOCAL_GAMMA * -torch.log(1 - p + 1e-8)
            tb = tboxes[g0:g0 + G]
            l1 = (bv[b][:, None] - tb[None]).abs().sum(-1)
            cost = (cfg["cost_obj"] * (pos - neg)[:, None] + cfg["cost_l1"] * l1
                    - cfg["cost_giou"] * giou_matrix(bv[b], tb))
            rows, gap = brute_force_assignment(cost)
            min_gap = min(min_gap, gap)
            for j, q in enumerate(rows):
                match[b * Q + q] = g0 + j
        target = torch.zeros(B * Q)
        matched = [i for i in range(B * Q) if match[i] >= 0]
        target[matched] = 1
        norm = 1.0 / max(total, 1)
        loss = focal_loss(logits.reshape(-1), target).sum() * (cfg["w_obj"] * norm)
        if matched:
            pred = boxes.reshape(B * Q, 4)[matched]
            want = tboxes[[match[i] for i in matched]]
            loss = loss + (pred - want).abs().sum() * (cfg["w_l1"] * norm)
            loss = loss + giou_loss(pred, want).sum() * (cfg["w_giou"] * norm)
        return loss, match, min_gap

    def detect_loss(self, images, truth, class_ids):
        """truth: start [n + 1], boxes [G, 4] cxcywh relative, cls [G] class
        indices. Auxiliary sets first (the selected encoder proposals, then
        every layer), the last layer's matching decides the classification
        targets."""
        cfg = self.cfg
        enc = self.image(images)
        sel = enc["selected"]
        el = enc["enc_logits"].gather(1, sel)
        eb = enc["enc_boxes"].gather(1, sel[..., None].expand(-1, -1, 4))
        loss, match, gap = self.proposal_loss(el, eb, truth)
        matches, gaps = [match], [gap]
        for logits, boxes in zip(enc["layer_logits"], enc["layer_boxes"]):
            l, match, gap = self.proposal_loss(logits, boxes, truth)
            loss = loss + l
            matches.append(match)
            gaps.append(gap)
        n, Q = sel.shape
        h = self.decode_image("detect", enc)
        ng = enc["n_global"]
        a = self.decoder.output(h[:, 1 + ng:1 + ng + Q].reshape(n * Q, -1))
        c = self.embed_texts("detect", True, class_ids)
        s = self.decoder.scores(TASKS.index("detect"), a, c)
        fg = torch.tensor([int(truth["cls"][m]) if m >= 0 else IGNORE for m in match])
        bg = torch.tensor([IGNORE if m >= 0 else N_CLASSES for m in match])
        n_fg = sum(m >= 0 for m in match)
        w_fg, w_bg = float(n_fg), cfg["bg_weight"] * (n * Q - n_fg)
        if n_fg > 0:
            loss = loss + F.cross_entropy(s, fg, ignore_index=IGNORE) * (w_fg / (w_fg + w_bg))
        if n_fg < n * Q:
            loss = loss + F.cross_entropy(s, bg, ignore_index=IGNORE) * (w_bg / (w_fg + w_bg))
        return loss, {"enc": enc, "matches": matches, "gaps": gaps}

    def caption_loss(self, images, ids, lengths, n_pieces):
        """images [n, ...] (each caption's image), ids [n, L] (right-padded,
        eos included), lengths [n]: query j predicts token j."""
        n, length = ids.shape
        y = ids.clone()
        for i in range(n):
            y[i, lengths[i]:] = IGNORE
        enc = self.image(images)
        q = self.caption_queries(enc, ids, lengths).reshape(n * length, -1)
        v = self.embed_vocab(n_pieces)
        s = self.decoder.scores(TASKS.index("caption"), q, v)
        return F.cross_entropy(s, y.reshape(-1), ignore_index=IGNORE), {"enc": enc}

    def retrieve_loss(self, images, ids):
        """images [n, ...], ids [n, L]: caption i is image i's (the C side
        draws one of the image's captions; the golden data gives each
        retrieval image exactly one)."""
        a, enc = self.image_embedding("retrieve", images)
        b = self.embed_texts("retrieve", True, ids)
        s = self.decoder.scores(TASKS.index("retrieve"), a, b)
        diag = torch.arange(s.shape[0])
        return 0.5 * (F.cross_entropy(s, diag) + F.cross_entropy(s.T, diag)), {"enc": enc}
