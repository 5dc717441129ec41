/* The generalised-IoU box loss 1 - GIoU on cxcywh rows, in double inside:
 * the loss differentiates through a handful of min/max branches and a
 * quotient whose denominators may be tiny, so the extra precision is cheap
 * insurance and a CUDA twin can be checked against it with float tolerance. */
#include "nn.h"

#include <math.h>

/* torchvision.ops.generalized_box_iou_loss's eps. */
#define GIOU_EPS 1e-7

enum { GIOU_PAR_MIN = 4096 }; /* rows */

/* Corners x0, y0, x1, y1 and the clamped size of one cxcywh box. */
typedef struct box {
    double c[4];
    double w, h;
} box;

static box box_of(const float *b)
{
    box r;
    r.w = b[2] > 0.0f ? (double)b[2] : 0.0;
    r.h = b[3] > 0.0f ? (double)b[3] : 0.0;
    r.c[0] = (double)b[0] - 0.5 * r.w;
    r.c[1] = (double)b[1] - 0.5 * r.h;
    r.c[2] = (double)b[0] + 0.5 * r.w;
    r.c[3] = (double)b[1] + 0.5 * r.h;
    return r;
}

/* Everything the loss and its gradient need for one pair. */
typedef struct giou_pair {
    box a, b;
    double iw_raw, ih_raw; /* intersection extents before clamping at 0 */
    double iw, ih, inter, uni, cw, ch, area_c;
} giou_pair;

static giou_pair pair_of(const float *pa, const float *pb)
{
    giou_pair p;
    p.a = box_of(pa);
    p.b = box_of(pb);
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

static double loss_of(const giou_pair *p)
{
    return 1.0 - (p->inter / (p->uni + GIOU_EPS) - (p->area_c - p->uni) / (p->area_c + GIOU_EPS));
}

void uz_cpu_giou_loss_forward(float *loss, const float *pred, const float *target, int64_t n)
{
#pragma omp parallel for if (n > GIOU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        giou_pair p = pair_of(pred + 4 * i, target + 4 * i);
        loss[i] = (float)loss_of(&p);
    }
}

/* Routes g through max(a, b) (or min with is_min) to *ga or *gb; a tie
 * splits it evenly, as PyTorch's maximum/minimum backward does. */
static void route(double g, double a, double b, bool is_min, double *ga, double *gb)
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

/* Corner and size gradients of one box back to its cx, cy, w, h. */
static void box_backward(float *d, const float *raw, const double *gc, double gw, double gh)
{
    /* x0 = cx - w/2, x1 = cx + w/2; a clamped (negative) size gets nothing. */
    gw += 0.5 * (gc[2] - gc[0]);
    gh += 0.5 * (gc[3] - gc[1]);
    d[0] += (float)(gc[0] + gc[2]);
    d[1] += (float)(gc[1] + gc[3]);
    d[2] += raw[2] >= 0.0f ? (float)gw : 0.0f;
    d[3] += raw[3] >= 0.0f ? (float)gh : 0.0f;
}

void uz_cpu_giou_loss_backward(float *dpred, float *dtarget, const float *dloss,
                               const float *pred, const float *target, int64_t n)
{
#pragma omp parallel for if (n > GIOU_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *ra = pred + 4 * i, *rb = target + 4 * i;
        giou_pair p = pair_of(ra, rb);
        /* loss = 1 - I / U' + (C - U) / C' with U' = U + eps, C' = C + eps. */
        double g = -(double)dloss[i]; /* d loss / d giou = -1 */
        double up = p.uni + GIOU_EPS, cp = p.area_c + GIOU_EPS;
        double g_u = g * (-p.inter / (up * up) + 1.0 / cp);
        double g_inter = g / up - g_u; /* U = area_a + area_b - I */
        double g_c = -g * up / (cp * cp);
        double ga[4] = {0}, gb[4] = {0};
        double g_iw = p.iw_raw > 0.0 ? g_inter * p.ih : 0.0;
        double g_ih = p.ih_raw > 0.0 ? g_inter * p.iw : 0.0;
        double g_cw = g_c * p.ch, g_ch = g_c * p.cw;
        /* iw = min(x1) - max(x0); cw = max(x1) - min(x0); the same in y. */
        route(g_iw, p.a.c[2], p.b.c[2], true, &ga[2], &gb[2]);
        route(-g_iw, p.a.c[0], p.b.c[0], false, &ga[0], &gb[0]);
        route(g_ih, p.a.c[3], p.b.c[3], true, &ga[3], &gb[3]);
        route(-g_ih, p.a.c[1], p.b.c[1], false, &ga[1], &gb[1]);
        route(g_cw, p.a.c[2], p.b.c[2], false, &ga[2], &gb[2]);
        route(-g_cw, p.a.c[0], p.b.c[0], true, &ga[0], &gb[0]);
        route(g_ch, p.a.c[3], p.b.c[3], false, &ga[3], &gb[3]);
        route(-g_ch, p.a.c[1], p.b.c[1], true, &ga[1], &gb[1]);
        if (dpred)
            box_backward(dpred + 4 * i, ra, ga, g_u * p.a.h, g_u * p.a.w);
        if (dtarget)
            box_backward(dtarget + 4 * i, rb, gb, g_u * p.b.h, g_u * p.b.w);
    }
}
