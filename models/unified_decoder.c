/* Unified decoder on the transformer block (its attention sub-layer, with
 * the dense MLP or the MoE as the feed-forward), the score head and the
 * captioning mask. */
#include "unified_decoder.h"

#include <math.h>
#include <stdio.h>

uz_status uz_unified_decoder_declare(uz_unified_decoder *dec, uz_params *p, const char *prefix,
                                     const uz_unified_decoder_config *cfg)
{
    uz_unified_decoder_config c = *cfg;
    c.layers = c.layers ? c.layers : 2;
    c.experts = c.experts ? c.experts : 4;
    c.top_k = c.top_k ? c.top_k : 2;
    if (c.width < 1 || c.layers < 1 || c.layers > UZ_DECODER_MAX_LAYERS || c.tasks < 1 ||
        c.out_dim < 0)
        return UZ_FAIL(UZ_ERR_ARG,
                       "unified_decoder: width %lld, %d layers (1..%d), %d tasks, out_dim %lld",
                       (long long)c.width, c.layers, UZ_DECODER_MAX_LAYERS, c.tasks,
                       (long long)c.out_dim);
    int64_t D = c.width;
    dec->spe = uz_nn_param(p, prefix, "spe", 1, (int64_t[]){D});
    dec->type_emb =
        uz_nn_param(p, prefix, "type_embedding.weight", 2, (int64_t[]){UZ_TOKEN_TYPES, D});
    if (!dec->spe || !dec->type_emb)
        return uz_error_status();
    uz_transformer_config bc = {.width = D, .heads = c.heads, .mlp_hidden = c.mlp_hidden,
                                .pre_ln = true, .gelu = UZ_GELU_ERF, .dropout = c.dropout,
                                .ln_eps = c.ln_eps, .no_mlp = c.moe};
    uz_moe_config mc = {.width = D, .hidden = c.mlp_hidden, .experts = c.experts,
                        .top_k = c.top_k, .gelu = UZ_GELU_ERF};
    for (int i = 0; i < c.layers; i++) {
        char name[32], full[256];
        snprintf(name, sizeof name, "layers.%d.", i);
        uz_status st = uz_nn_name(full, sizeof full, prefix, name);
        if (st == UZ_OK)
            st = uz_transformer_block_declare(&dec->layers[i], p, full, &bc);
        if (st == UZ_OK && c.moe) {
            snprintf(name, sizeof name, "layers.%d.moe.", i);
            st = uz_nn_name(full, sizeof full, prefix, name);
            if (st == UZ_OK)
                st = uz_moe_ffn_declare(&dec->moe[i], p, full, &mc);
        }
        if (st != UZ_OK)
            return st;
    }
    c.mlp_hidden = dec->layers[0].cfg.mlp_hidden;
    c.ln_eps = dec->layers[0].cfg.ln_eps;
    dec->cfg = c;
    uz_status st = uz_nn_layer_norm_declare(&dec->ln_f, p, prefix, "ln_f", D, c.ln_eps);
    if (st == UZ_OK && c.out_dim > 0)
        st = uz_nn_layer_norm_declare(&dec->out_ln, p, prefix, "out_proj.ln", D, c.ln_eps);
    if (st == UZ_OK && c.out_dim > 0)
        st = uz_nn_linear_declare(&dec->out_proj, p, prefix, "out_proj.linear", D, c.out_dim);
    if (st != UZ_OK)
        return st;
    dec->logit_scale = uz_nn_param(p, prefix, "logit_scale", 1, (int64_t[]){c.tasks});
    return dec->logit_scale ? UZ_OK : uz_error_status();
}

