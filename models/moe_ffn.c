/* Attribute-level conditional MoE on uz_linear, uz_softmax, uz_gather and
 * uz_index_select: the rows routed to an expert are gathered into one
 * matrix, so each expert is one pair of GEMMs however many segments use it. */
#include "moe_ffn.h"

#include <stdio.h>
#include <string.h>

#include "nn_layers.h"

uz_status uz_moe_attribute(uz_moe_task task, bool target, uz_moe_modality modality,
                           float out[UZ_MOE_ATTR_DIM])
{
    if ((unsigned)task > UZ_MOE_RETRIEVE || (unsigned)modality > UZ_MOE_CAPTION_QUERY)
        return UZ_FAIL(UZ_ERR_ARG, "moe_attribute: task %d or modality %d out of range",
                       (int)task, (int)modality);
    memset(out, 0, sizeof(float) * UZ_MOE_ATTR_DIM);
    out[task] = 1.0f;
    out[4] = target ? 1.0f : 0.0f;
    out[5 + modality] = 1.0f;
    return UZ_OK;
}

/* prefix + name, or prefix + "experts.<e>." + name when e >= 0. */
static uz_tensor *declare(uz_params *p, const char *prefix, int e, const char *name, int ndim,
                          const int64_t *shape)
{
    char full[256];
    int n = e < 0 ? snprintf(full, sizeof full, "%s%s", prefix, name)
                  : snprintf(full, sizeof full, "%sexperts.%d.%s", prefix, e, name);
    if (n < 0 || n >= (int)sizeof full) {
        UZ_FAIL(UZ_ERR_ARG, "moe_ffn: parameter name prefix '%s' too long", prefix);
        return NULL;
    }
    return uz_params_add(p, full, ndim, shape);
}

uz_status uz_moe_ffn_declare(uz_moe_ffn *m, uz_params *p, const char *prefix,
                             const uz_moe_config *cfg)
{
    uz_moe_config c = *cfg;
    if (c.hidden == 0)
        c.hidden = 4 * c.width;
    if (c.width <= 0 || c.hidden < 0 || c.experts < 1 || c.experts > UZ_MOE_MAX_EXPERTS ||
        c.top_k < 1 || c.top_k > c.experts)
        return UZ_FAIL(UZ_ERR_ARG,
                       "moe_ffn: width %lld, hidden %lld, %d experts (1..%d), top-%d out of range",
                       (long long)c.width, (long long)c.hidden, c.experts, UZ_MOE_MAX_EXPERTS,
                       c.top_k);
    m->cfg = c;
    int64_t D = c.width, H = c.hidden, E = c.experts;
    m->gate_w = declare(p, prefix, -1, "gate.weight", 2, (int64_t[]){E, UZ_MOE_ATTR_DIM});
    m->gate_b = declare(p, prefix, -1, "gate.bias", 1, (int64_t[]){E});
    if (!m->gate_w || !m->gate_b)
        return uz_error_status();
    for (int e = 0; e < c.experts; e++) {
        m->fc_w[e] = declare(p, prefix, e, "fc.weight", 2, (int64_t[]){H, D});
        m->fc_b[e] = declare(p, prefix, e, "fc.bias", 1, (int64_t[]){H});
        m->proj_w[e] = declare(p, prefix, e, "proj.weight", 2, (int64_t[]){D, H});
        m->proj_b[e] = declare(p, prefix, e, "proj.bias", 1, (int64_t[]){D});
        if (!m->fc_w[e] || !m->fc_b[e] || !m->proj_w[e] || !m->proj_b[e])
            return uz_error_status();
    }
    return UZ_OK;
}

static void init_weight(uz_tensor *w, uint64_t seed)
{
    uz_param_init_normal(w, seed, uz_nn_stream(w), 0.0f, 0.02f);
}

void uz_moe_ffn_init(uz_moe_ffn *m, uint64_t seed)
{
    init_weight(m->gate_w, seed);
    uz_param_init_const(m->gate_b, 0.0f);
    for (int e = 0; e < m->cfg.experts; e++) {
        init_weight(m->fc_w[e], seed);
        init_weight(m->proj_w[e], seed);
        uz_param_init_const(m->fc_b[e], 0.0f);
        uz_param_init_const(m->proj_b[e], 0.0f);
    }
}

/* The k largest of p[0..n) by decreasing value; ties go to the lower index. */
static void top_k(const float *p, int n, int k, int32_t *out)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < n; e++) {
            bool taken = false;
            for (int i = 0; i < j; i++)
                taken = taken || out[i] == e;
            if (!taken && (best < 0 || p[e] > p[best]))
                best = e;
        }
        out[j] = best;
    }
}

