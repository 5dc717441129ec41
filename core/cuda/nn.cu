// The fused neural-network kernels on CUDA (core/kernels_nn.h): row-wise
// ops (softmax, cross-entropy, layer norm, L2 normalisation) run a block of
// threads per row with tree reductions of fixed shape; dropout draws the
// CPU's Philox stream, so its masks are the CPU's exactly; embedding's
// backward adds each table row's gradients in id order without atomics, as
// the CPU does, by grouping the ids on the host first. The loss kernels
// (BCE, focal, GIoU) are one thread per element with the CPU's formulas.
#include "cuda_internal.h"
#include "core/bce_terms.h"
#include "core/box_giou_row.h"
#include "core/philox.h"

#include <math.h>

namespace {

constexpr int ROW_THREADS = 256;
constexpr int THREADS = 256;

__device__ float block_sum(float v)
{
    __shared__ float sh[32];
    return uz_cu_block_reduce(v, uz_cu_add(), sh);
}

__device__ double block_sum_d(double v)
{
    __shared__ double sh[32];
    return uz_cu_block_reduce(v, uz_cu_add(), sh);
}

__device__ float block_max(float v)
{
    __shared__ float sh[32];
    return uz_cu_block_reduce(v, uz_cu_max(), sh);
}

#define ROW_LOOP(r, n) for (int64_t r = blockIdx.x; r < (n); r += gridDim.x)
#define COL_LOOP(j, c) for (int64_t j = threadIdx.x; j < (c); j += blockDim.x)

unsigned row_blocks(int64_t n) { return uz_cu_blocks(n, 1); }

// ---- softmax ---------------------------------------------------------------------------

struct mask_view {
    const float *data;
    int ndim;
    uz_cu_dims shape, stride;
    int64_t col_stride;
};

__device__ const float *mask_row(const mask_view &m, int64_t r)
{
    int64_t off = 0;
    for (int d = m.ndim - 1; d >= 0; d--) {
        off += (r % m.shape.v[d]) * m.stride.v[d];
        r /= m.shape.v[d];
    }
    return m.data + off;
}

__global__ void softmax_forward_kernel(float *y, const float *x, mask_view m, int64_t n,
                                       int64_t c, bool log_space)
{
    ROW_LOOP(r, n)
    {
        const float *xr = x + r * c;
        const float *mr = m.data ? mask_row(m, r) : nullptr;
        float *yr = y + r * c;
        float mx = -INFINITY;
        COL_LOOP(j, c)
        {
            float v = xr[j] + (mr ? mr[j * m.col_stride] : 0.0f);
            mx = v > mx ? v : mx;
        }
        mx = block_max(mx);
        if (mx == -INFINITY) {
            // Nothing left to normalise over: an empty distribution.
            COL_LOOP(j, c) yr[j] = log_space ? -INFINITY : 0.0f;
            continue;
        }
        float sum = 0.0f;
        COL_LOOP(j, c) sum += expf(xr[j] + (mr ? mr[j * m.col_stride] : 0.0f) - mx);
        sum = block_sum(sum);
        if (log_space) {
            float lsum = logf(sum);
            COL_LOOP(j, c) yr[j] = (xr[j] + (mr ? mr[j * m.col_stride] : 0.0f) - mx) - lsum;
        } else {
            float inv = 1.0f / sum;
            COL_LOOP(j, c) yr[j] = expf(xr[j] + (mr ? mr[j * m.col_stride] : 0.0f) - mx) * inv;
        }
    }
}

__global__ void softmax_backward_kernel(float *dx, const float *dy, const float *y, int64_t n,
                                        int64_t c, bool log_space)
{
    ROW_LOOP(r, n)
    {
        const float *yr = y + r * c, *gr = dy + r * c;
        float *dr = dx + r * c;
        float acc = 0.0f;
        if (log_space) {
            // Excluded entries (-inf outputs) neither pass nor get gradient.
            COL_LOOP(j, c) acc += yr[j] != -INFINITY ? gr[j] : 0.0f;
            float s = block_sum(acc);
            COL_LOOP(j, c)
            {
                if (yr[j] != -INFINITY)
                    dr[j] += gr[j] - expf(yr[j]) * s;
            }
        } else {
            COL_LOOP(j, c) acc += gr[j] * yr[j];
            float s = block_sum(acc);
            COL_LOOP(j, c) dr[j] += yr[j] * (gr[j] - s);
        }
    }
}

void cu_softmax_forward(float *y, const float *x, const uz_nn_mask *mask, int64_t n, int64_t c,
                        bool log_space)
{
    if (n == 0 || c == 0)
        return;
    mask_view m = {};
    if (mask) {
        m.data = mask->data;
        m.ndim = mask->ndim;
        for (int d = 0; d < mask->ndim; d++) {
            m.shape.v[d] = mask->shape[d];
            m.stride.v[d] = mask->stride[d];
        }
        m.col_stride = mask->col_stride;
    }
    softmax_forward_kernel<<<row_blocks(n), ROW_THREADS, 0, uz_cu_stream()>>>(y, x, m, n, c,
                                                                               log_space);
    uz_cu_launched("softmax");
}

void cu_softmax_backward(float *dx, const float *dy, const float *y, int64_t n, int64_t c,
                         bool log_space)
{
    if (n == 0 || c == 0)
        return;
    softmax_backward_kernel<<<row_blocks(n), ROW_THREADS, 0, uz_cu_stream()>>>(dx, dy, y, n, c,
                                                                                log_space);
    uz_cu_launched("softmax_backward");
}

// ---- cross-entropy -------------------------------------------------------------------

__global__ void ce_rows_kernel(float *lse, float *row_loss, const float *x,
                               const int32_t *targets, int64_t n, int64_t c,
                               int32_t ignore_index, float smoothing)
{
    ROW_LOOP(r, n)
    {
        int32_t t = targets[r];
        if (t == ignore_index) {
            if (threadIdx.x == 0) {
                lse[r] = 0.0f;
                row_loss[r] = 0.0f;
            }
            continue;
        }
        const float *xr = x + r * c;
        float mx = -INFINITY;
        COL_LOOP(j, c) mx = xr[j] > mx ? xr[j] : mx;
        mx = block_max(mx);
        double sum = 0.0, xsum = 0.0;
        COL_LOOP(j, c)
        {
            sum += (double)expf(xr[j] - mx);
            xsum += (double)xr[j];
        }
        sum = block_sum_d(sum);
        xsum = block_sum_d(xsum);
        if (threadIdx.x == 0) {
            double l = (double)mx + log(sum);
            lse[r] = (float)l;
            // (1-s) * -log p_t + s * mean_j(-log p_j), with -log p_j = lse - x_j.
            row_loss[r] = (float)(l - (1.0 - (double)smoothing) * (double)xr[t] -
                                  (double)smoothing * xsum / (double)c);
        }
    }
}

// One block sums the rows' losses in a fixed order.
__global__ void ce_total_kernel(float *loss, const float *row_loss, int64_t n, int64_t count)
{
    double acc = 0.0;
    COL_LOOP(r, n) acc += (double)row_loss[r];
    acc = block_sum_d(acc);
    if (threadIdx.x == 0)
        loss[0] = count ? (float)(acc / (double)count) : NAN;
}

__global__ void ce_backward_kernel(float *dx, bool assign, const float *dloss, const float *x,
                                   const float *lse, const int32_t *targets, int64_t n,
                                   int64_t c, int32_t ignore_index, float smoothing,
                                   int64_t count)
{
    float scale = dloss[0] / (float)count;
    float off = smoothing / (float)c, on = 1.0f - smoothing;
    ROW_LOOP(r, n)
    {
        int32_t t = targets[r];
        float *dr = dx + r * c;
        if (t == ignore_index) {
            if (assign)
                COL_LOOP(j, c) dr[j] = 0.0f;
            continue;
        }
        const float *xr = x + r * c;
        float l = lse[r];
        COL_LOOP(j, c)
        {
            float v = (assign ? 0.0f : dr[j]) + scale * (expf(xr[j] - l) - off);
            // The target's extra term is a second step, as on the CPU.
            dr[j] = j == t ? v - scale * on : v;
        }
    }
}

void cu_ce_forward(float *loss, float *lse, float *row_loss, const float *x,
                   const int32_t *targets, int64_t n, int64_t c, int32_t ignore_index,
                   float smoothing, int64_t count)
{
    cudaStream_t s = uz_cu_stream();
    if (n > 0) {
        const int32_t *t = uz_cu_upload_i32(targets, n, 0);
        if (!t)
            return;
        ce_rows_kernel<<<row_blocks(n), ROW_THREADS, 0, s>>>(lse, row_loss, x, t, n, c,
                                                             ignore_index, smoothing);
    }
    ce_total_kernel<<<1, 1024, 0, s>>>(loss, row_loss, n, count);
    uz_cu_launched("cross_entropy");
}

void cu_ce_backward(float *dx, bool dx_assign, const float *dloss, const float *x,
                    const float *lse, const int32_t *targets, int64_t n, int64_t c,
                    int32_t ignore_index, float smoothing, int64_t count)
{
    if (n == 0)
        return;
    if (!count) {
        if (dx_assign)
            cudaMemsetAsync(dx, 0, sizeof(float) * (size_t)(n * c), uz_cu_stream());
        return;
    }
    const int32_t *t = uz_cu_upload_i32(targets, n, 0);
    if (!t)
        return;
    ce_backward_kernel<<<row_blocks(n), ROW_THREADS, 0, uz_cu_stream()>>>(
        dx, dx_assign, dloss, x, lse, t, n, c, ignore_index, smoothing, count);
    uz_cu_launched("cross_entropy_backward");
}

// ---- layer norm -------------------------------------------------------------------------

__global__ void ln_forward_kernel(float *y, float *mean, float *rstd, const float *x,
                                  const float *w, const float *b, int64_t n, int64_t c,
                                  float eps)
{
    ROW_LOOP(r, n)
    {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        float s = 0.0f;
        COL_LOOP(j, c) s += xr[j];
        float mu = (float)((double)block_sum(s) / (double)c);
        // Two passes, so the variance of the centred values does not cancel.
        float q = 0.0f;
        COL_LOOP(j, c)
        {
            float d = xr[j] - mu;
            q += d * d;
        }
        double v = (double)block_sum(q) / (double)c;
        float rs = (float)(1.0 / sqrt(v + (double)eps));
        if (threadIdx.x == 0) {
            mean[r] = mu;
            rstd[r] = rs;
        }
        COL_LOOP(j, c)
        {
            float h = (xr[j] - mu) * rs;
            yr[j] = (w ? h * w[j] : h) + (b ? b[j] : 0.0f);
        }
    }
}

__global__ void ln_dx_kernel(float *dx, bool assign, const float *dy, const float *x,
                             const float *w, const float *mean, const float *rstd, int64_t n,
                             int64_t c)
{
    ROW_LOOP(r, n)
    {
        const float *xr = x + r * c, *gr = dy + r * c;
        float *dr = dx + r * c;
        float m = mean[r], rs = rstd[r];
        float s1 = 0.0f, s2 = 0.0f;
        COL_LOOP(j, c)
        {
            float g = w ? gr[j] * w[j] : gr[j];
            s1 += g;
            s2 += g * ((xr[j] - m) * rs);
        }
        float mg = (float)((double)block_sum(s1) / (double)c);
        float mgh = (float)((double)block_sum(s2) / (double)c);
        COL_LOOP(j, c)
        {
            float g = w ? gr[j] * w[j] : gr[j];
            float v = rs * (g - mg - (xr[j] - m) * rs * mgh);
            dr[j] = assign ? v : dr[j] + v;
        }
    }
}

// Partial weight / bias gradients of each UZ_LN_ROW_BLOCK rows, as the CPU's.
__global__ void ln_partials_kernel(float *scratch, const float *dy, const float *x,
                                   const float *mean, const float *rstd, int64_t n, int64_t c,
                                   int64_t blocks)
{
    UZ_CU_LOOP(t, blocks * c)
    {
        int64_t bi = t / c, j = t % c;
        int64_t r1 = min((bi + 1) * (int64_t)UZ_LN_ROW_BLOCK, n);
        float pw = 0.0f, pb = 0.0f;
        for (int64_t r = bi * UZ_LN_ROW_BLOCK; r < r1; r++) {
            float g = dy[r * c + j];
            pw += g * ((x[r * c + j] - mean[r]) * rstd[r]);
            pb += g;
        }
        scratch[2 * bi * c + j] = pw;
        scratch[(2 * bi + 1) * c + j] = pb;
    }
}

__global__ void ln_params_kernel(float *dw, float *db, const float *scratch, int64_t c,
                                 int64_t blocks)
{
    UZ_CU_LOOP(j, c)
    {
        double sw = 0.0, sb = 0.0;
        for (int64_t bi = 0; bi < blocks; bi++) {
            sw += (double)scratch[2 * bi * c + j];
            sb += (double)scratch[(2 * bi + 1) * c + j];
        }
        if (dw)
            dw[j] += (float)sw;
        if (db)
            db[j] += (float)sb;
    }
}

void cu_ln_forward(float *y, float *mean, float *rstd, const float *x, const float *w,
                   const float *b, int64_t n, int64_t c, float eps)
{
    if (n == 0)
        return;
    ln_forward_kernel<<<row_blocks(n), ROW_THREADS, 0, uz_cu_stream()>>>(y, mean, rstd, x, w, b,
                                                                          n, c, eps);
    uz_cu_launched("layer_norm");
}

void cu_ln_backward(float *dx, bool dx_assign, float *dw, float *db, const float *dy,
                    const float *x, const float *w, const float *mean, const float *rstd,
                    int64_t n, int64_t c, float *scratch)
{
    if (n == 0 || c == 0)
        return;
    cudaStream_t s = uz_cu_stream();
    if (dx)
        ln_dx_kernel<<<row_blocks(n), ROW_THREADS, 0, s>>>(dx, dx_assign, dy, x, w, mean, rstd,
                                                           n, c);
    if (dw || db) {
        int64_t blocks = (n + UZ_LN_ROW_BLOCK - 1) / UZ_LN_ROW_BLOCK;
        ln_partials_kernel<<<uz_cu_blocks(blocks * c, THREADS), THREADS, 0, s>>>(
            scratch, dy, x, mean, rstd, n, c, blocks);
        ln_params_kernel<<<uz_cu_blocks(c, THREADS), THREADS, 0, s>>>(dw, db, scratch, c,
                                                                      blocks);
    }
    uz_cu_launched("layer_norm_backward");
}

// ---- dropout -------------------------------------------------------------------------------

__global__ void dropout_kernel(float *out, const float *in, int64_t n, uint32_t cut, float scale,
                               uint64_t seed, uint64_t stream, bool accumulate)
{
    UZ_CU_LOOP(bi, (n + 3) / 4)
    {
        uint32_t w[4];
        uz_philox4x32(seed, stream, (uint64_t)bi, w);
        int64_t i0 = bi * 4;
        for (int k = 0; k < 4 && i0 + k < n; k++) {
            float v = (w[k] >> 8) >= cut ? in[i0 + k] * scale : 0.0f;
            out[i0 + k] = (accumulate ? out[i0 + k] : 0.0f) + v;
        }
    }
}

void dropout(float *out, const float *in, int64_t n, float p, uint64_t seed, uint64_t stream,
             bool accumulate)
{
    if (n <= 0)
        return;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    dropout_kernel<<<uz_cu_blocks((n + 3) / 4, THREADS), THREADS, 0, uz_cu_stream()>>>(
        out, in, n, uz_philox_keep_cut(p), scale, seed, stream, accumulate);
    uz_cu_launched("dropout");
}

void cu_dropout_forward(float *y, const float *x, int64_t n, float p, uint64_t seed,
                        uint64_t stream)
{
    dropout(y, x, n, p, seed, stream, false);
}

void cu_dropout_backward(float *dx, bool dx_assign, const float *dy, int64_t n, float p,
                         uint64_t seed, uint64_t stream)
{
    dropout(dx, dy, n, p, seed, stream, !dx_assign);
}

// ---- embedding -----------------------------------------------------------------------------

__global__ void embedding_forward_kernel(float *y, const float *table, const int32_t *ids,
                                         int64_t n, int64_t d)
{
    UZ_CU_LOOP(i, n * d) y[i] = table[(int64_t)ids[i / d] * d + i % d];
}

// Thread per (distinct id, column): the id's rows of dy in id order.
__global__ void embedding_backward_kernel(float *dtable, const float *dy, uz_cu_groups g,
                                          int64_t d)
{
    UZ_CU_LOOP(t, g.count * d)
    {
        int64_t u = t / d, j = t % d;
        float *dst = dtable + (int64_t)g.tgt[u] * d + j;
        float acc = *dst;
        for (int32_t k = g.start[u]; k < g.start[u + 1]; k++)
            acc += dy[(int64_t)g.pos[k] * d + j];
        *dst = acc;
    }
}

void cu_embedding_forward(float *y, const float *table, const int32_t *ids, int64_t n,
                          int64_t d)
{
    if (n == 0 || d == 0)
        return;
    const int32_t *dev_ids = uz_cu_upload_i32(ids, n, 0);
    if (!dev_ids)
        return;
    embedding_forward_kernel<<<uz_cu_blocks(n * d, THREADS), THREADS, 0, uz_cu_stream()>>>(
        y, table, dev_ids, n, d);
    uz_cu_launched("embedding");
}

void cu_embedding_backward(float *dtable, const float *dy, const int32_t *ids, int64_t n,
                           int64_t d, int32_t padding_idx)
{
    if (n == 0 || d == 0)
        return;
    uz_cu_groups g;
    if (!uz_cu_group_by_target(ids, n, padding_idx, 1, &g) || g.count == 0)
        return;
    embedding_backward_kernel<<<uz_cu_blocks(g.count * d, THREADS), THREADS, 0,
                                uz_cu_stream()>>>(dtable, dy, g, d);
    uz_cu_launched("embedding_backward");
}

// ---- L2 normalisation ---------------------------------------------------------------------

__global__ void l2_forward_kernel(float *y, float *norm, const float *x, int64_t n, int64_t c,
                                  float eps)
{
    ROW_LOOP(r, n)
    {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        double ss = 0.0;
        COL_LOOP(j, c) ss += (double)xr[j] * (double)xr[j];
        float nr = (float)sqrt(block_sum_d(ss));
        if (threadIdx.x == 0)
            norm[r] = nr;
        float inv = 1.0f / (nr > eps ? nr : eps);
        COL_LOOP(j, c) yr[j] = xr[j] * inv;
    }
}

__global__ void l2_backward_kernel(float *dx, const float *dy, const float *y,
                                   const float *norm, int64_t n, int64_t c, float eps)
{
    ROW_LOOP(r, n)
    {
        const float *yr = y + r * c, *gr = dy + r * c;
        float *dr = dx + r * c, nr = norm[r];
        if (!(nr > eps)) {
            // Clamped: y = x / eps is linear in x.
            COL_LOOP(j, c) dr[j] += gr[j] / eps;
            continue;
        }
        double dot = 0.0;
        COL_LOOP(j, c) dot += (double)yr[j] * (double)gr[j];
        float s = (float)block_sum_d(dot);
        COL_LOOP(j, c) dr[j] += (gr[j] - yr[j] * s) / nr;
    }
}

void cu_l2_forward(float *y, float *norm, const float *x, int64_t n, int64_t c, float eps)
{
    if (n == 0)
        return;
    l2_forward_kernel<<<row_blocks(n), ROW_THREADS, 0, uz_cu_stream()>>>(y, norm, x, n, c, eps);
    uz_cu_launched("l2_normalize");
}

void cu_l2_backward(float *dx, const float *dy, const float *y, const float *norm, int64_t n,
                    int64_t c, float eps)
{
    if (n == 0 || c == 0)
        return;
    l2_backward_kernel<<<row_blocks(n), ROW_THREADS, 0, uz_cu_stream()>>>(dx, dy, y, norm, n, c,
                                                                           eps);
    uz_cu_launched("l2_normalize_backward");
}

// ---- BCE and focal loss on logits: core/bce_terms.h per element, as the CPU ---------------

__global__ void bce_forward_kernel(float *loss, const float *x, const float *y, const float *w,
                                   int64_t n)
{
    UZ_CU_LOOP(i, n) loss[i] = uz_bce1(x[i], y[i]) * (w ? w[i] : 1.0f);
}

__global__ void bce_backward_kernel(float *dx, const float *dloss, const float *x,
                                    const float *y, const float *w, int64_t n)
{
    UZ_CU_LOOP(i, n) dx[i] += dloss[i] * (w ? w[i] : 1.0f) * (uz_sigmoid1(x[i]) - y[i]);
}

__global__ void focal_forward_kernel(float *loss, const float *x, const float *y, int64_t n,
                                     float alpha, float gamma)
{
    UZ_CU_LOOP(i, n)
    {
        uz_focal_terms t = uz_focal_terms_of(x[i], y[i], alpha, gamma);
        loss[i] = uz_focal1(&t);
    }
}

__global__ void focal_backward_kernel(float *dx, const float *dloss, const float *x,
                                      const float *y, int64_t n, float alpha, float gamma)
{
    UZ_CU_LOOP(i, n)
    {
        uz_focal_terms t = uz_focal_terms_of(x[i], y[i], alpha, gamma);
        float d = uz_focal1_dx(&t, y[i], gamma);
        dx[i] += dloss[i] * t.alpha_t * d;
    }
}

void cu_bce_forward(float *loss, const float *x, const float *y, const float *w, int64_t n)
{
    if (n <= 0)
        return;
    bce_forward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(loss, x, y, w,
                                                                                  n);
    uz_cu_launched("bce_with_logits");
}

void cu_bce_backward(float *dx, const float *dloss, const float *x, const float *y,
                     const float *w, int64_t n)
{
    if (n <= 0)
        return;
    bce_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(dx, dloss, x,
                                                                                   y, w, n);
    uz_cu_launched("bce_with_logits_backward");
}

void cu_focal_forward(float *loss, const float *x, const float *y, int64_t n, float alpha,
                      float gamma)
{
    if (n <= 0)
        return;
    focal_forward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        loss, x, y, n, alpha, gamma);
    uz_cu_launched("sigmoid_focal_loss");
}

