/* The "seqrec" family (see seqrec.h): config section, builder, the
 * model-owned training step, evaluation and checkpoint state. */
#include "models/seqrec.h"

#include "core/unizoo.h"
#include "datasets/datasets.h"
#include "recsys/recsys.h"
#include "train/config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const VARIANTS[] = {"mclrec", "mclrec-joint", "cl4srec", "sasrec"};
static const uz_mclrec_variant VARIANT_OF[] = {UZ_MCLREC_ALTERNATING, UZ_MCLREC_JOINT,
                                               UZ_MCLREC_CL4SREC, UZ_MCLREC_SASREC};
static const char *const MARGINS[] = {"code", "paper"};

typedef struct seqrec_model {
    uz_model base;
    uz_sasrec enc;
    uz_mclrec *mc;
    uz_augment_config aug;
    float aug_lr_scale;
    bool mask_history, eval_valid;
    int64_t eval_batch;
    bool loaded;
    uz_seqrec data;
    uz_seqrec_split split;
    /* The training batch and its two views, sized by the first step. */
    uz_seqrec_batch bt;
    int32_t *view_ids[2], *view_len[2];
    /* Checkpoint state: augmenter parameters, then both optimizers'
     * states under "optim.encoder.*" and "optim.augmenters.*". */
    uz_model_state *state;
    int n_state;
    char *state_names;
    int64_t *state_numel;   /* the 1-D shapes of the optimizer states */
} seqrec_model;

static const uz_model_ops SEQREC_OPS;

static seqrec_model *as_seqrec(const uz_model *m)
{
    return m && m->ops == &SEQREC_OPS ? m->impl : NULL;
}

const uz_seqrec *uz_seqrec_model_data(const uz_model *m)
{
    seqrec_model *sr = as_seqrec(m);
    return sr && sr->loaded ? &sr->data : NULL;
}

const uz_sasrec *uz_seqrec_model_encoder(const uz_model *m)
{
    seqrec_model *sr = as_seqrec(m);
    return sr ? &sr->enc : NULL;
}

/* ---- checkpoint state ------------------------------------------------------- */

enum { STATE_NAME = 96 };

static void free_state(seqrec_model *sr)
{
    free(sr->state);
    free(sr->state_names);
    free(sr->state_numel);
    sr->state = NULL;
    sr->state_names = NULL;
    sr->state_numel = NULL;
    sr->n_state = 0;
}

static uz_status collect_state(seqrec_model *sr)
{
    free_state(sr);
    const uz_mclrec *mc = sr->mc;
    int n_aug = mc->aug_params ? uz_params_count(mc->aug_params) : 0;
    int n_opt[2] = {mc->enc_optim ? uz_optim_state_count(mc->enc_optim) : 0,
                    mc->aug_optim ? uz_optim_state_count(mc->aug_optim) : 0};
    int n = n_aug + n_opt[0] + n_opt[1];
    if (n == 0)
        return UZ_OK;
    sr->state = calloc((size_t)n, sizeof *sr->state);
    sr->state_names = malloc((size_t)(n_opt[0] + n_opt[1]) * STATE_NAME + 1);
    sr->state_numel = malloc(sizeof(int64_t) * (size_t)(n_opt[0] + n_opt[1]) + 1);
    if (!sr->state || !sr->state_names || !sr->state_numel) {
        free_state(sr);
        return UZ_FAIL(UZ_ERR_NOMEM, "seqrec: out of memory for the checkpoint state");
    }
    int k = 0;
    for (int i = 0; i < n_aug; i++) {
        uz_tensor *t = uz_params_at(mc->aug_params, i);
        sr->state[k++] = (uz_model_state){t->name, UZ_F32, t->ndim, t->shape, t->data};
    }
    /* Each optimizer names its state "optim.<what>"; two of them in one
     * checkpoint become "optim.encoder.<what>" and "optim.augmenters.<what>". */
    int j = 0;
    for (int o = 0; o < 2; o++) {
        const uz_optim *opt = o == 0 ? mc->enc_optim : mc->aug_optim;
        for (int i = 0; i < n_opt[o]; i++, j++) {
            uz_optim_state s = uz_optim_state_at(opt, i);
            char *name = sr->state_names + (size_t)j * STATE_NAME;
            const char *rest = strncmp(s.name, "optim.", 6) == 0 ? s.name + 6 : s.name;
            snprintf(name, STATE_NAME, "optim.%s.%s", o == 0 ? "encoder" : "augmenters", rest);
            sr->state_numel[j] = s.numel;
            sr->state[k++] = (uz_model_state){name, s.dtype, 1, &sr->state_numel[j], s.data};
        }
    }
    sr->n_state = k;
    return UZ_OK;
}

