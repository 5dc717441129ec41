/* The SASRec encoder on core ops (uz_embedding, uz_linear, uz_attention,
 * uz_layer_norm, uz_gelu, uz_dropout), so its backward comes from autograd.
 * Follows RecBole's TransformerEncoder operation for operation. */
#include "sasrec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* RecBole's additive mask value: exp(-10000 + s) underflows to exactly 0
 * next to any unmasked key, so masked keys drop out; a query whose every
 * key is masked attends uniformly instead of giving zeros. */
#define MASK_VALUE (-10000.0f)

uz_sasrec_config uz_sasrec_config_default(int64_t n_items)
{
    return (uz_sasrec_config){
        .n_items = n_items,
        .hidden = 64,
        .layers = 2,
        .heads = 2,
        .inner = 256,
        .max_len = 50,
        .hidden_dropout = 0.5f,
        .attn_dropout = 0.5f,
        .ln_eps = 1e-12f,
    };
}

static uz_tensor *declare(uz_params *p, const char *prefix, const char *name, int ndim,
                          const int64_t *shape)
{
    char full[256];
    if (snprintf(full, sizeof full, "%s%s", prefix, name) >= (int)sizeof full) {
        UZ_FAIL(UZ_ERR_ARG, "sasrec: parameter name prefix '%s' too long", prefix);
        return NULL;
    }
    return uz_params_add(p, full, ndim, shape);
}

static bool valid_dropout(float p) { return p >= 0.0f && p < 1.0f; }

static uz_status check_config(const uz_sasrec_config *c)
{
    if (c->n_items < 1 || c->hidden < 1 || c->inner < 1 || c->max_len < 1)
        return UZ_FAIL(UZ_ERR_ARG,
                       "sasrec: n_items %lld, hidden %lld, inner %lld, max_len %lld must be >= 1",
                       (long long)c->n_items, (long long)c->hidden, (long long)c->inner,
                       (long long)c->max_len);
    if (c->layers < 1 || c->layers > UZ_SASREC_MAX_LAYERS)
        return UZ_FAIL(UZ_ERR_ARG, "sasrec: layers %d not in [1, %d]", c->layers,
                       UZ_SASREC_MAX_LAYERS);
    if (c->heads < 1 || c->hidden % c->heads != 0)
        return UZ_FAIL(UZ_ERR_ARG, "sasrec: hidden %lld is not a positive multiple of %d heads",
                       (long long)c->hidden, c->heads);
    if (!valid_dropout(c->hidden_dropout) || !valid_dropout(c->attn_dropout) ||
        !(c->ln_eps > 0.0f))
        return UZ_FAIL(UZ_ERR_ARG,
                       "sasrec: hidden_dropout %g, attn_dropout %g must be in [0, 1), ln_eps %g > 0",
                       (double)c->hidden_dropout, (double)c->attn_dropout, (double)c->ln_eps);
    return UZ_OK;
}

static uz_status declare_layer(uz_sasrec_layer *l, uz_params *p, const char *prefix, int i,
                               int64_t d, int64_t inner)
{
    char pre[256];
    if (snprintf(pre, sizeof pre, "%strm_encoder.layer.%d.", prefix, i) >= (int)sizeof pre)
        return UZ_FAIL(UZ_ERR_ARG, "sasrec: parameter name prefix '%s' too long", prefix);
    const int64_t dd[2] = {d, d}, vd[1] = {d}, up[2] = {inner, d}, down[2] = {d, inner};
    const int64_t vi[1] = {inner};
    l->q_w = declare(p, pre, "multi_head_attention.query.weight", 2, dd);
    l->q_b = declare(p, pre, "multi_head_attention.query.bias", 1, vd);
    l->k_w = declare(p, pre, "multi_head_attention.key.weight", 2, dd);
    l->k_b = declare(p, pre, "multi_head_attention.key.bias", 1, vd);
    l->v_w = declare(p, pre, "multi_head_attention.value.weight", 2, dd);
    l->v_b = declare(p, pre, "multi_head_attention.value.bias", 1, vd);
    l->o_w = declare(p, pre, "multi_head_attention.dense.weight", 2, dd);
    l->o_b = declare(p, pre, "multi_head_attention.dense.bias", 1, vd);
    l->attn_ln_w = declare(p, pre, "multi_head_attention.LayerNorm.weight", 1, vd);
    l->attn_ln_b = declare(p, pre, "multi_head_attention.LayerNorm.bias", 1, vd);
    l->ff1_w = declare(p, pre, "feed_forward.dense_1.weight", 2, up);
    l->ff1_b = declare(p, pre, "feed_forward.dense_1.bias", 1, vi);
    l->ff2_w = declare(p, pre, "feed_forward.dense_2.weight", 2, down);
    l->ff2_b = declare(p, pre, "feed_forward.dense_2.bias", 1, vd);
    l->ff_ln_w = declare(p, pre, "feed_forward.LayerNorm.weight", 1, vd);
    l->ff_ln_b = declare(p, pre, "feed_forward.LayerNorm.bias", 1, vd);
    if (!l->q_w || !l->q_b || !l->k_w || !l->k_b || !l->v_w || !l->v_b || !l->o_w || !l->o_b ||
        !l->attn_ln_w || !l->attn_ln_b || !l->ff1_w || !l->ff1_b || !l->ff2_w || !l->ff2_b ||
        !l->ff_ln_w || !l->ff_ln_b)
        return uz_error_status();
    return UZ_OK;
}

