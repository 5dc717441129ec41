"""Writes tests/golden/mclrec_loss.safetensors, which tests/test_mclrec_loss.c
compares recsys/mclrec.c against. Run with Debian's python3 (torch 1.13, CPU):
    /usr/bin/python3 tests/reference/gen_mclrec_golden.py

The encoder is gen_sasrec_golden.py's RecBole SASRec (imported, same sizes:
20 items, d 16, 2 layers, 2 heads, inner 32, length 8). The augmenters are
the official Extractor (dense_1..3, erf GELU, x / ||x||), with d -> d/2 ->
d/4 -> d widths. info_nce, contrast and meta_contrast_rl_1 / meta_rl follow
the official mclrec.py: CE with label 0 over [positive | 2(B-1) negatives],
per-row margins summed over (h1, z2), (h2, z1), (z1, z2), times 0.1.

Stored, for fixed weights and a fixed augmented batch (B = 5):
  * the encoder objective L_rec + lmd L_cl1 + beta (L_cl2 + 0.1 R) with its
    terms and the gradient of every parameter, encoder and augmenters
    (MCLRec-J's loss: everything trainable), as "<name>.grad";
  * the augmenter objective (step 2: lmd L_cl1 + L_cl2 + 0.1 R) and the
    augmenters' gradients, "<name>.grad_aug";
  * the paper's set-level R on (z1, z2), "reg_paper";
  * every parameter after one official alternating step (Adam lr 1e-3 for
    both optimizers; step 1 encoder with frozen augmenters, step 2
    augmenters on the re-encoded batch, step 3 encoder), "<name>.after_step".
Dropout is 0 (the C side trains with dropout 0 to match). tau = 0.5 (not
the default 1) so that L_cl1 and R's temperature is told apart from L_cl2's
fixed 1. Weights are float32-rounded numpy draws widened to float64; results
are the float64 answer, stored as float32. Rerunning rewrites a
byte-identical file.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_sasrec_golden as sasrec  # noqa: E402  (sets float64 as default dtype)
import safetensors_writer  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden",
                   "mclrec_loss.safetensors")
LMD, BETA, TAU, REG_WEIGHT, LR = 0.3, 0.5, 0.5, 0.1, 1e-3


class Extractor(nn.Module):
    """The official recbole/model/extractors.py Extractor."""

    def __init__(self, d):
        super().__init__()
        self.dense_1 = nn.Linear(d, d // 2)
        self.dense_2 = nn.Linear(d // 2, d // 4)
        self.dense_3 = nn.Linear(d // 4, d)

    @staticmethod
    def gelu(x):
        return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))

    def forward(self, x):
        x = self.gelu(self.dense_1(x))
        x = self.gelu(self.dense_2(x))
        x = self.dense_3(x)
        return x.div(x.pow(2).sum(1, keepdim=True).pow(0.5))


def mask_correlated_samples(b):
    mask = torch.ones((2 * b, 2 * b), dtype=bool)
    mask = mask.fill_diagonal_(0)
    for i in range(b):
        mask[i, b + i] = 0
        mask[b + i, i] = 0
    return mask


def contrast(z_i, z_j, temp):
    b = z_i.shape[0]
    z = torch.cat((z_i, z_j), dim=0)
    sim = torch.mm(z, z.T) / temp
    pos = torch.cat((torch.diag(sim, b), torch.diag(sim, -b)), dim=0).reshape(2 * b, 1)
    neg = sim[mask_correlated_samples(b)].reshape(2 * b, -1)
    return pos, neg


def info_nce(z_i, z_j, temp):
    pos, neg = contrast(z_i, z_j, temp)
    logits = torch.cat((pos, neg), dim=1)
    return nn.CrossEntropyLoss()(logits, torch.zeros(logits.shape[0], dtype=torch.long))


def meta_contrast_rl_1(a, b):
    ori_p, ori_n = contrast(a, b, TAU)
    min_pos, _ = torch.min(ori_p, dim=-1)
    max_neg, _ = torch.max(ori_n, dim=-1)
    both = torch.cat((min_pos.unsqueeze(1), max_neg.unsqueeze(1)), dim=1)
    margin_pos = torch.min(both, dim=-1)[0].unsqueeze(1)
    margin_neg = torch.max(both, dim=-1)[0].unsqueeze(1)
    loss = torch.mean(torch.clamp(ori_p - margin_pos, min=0))
    loss += torch.mean(torch.clamp(margin_neg - ori_n, min=0))
    return loss


def reg_paper(z1, z2):
    """Eq. 11-13: set-level margins over all positives and negatives."""
    pos, neg = contrast(z1, z2, TAU)
    min_pos, max_neg = pos.min(), neg.max()
    mar_min, mar_max = torch.minimum(min_pos, max_neg), torch.maximum(min_pos, max_neg)
    return torch.clamp(pos - mar_min, min=0).mean() + torch.clamp(mar_max - neg, min=0).mean()


def calculate_loss(model, aug, batch, mode):
    """The official MCLRec.calculate_loss with meta_contrast (mode "step1",
    "step2", "step3"; None = the joint loss, the same as step 1)."""
    ids, lengths, targets, v1, l1, v2, l2 = batch
    terms = {}
    if mode == "step2":
        loss = 0.0
    else:
        loss = terms["rec"] = model.calculate_loss(model(ids, lengths), targets)
    h1, h2 = model(v1, l1), model(v2, l2)
    terms["cl1"] = info_nce(h1, h2, TAU)
    loss = loss + LMD * terms["cl1"]
    z1, z2 = aug[0](h1), aug[1](h2)
    cl2 = info_nce(h1, z2, 1.0) + info_nce(h2, z1, 1.0) + info_nce(z1, z2, 1.0)
    reg = meta_contrast_rl_1(h1, z2) + meta_contrast_rl_1(h2, z1) + meta_contrast_rl_1(z1, z2)
    terms["cl2"], terms["reg"] = cl2, reg
    terms["reg_paper"] = reg_paper(z1, z2)
    contrastive = cl2 + REG_WEIGHT * reg
    loss = loss + (contrastive if mode == "step2" else BETA * contrastive)
    return loss, terms


def set_trainable(module, on):
    for p in module.parameters():
        p.requires_grad = on


def main():
    rng = np.random.default_rng(44)
    model = sasrec.SASRec()
    aug = [Extractor(sasrec.HIDDEN), Extractor(sasrec.HIDDEN)]
    named = [(n, p) for n, p in model.named_parameters()]
    for i, a in enumerate(aug):
        named += [(f"aug_{i + 1}.{n}", p) for n, p in a.named_parameters()]
    params = dict(named)
    items = []
    with torch.no_grad():
        for name, p in named:
            if name.startswith("aug_"):
                # PyTorch's Linear default: U(-1/sqrt(in), 1/sqrt(in)).
                fan_in = params[name.rsplit(".", 1)[0] + ".weight"].shape[1]
                a = rng.uniform(-1.0, 1.0, p.shape) / math.sqrt(fan_in)
            elif name.endswith("LayerNorm.weight"):
                a = 1.0 + 0.2 * rng.standard_normal(p.shape)
            elif name.endswith("bias"):
                a = 0.1 * rng.standard_normal(p.shape)
            else:
                a = 0.4 * rng.standard_normal(p.shape)
            a = a.astype(np.float32)
            p.copy_(torch.tensor(a.astype(np.float64)))
            items.append((name, a))

    # Left-aligned rows; views as the augmentations would make them (crop
    # shortens, mask writes 0 inside the length, reorder permutes a window).
    ids = np.array([
        [3, 7, 1, 20, 5, 9, 0, 0],
        [11, 2, 4, 0, 0, 0, 0, 0],
        [8, 2, 8, 15, 17, 0, 0, 0],
        [14, 0, 0, 0, 0, 0, 0, 0],
        [6, 6, 13, 2, 19, 10, 4, 18],
    ], dtype=np.int32)
    lengths = np.array([6, 3, 5, 1, 8], dtype=np.int32)
    targets = np.array([12, 4, 20, 1, 6], dtype=np.int32)
    view1 = np.array([
        [7, 1, 20, 0, 0, 0, 0, 0],       # crop keep 3 from 1
        [0, 2, 4, 0, 0, 0, 0, 0],        # mask {0}
        [8, 8, 15, 2, 17, 0, 0, 0],      # reorder window [1, 5)
        [14, 0, 0, 0, 0, 0, 0, 0],       # length 1: unchanged
        [6, 0, 13, 0, 19, 0, 0, 18],     # mask {1, 3, 5, 6}
    ], dtype=np.int32)
    len1 = np.array([3, 3, 5, 1, 8], dtype=np.int32)
    view2 = np.array([
        [3, 20, 5, 7, 1, 9, 0, 0],       # reorder window [1, 5)
        [2, 0, 0, 0, 0, 0, 0, 0],        # crop keep 1 from 1
        [0, 2, 8, 0, 17, 0, 0, 0],       # mask {0, 3}
        [14, 0, 0, 0, 0, 0, 0, 0],
        [13, 2, 19, 10, 0, 0, 0, 0],     # crop keep 4 from 2
    ], dtype=np.int32)
    len2 = np.array([6, 1, 5, 1, 4], dtype=np.int32)
    t = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    batch = (t(ids), t(lengths), t(targets), t(view1), t(len1), t(view2), t(len2))
    items += [("ids", ids), ("lengths", lengths), ("targets", targets),
              ("view1_ids", view1), ("view1_lengths", len1),
              ("view2_ids", view2), ("view2_lengths", len2),
              ("config", np.array([LMD, BETA, TAU, REG_WEIGHT, LR], dtype=np.float32))]

    f32 = lambda x: np.asarray(x.detach().numpy(), dtype=np.float32)  # noqa: E731

    # The encoder objective, everything trainable.
    loss, terms = calculate_loss(model, aug, batch, None)
    loss.backward()
    items.append(("loss", f32(loss).reshape(1)))
    for k in ("rec", "cl1", "cl2", "reg", "reg_paper"):
        items.append((k, f32(terms[k]).reshape(1)))
    for name, p in named:
        items.append((name + ".grad", f32(p.grad)))
        p.grad = None

    # The augmenter objective (step 2).
    loss, _ = calculate_loss(model, aug, batch, "step2")
    loss.backward()
    items.append(("loss_aug", f32(loss).reshape(1)))
    for name, p in named:
        if name.startswith("aug_"):
            items.append((name + ".grad_aug", f32(p.grad)))
        p.grad = None

    # One official alternating step (trainer.py, joint = 0).
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=0)
    opt_aug = torch.optim.Adam([{"params": aug[0].parameters()},
                                {"params": aug[1].parameters()}], lr=LR, weight_decay=0)
    step_losses = []
    for mode, optimizer in (("step1", opt), ("step2", opt_aug), ("step3", opt)):
        optimizer.zero_grad()
        for a in aug:
            set_trainable(a, mode == "step2")
        loss, _ = calculate_loss(model, aug, batch, mode)
        loss.backward()
        optimizer.step()
        step_losses.append(loss.item())
    items.append(("step_losses", np.array(step_losses, dtype=np.float32)))
    for name, p in named:
        items.append((name + ".after_step", f32(p)))

    meta = {
        "generator": "tests/reference/gen_mclrec_golden.py",
        "torch": torch.__version__,
        "precision": "computed in float64 from float32-rounded inputs, stored as float32",
        "config": f"lmd {LMD} beta {BETA} tau {TAU} reg_weight {REG_WEIGHT} lr {LR}, "
                  f"encoder as gen_sasrec_golden.py, dropout 0",
    }
    safetensors_writer.save(OUT, items, meta)
    print(f"mclrec_loss.safetensors: {len(items)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