static int sr_state_count(const uz_model *m)
{
    return as_seqrec(m)->n_state;
}

static uz_model_state sr_state_at(const uz_model *m, int i)
{
    return as_seqrec(m)->state[i];
}

/* The config's optimizer for the encoder, and the same kind and settings
 * for the augmenters (their learning rate is aug_lr_scale times the
 * schedule's). */
static uz_status sr_set_optim(uz_model *m, const uz_optim_config *optim)
{
    seqrec_model *sr = as_seqrec(m);
    uz_mclrec *mc = sr->mc;
    uz_optim_free(mc->enc_optim);
    mc->enc_optim = NULL;
    uz_status st = uz_optim_new(optim, sr->base.params, &mc->enc_optim);
    if (st == UZ_OK && mc->aug_params) {
        uz_optim_free(mc->aug_optim);
        mc->aug_optim = NULL;
        st = uz_optim_new(optim, mc->aug_params, &mc->aug_optim);
    }
    return st == UZ_OK ? collect_state(sr) : st;
}

/* ---- training ------------------------------------------------------------------ */

static uz_status ensure_batch(seqrec_model *sr, int64_t n)
{
    if (sr->bt.cap >= n)
        return UZ_OK;
    uz_seqrec_batch_free(&sr->bt);
    for (int v = 0; v < 2; v++) {
        free(sr->view_ids[v]);
        free(sr->view_len[v]);
        sr->view_ids[v] = NULL;
        sr->view_len[v] = NULL;
    }
    int64_t L = sr->enc.cfg.max_len;
    uz_status st = uz_seqrec_batch_init(&sr->bt, n, L);
    if (st != UZ_OK)
        return st;
    for (int v = 0; v < 2; v++) {
        sr->view_ids[v] = malloc(sizeof(int32_t) * (size_t)(n * L));
        sr->view_len[v] = malloc(sizeof(int32_t) * (size_t)n);
        if (!sr->view_ids[v] || !sr->view_len[v])
            return UZ_FAIL(UZ_ERR_NOMEM, "seqrec: out of memory for a batch of %lld",
                           (long long)n);
    }
    return UZ_OK;
}

/* The batch's prefixes cut to the longest one (exact: left-aligned, causal,
 * read at len - 1), their two augmented views drawn from the ctx's seed and
 * a stream of this step, then the variant's step (three updates for
 * MCLRec). The loss and gradient norm reported are the first update's. */
