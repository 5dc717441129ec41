/* Two-stage region proposals on the DETR decoder layer; the top-Q selection
 * and the reference boxes are plain values (no tape). */
#include "region_proposal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sine_encoding.h"

static uz_status declare_mlp(uz_mlp *m, uz_params *p, const char *prefix, const char *name,
                             int n_sizes, const int64_t *sizes)
{
    char sub[256];
    if (uz_nn_name(sub, sizeof sub, prefix, name) != UZ_OK)
        return uz_error_status();
    return uz_mlp_declare_named(m, p, sub, n_sizes, sizes);
}

static uz_status check_config(uz_region_proposal_config *c)
{
    if (c->anchor_size == 0.0f)
        c->anchor_size = 0.1f;
    uz_status st = uz_detr_decoder_config_check(&c->decoder);
    if (st != UZ_OK)
        return st;
    for (int l = 0; l < 2; l++)
        if (c->in_channels[l] <= 0)
            return UZ_FAIL(UZ_ERR_ARG, "region_proposal: in_channels[%d] is %lld, must be positive",
                           l, (long long)c->in_channels[l]);
    if (c->decoder.width % 4 != 0)
        return UZ_FAIL(UZ_ERR_ARG, "region_proposal: width is %lld, must be a multiple of 4",
                       (long long)c->decoder.width);
    if (c->n_queries <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "region_proposal: n_queries is %d, must be positive",
                       c->n_queries);
    if (c->n_layers <= 0 || c->n_layers > UZ_RPN_MAX_LAYERS)
        return UZ_FAIL(UZ_ERR_ARG, "region_proposal: n_layers is %d, must be in [1, %d]",
                       c->n_layers, UZ_RPN_MAX_LAYERS);
    if (c->query_content != UZ_RPN_QUERY_LEARNED && c->query_content != UZ_RPN_QUERY_SELECTED)
        return UZ_FAIL(UZ_ERR_ARG, "region_proposal: query_content is %d, must be learned (%d) "
                       "or selected (%d)", (int)c->query_content, UZ_RPN_QUERY_LEARNED,
                       UZ_RPN_QUERY_SELECTED);
    if (!(c->anchor_size > 0.0f && c->anchor_size < 0.5f))
        return UZ_FAIL(UZ_ERR_ARG, "region_proposal: anchor_size is %g, must be in (0, 0.5)",
                       (double)c->anchor_size);
    return UZ_OK;
}

uz_status uz_region_proposal_declare(uz_region_proposal *r, uz_params *p, const char *prefix,
                                     const uz_region_proposal_config *cfg)
{
    r->cfg = *cfg;
    uz_status st = check_config(&r->cfg);
    if (st != UZ_OK)
        return st;
    const uz_region_proposal_config *c = &r->cfg;
    int64_t d = c->decoder.width;
    r->level_embed = uz_nn_param(p, prefix, "level_embed", 2, (int64_t[]){2, d});
    r->tgt_embed = c->query_content == UZ_RPN_QUERY_LEARNED
                       ? uz_nn_param(p, prefix, "tgt_embed.weight", 2, (int64_t[]){c->n_queries, d})
                       : NULL;
    if (!r->level_embed || (c->query_content == UZ_RPN_QUERY_LEARNED && !r->tgt_embed) ||
        uz_nn_conv2d_declare(&r->input_proj[0], p, prefix, "input_proj.0", c->in_channels[0], d,
                             1, 1, 0) != UZ_OK ||
        uz_nn_conv2d_declare(&r->input_proj[1], p, prefix, "input_proj.1", c->in_channels[1], d,
                             1, 1, 0) != UZ_OK ||
        uz_nn_linear_declare(&r->enc_output, p, prefix, "enc_output", d, d) != UZ_OK ||
        uz_nn_layer_norm_declare(&r->enc_output_norm, p, prefix, "enc_output_norm", d,
                                 c->decoder.ln_eps) != UZ_OK ||
        uz_nn_linear_declare(&r->enc_score_head, p, prefix, "enc_score_head", d, 1) != UZ_OK ||
        declare_mlp(&r->enc_bbox_head, p, prefix, "enc_bbox_head.", 4,
                    (int64_t[]){d, d, d, 4}) != UZ_OK ||
        declare_mlp(&r->ref_point_head, p, prefix, "ref_point_head.", 3,
                    (int64_t[]){2 * d, d, d}) != UZ_OK ||
        uz_nn_linear_declare(&r->score_head, p, prefix, "score_head", d, 1) != UZ_OK ||
        declare_mlp(&r->bbox_head, p, prefix, "bbox_head.", 4, (int64_t[]){d, d, d, 4}) != UZ_OK)
        return uz_error_status();
    for (int i = 0; i < c->n_layers; i++) {
        char sub[256], pre[32];
        snprintf(pre, sizeof pre, "layers.%d.", i);
        if (uz_nn_name(sub, sizeof sub, prefix, pre) != UZ_OK ||
            uz_detr_decoder_declare(&r->layers[i], p, sub, &c->decoder) != UZ_OK)
            return uz_error_status();
    }
    return UZ_OK;
}