uz_status uz_sasrec_declare(uz_sasrec *enc, uz_params *p, const char *prefix,
                            const uz_sasrec_config *cfg)
{
    uz_status st = check_config(cfg);
    if (st != UZ_OK)
        return st;
    memset(enc, 0, sizeof *enc);
    enc->cfg = *cfg;
    int64_t d = cfg->hidden;
    /* Declared in the checkpoint's order, so a saved file lists them alike. */
    enc->item_emb = declare(p, prefix, "item_embedding.weight", 2,
                            (int64_t[]){cfg->n_items + 2, d});
    enc->pos_emb = declare(p, prefix, "position_embedding.weight", 2,
                           (int64_t[]){cfg->max_len, d});
    if (!enc->item_emb || !enc->pos_emb)
        return uz_error_status();
    for (int i = 0; i < cfg->layers; i++)
        if ((st = declare_layer(&enc->layer[i], p, prefix, i, d, cfg->inner)) != UZ_OK)
            return st;
    enc->ln_w = declare(p, prefix, "LayerNorm.weight", 1, (int64_t[]){d});
    enc->ln_b = declare(p, prefix, "LayerNorm.bias", 1, (int64_t[]){d});
    return enc->ln_w && enc->ln_b ? UZ_OK : uz_error_status();
}