void cu_focal_backward(float *dx, const float *dloss, const float *x, const float *y, int64_t n,
                       float alpha, float gamma)
{
    if (n <= 0)
        return;
    focal_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        dx, dloss, x, y, n, alpha, gamma);
    uz_cu_launched("sigmoid_focal_loss_backward");
}

// ---- GIoU box loss: core/box_giou_row.h per row, as the CPU ---------------------------------

__global__ void giou_forward_kernel(float *loss, const float *pred, const float *target,
                                    int64_t n)
{
    UZ_CU_LOOP(i, n)
    {
        loss[i] = uz_giou_row_loss(pred + 4 * i, target + 4 * i);
    }
}

__global__ void giou_backward_kernel(float *dpred, float *dtarget, const float *dloss,
                                     const float *pred, const float *target, int64_t n)
{
    UZ_CU_LOOP(i, n)
    {
        uz_giou_row_backward(dpred ? dpred + 4 * i : NULL, dtarget ? dtarget + 4 * i : NULL,
                             dloss[i], pred + 4 * i, target + 4 * i);
    }
}

void cu_giou_forward(float *loss, const float *pred, const float *target, int64_t n)
{
    if (n <= 0)
        return;
    giou_forward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(loss, pred,
                                                                                   target, n);
    uz_cu_launched("giou_loss");
}

