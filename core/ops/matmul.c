/* matmul (2-D and batched, transposes taken from strides) and linear. */
#include "../autograd.h"
#include "../backend.h"
#include "../kernels.h"
#include "../kernels_reduce.h"
#include "../ops.h"

#include <string.h>

/* How a tensor's last two dims can be fed to GEMM without a copy. */
typedef struct mat_operand {
    const float *data;
    bool trans;
    int64_t ld, batch_stride, batch;
} mat_operand;

static bool as_operand(const uz_tensor *t, mat_operand *op)
{
    int nd = t->ndim;
    int64_t rows = t->shape[nd - 2], cols = t->shape[nd - 1];
    const int64_t *st = t->stride;
    if (st[nd - 1] == 1 && st[nd - 2] >= (cols > 1 ? cols : 1)) {
        op->trans = false;
        op->ld = st[nd - 2];
    } else if (st[nd - 2] == 1 && st[nd - 1] >= (rows > 1 ? rows : 1)) {
        op->trans = true;
        op->ld = st[nd - 1];
    } else {
        return false;
    }
    op->batch = 1;
    op->batch_stride = 0;
    for (int i = nd - 3; i >= 0; i--) {
        if (t->shape[i] == 1)
            continue;
        if (op->batch > 1 && st[i] != op->batch_stride * op->batch)
            return false;
        if (op->batch == 1)
            op->batch_stride = st[i];
        op->batch *= t->shape[i];
    }
    op->data = t->data;
    return true;
}

static uz_tensor *operand(uz_ctx *ctx, uz_tensor *t, mat_operand *op)
{
    if (as_operand(t, op))
        return t;
    t = uz_contiguous(ctx, t);
    if (t && !as_operand(t, op)) {
        UZ_FAIL(UZ_ERR_ARG, "matmul: internal: contiguous operand rejected");
        return NULL;
    }
    return t;
}

typedef struct matmul_saved {
    mat_operand a, b;
    int64_t batch, m, n, k;
    bool b_shared; /* b is 2-D and reused across the batch */
} matmul_saved;

static uz_status matmul_backward(uz_ctx *ctx, uz_node *node)
{
    const matmul_saved *s = node->saved;
    uz_tensor *a = node->in[0], *b = node->in[1];
    const struct uz_kernels_blas *k = uz_backend_for(a->device)->blas;
    const float *dc = node->out->grad->data;
    int64_t m = s->m, n = s->n, kk = s->k;
    if (a->requires_grad) {
        bool fresh;
        float *da = uz_grad_buf_fresh(ctx, a, &fresh);
        if (!da)
            return uz_error_status();
        /* dA = dC op(B)^T; dA is contiguous [batch, m, k] in a's logical shape. */
        k->gemm_batched(s->batch, false, !s->b.trans, m, kk, n, 1.0f, dc, n, m * n, s->b.data,
                        s->b.ld, s->b_shared ? 0 : s->b.batch_stride, fresh ? 0.0f : 1.0f, da,
                        kk, m * kk);
    }
    if (b->requires_grad) {
        bool fresh;
        float *db = uz_grad_buf_fresh(ctx, b, &fresh);
        if (!db)
            return uz_error_status();
        bool fold = s->b_shared && !s->a.trans &&
                    (s->batch == 1 || s->a.batch_stride == m * s->a.ld);
        /* A fresh dB is written (beta 0), except where the batched call sums
         * the batches of a shared B into it, which needs zeros to add to. */
        bool summed = s->b_shared && !fold;
        if (fresh && summed)
            uz_backend_for(b->device)->copy->fill(db, 0.0f, uz_tensor_numel(b));
        float beta = fresh && !summed ? 0.0f : 1.0f;
        if (fold)
            /* The batch folds into GEMM's M dimension: one call, summed over rows. */
            k->gemm(true, false, kk, n, s->batch * m, 1.0f, s->a.data, s->a.ld, dc, n, beta, db, n);
        else
            k->gemm_batched(s->batch, !s->a.trans, false, kk, n, m, 1.0f, s->a.data, s->a.ld,
                            s->a.batch_stride, dc, n, m * n, beta, db, n,
                            s->b_shared ? 0 : kk * n);
    }
    return UZ_OK;
}