void uz_unified_decoder_init(uz_unified_decoder *dec, uint64_t seed)
{
    uz_param_init_normal(dec->spe, seed, uz_nn_stream(dec->spe), 0.0f, 0.02f);
    uz_param_init_normal(dec->type_emb, seed, uz_nn_stream(dec->type_emb), 0.0f, 0.02f);
    for (int i = 0; i < dec->cfg.layers; i++) {
        uz_transformer_block_init(&dec->layers[i], seed);
        if (dec->cfg.moe)
            uz_moe_ffn_init(&dec->moe[i], seed);
    }
    uz_nn_layer_norm_init(&dec->ln_f);
    if (dec->cfg.out_dim > 0) {
        uz_nn_layer_norm_init(&dec->out_ln);
        uz_nn_linear_init(&dec->out_proj, seed);
    }
    uz_param_init_const(dec->logit_scale, logf(1.0f / 0.07f));
}

typedef struct moe_arg {
    const uz_moe_ffn *moe;
    const uz_moe_segment *segs;
    int n_segs;
} moe_arg;

static uz_tensor *moe_branch(uz_ctx *ctx, uz_tensor *h, const void *arg)
{
    const moe_arg *a = arg;
    return uz_moe_ffn_forward(ctx, a->moe, h, a->segs, a->n_segs);
}

/* The input sequence: [<SPE> when spe, parts...] with the type embeddings
 * added, and each part's MoE segment (<SPE> routed with the first part). */
static uz_tensor *assemble(uz_ctx *ctx, const uz_unified_decoder *dec,
                           const uz_decoder_part *parts, int n_parts, bool spe,
                           uz_moe_segment *segs)
{
    const uz_unified_decoder_config *c = &dec->cfg;
    if (!parts || n_parts < 1 || n_parts > UZ_DECODER_MAX_PARTS) {
        UZ_FAIL(UZ_ERR_ARG, "unified_decoder: %d parts given (1..%d)", parts ? n_parts : 0,
                UZ_DECODER_MAX_PARTS);
        return NULL;
    }
    uz_tensor *seq[UZ_DECODER_MAX_PARTS + 1];
    for (int i = 0; i < n_parts; i++) {
        uz_tensor *t = parts[i].tokens;
        if (!t)
            return NULL;
        char s0[UZ_SHAPE_STR_LEN], s1[UZ_SHAPE_STR_LEN];
        if (t->ndim != 3 || t->shape[2] != c->width || t->shape[1] < 1 ||
            t->shape[0] != parts[0].tokens->shape[0] ||
            (unsigned)parts[i].type >= UZ_TOKEN_TYPES || (c->moe && !parts[i].attr)) {
            UZ_FAIL(UZ_ERR_ARG,
                    "unified_decoder: part %d %s (type %d%s) does not fit [%s's B, n, %lld]", i,
                    uz_shape_str(t, s0, sizeof s0), (int)parts[i].type,
                    c->moe && !parts[i].attr ? ", no MoE attribute" : "",
                    uz_shape_str(parts[0].tokens, s1, sizeof s1), (long long)c->width);
            return NULL;
        }
        uz_tensor *type = uz_narrow(ctx, dec->type_emb, 0, parts[i].type, 1);
        seq[i + 1] = uz_add(ctx, t, type);
        segs[i] = (uz_moe_segment){t->shape[1] + (spe && i == 0), parts[i].attr};
    }
    int64_t B = parts[0].tokens->shape[0], D = c->width;
    if (!spe)
        return n_parts == 1 ? seq[1] : uz_concat(ctx, seq + 1, n_parts, 1);
    seq[0] = uz_expand(ctx, uz_reshape(ctx, dec->spe, 3, (int64_t[]){1, 1, D}), 3,
                       (int64_t[]){B, 1, D});
    return uz_concat(ctx, seq, n_parts + 1, 1);
}

/* segs cut to the positions [start, start + len), empty runs dropped. */
static int segments_in(const uz_moe_segment *segs, int n, int64_t start, int64_t len,
                       uz_moe_segment *out)
{
    int m = 0;
    int64_t t0 = 0;
    for (int i = 0; i < n; t0 += segs[i].len, i++) {
        int64_t a = t0 > start ? t0 : start;
        int64_t z = t0 + segs[i].len < start + len ? t0 + segs[i].len : start + len;
        if (z > a)
            out[m++] = (uz_moe_segment){z - a, segs[i].attr};
    }
    return m;
}