void cu_giou_backward(float *dpred, float *dtarget, const float *dloss, const float *pred,
                      const float *target, int64_t n)
{
    if (n <= 0)
        return;
    giou_backward_kernel<<<uz_cu_blocks(n, THREADS), THREADS, 0, uz_cu_stream()>>>(
        dpred, dtarget, dloss, pred, target, n);
    uz_cu_launched("giou_loss_backward");
}

} // namespace

extern const struct uz_kernels_nn uz_cuda_kernels_nn;
const struct uz_kernels_nn uz_cuda_kernels_nn = {
    .softmax_forward = cu_softmax_forward,
    .softmax_backward = cu_softmax_backward,
    .cross_entropy_forward = cu_ce_forward,
    .cross_entropy_backward = cu_ce_backward,
    .layer_norm_forward = cu_ln_forward,
    .layer_norm_backward = cu_ln_backward,
    .dropout_forward = cu_dropout_forward,
    .dropout_backward = cu_dropout_backward,
    .embedding_forward = cu_embedding_forward,
    .embedding_backward = cu_embedding_backward,
    .l2_normalize_forward = cu_l2_forward,
    .l2_normalize_backward = cu_l2_backward,
    .bce_logits_forward = cu_bce_forward,
    .bce_logits_backward = cu_bce_backward,
    .focal_logits_forward = cu_focal_forward,
    .focal_logits_backward = cu_focal_backward,
    .giou_loss_forward = cu_giou_forward,
    .giou_loss_backward = cu_giou_backward,
};
