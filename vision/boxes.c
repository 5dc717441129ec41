/* Box conversions, IoU / GIoU matrices, and the front-end of the fused GIoU
 * loss. The loss is one op with its own kernels (nn family: giou_loss_*)
 * rather than ~30 elementwise ops on narrowed columns: one tape node instead
 * of dozens per decoder layer, the degenerate cases handled in one place,
 * and one kernel pair for a CUDA backend to supply. */
#include "vision/boxes.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "core/kernels_nn.h"
#include "core/ops.h"

/* Matrices smaller than this many pairs run on one thread. */
enum { PAIR_PAR_MIN = 16384 };

void uz_box_cxcywh_to_xyxy(float *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float *b = in + 4 * i;
        float cx = b[0], cy = b[1], hw = 0.5f * b[2], hh = 0.5f * b[3];
        float *o = out + 4 * i;
        o[0] = cx - hw;
        o[1] = cy - hh;
        o[2] = cx + hw;
        o[3] = cy + hh;
    }
}

void uz_box_xyxy_to_cxcywh(float *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float *b = in + 4 * i;
        float x0 = b[0], y0 = b[1], x1 = b[2], y1 = b[3];
        float *o = out + 4 * i;
        o[0] = 0.5f * (x0 + x1);
        o[1] = 0.5f * (y0 + y1);
        o[2] = x1 - x0;
        o[3] = y1 - y0;
    }
}

void uz_box_xywh_to_xyxy(float *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float *b = in + 4 * i;
        float x = b[0], y = b[1], w = b[2], h = b[3];
        float *o = out + 4 * i;
        o[0] = x;
        o[1] = y;
        o[2] = x + w;
        o[3] = y + h;
    }
}

void uz_box_xyxy_to_xywh(float *out, const float *in, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float *b = in + 4 * i;
        float x0 = b[0], y0 = b[1], x1 = b[2], y1 = b[3];
        float *o = out + 4 * i;
        o[0] = x0;
        o[1] = y0;
        o[2] = x1 - x0;
        o[3] = y1 - y0;
    }
}

static double dmin(double a, double b) { return a < b ? a : b; }
static double dmax(double a, double b) { return a > b ? a : b; }

static double area(const float *b)
{
    return dmax((double)b[2] - b[0], 0.0) * dmax((double)b[3] - b[1], 0.0);
}

/* IoU of two xyxy boxes, and through *enclosing_term (when not NULL) the
 * GIoU penalty (C - U) / C. */
static double iou_pair(const float *a, const float *b, double *enclosing_term)
{
    double iw = dmin(a[2], b[2]) - dmax(a[0], b[0]);
    double ih = dmin(a[3], b[3]) - dmax(a[1], b[1]);
    double inter = iw > 0.0 && ih > 0.0 ? iw * ih : 0.0;
    double uni = area(a) + area(b) - inter;
    if (enclosing_term) {
        double c = (dmax(a[2], b[2]) - dmin(a[0], b[0])) * (dmax(a[3], b[3]) - dmin(a[1], b[1]));
        *enclosing_term = c > 0.0 ? (c - uni) / c : 0.0;
    }
    return uni > 0.0 ? inter / uni : 0.0;
}

static void pair_matrix(float *out, const float *a, int64_t n, const float *b, int64_t m,
                        bool giou)
{
#pragma omp parallel for if (n * m > PAIR_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < m; j++) {
            double pen = 0.0;
            double iou = iou_pair(a + 4 * i, b + 4 * j, giou ? &pen : NULL);
            out[i * m + j] = (float)(iou - pen);
        }
    }
}

void uz_box_iou_matrix(float *out, const float *a, int64_t n, const float *b, int64_t m)
{
    pair_matrix(out, a, n, b, m, false);
}

void uz_box_giou_matrix(float *out, const float *a, int64_t n, const float *b, int64_t m)
{
    pair_matrix(out, a, n, b, m, true);
}

/* ---- the differentiable loss --------------------------------------------------- */

static uz_status giou_loss_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *pred = node->in[0], *target = node->in[1], *out = node->out;
    float *dp = NULL, *dt = NULL;
    if (pred->requires_grad && !(dp = uz_grad_buf(ctx, pred)))
        return uz_error_status();
    if (target->requires_grad && !(dt = uz_grad_buf(ctx, target)))
        return uz_error_status();
    uz_backend_for(out->device)
        ->nn->giou_loss_backward(dp, dt, out->grad->data, pred->data, target->data,
                                 uz_tensor_numel(out));
    return UZ_OK;
}

uz_tensor *uz_box_giou_loss(uz_ctx *ctx, uz_tensor *pred, uz_tensor *target)
{
    if (!pred || !target)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (pred->ndim < 1 || pred->shape[pred->ndim - 1] != 4 ||
        !uz_tensor_same_shape(pred, target)) {
        UZ_FAIL(UZ_ERR_ARG, "box_giou_loss: expected pred and target [..., 4] of one shape, got %s and %s",
                uz_shape_str(pred, s1, sizeof s1), uz_shape_str(target, s2, sizeof s2));
        return NULL;
    }
    if (pred->device != target->device) {
        UZ_FAIL(UZ_ERR_ARG, "box_giou_loss: pred on %s, target on %s", uz_device_name(pred->device),
                uz_device_name(target->device));
        return NULL;
    }
    const struct uz_kernels_nn *k = UZ_KERNELS(pred, nn, "box_giou_loss");
    if (!k)
        return NULL;
    if (!k->giou_loss_forward) {
        UZ_FAIL(UZ_ERR_DEVICE, "box_giou_loss: no kernel on device %s",
                uz_device_name(pred->device));
        return NULL;
    }
    pred = uz_contiguous(ctx, pred);
    target = uz_contiguous(ctx, target);
    if (!pred || !target)
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, pred->ndim - 1, pred->shape);
    if (!out)
        return NULL;
    k->giou_loss_forward(out->data, pred->data, target->data, uz_tensor_numel(out));
    uz_tensor *in[2] = {pred, target};
    if (uz_needs_grad(ctx, 2, in) &&
        !uz_record(ctx, "box_giou_loss", giou_loss_backward, out, 2, in, 0))
        return NULL;
    return out;
}
