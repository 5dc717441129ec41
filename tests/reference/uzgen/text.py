"""PyTorch twin of unizoo's text side and shared decoder: models/transformer.c
(the block), text_encoder.c, moe_ffn.c and unified_decoder.c.

Parameter names equal unizoo's, so a state_dict and a unizoo parameter file
hold the same tensors under the same names (with the same prefix, e.g. a
TextEncoder stored as attribute `text` gives "text.token_embedding.weight").
Every module computes in the default dtype (the golden scripts set float64)
and has no dropout (unizoo's eval mode). Masks are additive: 0 or -inf.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD_ID = 0
ATTR_DIM = 8
TASKS = ("classify", "detect", "caption", "retrieve")
MODALITIES = ("image", "text", "caption_query")
TOKEN_TYPES = ("image_global", "image_region", "text", "caption_query")


def attention(q, k, v, mask, causal=False):
    """softmax(q k^T / sqrt(D) + mask [+ causal]) v; a query whose keys are
    all masked gets zeros (unizoo's uz_attention; PyTorch would give NaN)."""
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s + mask
    if causal:
        keep = torch.ones(s.shape[-2], s.shape[-1], dtype=torch.bool).tril()
        s = s.masked_fill(~keep, -math.inf)
    valid = torch.isfinite(s).any(-1, keepdim=True)
    p = torch.softmax(torch.where(valid, s, torch.zeros_like(s)), -1) * valid
    return p @ v


class SelfAttention(nn.Module):
    """Fused-qkv multi-head self-attention: "qkv" [3d, d] (rows q, k, v), "proj"."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, h, mask, causal=False):
        b, t, d = h.shape
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for z in self.qkv(h).split(d, dim=-1))
        return self.proj(attention(q, k, v, mask, causal).transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    """fc -> GELU (erf) -> proj."""

    def __init__(self, d, hidden):
        super().__init__()
        self.fc = nn.Linear(d, hidden)
        self.proj = nn.Linear(hidden, d)

    def forward(self, h):
        return self.proj(F.gelu(self.fc(h)))


def moe_attribute(task, target, modality):
    """The 8-dim attribute vector: task one-hot [0..3], target bit [4],
    modality one-hot [5..7] (models/moe_ffn.h)."""
    a = torch.zeros(ATTR_DIM)
    a[TASKS.index(task)] = 1
    a[4] = 1 if target else 0
    a[5 + MODALITIES.index(modality)] = 1
    return a


class MoEFFN(nn.Module):
    """Attribute-level conditional MoE: "gate" Linear(8, E), "experts.<e>" MLPs.
    forward(x [B, T, d], segments [(len, attr [8]), ...] tiling T): each
    segment runs its top-k experts (stable order: ties to the lower index)
    weighted by their softmax probabilities, renormalised when k > 1. Written
    per segment, unlike unizoo's per-expert gathering, as an independent check."""

    def __init__(self, d, hidden, experts, top_k):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(ATTR_DIM, experts)
        self.experts = nn.ModuleList(MLP(d, hidden) for _ in range(experts))

    def routes(self, segments):
        """(probabilities [S, E], selected expert indices [S, k])."""
        probs = torch.softmax(self.gate(torch.stack([a for _, a in segments])), -1)
        sel = torch.sort(-probs.detach(), dim=-1, stable=True).indices[:, :self.top_k]
        return probs, sel

    def forward(self, x, segments):
        probs, sel = self.routes(segments)
        outs, t0 = [], 0
        for s, (n, _) in enumerate(segments):
            w = probs[s, sel[s]]
            if self.top_k > 1:
                w = w / w.sum()
            xs = x[:, t0:t0 + n]
            outs.append(sum(w[j] * self.experts[int(e)](xs) for j, e in enumerate(sel[s])))
            t0 += n
        assert t0 == x.shape[1], "segments must tile the sequence"
        return torch.cat(outs, 1)


class Block(nn.Module):
    """unizoo's transformer block: "ln1", "attn", "ln2", then "mlp" (dense)
    or "moe" (MoEFFN, forward given the segments); pre- or post-LN."""

    def __init__(self, d, heads, hidden, pre_ln, eps=1e-5, moe=None):
        super().__init__()
        self.pre_ln = pre_ln
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.attn = SelfAttention(d, heads)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        if moe is None:
            self.mlp = MLP(d, hidden)
        else:
            self.moe = MoEFFN(d, hidden, *moe)

    def ffn(self, h, segments):
        return self.mlp(h) if hasattr(self, "mlp") else self.moe(h, segments)

    def forward(self, x, mask, segments=None, causal=False):
        if self.pre_ln:
            h = x + self.attn(self.ln1(x), mask, causal)
            return h + self.ffn(self.ln2(h), segments)
        h = self.ln1(x + self.attn(x, mask, causal))
        return self.ln2(h + self.ffn(h, segments))


def padding_mask(ids, n_prefix=0):
    """ids [B, L] -> [B, 1, 1, n_prefix + L]: 0, or -inf at padding ids."""
    m = torch.zeros(ids.shape[0], 1, 1, n_prefix + ids.shape[1])
    m[:, 0, 0, n_prefix:][ids == PAD_ID] = -math.inf
    return m


class TextEncoder(nn.Module):
    """Token + learned position embeddings, post-LN blocks "layers.<i>"."""

    def __init__(self, vocab, max_len, d, heads, layers=2, hidden=None, eps=1e-5):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, d, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(max_len, d)
        self.layers = nn.ModuleList(Block(d, heads, hidden or 4 * d, False, eps)
                                    for _ in range(layers))

    def forward(self, ids, causal=False):
        """ids [B, L] -> [B, L, d]; causal for the caption context stream."""
        x = self.token_embedding(ids) + self.position_embedding.weight[:ids.shape[1]]
        mask = padding_mask(ids)
        for layer in self.layers:
            x = layer(x, mask, causal=causal)
        return x


class OutputProjection(nn.Module):
    def __init__(self, d, out_dim, eps=1e-5):
        super().__init__()
        self.ln = nn.LayerNorm(d, eps=eps)
        self.linear = nn.Linear(d, out_dim)

    def forward(self, h):
        return self.linear(self.ln(h))


class UnifiedDecoder(nn.Module):
    """g: [<SPE>, parts...] + type embeddings -> pre-LN blocks -> "ln_f".
    moe: None or (experts, top_k); out_dim: 0 for no output projection."""

    def __init__(self, d, heads, layers=2, hidden=None, moe=None, out_dim=0, tasks=1, eps=1e-5):
        super().__init__()
        self.spe = nn.Parameter(torch.zeros(d))
        self.type_embedding = nn.Embedding(len(TOKEN_TYPES), d)
        self.layers = nn.ModuleList(Block(d, heads, hidden or 4 * d, True, eps, moe)
                                    for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=eps)
        if out_dim > 0:
            self.out_proj = OutputProjection(d, out_dim, eps)
        self.logit_scale = nn.Parameter(torch.full((tasks,), math.log(1 / 0.07)))

    def forward(self, parts, mask=None):
        """parts: [(tokens [B, n, d], type name, attr [8] or None), ...]."""
        b = parts[0][0].shape[0]
        seq = [self.spe.reshape(1, 1, -1).expand(b, 1, -1)]
        seq += [t + self.type_embedding.weight[TOKEN_TYPES.index(ty)] for t, ty, _ in parts]
        # <SPE> is routed with the first part.
        segments = [(t.shape[1] + (i == 0), a) for i, (t, _, a) in enumerate(parts)]
        x = torch.cat(seq, 1)
        for layer in self.layers:
            x = layer(x, mask, segments)
        return self.ln_f(x)

    def output(self, h):
        if hasattr(self, "out_proj"):
            h = self.out_proj(h)
        return F.normalize(h, dim=-1, eps=1e-12)

    def scores(self, task, a, b):
        cos = F.normalize(a, dim=-1, eps=1e-8) @ F.normalize(b, dim=-1, eps=1e-8).T
        return cos * self.logit_scale[task].clamp(max=math.log(100)).exp()


def caption_mask(b, n_img, length, lengths):
    """[SPE, n_img image, L context, L query] -> [B, 1, T, T] of 0 / -inf
    (models/unified_decoder.h, uz_caption_mask)."""
    p = 1 + n_img
    t = p + 2 * length
    m = torch.full((b, 1, t, t), -math.inf)
    m[:, :, :, :p] = 0
    for i in range(b):
        for c in range(lengths[i]):
            m[i, 0, p + c:p + length, p + c] = 0               # context j >= c sees context c
            m[i, 0, p + length + c + 1:, p + c] = 0            # query j > c sees context c
            m[i, 0, p + length + c, p + length + c] = 0        # query c sees itself
    return m