/* rows NULL: every output row; otherwise the last layer computes only rows
 * [rows[0], rows[0] + rows[1]) (uz_transformer_block_forward_rows). */
static uz_tensor *decode(uz_ctx *ctx, const uz_unified_decoder *dec,
                         const uz_decoder_part *parts, int n_parts, uz_tensor *mask,
                         bool training, const int64_t *rows)
{
    const uz_unified_decoder_config *c = &dec->cfg;
    uz_moe_segment segs[UZ_DECODER_MAX_PARTS], kept[UZ_DECODER_MAX_PARTS];
    uz_tensor *x = assemble(ctx, dec, parts, n_parts, true, segs);
    if (!x)
        return NULL;
    if (rows && (rows[0] < 0 || rows[1] < 1 || rows[0] + rows[1] > x->shape[1])) {
        UZ_FAIL(UZ_ERR_ARG, "unified_decoder: rows [%lld, %lld) of %lld positions",
                (long long)rows[0], (long long)(rows[0] + rows[1]), (long long)x->shape[1]);
        return NULL;
    }
    for (int i = 0; i < c->layers; i++) {
        moe_arg arg = {&dec->moe[i], segs, n_parts};
        uz_transformer_ffn ffn = c->moe ? moe_branch : NULL;
        if (rows && i == c->layers - 1) {
            if (c->moe) /* the last layer's feed-forward sees only the kept rows */
                arg = (moe_arg){&dec->moe[i], kept,
                                segments_in(segs, n_parts, rows[0], rows[1], kept)};
            x = uz_transformer_block_forward_rows(ctx, &dec->layers[i], x, mask, training, ffn,
                                                  &arg, rows[0], rows[1]);
        } else if (c->moe) {
            x = uz_transformer_block_forward_ffn(ctx, &dec->layers[i], x, mask, false, training,
                                                 ffn, &arg);
        } else {
            x = uz_transformer_block_forward(ctx, &dec->layers[i], x, mask, false, training);
        }
    }
    return uz_nn_layer_norm_forward(ctx, &dec->ln_f, x);
}

uz_tensor *uz_unified_decoder_forward(uz_ctx *ctx, const uz_unified_decoder *dec,
                                      const uz_decoder_part *parts, int n_parts,
                                      uz_tensor *mask, bool training)
{
    return decode(ctx, dec, parts, n_parts, mask, training, NULL);
}

uz_tensor *uz_unified_decoder_forward_rows(uz_ctx *ctx, const uz_unified_decoder *dec,
                                           const uz_decoder_part *parts, int n_parts,
                                           uz_tensor *mask, bool training, int64_t start,
                                           int64_t len)
{
    return decode(ctx, dec, parts, n_parts, mask, training, (int64_t[]){start, len});
}

/* The layers over the assembled x in evaluation mode, reading prefix's
 * keys and values (NULL: none) and writing x's own to kv_out (NULL: not). */
static uz_tensor *layers_kv(uz_ctx *ctx, const uz_unified_decoder *dec, uz_tensor *x,
                            const uz_moe_segment *segs, int n_parts, const uz_kv *prefix,
                            uz_kv *kv_out, uz_tensor *mask)
{
    const uz_unified_decoder_config *c = &dec->cfg;
    for (int i = 0; i < c->layers; i++) {
        moe_arg arg = {&dec->moe[i], segs, n_parts};
        x = uz_transformer_block_forward_kv(ctx, &dec->layers[i], x, prefix ? &prefix[i] : NULL,
                                            kv_out ? &kv_out[i] : NULL, mask,
                                            c->moe ? moe_branch : NULL, &arg);
    }
    return x;
}

uz_status uz_unified_decoder_prefix(uz_ctx *ctx, const uz_unified_decoder *dec,
                                    const uz_decoder_part *parts, int n_parts, uz_kv *kv)
{
    uz_moe_segment segs[UZ_DECODER_MAX_PARTS];
    uz_tensor *x = assemble(ctx, dec, parts, n_parts, true, segs);
    return x && layers_kv(ctx, dec, x, segs, n_parts, NULL, kv, NULL) ? UZ_OK
                                                                       : uz_error_status();
}

