"""PyTorch twin of unizoo's image encoder: models/backbone.c, detr_decoder.c,
region_proposal.c, box_encoding.c, attn_pool.c and image_encoder.c.

Parameter names equal unizoo's, so a state_dict and a unizoo parameter file
hold the same tensors under the same names. Every module computes in the
default dtype (the golden scripts set float64). Constants (sine encodings,
anchors) are computed from the same formulas as the C code; boxes that seed
or position the queries are detached exactly where the C code copies values.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- fixed sine encodings (models/sine_encoding.c) ---------------------------------

def sine_encode(v, feats):
    """v [...] -> [..., feats]: sin(v / 10000^(2k/feats)), cos(same), k < feats/2,
    interleaved (DETR's PositionEmbeddingSine and DINO's gen_sineembed_for_position)."""
    k = torch.arange(feats, dtype=v.dtype)
    dim_t = 10000.0 ** (2 * torch.div(k, 2, rounding_mode="floor") / feats)
    x = v[..., None] / dim_t
    return torch.stack((x[..., 0::2].sin(), x[..., 1::2].cos()), dim=-1).flatten(-2)


def sine_position_2d(h, w, d):
    """DETR's PositionEmbeddingSine(d/2, normalize=True, scale=2pi) for an
    unpadded h x w map, as [h*w, d]: the y encoding, then the x encoding."""
    scale, eps = 2 * math.pi, 1e-6
    y = torch.arange(1, h + 1, dtype=torch.get_default_dtype()) / (h + eps) * scale
    x = torch.arange(1, w + 1, dtype=torch.get_default_dtype()) / (w + eps) * scale
    pos_y = sine_encode(y, d // 2)[:, None, :].expand(h, w, d // 2)
    pos_x = sine_encode(x, d // 2)[None, :, :].expand(h, w, d // 2)
    return torch.cat((pos_y, pos_x), -1).reshape(h * w, d)


def sine_encode_boxes(boxes, feats):
    """boxes [..., 4] (cx, cy, w, h in (0, 1)) -> [..., 4 feats], each number times 2pi."""
    return torch.cat([sine_encode(boxes[..., i] * 2 * math.pi, feats) for i in range(4)], -1)


def inverse_sigmoid(x, eps=1e-5):
    """Deformable DETR's clamped logit."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def anchor_boxes(h, w, size):
    """[h*w, 4]: each cell's centre, side `size` (relative to the image)."""
    cy = (torch.arange(h, dtype=torch.get_default_dtype()) + 0.5) / h
    cx = (torch.arange(w, dtype=torch.get_default_dtype()) + 0.5) / w
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    side = torch.full_like(cx, size)
    return torch.stack((cx, cy, side, side), -1).reshape(h * w, 4)