/* FNV-1a: a stable per-name stream, independent of declaration order. */
static uint64_t name_stream(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void init_normal(uz_tensor *t, uint64_t seed)
{
    uz_param_init_normal(t, seed, name_stream(t->name), 0.0f, 0.02f);
}

void uz_sasrec_init(uz_sasrec *enc, uint64_t seed)
{
    init_normal(enc->item_emb, seed);
    init_normal(enc->pos_emb, seed);
    uz_param_init_const(enc->ln_w, 1.0f);
    uz_param_init_const(enc->ln_b, 0.0f);
    for (int i = 0; i < enc->cfg.layers; i++) {
        uz_sasrec_layer *l = &enc->layer[i];
        uz_tensor *weights[] = {l->q_w, l->k_w, l->v_w, l->o_w, l->ff1_w, l->ff2_w};
        uz_tensor *zeros[] = {l->q_b, l->k_b, l->v_b, l->o_b,
                              l->ff1_b, l->ff2_b, l->attn_ln_b, l->ff_ln_b};
        for (size_t j = 0; j < sizeof weights / sizeof *weights; j++)
            init_normal(weights[j], seed);
        for (size_t j = 0; j < sizeof zeros / sizeof *zeros; j++)
            uz_param_init_const(zeros[j], 0.0f);
        uz_param_init_const(l->attn_ln_w, 1.0f);
        uz_param_init_const(l->ff_ln_w, 1.0f);
    }
}

static uz_status load_tensor(const uz_st_file *f, uz_tensor *t)
{
    return uz_st_read_f32(f, t->name, t->ndim, t->shape, t->data);
}

uz_status uz_sasrec_load(const uz_sasrec *enc, const char *path)
{
    uz_st_file *f = NULL;
    uz_status st = uz_st_open(path, &f);
    if (st != UZ_OK)
        return st;
    uz_tensor *top[] = {enc->item_emb, enc->pos_emb, enc->ln_w, enc->ln_b};
    for (size_t j = 0; st == UZ_OK && j < sizeof top / sizeof *top; j++)
        st = load_tensor(f, top[j]);
    for (int i = 0; st == UZ_OK && i < enc->cfg.layers; i++) {
        const uz_sasrec_layer *l = &enc->layer[i];
        uz_tensor *all[] = {l->q_w,       l->q_b,       l->k_w,   l->k_b,   l->v_w,   l->v_b,
                            l->o_w,       l->o_b,       l->attn_ln_w, l->attn_ln_b, l->ff1_w,
                            l->ff1_b,     l->ff2_w,     l->ff2_b, l->ff_ln_w, l->ff_ln_b};
        for (size_t j = 0; st == UZ_OK && j < sizeof all / sizeof *all; j++)
            st = load_tensor(f, all[j]);
    }
    uz_st_close(f);
    return st;
}

/* [B, T, d] -> [B, H, T, d/H] view. */
static uz_tensor *split_heads(uz_ctx *ctx, uz_tensor *x, int64_t heads)
{
    if (!x)
        return NULL;
    int64_t B = x->shape[0], T = x->shape[1], d = x->shape[2];
    static const int to_bhtd[4] = {0, 2, 1, 3};
    return uz_permute(ctx, uz_reshape(ctx, x, 4, (int64_t[]){B, T, heads, d / heads}), to_bhtd);
}

/* Attention with dropout on the probabilities, which the fused op lacks:
 * RecBole's own sequence (scores / sqrt(D) + mask, softmax, dropout, x V)
 * with its full mask, -10000 on future and padding keys alike. */
static uz_tensor *attention_with_dropout(uz_ctx *ctx, uz_tensor *q, uz_tensor *k, uz_tensor *v,
                                         uz_tensor *full_mask, float scale, float p)
{
    uz_tensor *s = uz_mul_scalar(ctx, uz_matmul(ctx, q, uz_transpose(ctx, k, 2, 3)), scale);
    uz_tensor *probs = uz_dropout(ctx, uz_softmax(ctx, s, full_mask), p, true);
    return uz_matmul(ctx, probs, v);
}

typedef struct masks {
    uz_tensor *pad;   /* [B, 1, 1, T]: -10000 on padding keys */
    uz_tensor *full;  /* [B, 1, T, T]: also on future keys; only for attention dropout */
} masks;

static uz_tensor *layer_forward(uz_ctx *ctx, const uz_sasrec *enc, const uz_sasrec_layer *l,
                                uz_tensor *x, const masks *m, bool training)
{
    if (!x)
        return NULL;
    const uz_sasrec_config *c = &enc->cfg;
    int64_t B = x->shape[0], T = x->shape[1], d = c->hidden, H = c->heads;
    float hp = training ? c->hidden_dropout : 0.0f;
    uz_tensor *q = split_heads(ctx, uz_linear(ctx, x, l->q_w, l->q_b), H);
    uz_tensor *k = split_heads(ctx, uz_linear(ctx, x, l->k_w, l->k_b), H);
    uz_tensor *v = split_heads(ctx, uz_linear(ctx, x, l->v_w, l->v_b), H);
    float scale = 1.0f / sqrtf((float)(d / H));
    /* Without attention dropout the fused op gives the same probabilities:
     * its causal exclusion equals -10000 on future keys (both weigh 0), for
     * every query that sees at least one real key. A query seeing none is a
     * padding position at or before the first real item, which later
     * positions weigh 0 through its own -10000, so no representation
     * depends on how it attends. */
    uz_tensor *o = training && c->attn_dropout > 0.0f
                       ? attention_with_dropout(ctx, q, k, v, m->full, scale, c->attn_dropout)
                       : uz_attention(ctx, q, k, v, m->pad, true, scale);
    static const int to_bthd[4] = {0, 2, 1, 3};
    o = uz_reshape(ctx, uz_permute(ctx, o, to_bthd), 3, (int64_t[]){B, T, d});
    o = uz_dropout(ctx, uz_linear(ctx, o, l->o_w, l->o_b), hp, training);
    uz_tensor *h = uz_layer_norm(ctx, uz_add(ctx, o, x), l->attn_ln_w, l->attn_ln_b, c->ln_eps);

    uz_tensor *f = uz_gelu(ctx, uz_linear(ctx, h, l->ff1_w, l->ff1_b), UZ_GELU_ERF);
    f = uz_dropout(ctx, uz_linear(ctx, f, l->ff2_w, l->ff2_b), hp, training);
    return uz_layer_norm(ctx, uz_add(ctx, f, h), l->ff_ln_w, l->ff_ln_b, c->ln_eps);
}

/* The masks for window ids [B, T]; full only when attention dropout needs it. */
static bool build_masks(uz_ctx *ctx, const int32_t *ids, int64_t B, int64_t T, bool full,
                        masks *m)
{
    m->pad = uz_tensor_empty(ctx, 4, (int64_t[]){B, 1, 1, T});
    m->full = full ? uz_tensor_empty(ctx, 4, (int64_t[]){B, 1, T, T}) : NULL;
    if (!m->pad || (full && !m->full))
        return false;
    for (int64_t i = 0; i < B * T; i++)
        m->pad->data[i] = ids[i] == 0 ? MASK_VALUE : 0.0f;
    if (full)
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < T; i++)
                for (int64_t j = 0; j < T; j++)
                    m->full->data[(b * T + i) * T + j] =
                        j > i ? MASK_VALUE : m->pad->data[b * T + j];
    return true;
}