uz_tensor *uz_unified_decoder_forward_after(uz_ctx *ctx, const uz_unified_decoder *dec,
                                            const uz_kv *prefix, const uz_decoder_part *parts,
                                            int n_parts, uz_tensor *mask)
{
    uz_moe_segment segs[UZ_DECODER_MAX_PARTS];
    uz_tensor *x = assemble(ctx, dec, parts, n_parts, false, segs);
    x = x ? layers_kv(ctx, dec, x, segs, n_parts, prefix, NULL, mask) : NULL;
    return uz_nn_layer_norm_forward(ctx, &dec->ln_f, x);
}

uz_tensor *uz_unified_decoder_output(uz_ctx *ctx, const uz_unified_decoder *dec, uz_tensor *h)
{
    if (dec->cfg.out_dim > 0)
        h = uz_nn_linear_forward(ctx, &dec->out_proj,
                                 uz_nn_layer_norm_forward(ctx, &dec->out_ln, h));
    return uz_l2_normalize(ctx, h, 1e-12f);
}

uz_tensor *uz_unified_decoder_scores(uz_ctx *ctx, const uz_unified_decoder *dec, int task,
                                     uz_tensor *a, uz_tensor *b)
{
    if (task < 0 || task >= dec->cfg.tasks) {
        UZ_FAIL(UZ_ERR_ARG, "unified_decoder: task %d outside [0, %d)", task, dec->cfg.tasks);
        return NULL;
    }
    /* min(s, cap) as where(s <= cap, s, cap): the cap is a constant, so the
     * scale's gradient stops once it passes. */
    const float cap = logf(100.0f);
    uz_tensor *s = uz_narrow(ctx, dec->logit_scale, 0, task, 1);
    float below_cap = s && s->data[0] <= cap ? 1.0f : 0.0f;
    uz_tensor *below = uz_tensor_full(ctx, 1, (int64_t[]){1}, below_cap);
    uz_tensor *capped = uz_where(ctx, below, s, uz_tensor_full(ctx, 1, (int64_t[]){1}, cap));
    return uz_mul(ctx, uz_cosine_similarity_matrix(ctx, a, b, 1e-8f), uz_exp(ctx, capped));
}

uz_tensor *uz_caption_mask(uz_ctx *ctx, int64_t B, int64_t n_img, int64_t L,
                           const int64_t *lengths)
{
    if (B < 1 || n_img < 0 || L < 1 || !lengths) {
        UZ_FAIL(UZ_ERR_ARG, "caption_mask: B %lld, n_img %lld, L %lld, lengths %s", (long long)B,
                (long long)n_img, (long long)L, lengths ? "given" : "NULL");
        return NULL;
    }
    for (int64_t b = 0; b < B; b++)
        if (lengths[b] < 0 || lengths[b] > L) {
            UZ_FAIL(UZ_ERR_ARG, "caption_mask: length %lld of caption %lld outside [0, %lld]",
                    (long long)lengths[b], (long long)b, (long long)L);
            return NULL;
        }
    int64_t P = 1 + n_img, T = P + 2 * L;
    uz_tensor *m = uz_tensor_full(ctx, 4, (int64_t[]){B, 1, T, T}, -INFINITY);
    if (!m)
        return NULL;
    for (int64_t b = 0; b < B; b++) {
        float *mb = m->data + b * T * T;
        for (int64_t r = 0; r < T; r++)
            for (int64_t k = 0; k < P; k++)
                mb[r * T + k] = 0.0f;
        for (int64_t i = 0; i < lengths[b]; i++) {
            for (int64_t j = i; j < L; j++)
                mb[(P + j) * T + P + i] = 0.0f;     /* context j sees context i <= j */
            for (int64_t j = i + 1; j < L; j++)
                mb[(P + L + j) * T + P + i] = 0.0f; /* query j sees context i < j */
            mb[(P + L + i) * T + P + L + i] = 0.0f; /* query i sees itself */
        }
    }
    return m;
}
