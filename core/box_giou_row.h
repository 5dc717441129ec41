/* The generalised-IoU box loss 1 - GIoU of one pair of cxcywh rows and its
 * gradient, in double inside: the loss differentiates through a handful of
 * min/max branches and a quotient whose denominators may be tiny, so the
 * extra precision is cheap insurance. The CPU (core/cpu/box_giou.c) and
 * CUDA (core/cuda/nn.cu) kernels run these per row, so they agree to
 * rounding. */
#ifndef UZ_BOX_GIOU_ROW_H
#define UZ_BOX_GIOU_ROW_H

#include "host_device.h"

#include <math.h>
#include <stdbool.h>

/* torchvision.ops.generalized_box_iou_loss's eps. */
#define UZ_GIOU_EPS 1e-7

/* Corners x0, y0, x1, y1 and the clamped size of one cxcywh box. */
typedef struct uz_giou_box {
    double c[4];
    double w, h;
} uz_giou_box;

/* Everything the loss and its gradient need for one pair. */
typedef struct uz_giou_pair {
    uz_giou_box a, b;
    double iw_raw, ih_raw; /* intersection extents before clamping at 0 */
    double iw, ih, inter, uni, cw, ch, area_c;
} uz_giou_pair;

UZ_HOST_DEVICE uz_giou_box uz_giou_box_of(const float *b)
{
    uz_giou_box r;
    r.w = b[2] > 0.0f ? (double)b[2] : 0.0;
    r.h = b[3] > 0.0f ? (double)b[3] : 0.0;
    r.c[0] = (double)b[0] - 0.5 * r.w;
    r.c[1] = (double)b[1] - 0.5 * r.h;
    r.c[2] = (double)b[0] + 0.5 * r.w;
    r.c[3] = (double)b[1] + 0.5 * r.h;
    return r;
}

UZ_HOST_DEVICE uz_giou_pair uz_giou_pair_of(const float *pa, const float *pb)
{
    uz_giou_pair p;
    p.a = uz_giou_box_of(pa);
    p.b = uz_giou_box_of(pb);
    p.iw_raw = fmin(p.a.c[2], p.b.c[2]) - fmax(p.a.c[0], p.b.c[0]);
    p.ih_raw = fmin(p.a.c[3], p.b.c[3]) - fmax(p.a.c[1], p.b.c[1]);
    p.iw = p.iw_raw > 0.0 ? p.iw_raw : 0.0;
    p.ih = p.ih_raw > 0.0 ? p.ih_raw : 0.0;
    p.inter = p.iw * p.ih;
    p.uni = p.a.w * p.a.h + p.b.w * p.b.h - p.inter;
    p.cw = fmax(p.a.c[2], p.b.c[2]) - fmin(p.a.c[0], p.b.c[0]);
    p.ch = fmax(p.a.c[3], p.b.c[3]) - fmin(p.a.c[1], p.b.c[1]);
    p.area_c = p.cw * p.ch;
    return p;
}

UZ_HOST_DEVICE float uz_giou_row_loss(const float *pred, const float *target)
{
    uz_giou_pair p = uz_giou_pair_of(pred, target);
    return (float)(1.0 - (p.inter / (p.uni + UZ_GIOU_EPS) -
                          (p.area_c - p.uni) / (p.area_c + UZ_GIOU_EPS)));
}

/* Routes g through max(a, b) (or min with is_min) to *ga or *gb; a tie
 * splits it evenly, as PyTorch's maximum/minimum backward does. */
UZ_HOST_DEVICE void uz_giou_route(double g, double a, double b, bool is_min, double *ga,
                                  double *gb)
{
    if (a == b) {
        *ga += 0.5 * g;
        *gb += 0.5 * g;
    } else if ((a > b) != is_min) {
        *ga += g;
    } else {
        *gb += g;
    }
}

/* Corner and size gradients of one box back to its cx, cy, w, h; a clamped
 * (negative) size gets nothing. */
UZ_HOST_DEVICE void uz_giou_box_backward(float *d, const float *raw, const double *gc,
                                         double gw, double gh)
{
    /* x0 = cx - w/2, x1 = cx + w/2. */
    gw += 0.5 * (gc[2] - gc[0]);
    gh += 0.5 * (gc[3] - gc[1]);
    d[0] += (float)(gc[0] + gc[2]);
    d[1] += (float)(gc[1] + gc[3]);
    d[2] += raw[2] >= 0.0f ? (float)gw : 0.0f;
    d[3] += raw[3] >= 0.0f ? (float)gh : 0.0f;
}

/* Adds dloss * d(loss)/d(row) into dpred and dtarget (either may be NULL). */
UZ_HOST_DEVICE void uz_giou_row_backward(float *dpred, float *dtarget, float dloss,
                                         const float *pred, const float *target)
{
    uz_giou_pair p = uz_giou_pair_of(pred, target);
    /* loss = 1 - I / U' + (C - U) / C' with U' = U + eps, C' = C + eps. */
    double g = -(double)dloss; /* d loss / d giou = -1 */
    double up = p.uni + UZ_GIOU_EPS, cp = p.area_c + UZ_GIOU_EPS;
    double g_u = g * (-p.inter / (up * up) + 1.0 / cp);
    double g_inter = g / up - g_u; /* U = area_a + area_b - I */
    double g_c = -g * up / (cp * cp);
    double ga[4] = {0, 0, 0, 0}, gb[4] = {0, 0, 0, 0};
    double g_iw = p.iw_raw > 0.0 ? g_inter * p.ih : 0.0;
    double g_ih = p.ih_raw > 0.0 ? g_inter * p.iw : 0.0;
    double g_cw = g_c * p.ch, g_ch = g_c * p.cw;
    /* iw = min(x1) - max(x0); cw = max(x1) - min(x0); the same in y. */
    uz_giou_route(g_iw, p.a.c[2], p.b.c[2], true, &ga[2], &gb[2]);
    uz_giou_route(-g_iw, p.a.c[0], p.b.c[0], false, &ga[0], &gb[0]);
    uz_giou_route(g_ih, p.a.c[3], p.b.c[3], true, &ga[3], &gb[3]);
    uz_giou_route(-g_ih, p.a.c[1], p.b.c[1], false, &ga[1], &gb[1]);
    uz_giou_route(g_cw, p.a.c[2], p.b.c[2], false, &ga[2], &gb[2]);
    uz_giou_route(-g_cw, p.a.c[0], p.b.c[0], true, &ga[0], &gb[0]);
    uz_giou_route(g_ch, p.a.c[3], p.b.c[3], false, &ga[3], &gb[3]);
    uz_giou_route(-g_ch, p.a.c[1], p.b.c[1], true, &ga[1], &gb[1]);
    if (dpred)
        uz_giou_box_backward(dpred, pred, ga, g_u * p.a.h, g_u * p.a.w);
    if (dtarget)
        uz_giou_box_backward(dtarget, target, gb, g_u * p.b.h, g_u * p.b.w);
}

#endif