static void init_box_head(uz_mlp *m, uint64_t seed)
{
    uz_mlp_init_streams(m, seed, uz_nn_stream(m->weight[0]));
    uz_param_init_const(m->weight[m->n_layers - 1], 0.0f);
    uz_param_init_const(m->bias[m->n_layers - 1], 0.0f);
}

static void init_score_head(const uz_nn_linear *l, uint64_t seed)
{
    uz_nn_linear_init(l, seed);
    uz_param_init_const(l->bias, -logf((1.0f - 0.01f) / 0.01f));
}

void uz_region_proposal_init(uz_region_proposal *r, uint64_t seed)
{
    uz_nn_conv2d_init(&r->input_proj[0], seed);
    uz_nn_conv2d_init(&r->input_proj[1], seed);
    uz_param_init_normal(r->level_embed, seed, uz_nn_stream(r->level_embed), 0.0f, 1.0f);
    if (r->tgt_embed)
        uz_param_init_normal(r->tgt_embed, seed, uz_nn_stream(r->tgt_embed), 0.0f, 1.0f);
    uz_nn_linear_init(&r->enc_output, seed);
    uz_nn_layer_norm_init(&r->enc_output_norm);
    init_score_head(&r->enc_score_head, seed);
    init_box_head(&r->enc_bbox_head, seed);
    uz_mlp_init_streams(&r->ref_point_head, seed, uz_nn_stream(r->ref_point_head.weight[0]));
    for (int i = 0; i < r->cfg.n_layers; i++)
        uz_detr_decoder_init(&r->layers[i], seed);
    init_score_head(&r->score_head, seed);
    init_box_head(&r->bbox_head, seed);
}

/* A copy of t's values, off the tape (the references carry no gradient). */
static uz_tensor *values_of(uz_ctx *ctx, uz_tensor *t)
{
    uz_tensor *y = t ? uz_tensor_empty(ctx, t->ndim, t->shape) : NULL;
    if (y)
        uz_tensor_copy_out(t, y->data);
    return y;
}

/* Deformable DETR's inverse_sigmoid (clamped at 1e-5) of the values of t. */
static uz_tensor *logit_of(uz_ctx *ctx, uz_tensor *t)
{
    uz_tensor *y = values_of(ctx, t);
    if (!y)
        return NULL;
    int64_t n = uz_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) {
        double x = fmin(fmax((double)y->data[i], 0.0), 1.0);
        y->data[i] = (float)log(fmax(x, 1e-5) / fmax(1.0 - x, 1e-5));
    }
    return y;
}

/* logit(anchor) of every memory token, [N, 4]. */
static uz_tensor *anchor_logits(uz_ctx *ctx, int64_t hw[2][2], float size)
{
    int64_t n = hw[0][0] * hw[0][1] + hw[1][0] * hw[1][1];
    uz_tensor *a = uz_tensor_empty(ctx, 2, (int64_t[]){n, 4});
    if (!a)
        return NULL;
    float *row = a->data;
    for (int l = 0; l < 2; l++) {
        int64_t h = hw[l][0], w = hw[l][1];
        double side = (double)size * (double)(1 << l);
        for (int64_t i = 0; i < h; i++)
            for (int64_t j = 0; j < w; j++, row += 4) {
                double v[4] = {((double)j + 0.5) / (double)w, ((double)i + 0.5) / (double)h,
                               side, side};
                for (int k = 0; k < 4; k++)
                    row[k] = (float)log(v[k] / (1.0 - v[k]));
            }
    }
    return a;
}

