"""Writes tests/golden/sasrec.safetensors, which tests/test_sasrec.c compares
the SASRec encoder (recsys/sasrec.c) against. Run with Debian's python3
(torch 1.13, CPU):  /usr/bin/python3 tests/reference/gen_sasrec_golden.py

The modules below are RecBole's (0.2, as bundled by DuoRec and MCLRec):
SASRec's embedding/LayerNorm/dropout front, TransformerEncoder with
MultiHeadAttention and FeedForward, get_attention_mask with its additive
-10000, gather_indexes at len-1, and the CE loss over item_embedding[:n_items]
where RecBole's n_items counts the padding id. The attribute names are
RecBole's, so state_dict() gives the checkpoint names.

The batch exercises what the C side must get right: padding after the last
item, a length shorter than the padded width (the C encoder computes only up
to the longest length, here 6 of 8), a padding id inside a sequence (as the
mask augmentation writes), and one whose first item is padding (a query with
every visible key masked, where -10000 attends uniformly to all 8 positions).

Weights are drawn with numpy (fixed seed), rounded to float32, and widened to
float64 for PyTorch, so the reference is the exact float64 answer for the
float32 values the C test loads; results are stored as float32. Dropout is
off (eval mode). Rerunning rewrites a byte-identical file.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_writer  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden",
                   "sasrec.safetensors")
torch.set_default_dtype(torch.float64)

N_ITEMS = 20          # real items 1..20; RecBole's n_items = 21 counts padding
HIDDEN, LAYERS, HEADS, INNER, MAX_LEN, EPS = 16, 2, 2, 32, 8, 1e-12


class MultiHeadAttention(nn.Module):
    def __init__(self, n_heads, hidden_size, eps):
        super().__init__()
        self.num_attention_heads = n_heads
        self.attention_head_size = hidden_size // n_heads
        self.all_head_size = hidden_size
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=eps)

    def transpose_for_scores(self, x):
        new_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        return x.view(*new_shape).permute(0, 2, 1, 3)

    def forward(self, input_tensor, attention_mask):
        q = self.transpose_for_scores(self.query(input_tensor))
        k = self.transpose_for_scores(self.key(input_tensor))
        v = self.transpose_for_scores(self.value(input_tensor))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        scores = scores + attention_mask
        probs = nn.Softmax(dim=-1)(scores)  # attn_dropout: off in eval
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        ctx = ctx.view(*(ctx.size()[:-2] + (self.all_head_size,)))
        hidden = self.dense(ctx)  # out_dropout: off in eval
        return self.LayerNorm(hidden + input_tensor)


class FeedForward(nn.Module):
    def __init__(self, hidden_size, inner_size, eps):
        super().__init__()
        self.dense_1 = nn.Linear(hidden_size, inner_size)
        self.dense_2 = nn.Linear(inner_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=eps)

    def forward(self, input_tensor):
        h = self.dense_1(input_tensor)
        h = h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))  # RecBole's gelu
        h = self.dense_2(h)
        return self.LayerNorm(h + input_tensor)


class TransformerLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.multi_head_attention = MultiHeadAttention(HEADS, HIDDEN, EPS)
        self.feed_forward = FeedForward(HIDDEN, INNER, EPS)

    def forward(self, hidden_states, attention_mask):
        return self.feed_forward(self.multi_head_attention(hidden_states, attention_mask))


class TransformerEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([TransformerLayer() for _ in range(LAYERS)])

    def forward(self, hidden_states, attention_mask):
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_mask)
        return hidden_states


class SASRec(nn.Module):
    def __init__(self):
        super().__init__()
        self.n_items = N_ITEMS + 1
        self.item_embedding = nn.Embedding(self.n_items + 1, HIDDEN, padding_idx=0)
        self.position_embedding = nn.Embedding(MAX_LEN, HIDDEN)
        self.trm_encoder = TransformerEncoder()
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)

    @staticmethod
    def get_attention_mask(item_seq):
        attention_mask = (item_seq > 0).long()
        extended = attention_mask.unsqueeze(1).unsqueeze(2)
        max_len = attention_mask.size(-1)
        subsequent = torch.triu(torch.ones((1, max_len, max_len)), diagonal=1)
        subsequent = (subsequent == 0).unsqueeze(1).long()
        extended = (extended * subsequent).to(torch.get_default_dtype())
        return (1.0 - extended) * -10000.0

    def forward(self, item_seq, item_seq_len):
        position_ids = torch.arange(item_seq.size(1), dtype=torch.long)
        position_ids = position_ids.unsqueeze(0).expand_as(item_seq)
        x = self.item_embedding(item_seq) + self.position_embedding(position_ids)
        x = self.LayerNorm(x)  # dropout: off in eval
        out = self.trm_encoder(x, self.get_attention_mask(item_seq))
        index = (item_seq_len - 1).view(-1, 1, 1).expand(-1, -1, out.shape[-1])
        return out.gather(dim=1, index=index).squeeze(1)

    def calculate_loss(self, seq_output, pos_items):
        logits = torch.matmul(seq_output, self.item_embedding.weight[:self.n_items].t())
        return nn.CrossEntropyLoss()(logits, pos_items)


def main():
    rng = np.random.default_rng(4)
    model = SASRec()
    items = []
    # Random weights well away from RecBole's tiny init, so attention and the
    # layer norms are far from trivial; float32-rounded first.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("LayerNorm.weight"):
                a = 1.0 + 0.2 * rng.standard_normal(p.shape)
            elif name.endswith("bias"):
                a = 0.1 * rng.standard_normal(p.shape)
            else:
                a = 0.4 * rng.standard_normal(p.shape)
            a = a.astype(np.float32)
            p.copy_(torch.tensor(a.astype(np.float64)))
            items.append((name, a))
    ids = np.array([
        [3, 7, 1, 20, 5, 9, 0, 0],    # length 6: the batch's longest
        [11, 0, 4, 0, 0, 0, 0, 0],    # length 3 with a masked item inside
        [0, 2, 8, 0, 0, 0, 0, 0],     # length 3, first item masked
        [14, 0, 0, 0, 0, 0, 0, 0],    # length 1
        [6, 6, 13, 2, 0, 0, 0, 0],    # length 4, repeated item
    ], dtype=np.int32)
    lengths = np.array([6, 3, 3, 1, 4], dtype=np.int32)
    targets = np.array([12, 4, 20, 1, 6], dtype=np.int32)
    seq = torch.tensor(ids, dtype=torch.long)
    h = model(seq, torch.tensor(lengths, dtype=torch.long))
    loss = model.calculate_loss(h, torch.tensor(targets, dtype=torch.long))
    loss.backward()
    items += [("ids", ids), ("lengths", lengths), ("targets", targets),
              ("h", h.detach().numpy().astype(np.float32)),
              ("loss", np.array([loss.item()], dtype=np.float32))]
    for name, p in model.named_parameters():
        items.append((name + ".grad", p.grad.numpy().astype(np.float32)))
    meta = {
        "generator": "tests/reference/gen_sasrec_golden.py",
        "torch": torch.__version__,
        "precision": "computed in float64 from float32-rounded inputs, stored as float32",
        "config": f"n_items {N_ITEMS} hidden {HIDDEN} layers {LAYERS} heads {HEADS} "
                  f"inner {INNER} max_len {MAX_LEN} eps {EPS}",
    }
    safetensors_writer.save(OUT, items, meta)
    print(f"sasrec.safetensors: {len(items)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
