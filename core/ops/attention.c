/* Fused scaled-dot-product attention: shape checks, the strided layout
 * handed to the kernels, and the backward from the kept probabilities. */
#include "../autograd.h"
#include "../backend.h"
#include "../device.h"
#include "../kernels_attention.h"
#include "../ops.h"

#include <math.h>

typedef struct attention_saved {
    uz_attention_layout layout;
    const float *probs; /* [batch * heads, tq, tk] */
} attention_saved;

/* True when the kernels can read t [B, H, T, D] in place: the head dim is
 * contiguous and rows are far enough apart to be a GEMM operand. */
static bool readable_in_place(const uz_tensor *t)
{
    int64_t rows = t->shape[2], cols = t->shape[3];
    return (cols <= 1 || t->stride[3] == 1) && (rows <= 1 || t->stride[2] >= cols);
}

static uz_tensor *in_place_or_copy(uz_ctx *ctx, uz_tensor *t, int64_t *stride)
{
    if (!readable_in_place(t))
        t = uz_contiguous(ctx, t);
    if (!t)
        return NULL;
    stride[0] = t->stride[0];
    stride[1] = t->stride[1];
    /* With one row its stride is arbitrary, but GEMM wants ld >= columns. */
    stride[2] = t->shape[2] > 1 ? t->stride[2] : (t->shape[3] > 1 ? t->shape[3] : 1);
    return t;
}

/* Strides reading mask as [B, H, Tq, Tk] (0 on broadcast dims), or false
 * when its shape does not broadcast there. */
static bool mask_strides(const uz_tensor *mask, const int64_t *full, int64_t *stride)
{
    for (int i = 0; i < mask->ndim - 4; i++)
        if (mask->shape[i] != 1)
            return false;
    for (int i = 0; i < 4; i++) {
        int m = mask->ndim - 4 + i;
        if (m < 0 || mask->shape[m] == 1) {
            stride[i] = 0;
        } else if (mask->shape[m] == full[i]) {
            stride[i] = mask->stride[m];
        } else {
            return false;
        }
    }
    return true;
}

static uz_status attention_backward(uz_ctx *ctx, uz_node *node)
{
    const attention_saved *s = node->saved;
    uz_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2];
    const struct uz_kernels_attention *kern = uz_backend_for(q->device)->attention;
    float *dq = NULL, *dk = NULL, *dv = NULL, *scratch = NULL;
    if (q->requires_grad && !(dq = uz_grad_buf(ctx, q)))
        return uz_error_status();
    if (k->requires_grad && !(dk = uz_grad_buf(ctx, k)))
        return uz_error_status();
    if (v->requires_grad && !(dv = uz_grad_buf(ctx, v)))
        return uz_error_status();
    const uz_attention_layout *l = &s->layout;
    if (dq || dk) {
        int64_t slices = kern->scratch_slices(l->batch * l->heads);
        scratch = uz_ctx_alloc_on(ctx, q->device,
                                  sizeof(float) * (size_t)(slices * l->tq * l->tk));
        if (!scratch)
            return uz_error_status();
    }
    kern->backward(l, q->data, k->data, v->data, s->probs, node->out->grad->data, dq, dk, dv,
                   scratch);
    return UZ_OK;
}

static bool check_shapes(const uz_tensor *q, const uz_tensor *k, const uz_tensor *v,
                         const uz_tensor *mask)
{
    char sq[UZ_SHAPE_STR_LEN], sk[UZ_SHAPE_STR_LEN], sv[UZ_SHAPE_STR_LEN];
    uz_shape_str(q, sq, sizeof sq);
    uz_shape_str(k, sk, sizeof sk);
    uz_shape_str(v, sv, sizeof sv);
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4) {
        UZ_FAIL(UZ_ERR_ARG, "attention: q, k, v must be 4-D [B,H,T,D], got q %s, k %s, v %s",
                sq, sk, sv);
        return false;
    }
    if (k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3]) {
        UZ_FAIL(UZ_ERR_ARG,
                "attention: k %s does not match q %s (batch, heads and head dim must agree)", sk,
                sq);
        return false;
    }
    if (v->shape[0] != k->shape[0] || v->shape[1] != k->shape[1] || v->shape[2] != k->shape[2]) {
        UZ_FAIL(UZ_ERR_ARG,
                "attention: v %s does not match k %s (batch, heads and key length must agree)",
                sv, sk);
        return false;
    }
    if (k->device != q->device || v->device != q->device || (mask && mask->device != q->device)) {
        UZ_FAIL(UZ_ERR_ARG, "attention: q, k, v and mask must be on one device");
        return false;
    }
    return true;
}

uz_tensor *uz_attention(uz_ctx *ctx, uz_tensor *q, uz_tensor *k, uz_tensor *v, uz_tensor *mask,
                        bool causal, float scale)
{
    if (!q || !k || !v)
        return NULL;
    if (!check_shapes(q, k, v, mask))
        return NULL;
    uz_attention_layout l = {
        .batch = q->shape[0],
        .heads = q->shape[1],
        .tq = q->shape[2],
        .tk = k->shape[2],
        .d = q->shape[3],
        .dv = v->shape[3],
        .causal = causal,
        .scale = scale > 0.0f ? scale : 1.0f / sqrtf((float)(q->shape[3] > 0 ? q->shape[3] : 1)),
    };
    int64_t full[4] = {l.batch, l.heads, l.tq, l.tk};
    if (mask && !mask_strides(mask, full, l.mask_stride)) {
        char sm[UZ_SHAPE_STR_LEN];
        UZ_FAIL(UZ_ERR_ARG, "attention: mask %s is not broadcastable to [%lld,%lld,%lld,%lld]",
                uz_shape_str(mask, sm, sizeof sm), (long long)l.batch, (long long)l.heads,
                (long long)l.tq, (long long)l.tk);
        return NULL;
    }
    const struct uz_kernels_attention *kern = UZ_KERNELS(q, attention, "attention");
    if (!kern)
        return NULL;
    q = in_place_or_copy(ctx, q, l.q_stride);
    k = in_place_or_copy(ctx, k, l.k_stride);
    v = in_place_or_copy(ctx, v, l.v_stride);
    if (!q || !k || !v)
        return NULL;
    uz_tensor *out = uz_tensor_empty(ctx, 4, (int64_t[]){l.batch, l.heads, l.tq, l.dv});
    if (!out)
        return NULL;
    uz_tensor *in[3] = {q, k, v};
    bool grad = uz_needs_grad(ctx, 3, in);
    int64_t bh = l.batch * l.heads;
    int64_t slices = grad ? bh : kern->scratch_slices(bh);
    float *probs =
        uz_ctx_alloc_on(ctx, q->device, sizeof(float) * (size_t)(slices * l.tq * l.tk));
    if (!probs)
        return NULL;
    kern->forward(&l, q->data, k->data, v->data, mask ? mask->data : NULL, out->data, probs,
                  slices);
    if (grad) {
        uz_node *node = uz_record(ctx, "attention", attention_backward, out, 3, in,
                                  sizeof(attention_saved));
        if (!node)
            return NULL;
        *(attention_saved *)node->saved = (attention_saved){l, probs};
    }
    return out;
}