typedef struct scored {
    float v;
    int32_t i;
} scored;

/* Higher score first, then lower index; NaN ranks last. */
static int by_score(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    float va = isnan(a->v) ? -INFINITY : a->v, vb = isnan(b->v) ? -INFINITY : b->v;
    if (va != vb)
        return va > vb ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* The top-Q memory tokens of each row of logits [B, N] into out->selected. */
static uz_status select_queries(uz_ctx *ctx, uz_tensor *logits, int Q, uz_region_proposals *out)
{
    int64_t B = logits->shape[0], N = logits->shape[1];
    float *v = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(B * N));
    scored *s = uz_ctx_alloc(ctx, sizeof(scored) * (size_t)N);
    out->selected = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(B * Q));
    if (!v || !s || !out->selected)
        return UZ_ERR_NOMEM;
    uz_tensor_copy_out(logits, v);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++)
            s[i] = (scored){v[b * N + i], (int32_t)i};
        qsort(s, (size_t)N, sizeof *s, by_score);
        for (int q = 0; q < Q; q++)
            out->selected[b * Q + q] = s[q].i;
    }
    return UZ_OK;
}

/* Rows selected[b, q] of x as [B * Q, C]: x is [B, N, C], or [N, C] shared by
 * every image. */
static uz_tensor *selected_rows(uz_ctx *ctx, uz_tensor *x, int64_t N, const int32_t *selected,
                                int64_t B, int64_t Q)
{
    int32_t *rows = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(B * Q));
    if (!x || !rows)
        return NULL;
    bool per_image = x->ndim == 3;
    for (int64_t i = 0; i < B * Q; i++)
        rows[i] = (int32_t)((per_image ? (i / Q) * N : 0) + selected[i]);
    int64_t shape[2] = {per_image ? B * N : N, x->shape[x->ndim - 1]};
    return uz_index_select(ctx, uz_reshape(ctx, x, 2, shape), 0, rows, B * Q);
}

/* [B, C, h, w] -> [B, h w, C] (a view). */
static uz_tensor *flatten_tokens(uz_ctx *ctx, uz_tensor *x)
{
    if (!x)
        return NULL;
    int64_t B = x->shape[0], C = x->shape[1], hw = x->shape[2] * x->shape[3];
    return uz_transpose(ctx, uz_reshape(ctx, x, 3, (int64_t[]){B, C, hw}), 1, 2);
}

/* [..., 1] -> [...]. */
static uz_tensor *squeeze_last(uz_ctx *ctx, uz_tensor *x)
{
    if (!x)
        return NULL;
    return uz_reshape(ctx, x, x->ndim - 1, x->shape);
}