uz_tensor *uz_matmul(uz_ctx *ctx, uz_tensor *a, uz_tensor *b)
{
    if (!a || !b)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (a->ndim < 2 || b->ndim < 2) {
        UZ_FAIL(UZ_ERR_ARG, "matmul: operands need at least 2 dims, got %s and %s",
                uz_shape_str(a, s1, sizeof s1), uz_shape_str(b, s2, sizeof s2));
        return NULL;
    }
    int64_t m = a->shape[a->ndim - 2], kk = a->shape[a->ndim - 1];
    int64_t n = b->shape[b->ndim - 1];
    bool same_batch = a->ndim == b->ndim;
    for (int i = 0; same_batch && i < a->ndim - 2; i++)
        same_batch = a->shape[i] == b->shape[i];
    bool b_shared = b->ndim == 2 && a->ndim > 2;
    if (b->shape[b->ndim - 2] != kk || (!same_batch && !b_shared)) {
        UZ_FAIL(UZ_ERR_ARG, "matmul: shapes %s and %s do not multiply (inner dims or batch dims differ)",
                uz_shape_str(a, s1, sizeof s1), uz_shape_str(b, s2, sizeof s2));
        return NULL;
    }
    if (!UZ_KERNELS(a, blas, "matmul"))
        return NULL;
    mat_operand oa, ob;
    uz_tensor *ca = operand(ctx, a, &oa), *cb = operand(ctx, b, &ob);
    if (!ca || !cb)
        return NULL;
    int64_t shape[UZ_MAX_DIMS];
    memcpy(shape, a->shape, sizeof(int64_t) * (size_t)a->ndim);
    shape[a->ndim - 1] = n;
    uz_tensor *c = uz_tensor_empty(ctx, a->ndim, shape);
    if (!c)
        return NULL;
    int64_t batch = oa.batch;
    const struct uz_kernels_blas *k = uz_backend_for(a->device)->blas;
    if (b_shared && !oa.trans && (batch == 1 || oa.batch_stride == m * oa.ld))
        k->gemm(false, ob.trans, batch * m, n, kk, 1.0f, oa.data, oa.ld, ob.data, ob.ld, 0.0f,
                c->data, n);
    else
        k->gemm_batched(batch, oa.trans, ob.trans, m, n, kk, 1.0f, oa.data, oa.ld,
                        oa.batch_stride, ob.data, ob.ld, b_shared ? 0 : ob.batch_stride, 0.0f,
                        c->data, n, m * n);
    uz_tensor *in[2] = {ca, cb};
    if (uz_needs_grad(ctx, 2, in)) {
        uz_node *node = uz_record(ctx, "matmul", matmul_backward, c, 2, in, sizeof(matmul_saved));
        if (!node)
            return NULL;
        matmul_saved *s = node->saved;
        *s = (matmul_saved){oa, ob, batch, m, n, kk, b_shared};
    }
    return c;
}

/* The bias gradient's column blocks, and the work below which one thread does it. */
enum { BIAS_COL_BLOCK = 64, BIAS_PAR_MIN = 32768 };