/* The encoder over rows[0..n) of ids [*, L], computed to the longest of
 * their lengths; [n, d] in the order of rows. */
static uz_tensor *encode_rows(uz_ctx *ctx, const uz_sasrec *enc, const int32_t *ids,
                              const int32_t *lengths, const int32_t *rows, int64_t n, int64_t L,
                              bool training)
{
    const uz_sasrec_config *c = &enc->cfg;
    int64_t T = 0;
    for (int64_t g = 0; g < n; g++)
        if (lengths[rows[g]] > T)
            T = lengths[rows[g]];
    int32_t *win = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n * T));
    int32_t *last = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)n);
    if (!win || !last)
        return NULL;
    for (int64_t g = 0; g < n; g++) {
        memcpy(win + g * T, ids + rows[g] * L, sizeof(int32_t) * (size_t)T);
        last[g] = (int32_t)(g * T + lengths[rows[g]] - 1);
    }
    masks m;
    if (!build_masks(ctx, win, n, T, training && c->attn_dropout > 0.0f, &m))
        return NULL;

    /* The embedding checks every id against the table. */
    uz_tensor *x = uz_embedding(ctx, enc->item_emb, win, 2, (int64_t[]){n, T}, 0);
    x = uz_add(ctx, x, uz_narrow(ctx, enc->pos_emb, 0, 0, T));
    x = uz_layer_norm(ctx, x, enc->ln_w, enc->ln_b, c->ln_eps);
    x = uz_dropout(ctx, x, training ? c->hidden_dropout : 0.0f, training);
    for (int i = 0; i < c->layers; i++)
        x = layer_forward(ctx, enc, &enc->layer[i], x, &m, training);
    x = uz_reshape(ctx, x, 2, (int64_t[]){n * T, c->hidden});
    return uz_index_select(ctx, x, 0, last, n);
}

/* Work estimate of encoding n rows to width T, in token-projections: the
 * per-token Linears (8 d^2 + 4 d inner) plus the T keys each token
 * attends over (4 T d), and a fixed GROUP_TOKENS per separate encoding for
 * the extra op calls and smaller GEMMs. */
enum { GROUP_TOKENS = 64 };

static double group_cost(const uz_sasrec_config *c, int64_t n, int64_t T)
{
    double per_token = (double)(8 * c->hidden * c->hidden + 4 * c->hidden * c->inner);
    return (double)(n * T) * (1.0 + (double)(4 * T * c->hidden) / per_token) + GROUP_TOKENS;
}