static uz_status sr_train_step(uz_model *m, uz_ctx *ctx, int task, const int64_t *idx, int64_t n,
                               float lr, double *loss, float *grad_norm)
{
    (void)task;
    seqrec_model *sr = as_seqrec(m);
    uz_mclrec *mc = sr->mc;
    uz_status st = ensure_batch(sr, n);
    if (st == UZ_OK)
        st = uz_seqrec_batch_fill(&sr->bt, &sr->data, &sr->split.train, idx, n, true);
    if (st != UZ_OK)
        return st;
    const uz_seqrec_batch *bt = &sr->bt;
    uz_mclrec_batch b = {.size = n, .max_len = bt->len, .ids = bt->ids,
                         .lengths = bt->lengths, .targets = bt->targets};
    if (mc->cfg.variant != UZ_MCLREC_SASREC) {
        int32_t *const ids[2] = {sr->view_ids[0], sr->view_ids[1]};
        int32_t *const lens[2] = {sr->view_len[0], sr->view_len[1]};
        st = uz_augment_batch(&sr->aug, bt->ids, bt->lengths, n, bt->len, uz_ctx_seed(ctx),
                              uz_ctx_next_stream(ctx), ids, lens, NULL);
        if (st != UZ_OK)
            return st;
        for (int v = 0; v < 2; v++) {
            b.view_ids[v] = sr->view_ids[v];
            b.view_lengths[v] = sr->view_len[v];
        }
    }
    mc->cfg.lr = lr;
    mc->cfg.aug_lr = lr * sr->aug_lr_scale;
    uz_mclrec_step_stats stats;
    st = uz_mclrec_train_step(mc, ctx, &b, &stats);
    *loss = stats.loss[0];
    *grad_norm = stats.grad_norm;
    return st;
}

/* ---- evaluation ------------------------------------------------------------------ */

static const char *const METRICS[] = {"hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20",
                                      "mrr@10"};
enum { N_METRICS = (int)(sizeof METRICS / sizeof METRICS[0]) };

static uz_status add_metrics(const char *split, const uz_rank_metrics *rm, uz_metrics *out)
{
    for (int i = 0; i < N_METRICS && out->n < UZ_MAX_METRICS; i++) {
        uz_metric *x = &out->m[out->n++];
        x->task = -1;
        snprintf(x->name, sizeof x->name, "%s/%s", split, METRICS[i]);
        uz_status st = uz_rank_metric(rm, METRICS[i], &x->value);
        if (st != UZ_OK)
            return st;
    }
    return UZ_OK;
}

/* Full ranking over all items for the validation targets (history: all
 * before the second to last item; skipped when model.eval_valid is off)
 * and the test targets (all before the last), each history cut to the last
 * max_len items. */
static uz_status sr_eval(uz_model *m, uz_ctx *ctx, uz_metrics *out)
{
    (void)ctx;
    seqrec_model *sr = as_seqrec(m);
    uz_sasrec_eval_opts o = {.batch = sr->eval_batch, .mask_history = sr->mask_history};
    out->n = 0;
    const uz_seqrec_samples *parts[2] = {&sr->split.valid, &sr->split.test};
    static const char *const names[2] = {"valid", "test"};
    for (int p = sr->eval_valid ? 0 : 1; p < 2; p++) {
        if (parts[p]->n == 0)
            continue;
        uz_rank_metrics rm;
        uz_status st = uz_sasrec_evaluate(&sr->enc, &sr->data, parts[p], &o, &rm);
        if (st == UZ_OK)
            st = add_metrics(names[p], &rm, out);
        if (st != UZ_OK) {
            uz_error_context("seqrec: %s metrics", names[p]);
            return st;
        }
    }
    return UZ_OK;
}

static void sr_free(uz_model *m)
{
    seqrec_model *sr = m->impl;
    uz_mclrec_free(sr->mc);
    uz_params_free(m->params);
    free_state(sr);
    uz_seqrec_batch_free(&sr->bt);
    for (int v = 0; v < 2; v++) {
        free(sr->view_ids[v]);
        free(sr->view_len[v]);
    }
    if (sr->loaded) {
        uz_seqrec_split_free(&sr->split);
        uz_seqrec_free(&sr->data);
    }
    free(sr);
}

static const uz_model_ops SEQREC_OPS = {
    .loss = NULL,
    .eval = sr_eval,
    .free = sr_free,
    .set_optim = sr_set_optim,
    .train_step = sr_train_step,
    .state_count = sr_state_count,
    .state_at = sr_state_at,
};

/* ---- building -------------------------------------------------------------------- */

static uz_status read_float(const cJSON *c, const char *key, double lo, bool lo_open, double hi,
                            bool hi_open, float *out)
{
    double v;
    uz_status st = uz_cfg_num(c, "model", key, lo, lo_open, hi, hi_open, &v);
    *out = (float)v;
    return st;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        uz_status st_ = (x);                                                                       \
        if (st_ != UZ_OK)                                                                          \
            return st_;                                                                            \
    } while (0)