static uz_status linear_backward(uz_ctx *ctx, uz_node *node)
{
    uz_tensor *x = node->in[0], *w = node->in[1], *bias = node->n_in > 2 ? node->in[2] : NULL;
    const struct uz_kernels_blas *k = uz_backend_for(x->device)->blas;
    int64_t out = w->shape[0], inf = w->shape[1];
    int64_t rows = uz_tensor_numel(x) / inf;
    const float *dy = node->out->grad->data;
    if (x->requires_grad) {
        bool fresh;
        float *dx = uz_grad_buf_fresh(ctx, x, &fresh);
        if (!dx)
            return uz_error_status();
        k->gemm(false, false, rows, inf, out, 1.0f, dy, out, w->data, inf, fresh ? 0.0f : 1.0f,
                dx, inf);
    }
    if (w->requires_grad) {
        float *dw = uz_grad_buf(ctx, w);
        if (!dw)
            return uz_error_status();
        k->gemm(true, false, out, inf, rows, 1.0f, dy, out, x->data, inf, 1.0f, dw, inf);
    }
    if (bias && bias->requires_grad && x->device != UZ_DEVICE_CPU) {
        float *db = uz_grad_buf(ctx, bias);
        if (!db)
            return uz_error_status();
        uz_backend_for(x->device)->reduce->sum(db, dy, 2, (int64_t[]){rows, out},
                                               (bool[]){true, false}, 1.0f, true);
    } else if (bias && bias->requires_grad) {
        float *db = uz_grad_buf(ctx, bias);
        if (!db)
            return uz_error_status();
        /* Blocks of columns across threads, each summing the rows in order:
         * the same additions as one serial pass, for any thread count. */
        int64_t blocks = (out + BIAS_COL_BLOCK - 1) / BIAS_COL_BLOCK;
#pragma omp parallel for if (rows * out > BIAS_PAR_MIN) schedule(static)
        for (int64_t bi = 0; bi < blocks; bi++) {
            int64_t j0 = bi * BIAS_COL_BLOCK;
            int64_t len = out - j0 < BIAS_COL_BLOCK ? out - j0 : BIAS_COL_BLOCK;
            float *dbb = db + j0;
            for (int64_t r = 0; r < rows; r++) {
                const float *row = dy + r * out + j0;
#pragma omp simd
                for (int64_t j = 0; j < len; j++)
                    dbb[j] += row[j];
            }
        }
    }
    return UZ_OK;
}

uz_tensor *uz_linear(uz_ctx *ctx, uz_tensor *x, uz_tensor *w, uz_tensor *bias)
{
    if (!x || !w)
        return NULL;
    char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1]) {
        UZ_FAIL(UZ_ERR_ARG, "linear: input %s does not match weight %s (expected [...,%lld])",
                uz_shape_str(x, s1, sizeof s1), uz_shape_str(w, s2, sizeof s2),
                (long long)(w->ndim == 2 ? w->shape[1] : -1));
        return NULL;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0])) {
        UZ_FAIL(UZ_ERR_ARG, "linear: bias %s does not match weight %s",
                uz_shape_str(bias, s1, sizeof s1), uz_shape_str(w, s2, sizeof s2));
        return NULL;
    }
    if (!UZ_KERNELS(x, blas, "linear"))
        return NULL;
    x = uz_contiguous(ctx, x);
    w = uz_contiguous(ctx, w);
    if (!x || !w)
        return NULL;
    int64_t out = w->shape[0], inf = w->shape[1], rows = uz_tensor_numel(x) / (inf ? inf : 1);
    int64_t shape[UZ_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim - 1] = out;
    uz_tensor *y = uz_tensor_empty(ctx, x->ndim, shape);
    if (!y)
        return NULL;
    if (bias && x->device != UZ_DEVICE_CPU)
        /* Device memory: the bias rows are one stride-0 gather. */
        uz_backend_for(x->device)->copy->gather(y->data, bias->data, 2, (int64_t[]){rows, out},
                                                (int64_t[]){0, bias->stride[0]});
    else if (bias)
        for (int64_t r = 0; r < rows; r++)
            memcpy(y->data + r * out, bias->data, sizeof(float) * (size_t)out);
    uz_backend_for(x->device)->blas->gemm(false, true, rows, out, inf, 1.0f, x->data, inf,
                                          w->data, inf, bias ? 1.0f : 0.0f, y->data, out);
    uz_tensor *in[3] = {x, w, bias};
    int n_in = bias ? 3 : 2;
    if (uz_needs_grad(ctx, n_in, in) &&
        !uz_record(ctx, "linear", linear_backward, y, n_in, in, 0))
        return NULL;
    return y;
}