uz_status uz_region_proposal_forward(uz_ctx *ctx, const uz_region_proposal *r, uz_tensor *f2,
                                     uz_tensor *f3, bool training, uz_region_proposals *out)
{
    memset(out, 0, sizeof *out);
    if (!f2 || !f3)
        return uz_error_status() != UZ_OK ? uz_error_status()
                                          : UZ_FAIL(UZ_ERR_ARG, "region_proposal: no feature maps");
    const uz_region_proposal_config *c = &r->cfg;
    uz_tensor *maps[2] = {f2, f3};
    for (int l = 0; l < 2; l++)
        if (maps[l]->ndim != 4 || maps[l]->shape[1] != c->in_channels[l] ||
            maps[l]->shape[0] != f2->shape[0]) {
            char s1[UZ_SHAPE_STR_LEN], s2[UZ_SHAPE_STR_LEN];
            return UZ_FAIL(UZ_ERR_ARG, "region_proposal: maps %s and %s are not [B, %lld, ., .], [B, %lld, ., .]",
                           uz_shape_str(f2, s1, sizeof s1), uz_shape_str(f3, s2, sizeof s2),
                           (long long)c->in_channels[0], (long long)c->in_channels[1]);
        }
    int64_t B = f2->shape[0], d = c->decoder.width, Q = c->n_queries;
    int64_t hw[2][2] = {{f2->shape[2], f2->shape[3]}, {f3->shape[2], f3->shape[3]}};
    int64_t N = hw[0][0] * hw[0][1] + hw[1][0] * hw[1][1];
    if (Q > N)
        return UZ_FAIL(UZ_ERR_ARG, "region_proposal: n_queries %lld exceeds the %lld memory tokens",
                       (long long)Q, (long long)N);
    out->n_tokens = N;
    out->n_layers = c->n_layers;

    uz_tensor *mem[2], *pos[2];
    for (int l = 0; l < 2; l++) {
        mem[l] = flatten_tokens(ctx, uz_nn_conv2d_forward(ctx, &r->input_proj[l], maps[l]));
        pos[l] = uz_add(ctx, uz_sine_position_2d(ctx, hw[l][0], hw[l][1], d),
                        uz_narrow(ctx, r->level_embed, 0, l, 1));
    }
    uz_tensor *memory = uz_concat(ctx, mem, 2, 1), *memory_pos = uz_concat(ctx, pos, 2, 0);

    uz_tensor *o = uz_nn_layer_norm_forward(ctx, &r->enc_output_norm,
                                            uz_nn_linear_forward(ctx, &r->enc_output, memory));
    out->enc_logits = squeeze_last(ctx, uz_nn_linear_forward(ctx, &r->enc_score_head, o));
    if (!out->enc_logits || !memory_pos)
        return uz_error_status();
    uz_status st = select_queries(ctx, out->enc_logits, (int)Q, out);
    if (st != UZ_OK)
        return st;
    /* The box head is row-wise and only the selected tokens' boxes are used
     * (as references and in the loss), so it runs on those alone: DINO's
     * code boxes every token, N / Q times the rows (20 for the scenes). */
    uz_tensor *anchors = anchor_logits(ctx, hw, c->anchor_size);
    uz_tensor *picked = selected_rows(ctx, o, N, out->selected, B, Q);
    uz_tensor *deltas = uz_mlp_forward(ctx, &r->enc_bbox_head, picked);
    uz_tensor *enc = uz_sigmoid(ctx, uz_add(ctx, deltas, selected_rows(ctx, anchors, N,
                                                                        out->selected, B, Q)));
    out->enc_boxes = uz_reshape(ctx, enc, 3, (int64_t[]){B, Q, 4});
    uz_tensor *ref = values_of(ctx, out->enc_boxes);
    if (!ref)
        return uz_error_status();
    uz_tensor *tgt = r->tgt_embed
                         ? uz_contiguous(ctx, uz_expand(ctx, r->tgt_embed, 3, (int64_t[]){B, Q, d}))
                         : values_of(ctx, uz_reshape(ctx, picked, 3, (int64_t[]){B, Q, d}));
    for (int i = 0; i < c->n_layers; i++) {
        uz_tensor *query_pos = uz_mlp_forward(ctx, &r->ref_point_head,
                                              uz_sine_encode_boxes(ctx, ref, d / 2));
        tgt = uz_detr_decoder_forward(ctx, &r->layers[i], tgt, query_pos, memory, memory_pos,
                                      NULL, training);
        uz_tensor *box = uz_sigmoid(ctx, uz_add(ctx, uz_mlp_forward(ctx, &r->bbox_head, tgt),
                                                logit_of(ctx, ref)));
        out->layer_boxes[i] = box;
        out->layer_logits[i] = squeeze_last(ctx, uz_nn_linear_forward(ctx, &r->score_head, tgt));
        if (!box || !out->layer_logits[i])
            return uz_error_status();
        if (!(ref = values_of(ctx, box)))
            return uz_error_status();
    }
    out->q_sem = tgt;
    out->boxes = out->layer_boxes[c->n_layers - 1];
    out->logits = out->layer_logits[c->n_layers - 1];
    return UZ_OK;
}