class MLP(nn.Module):
    """models/mlp.c: Linear layers fc0, fc1, ... with ReLU between them."""

    def __init__(self, sizes):
        super().__init__()
        self.n = len(sizes) - 1
        for i in range(self.n):
            setattr(self, f"fc{i}", nn.Linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        for i in range(self.n):
            x = getattr(self, f"fc{i}")(x)
            if i + 1 < self.n:
                x = F.relu(x)
        return x


# ---- backbone -------------------------------------------------------------------------

class ConvStage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 2, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class Backbone(nn.Module):
    """conv3x3 s1 stem, then three stages (conv3x3 s2, conv3x3 s1), ReLU after
    each conv; returns the stage outputs F1 (H/2), F2 (H/4), F3 (H/8)."""

    def __init__(self, channels, widths):
        super().__init__()
        self.stem = nn.Conv2d(channels, widths[0], 3, 1, 1)
        self.stages = nn.ModuleList(ConvStage(widths[i], widths[i + 1]) for i in range(3))

    def forward(self, x):
        x = F.relu(self.stem(x))
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


# ---- DETR decoder layer -------------------------------------------------------------

class DetrDecoderLayer(nn.Module):
    """DETR's post-LN decoder layer (forward_post) with GELU in the FFN."""

    def __init__(self, d, heads, ffn, dropout=0.0, eps=1e-5):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.linear1 = nn.Linear(d, ffn)
        self.linear2 = nn.Linear(ffn, d)
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.norm2 = nn.LayerNorm(d, eps=eps)
        self.norm3 = nn.LayerNorm(d, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tgt, query_pos, memory, memory_pos, key_padding_mask=None):
        q = tgt + query_pos
        h = self.self_attn(q, q, tgt, need_weights=False)[0]
        tgt = self.norm1(tgt + self.dropout(h))
        h = self.cross_attn(tgt + query_pos, memory + memory_pos, memory,
                            key_padding_mask=key_padding_mask, need_weights=False)[0]
        tgt = self.norm2(tgt + self.dropout(h))
        h = self.linear2(F.gelu(self.linear1(tgt)))
        return self.norm3(tgt + self.dropout(h))


# ---- region proposals ------------------------------------------------------------------

class RegionProposal(nn.Module):
    """Two-stage DETR with binary objectness over the memory of F2 and F3.
    query_content: "learned" (DINO's tgt_embed) or "selected" (MaskDINO: the
    selected tokens' encoder outputs, detached)."""

    def __init__(self, c2, c3, d, heads, ffn, n_queries, n_layers, anchor_size=0.1,
                 dropout=0.0, eps=1e-5, query_content="learned"):
        super().__init__()
        self.d, self.n_queries, self.anchor_size = d, n_queries, anchor_size
        self.query_content = query_content
        self.input_proj = nn.ModuleList([nn.Conv2d(c2, d, 1), nn.Conv2d(c3, d, 1)])
        self.level_embed = nn.Parameter(torch.randn(2, d))
        self.enc_output = nn.Linear(d, d)
        self.enc_output_norm = nn.LayerNorm(d, eps=eps)
        self.enc_score_head = nn.Linear(d, 1)
        self.enc_bbox_head = MLP([d, d, d, 4])
        if query_content == "learned":
            self.tgt_embed = nn.Embedding(n_queries, d)
        self.ref_point_head = MLP([2 * d, d, d])
        self.layers = nn.ModuleList(DetrDecoderLayer(d, heads, ffn, dropout, eps)
                                    for _ in range(n_layers))
        self.score_head = nn.Linear(d, 1)
        self.bbox_head = MLP([d, d, d, 4])

    def forward(self, f2, f3):
        B = f2.shape[0]
        mem, pos, anchors = [], [], []
        for level, f in enumerate((f2, f3)):
            h, w = f.shape[-2:]
            mem.append(self.input_proj[level](f).flatten(2).transpose(1, 2))
            pos.append(sine_position_2d(h, w, self.d) + self.level_embed[level])
            anchors.append(anchor_boxes(h, w, self.anchor_size * 2 ** level))
        memory, memory_pos, anchors = torch.cat(mem, 1), torch.cat(pos, 0), torch.cat(anchors, 0)

        out = self.enc_output_norm(self.enc_output(memory))
        enc_logits = self.enc_score_head(out).squeeze(-1)
        enc_boxes = (self.enc_bbox_head(out) + inverse_sigmoid(anchors)).sigmoid()

        order = torch.sort(enc_logits.detach(), dim=1, descending=True, stable=True)[1]
        selected = order[:, :self.n_queries]
        ref = torch.gather(enc_boxes.detach(), 1, selected[..., None].expand(-1, -1, 4))
        if self.query_content == "learned":
            tgt = self.tgt_embed.weight[None].expand(B, -1, -1)
        else:
            tgt = torch.gather(out.detach(), 1, selected[..., None].expand(-1, -1, self.d))
        layer_boxes, layer_logits = [], []
        for layer in self.layers:
            query_pos = self.ref_point_head(sine_encode_boxes(ref, self.d // 2))
            tgt = layer(tgt, query_pos, memory, memory_pos)
            box = (self.bbox_head(tgt) + inverse_sigmoid(ref)).sigmoid()
            layer_boxes.append(box)
            layer_logits.append(self.score_head(tgt).squeeze(-1))
            ref = box.detach()
        return dict(q_sem=tgt, boxes=layer_boxes[-1], logits=layer_logits[-1],
                    layer_boxes=layer_boxes, layer_logits=layer_logits,
                    enc_logits=enc_logits, enc_boxes=enc_boxes, selected=selected)


class BoxEncoding(nn.Module):
    """B(box) = Linear(sine encoding of cx, cy, w, h with d/4 features each);
    the box enters as a value (detached)."""

    def __init__(self, d):
        super().__init__()
        self.d = d
        self.proj = nn.Linear(d, d)

    def forward(self, boxes):
        return self.proj(sine_encode_boxes(boxes.detach(), self.d // 4))


# ---- global tokens ---------------------------------------------------------------------

class AttentionPool(nn.Module):
    """CLIP's AttentionPool2d with its positional table replaced by a learned
    row for the mean token (query_pos) and the fixed 2-D sine encoding for the
    map's tokens, so any map size works."""

    def __init__(self, c, heads, d):
        super().__init__()
        self.heads = heads
        self.query_pos = nn.Parameter(torch.randn(c) / c ** 0.5)
        self.q_proj = nn.Linear(c, c)
        self.k_proj = nn.Linear(c, c)
        self.v_proj = nn.Linear(c, c)
        self.c_proj = nn.Linear(c, d)

    def forward(self, tokens, pos):
        """tokens [B, T, c], pos [T, c] -> [B, d]."""
        x = torch.cat([tokens.mean(1, keepdim=True) + self.query_pos, tokens + pos], 1)
        x = x.transpose(0, 1)
        out, _ = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.heads,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight,
            v_proj_weight=self.v_proj.weight, in_proj_weight=None,
            in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.c_proj.weight, out_proj_bias=self.c_proj.bias,
            use_separate_proj_weight=True, training=self.training, need_weights=False)
        return out[0]


class GlobalTokens(nn.Module):
    """[M' attention pools, Linear(F3 token) + sine position] -> [B, M' + h w, d]."""

    def __init__(self, c, d, heads, n_pools):
        super().__init__()
        self.d = d
        self.attn_pools = nn.ModuleList(AttentionPool(c, heads, d) for _ in range(n_pools))
        self.global_proj = nn.Linear(c, d)

    def forward(self, f3):
        B, c, h, w = f3.shape
        tokens = f3.flatten(2).transpose(1, 2)
        flat = self.global_proj(tokens) + sine_position_2d(h, w, self.d)
        pos = sine_position_2d(h, w, c)
        pooled = [p(tokens, pos)[:, None] for p in self.attn_pools]
        return torch.cat(pooled + [flat], 1)


# ---- the image encoder ----------------------------------------------------------------

class ImageEncoder(nn.Module):
    """tokens = [global (M' + h w), regional (Q)], regional = q_sem + B(box)."""

    def __init__(self, channels, widths, d, heads, ffn, n_queries, n_layers, n_pools,
                 anchor_size=0.1, dropout=0.0, eps=1e-5, query_content="learned"):
        super().__init__()
        self.backbone = Backbone(channels, widths)
        self.rpn = RegionProposal(widths[2], widths[3], d, heads, ffn, n_queries, n_layers,
                                  anchor_size, dropout, eps, query_content)
        self.global_tokens = GlobalTokens(widths[3], d, heads, n_pools)
        self.box_encoding = BoxEncoding(d)

    def forward(self, images):
        _, f2, f3 = self.backbone(images)
        det = self.rpn(f2, f3)
        glob = self.global_tokens(f3)
        regional = det["q_sem"] + self.box_encoding(det["boxes"])
        det["tokens"] = torch.cat([glob, regional], 1)
        det["n_global"] = glob.shape[1]
        return det