static bool check_input(const uz_moe_ffn *m, const uz_tensor *x, const uz_moe_segment *segs,
                        int n_segs)
{
    char s[UZ_SHAPE_STR_LEN];
    if (x->ndim != 3 || x->shape[2] != m->cfg.width || x->shape[0] < 1) {
        UZ_FAIL(UZ_ERR_ARG, "moe_ffn: input %s is not [B, T, %lld]", uz_shape_str(x, s, sizeof s),
                (long long)m->cfg.width);
        return false;
    }
    if (n_segs < 1 || !segs) {
        UZ_FAIL(UZ_ERR_ARG, "moe_ffn: %d segments given for input %s", n_segs,
                uz_shape_str(x, s, sizeof s));
        return false;
    }
    int64_t covered = 0;
    for (int i = 0; i < n_segs; i++) {
        if (segs[i].len < 1 || !segs[i].attr) {
            UZ_FAIL(UZ_ERR_ARG, "moe_ffn: segment %d has length %lld%s", i,
                    (long long)segs[i].len, segs[i].attr ? "" : " and no attribute vector");
            return false;
        }
        covered += segs[i].len;
    }
    if (covered != x->shape[1]) {
        UZ_FAIL(UZ_ERR_ARG, "moe_ffn: segments cover %lld positions but input %s has %lld",
                (long long)covered, uz_shape_str(x, s, sizeof s), (long long)x->shape[1]);
        return false;
    }
    if (x->shape[0] * x->shape[1] * m->cfg.top_k > INT32_MAX) {
        UZ_FAIL(UZ_ERR_ARG, "moe_ffn: input %s too large for int32 row indices",
                uz_shape_str(x, s, sizeof s));
        return false;
    }
    return true;
}

uz_tensor *uz_moe_ffn_forward(uz_ctx *ctx, const uz_moe_ffn *m, uz_tensor *x,
                              const uz_moe_segment *segs, int n_segs)
{
    if (!x || !check_input(m, x, segs, n_segs))
        return NULL;
    const uz_moe_config *c = &m->cfg;
    int64_t B = x->shape[0], T = x->shape[1], D = c->width, S = n_segs, K = c->top_k;
    int E = c->experts;

    /* The gate: one softmax row per segment, its top-k, renormalised weights. */
    float *attrs = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(S * UZ_MOE_ATTR_DIM));
    float *probs_v = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(S * E));
    int32_t *sel = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(S * K));
    int32_t *idx = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(B * T));
    int32_t *widx = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(B * T));
    int32_t *pos = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(B * T * K));
    if (!attrs || !probs_v || !sel || !idx || !widx || !pos)
        return NULL;
    for (int64_t i = 0; i < S; i++)
        memcpy(attrs + i * UZ_MOE_ATTR_DIM, segs[i].attr, sizeof(float) * UZ_MOE_ATTR_DIM);
    uz_tensor *a = uz_tensor_from(ctx, 2, (int64_t[]){S, UZ_MOE_ATTR_DIM}, attrs);
    uz_tensor *probs = uz_softmax(ctx, uz_linear(ctx, a, m->gate_w, m->gate_b), NULL);
    if (!probs)
        return NULL;
    uz_tensor_copy_out(probs, probs_v);
    for (int64_t i = 0; i < S; i++)
        top_k(probs_v + i * E, E, (int)K, sel + i * K);
    uz_tensor *w = uz_gather(ctx, probs, 1, sel, 2, (int64_t[]){S, K});
    /* As the reference: top-1 keeps the raw probability (renormalising would
     * make it 1 and leave the gate without gradient). */
    if (K > 1)
        w = uz_div(ctx, w, uz_sum(ctx, w, (int[]){1}, 1, true));
    w = uz_reshape(ctx, w, 1, (int64_t[]){S * K});

    /* Expert e runs on the rows of every segment that selected it; pos[r K + j]
     * is where row r's j-th expert output lands in the concatenation. */
    uz_tensor *rows = uz_reshape(ctx, x, 2, (int64_t[]){B * T, D});
    uz_tensor *outs[UZ_MOE_MAX_EXPERTS];
    int n_out = 0;
    int64_t offset = 0;
    for (int e = 0; e < E; e++) {
        int64_t n = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0, t0 = 0; i < S; t0 += segs[i].len, i++)
                for (int64_t j = 0; j < K; j++)
                    if (sel[i * K + j] == e)
                        for (int64_t t = t0; t < t0 + segs[i].len; t++, n++) {
                            int64_t r = b * T + t;
                            idx[n] = (int32_t)r;
                            widx[n] = (int32_t)(i * K + j);
                            pos[r * K + j] = (int32_t)(offset + n);
                        }
        if (n == 0)
            continue;
        uz_tensor *h = uz_index_select(ctx, rows, 0, idx, n);
        h = uz_gelu(ctx, uz_linear(ctx, h, m->fc_w[e], m->fc_b[e]), c->gelu);
        h = uz_linear(ctx, h, m->proj_w[e], m->proj_b[e]);
        uz_tensor *we = uz_reshape(ctx, uz_index_select(ctx, w, 0, widx, n), 2, (int64_t[]){n, 1});
        outs[n_out++] = uz_mul(ctx, h, we);
        offset += n;
    }
    uz_tensor *y = uz_index_select(ctx, uz_concat(ctx, outs, n_out, 0), 0, pos, B * T * K);
    y = uz_sum(ctx, uz_reshape(ctx, y, 3, (int64_t[]){B * T, K, D}), (int[]){1}, 1, false);
    return uz_reshape(ctx, y, 3, (int64_t[]){B, T, D});
}