uz_tensor *uz_sasrec_forward(uz_ctx *ctx, const uz_sasrec *enc, const int32_t *ids,
                             const int32_t *lengths, int64_t B, int64_t L, bool training)
{
    const uz_sasrec_config *c = &enc->cfg;
    if (!ids || !lengths || B < 1 || L < 1 || L > c->max_len) {
        UZ_FAIL(UZ_ERR_ARG, "sasrec: batch %lld x length %lld (max_len %lld) or NULL ids/lengths",
                (long long)B, (long long)L, (long long)c->max_len);
        return NULL;
    }
    for (int64_t b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > L) {
            UZ_FAIL(UZ_ERR_ARG, "sasrec: sequence %lld has length %d, not in [1, %lld]",
                    (long long)b, lengths[b], (long long)L);
            return NULL;
        }
    /* Rows sorted by length (counting sort), then cut into runs that are
     * encoded separately, each to its own longest row: with left-aligned
     * rows and a causal mask, position len-1 depends on nothing after it,
     * so this is the full-width result with a fraction of the padding (a
     * shuffled batch of prefixes averages ~8 items but nearly always holds
     * one of 50). The runs minimise group_cost by dynamic programming. */
    int32_t *count = uz_ctx_zalloc(ctx, sizeof(int32_t) * (size_t)(L + 1));
    int32_t *rows = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)B);
    int32_t *cut = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(B + 1));
    double *best = uz_ctx_alloc(ctx, sizeof(double) * (size_t)(B + 1));
    if (!count || !rows || !cut || !best)
        return NULL;
    for (int64_t b = 0; b < B; b++)
        count[lengths[b]]++;
    for (int64_t len = 1, at = 0; len <= L; len++) {
        int32_t here = count[len];
        count[len] = (int32_t)at;
        at += here;
    }
    for (int64_t b = 0; b < B; b++)
        rows[count[lengths[b]]++] = (int32_t)b;
    /* best[j]: the cheapest cover of sorted rows [0, j); cut[j]: where its
     * last run starts. A run [i, j) is as wide as its last row. */
    best[0] = 0.0;
    for (int64_t j = 1; j <= B; j++) {
        int64_t T = lengths[rows[j - 1]];
        best[j] = -1.0;
        for (int64_t i = 0; i < j; i++) {
            double v = best[i] + group_cost(c, j - i, T);
            if (best[j] < 0.0 || v < best[j]) {
                best[j] = v;
                cut[j] = (int32_t)i;
            }
        }
    }
    if (cut[B] == 0) {
        /* One run: encode in the caller's order. */
        for (int64_t b = 0; b < B; b++)
            rows[b] = (int32_t)b;
        return encode_rows(ctx, enc, ids, lengths, rows, B, L, training);
    }
    int n_runs = 0;
    for (int64_t j = B; j > 0; j = cut[j])
        n_runs++;
    uz_tensor **parts = uz_ctx_alloc(ctx, sizeof(uz_tensor *) * (size_t)n_runs);
    int64_t *ends = uz_ctx_alloc(ctx, sizeof(int64_t) * (size_t)n_runs);
    int32_t *where = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)B);
    if (!parts || !ends || !where)
        return NULL;
    int k = n_runs;
    for (int64_t j = B; j > 0; j = cut[j])
        ends[--k] = j;
    for (int r = 0; r < n_runs; r++) {
        int64_t start = cut[ends[r]];
        parts[r] = encode_rows(ctx, enc, ids, lengths, rows + start, ends[r] - start, L, training);
        if (!parts[r])
            return NULL;
    }
    for (int64_t s = 0; s < B; s++)
        where[rows[s]] = (int32_t)s;
    return uz_index_select(ctx, uz_concat(ctx, parts, n_runs, 0), 0, where, B);
}

uz_tensor *uz_sasrec_logits(uz_ctx *ctx, const uz_sasrec *enc, uz_tensor *h)
{
    if (!h)
        return NULL;
    return uz_linear(ctx, h, uz_narrow(ctx, enc->item_emb, 0, 0, enc->cfg.n_items + 1), NULL);
}

uz_tensor *uz_sasrec_ce_loss(uz_ctx *ctx, const uz_sasrec *enc, uz_tensor *h,
                             const int32_t *targets)
{
    return uz_cross_entropy(ctx, uz_sasrec_logits(ctx, enc, h), targets, -1, 0.0f);
}