static uz_status read_config(const cJSON *c, uz_sasrec_config *enc, uz_mclrec_config *mc,
                             seqrec_model *sr, int64_t *n_items)
{
    int64_t v;
    int k;
    *enc = uz_sasrec_config_default(1);
    *mc = uz_mclrec_config_default();
    TRY(uz_cfg_enum(c, "model", "variant", VARIANTS, 4, &k));
    mc->variant = VARIANT_OF[k];
    TRY(uz_cfg_int(c, "model", "n_items", 0, INT32_MAX - 2, n_items));
    TRY(uz_cfg_int(c, "model", "hidden", 4, 4096, &enc->hidden));
    if (enc->hidden % 4 != 0)
        return UZ_FAIL(UZ_ERR_ARG, "config model.hidden: %lld is not a multiple of 4 (the "
                                   "augmenters' widths are hidden/2 and hidden/4)",
                       (long long)enc->hidden);
    TRY(uz_cfg_int(c, "model", "layers", 1, UZ_SASREC_MAX_LAYERS, &v));
    enc->layers = (int)v;
    TRY(uz_cfg_int(c, "model", "heads", 1, 256, &v));
    enc->heads = (int)v;
    if (enc->hidden % enc->heads != 0)
        return UZ_FAIL(UZ_ERR_ARG, "config model.heads: %d does not divide model.hidden %lld",
                       enc->heads, (long long)enc->hidden);
    TRY(uz_cfg_int(c, "model", "inner", 1, 65536, &enc->inner));
    TRY(uz_cfg_int(c, "model", "max_len", 1, UZ_AUGMENT_MAX_LEN, &enc->max_len));
    TRY(read_float(c, "hidden_dropout", 0, false, 1, true, &enc->hidden_dropout));
    TRY(read_float(c, "attn_dropout", 0, false, 1, true, &enc->attn_dropout));
    TRY(read_float(c, "lambda", 0, false, 1e6, false, &mc->lambda));
    TRY(read_float(c, "beta", 0, false, 1e6, false, &mc->beta));
    TRY(read_float(c, "tau", 0, true, 1e6, false, &mc->tau));
    TRY(uz_cfg_bool(c, "model", "use_reg", &mc->use_reg));
    TRY(read_float(c, "reg_weight", 0, false, 1e6, false, &mc->reg_weight));
    TRY(uz_cfg_enum(c, "model", "margin", MARGINS, 2, &k));
    mc->reg_mode = k == 0 ? UZ_MARGIN_CODE : UZ_MARGIN_PAPER;
    TRY(read_float(c, "aug_lr_scale", 0, true, 1e6, false, &sr->aug_lr_scale));
    double r;
    TRY(uz_cfg_num(c, "model", "crop_ratio", 0, false, 1, true, &r));
    sr->aug.crop_ratio = r;
    TRY(uz_cfg_num(c, "model", "mask_ratio", 0, false, 1, false, &r));
    sr->aug.mask_ratio = r;
    TRY(uz_cfg_num(c, "model", "reorder_ratio", 0, false, 1, false, &r));
    sr->aug.reorder_ratio = r;
    TRY(uz_cfg_bool(c, "model", "mask_history", &sr->mask_history));
    TRY(uz_cfg_bool(c, "model", "eval_valid", &sr->eval_valid));
    TRY(uz_cfg_int(c, "model", "eval_batch", 1, 1 << 20, &sr->eval_batch));
    return UZ_OK;
}

