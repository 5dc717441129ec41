"""Prints the reference values that tests/test_boxes.c and tests/test_bce.c
embed: torchvision's generalized_box_iou_loss (on cxcywh boxes converted to
xyxy), F.binary_cross_entropy_with_logits and torchvision's
sigmoid_focal_loss (reduction "none"), with their autograd gradients. The
torchvision functions are transcribed (torchvision 0.14, which pairs with
Debian's torch 1.13) since torchvision itself is not packaged. The computation runs in float64 on short
decimal inputs; the C side's float32 rounding of them (~3e-8 relative) is far
below the tests' tolerances.
Run: /usr/bin/python3 tests/reference/det_losses_ref.py"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], -1)


def giou_loss(boxes1, boxes2, eps=1e-7):
    """torchvision.ops.generalized_box_iou_loss, reduction "none"."""
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xkis1, ykis1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xkis2, ykis2 = torch.min(x2, x2g), torch.min(y2, y2g)
    intsctk = torch.zeros_like(x1)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk[mask] = (xkis2[mask] - xkis1[mask]) * (ykis2[mask] - ykis1[mask])
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    iouk = intsctk / (unionk + eps)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    return 1 - (iouk - ((area_c - unionk) / (area_c + eps)))


def focal(inputs, targets, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss, reduction "none"."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def c_array(name, t):
    vals = ", ".join("%.17g" % v for v in t.detach().reshape(-1).tolist())
    print("static const double %s[%d] = {%s};" % (name, t.numel(), vals))


# Overlapping, disjoint, nested, identical (gradient ties), touching, zero-size.
pred = torch.tensor([[0.5, 0.5, 0.4, 0.3], [0.2, 0.25, 0.1, 0.1], [0.5, 0.5, 0.5, 0.5],
                     [0.3, 0.6, 0.2, 0.4], [0.25, 0.5, 0.5, 0.5], [0.5, 0.5, 0.0, 0.25]],
                    requires_grad=True)
target = torch.tensor([[0.55, 0.45, 0.3, 0.35], [0.75, 0.7, 0.2, 0.125], [0.5, 0.5, 0.25, 0.125],
                       [0.3, 0.6, 0.2, 0.4], [0.75, 0.5, 0.5, 0.5], [0.5, 0.5, 0.25, 0.25]],
                      requires_grad=True)
up = torch.tensor([1.0, -0.5, 2.0, 0.75, 1.5, -1.25])
loss = giou_loss(cxcywh_to_xyxy(pred), cxcywh_to_xyxy(target))
(loss * up).sum().backward()
c_array("giou_ref_loss", loss)
c_array("giou_ref_dpred", pred.grad)
c_array("giou_ref_dtarget", target.grad)

x = torch.tensor([-100.0, -30.0, -3.5, -1.0, -0.25, 0.0, 0.5, 2.0, 7.0, 30.0, 100.0, 1.25],
                 requires_grad=True)
y = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.3, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.7])
w = torch.tensor([1.0, 0.5, 2.0, 1.0, 0.25, 1.0, 1.5, 1.0, 0.75, 1.0, 2.0, 0.5])
up = torch.tensor([1.0, -0.5, 0.25, 2.0, 1.0, -1.0, 0.5, 1.5, -0.75, 1.0, 0.5, 1.25])
for name, fn in [("bce", lambda: F.binary_cross_entropy_with_logits(x, y, reduction="none")),
                 ("bcew", lambda: F.binary_cross_entropy_with_logits(x, y, w, reduction="none")),
                 ("focal", lambda: focal(x, y, 0.25, 2.0)),
                 ("focal_g15", lambda: focal(x, y, -1.0, 1.5))]:
    x.grad = None
    out = fn()
    (out * up).sum().backward()
    c_array(name + "_ref_loss", out)
    c_array(name + "_ref_dx", x.grad)