static uz_status load_data(seqrec_model *sr, const cJSON *c, int64_t n_items)
{
    const char *path;
    TRY(uz_cfg_str(c, "model", "data", &path));
    if (!path[0])
        return UZ_FAIL(UZ_ERR_ARG, "config model.data: no data file given (an S3-Rec .txt, a "
                                   "RecBole .inter or its directory; --set model.data=PATH)");
    char resolved[PATH_MAX];
    uz_data_path_resolve(path, resolved, sizeof resolved);
    uz_status st = uz_seqrec_load(resolved, &sr->data);
    if (st != UZ_OK) {
        uz_error_context("config model.data");
        return st;
    }
    sr->loaded = true;
    if (n_items && n_items != sr->data.n_items)
        return UZ_FAIL(UZ_ERR_ARG, "config model.n_items: %lld, but %s has %lld items",
                       (long long)n_items, resolved, (long long)sr->data.n_items);
    if ((st = uz_seqrec_split_loo(&sr->data, &sr->split)) != UZ_OK)
        return st;
    if (sr->split.train.n == 0)
        return UZ_FAIL(UZ_ERR_ARG, "%s: no training samples (every user has fewer than 2 items)",
                       resolved);
    char summary[256];
    uz_seqrec_summary(&sr->data, summary, sizeof summary);
    printf("data %s: %s; %lld training prefixes, %lld validation, %lld test users\n", resolved,
           summary, (long long)sr->split.train.n, (long long)sr->split.valid.n,
           (long long)sr->split.test.n);
    fflush(stdout);
    return UZ_OK;
}

static uz_status build_model(seqrec_model *sr, const cJSON *c, uint64_t seed, bool with_data)
{
    uz_sasrec_config ec;
    uz_mclrec_config mcfg;
    int64_t n_items;
    TRY(read_config(c, &ec, &mcfg, sr, &n_items));
    if (with_data)
        TRY(load_data(sr, c, n_items));
    /* Without data (listings) the item count comes from model.n_items. */
    ec.n_items = sr->loaded ? sr->data.n_items : (n_items > 0 ? n_items : 1);
    TRY(uz_sasrec_declare(&sr->enc, sr->base.params, "", &ec));
    TRY(uz_params_finalize(sr->base.params));
    uz_sasrec_init(&sr->enc, seed);
    TRY(uz_mclrec_new(&mcfg, &sr->enc, sr->base.params, seed, &sr->mc));
    return collect_state(sr);
}

static uz_status sr_build(const cJSON *cfg, uint64_t seed, bool with_data, uz_model **out)
{
    *out = NULL;
    seqrec_model *sr = calloc(1, sizeof *sr);
    if (!sr)
        return UZ_FAIL(UZ_ERR_NOMEM, "seqrec: out of memory");
    sr->base = (uz_model){.ops = &SEQREC_OPS, .params = uz_params_new(), .n_tasks = 1,
                          .impl = sr};
    if (!sr->base.params) {
        free(sr);
        return UZ_FAIL(UZ_ERR_NOMEM, "seqrec: out of memory");
    }
    uz_status st = build_model(sr, cfg, seed, with_data);
    if (st != UZ_OK) {
        sr_free(&sr->base);
        return st;
    }
    sr->base.task_size[0] = sr->loaded ? sr->split.train.n : 0;
    *out = &sr->base;
    return UZ_OK;
}

const uz_model_family uz_family_seqrec = {
    .name = "seqrec",
    .description = "sequential recommendation: SASRec encoder trained as MCLRec, MCLRec-J, "
                   "CL4SRec or SASRec, full-ranking metrics",
    .defaults = "{\"data\":\"\",\"n_items\":0,\"variant\":\"mclrec\",\"hidden\":64,\"layers\":2,"
                "\"heads\":2,\"inner\":256,\"max_len\":50,\"hidden_dropout\":0.5,"
                "\"attn_dropout\":0.5,\"lambda\":0,\"beta\":0.01,\"tau\":1,\"use_reg\":true,"
                "\"reg_weight\":0.1,\"margin\":\"code\",\"aug_lr_scale\":1,\"crop_ratio\":0.5,"
                "\"mask_ratio\":0.5,\"reorder_ratio\":0.8,\"mask_history\":false,"
                "\"eval_valid\":true,"
                "\"eval_batch\":512}",
    .build = sr_build,
};
