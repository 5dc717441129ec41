/* The "generalist" model family: its config section, builder, and the
 * model interface (a loss per task, the held-out metrics). */
#include "models/generalist_model.h"

#include "core/alloc.h"
#include "datasets/datasets.h"
#include "models/backbone_pretrain.h"
#include "models/generalist_eval.h"
#include "train/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct gen_model {
    uz_model base;
    uz_generalist g;
    int tasks[UZ_MAX_TASKS];   /* the generalist task of each model task */
    uz_tokenizer *tok;
    char tok_path[4096];
    /* The tokenizer's fingerprint (pieces, FNV-1a of the piece strings) as
     * built, and as the checkpoint state: a checkpoint load overwrites
     * stored_fp, and a model whose two differ refuses to run, because its
     * ids would mean other pieces. */
    int64_t tok_fp[2], stored_fp[2];
    uz_gen_data data;
    int64_t eval_limit, eval_beam;
    uz_backbone_pretrain_config pretrain; /* steps 0: none */
    bool loaded;
} gen_model;

static gen_model *as_gen(const uz_model *m);

static const int64_t FP_SHAPE[1] = {2};

static void fingerprint(const uz_tokenizer *tok, int64_t fp[2])
{
    uint64_t h = 14695981039346656037ull;
    int32_t n = uz_tokenizer_vocab_size(tok);
    for (int32_t i = 0; i < n; i++)
        for (const unsigned char *c = (const unsigned char *)uz_tokenizer_piece(tok, i);; c++) {
            h = (h ^ *c) * 1099511628211ull; /* the '\0' too: pieces stay apart */
            if (!*c)
                break;
        }
    fp[0] = n;
    memcpy(&fp[1], &h, sizeof h);
}

static uz_status check_tokenizer(const gen_model *gm)
{
    if (memcmp(gm->tok_fp, gm->stored_fp, sizeof gm->tok_fp) == 0)
        return UZ_OK;
    return UZ_FAIL(UZ_ERR_FORMAT, "config model.tokenizer: '%s' (%lld pieces) is not the "
                   "tokenizer the checkpoint was trained with (%lld pieces, other pieces or "
                   "order); point to that one with --set model.tokenizer=FILE",
                   gm->tok_path, (long long)gm->tok_fp[0], (long long)gm->stored_fp[0]);
}

static uz_tensor *gen_loss(uz_model *m, uz_ctx *ctx, int task, const int64_t *idx, int64_t n)
{
    gen_model *gm = m->impl;
    if (check_tokenizer(gm) != UZ_OK)
        return NULL;
    return uz_gen_loss(ctx, &gm->g, &gm->data, (uz_gen_task)gm->tasks[task], idx, n);
}

static uz_status gen_eval(uz_model *m, uz_ctx *ctx, uz_metrics *out)
{
    gen_model *gm = m->impl;
    uz_status st = check_tokenizer(gm);
    if (st != UZ_OK)
        return st;
    uz_gen_eval e = {.g = &gm->g, .data = &gm->data, .tok = gm->tok, .limit = gm->eval_limit,
                     .beam = (int)gm->eval_beam};
    return uz_gen_evaluate(ctx, &e, gm->tasks, m->n_tasks, out);
}

static int gen_state_count(const uz_model *m)
{
    (void)m;
    return 1;
}

static uz_model_state gen_state_at(const uz_model *m, int i)
{
    (void)i;
    gen_model *gm = m->impl;
    return (uz_model_state){"tokenizer.fingerprint", UZ_I64, 1, FP_SHAPE, gm->stored_fp};
}

static void gen_free(uz_model *m)
{
    gen_model *gm = m->impl;
    uz_params_free(m->params);
    for (int s = 0; s < 2; s++) {
        uz_gen_digits_free(&gm->data.digits[s]);
        uz_gen_scenes_free(&gm->data.scenes[s]);
        uz_free(gm->data.category_class[s]);
    }
    uz_gen_texts_free(&gm->g.classes);
    uz_tokenizer_free(gm->tok);
    free(gm);
}

/* A fresh run's backbone starts from a Fashion-MNIST classifier, as the
 * paper's starts from an ImageNet one (models/backbone_pretrain.h). */
static uz_status gen_prepare(uz_model *m)
{
    gen_model *gm = m->impl;
    if (gm->pretrain.steps == 0)
        return UZ_OK;
    uz_backbone_pretrain_result r;
    uz_status st = uz_backbone_pretrain(&gm->g.image.backbone, &gm->data.digits[0],
                                        10, &gm->pretrain, &r); /* uz_fmnist_classes */
    if (st != UZ_OK)
        return st;
    printf("backbone pre-training: %lld steps of %lld digits in %.1f s; loss %.3f -> %.3f, "
           "training accuracy %.3f -> %.3f\n",
           (long long)gm->pretrain.steps, (long long)gm->pretrain.batch, r.seconds,
           r.first_loss, r.last_loss, r.first_accuracy, r.last_accuracy);
    fflush(stdout);
    return UZ_OK;
}

static const uz_model_ops GEN_OPS = {.loss = gen_loss, .eval = gen_eval, .free = gen_free,
                                     .state_count = gen_state_count,
                                     .state_at = gen_state_at, .prepare = gen_prepare};

static gen_model *as_gen(const uz_model *m)
{
    return m && m->ops == &GEN_OPS ? m->impl : NULL;
}

const uz_generalist *uz_gen_model_net(const uz_model *m)
{
    gen_model *gm = as_gen(m);
    return gm ? &gm->g : NULL;
}

const uz_tokenizer *uz_gen_model_tokenizer(const uz_model *m)
{
    gen_model *gm = as_gen(m);
    return gm ? gm->tok : NULL;
}

uz_status uz_gen_model_check_tokenizer(const uz_model *m)
{
    gen_model *gm = as_gen(m);
    return gm ? check_tokenizer(gm) : UZ_FAIL(UZ_ERR_ARG, "not a generalist model");
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        uz_status st_ = (x);                                                                       \
        if (st_ != UZ_OK)                                                                          \
            return st_;                                                                            \
    } while (0)

static uz_status int_field(const cJSON *c, const char *key, int64_t lo, int64_t hi, int *out)
{
    int64_t v;
    TRY(uz_cfg_int(c, "model", key, lo, hi, &v));
    *out = (int)v;
    return UZ_OK;
}

static uz_status float_field(const cJSON *c, const char *key, double lo, double hi, float *out)
{
    double v;
    TRY(uz_cfg_num(c, "model", key, lo, false, hi, false, &v));
    *out = (float)v;
    return UZ_OK;
}

static uz_status parse_tasks(const cJSON *c, gen_model *gm)
{
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(c, "tasks");
    int n = cJSON_GetArraySize(tasks);
    if (n < 1 || n > UZ_GEN_TASKS)
        return UZ_FAIL(UZ_ERR_ARG, "config model.tasks: %d tasks, allowed 1 to %d", n,
                       UZ_GEN_TASKS);
    for (int k = 0; k < n; k++) {
        const cJSON *t = cJSON_GetArrayItem(tasks, k);
        int found = -1;
        for (int j = 0; j < UZ_GEN_TASKS && cJSON_IsString(t); j++)
            if (strcmp(t->valuestring, uz_gen_task_names[j]) == 0)
                found = j;
        if (found < 0)
            return UZ_FAIL(UZ_ERR_ARG, "config model.tasks.%d: expected one of classify, detect, "
                           "caption, retrieve", k);
        for (int j = 0; j < k; j++)
            if (gm->tasks[j] == found)
                return UZ_FAIL(UZ_ERR_ARG, "config model.tasks.%d: '%s' is listed twice", k,
                               t->valuestring);
        gm->tasks[k] = found;
    }
    gm->base.n_tasks = n;
    return UZ_OK;
}

static uz_status parse_config(const cJSON *c, gen_model *gm, uz_gen_config *cfg)
{
    int64_t widths[4];
    int n_widths;
    int64_t v;
    TRY(parse_tasks(c, gm));
    TRY(int_field(c, "channels", 1, 3, &cfg->channels));
    if (cfg->channels == 2)
        return UZ_FAIL(UZ_ERR_ARG, "config model.channels: 1 (gray) or 3 (RGB), got 2");
    TRY(int_field(c, "cls_size", 32, 512, &cfg->cls_size));
    TRY(int_field(c, "scene_size", 16, 1024, &cfg->scene_size));
    TRY(uz_cfg_int(c, "model", "width", 8, 4096, &cfg->width));
    TRY(int_field(c, "heads", 1, 64, &cfg->heads));
    TRY(uz_cfg_int_array(c, "model", "backbone", 4, 4, 1, 4096, widths, &n_widths));
    memcpy(cfg->widths, widths, sizeof widths);
    TRY(int_field(c, "rpn_layers", 1, UZ_RPN_MAX_LAYERS, &cfg->rpn_layers));
    TRY(int_field(c, "queries", 1, 1024, &cfg->queries));
    static const char *const query_contents[] = {"learned", "selected"};
    int qc;
    TRY(uz_cfg_enum(c, "model", "query_content", query_contents, 2, &qc));
    cfg->query_content = qc == 0 ? UZ_RPN_QUERY_LEARNED : UZ_RPN_QUERY_SELECTED;
    TRY(int_field(c, "pools", 0, UZ_MAX_ATTN_POOLS, &cfg->pools));
    TRY(int_field(c, "text_layers", 1, UZ_TEXT_MAX_LAYERS, &cfg->text_layers));
    TRY(int_field(c, "decoder_layers", 1, UZ_DECODER_MAX_LAYERS, &cfg->decoder_layers));
    TRY(uz_cfg_int(c, "model", "vocab", 8, 1 << 20, &cfg->vocab));
    TRY(uz_cfg_int(c, "model", "text_len", 1, 512, &cfg->text_len));
    TRY(uz_cfg_int(c, "model", "caption_len", 2, 512, &cfg->caption_len));
    TRY(uz_cfg_bool(c, "model", "moe", &cfg->moe));
    TRY(int_field(c, "experts", 1, UZ_MOE_MAX_EXPERTS, &cfg->experts));
    TRY(uz_cfg_int(c, "model", "top_k", 1, UZ_MOE_MAX_EXPERTS, &v));
    if (v > cfg->experts)
        return UZ_FAIL(UZ_ERR_ARG, "config model.top_k: %lld exceeds model.experts %d",
                       (long long)v, cfg->experts);
    cfg->top_k = (int)v;
    TRY(float_field(c, "dropout", 0.0, 0.9, &cfg->dropout));
    TRY(float_field(c, "cost_obj", 0.0, 100.0, &cfg->cost_obj));
    TRY(float_field(c, "cost_l1", 0.0, 100.0, &cfg->cost_l1));
    TRY(float_field(c, "cost_giou", 0.0, 100.0, &cfg->cost_giou));
    TRY(float_field(c, "w_obj", 0.0, 100.0, &cfg->w_obj));
    TRY(float_field(c, "w_l1", 0.0, 100.0, &cfg->w_l1));
    TRY(float_field(c, "w_giou", 0.0, 100.0, &cfg->w_giou));
    TRY(float_field(c, "bg_weight", 0.0, 1.0, &cfg->bg_weight));
    TRY(uz_cfg_int(c, "model", "eval_limit", 0, INT64_MAX, &gm->eval_limit));
    TRY(uz_cfg_int(c, "model", "eval_beam", 1, 16, &gm->eval_beam));
    uz_backbone_pretrain_config *pc = &gm->pretrain;
    TRY(uz_cfg_int(c, "model", "pretrain_steps", 0, INT64_C(1) << 30, &pc->steps));
    TRY(uz_cfg_int(c, "model", "pretrain_batch", 1, INT64_C(1) << 20, &pc->batch));
    double lr;
    TRY(uz_cfg_num(c, "model", "pretrain_lr", 0.0, true, 1.0, false, &lr));
    pc->lr = (float)lr;
    pc->weight_decay = 0.05f;
    return UZ_OK;
}

/* The tokenizer and what depends on it: the class-name candidates and the
 * ids captions never contain. */
static uz_status load_tokenizer(gen_model *gm, const char *path)
{
    uz_generalist *g = &gm->g;
    if (!(gm->tok = uz_tokenizer_load(path))) {
        uz_error_context("config model.tokenizer (train one with `unizoo text train-tokenizer`)");
        return uz_error_status();
    }
    int32_t pieces = uz_tokenizer_vocab_size(gm->tok);
    if (pieces > g->cfg.vocab)
        return UZ_FAIL(UZ_ERR_ARG, "config model.vocab: %lld is below the tokenizer's %d pieces "
                       "(%s)", (long long)g->cfg.vocab, pieces, path);
    g->n_pieces = pieces;
    fingerprint(gm->tok, gm->tok_fp);
    memcpy(gm->stored_fp, gm->tok_fp, sizeof gm->tok_fp);
    g->eos_id = uz_tokenizer_eos_id(gm->tok);
    int32_t banned[4] = {uz_tokenizer_pad_id(gm->tok), uz_tokenizer_unk_id(gm->tok),
                         uz_tokenizer_bos_id(gm->tok), uz_tokenizer_piece_id(gm->tok, "<spe>")};
    for (int i = 0; i < 4; i++)
        if (banned[i] >= 0)
            g->banned[g->n_banned++] = banned[i];
    const char *names[UZ_GEN_CLASSES + 1];
    for (int i = 0; i < UZ_GEN_CLASSES; i++)
        names[i] = uz_fmnist_caption_names[i];
    names[UZ_GEN_CLASSES] = "background";
    return uz_gen_texts_encode(gm->tok, names, UZ_GEN_CLASSES + 1, g->cfg.text_len, false,
                               &g->classes);
}

/* The class of each scene category, matched by name. */
static uz_status map_categories(const uz_coco *c, const char *where, int32_t **out)
{
    int32_t *map = uz_malloc(sizeof(int32_t) * (size_t)(c->n_categories + 1), "categories");
    if (!map)
        return UZ_ERR_NOMEM;
    for (int i = 0; i < c->n_categories; i++) {
        map[i] = -1;
        for (int k = 0; k < UZ_GEN_CLASSES; k++)
            if (strcmp(c->categories[i].name, uz_fmnist_caption_names[k]) == 0)
                map[i] = k;
        if (map[i] < 0) {
            uz_free(map);
            return UZ_FAIL(UZ_ERR_FORMAT, "%s: category '%s' is not one of the model's class "
                           "names", where, c->categories[i].name);
        }
    }
    *out = map;
    return UZ_OK;
}

static uz_status load_data(gen_model *gm, const cJSON *c)
{
    const uz_gen_config *cfg = &gm->g.cfg;
    const char *fmnist, *scenes;
    int64_t train_limit, test_limit;
    TRY(uz_cfg_str(c, "model", "fmnist", &fmnist));
    TRY(uz_cfg_str(c, "model", "scenes", &scenes));
    TRY(uz_cfg_int(c, "model", "train_limit", 0, INT64_MAX, &train_limit));
    TRY(uz_cfg_int(c, "model", "test_limit", 0, INT64_MAX, &test_limit));
    if (cfg->channels != 1)
        return UZ_FAIL(UZ_ERR_ARG, "config model.channels: classification on Fashion-MNIST "
                       "needs 1 (gray), got %d", cfg->channels);
    char dir[4096];
    uz_data_path_resolve(scenes, dir, sizeof dir);
    for (int s = 0; s < 2; s++) {
        int64_t limit = s == 0 ? train_limit : test_limit;
        TRY(uz_gen_digits_load(fmnist[0] ? fmnist : NULL, s == 0, cfg->cls_size, limit,
                               &gm->data.digits[s]));
        char split[4200];
        snprintf(split, sizeof split, "%s/%s", dir, s == 0 ? "train" : "test");
        uz_status st = uz_gen_scenes_load(split, gm->tok, cfg->channels, cfg->scene_size,
                                          cfg->caption_len, limit, &gm->data.scenes[s]);
        if (st != UZ_OK) {
            uz_error_context("config model.scenes (make them with `unizoo data scenes`)");
            return st;
        }
        TRY(map_categories(&gm->data.scenes[s].coco, split, &gm->data.category_class[s]));
    }
    return UZ_OK;
}

static uz_status build(gen_model *gm, const cJSON *c, uint64_t seed, bool with_data)
{
    uz_generalist *g = &gm->g;
    TRY(parse_config(c, gm, &g->cfg));
    gm->pretrain.seed = seed;
    const char *tok_path;
    TRY(uz_cfg_str(c, "model", "tokenizer", &tok_path));
    uz_data_path_resolve(tok_path, gm->tok_path, sizeof gm->tok_path);
    /* Listing a model (no data) works before its tokenizer is trained. */
    g->n_pieces = g->cfg.vocab;
    if (with_data || access(gm->tok_path, R_OK) == 0)
        TRY(load_tokenizer(gm, gm->tok_path));
    TRY(uz_gen_declare(g, gm->base.params, &g->cfg, seed));
    if (!with_data)
        return UZ_OK;
    TRY(load_data(gm, c));
    gm->loaded = true;
    for (int k = 0; k < gm->base.n_tasks; k++) {
        const uz_gen_data *d = &gm->data;
        int64_t n = gm->tasks[k] == UZ_GEN_CLASSIFY  ? d->digits[0].images.n
                    : gm->tasks[k] == UZ_GEN_CAPTION ? d->scenes[0].captions.n
                                                     : d->scenes[0].images.n;
        gm->base.task_size[k] = n;
    }
    printf("data: %lld + %lld digits, %lld + %lld scenes (%lld training captions), "
           "%d tokenizer pieces\n",
           (long long)gm->data.digits[0].images.n, (long long)gm->data.digits[1].images.n,
           (long long)gm->data.scenes[0].images.n, (long long)gm->data.scenes[1].images.n,
           (long long)gm->data.scenes[0].captions.n, (int)g->n_pieces);
    return UZ_OK;
}

static uz_status gen_build(const cJSON *c, uint64_t seed, bool load, uz_model **out)
{
    *out = NULL;
    gen_model *gm = calloc(1, sizeof *gm);
    if (!gm)
        return UZ_FAIL(UZ_ERR_NOMEM, "generalist: out of memory");
    gm->base = (uz_model){.ops = &GEN_OPS, .params = uz_params_new(), .impl = gm};
    uz_status st = gm->base.params ? build(gm, c, seed, load)
                                   : UZ_FAIL(UZ_ERR_NOMEM, "generalist: out of memory");
    if (st != UZ_OK) {
        gen_free(&gm->base);
        return st;
    }
    *out = &gm->base;
    return UZ_OK;
}

const uz_model_family uz_family_generalist = {
    .name = "generalist",
    .description = "Uni-Perceiver v2-style generalist: classification, detection, captioning "
                   "and retrieval by similarity to encoded candidates",
    .defaults =
        "{\"tasks\":[\"classify\",\"detect\",\"caption\",\"retrieve\"],"
        "\"fmnist\":\"\",\"scenes\":\"~/.cache/unizoo/scenes\","
        "\"tokenizer\":\"~/.cache/unizoo/scenes/tokenizer.model\",\"vocab\":512,"
        "\"channels\":1,\"cls_size\":32,\"scene_size\":64,\"width\":128,\"heads\":4,"
        "\"backbone\":[16,32,64,128],\"rpn_layers\":2,\"queries\":16,"
        "\"query_content\":\"learned\",\"pools\":2,"
        "\"text_layers\":2,\"decoder_layers\":2,\"text_len\":8,\"caption_len\":16,"
        "\"moe\":true,\"experts\":4,\"top_k\":2,\"dropout\":0,"
        "\"cost_obj\":2,\"cost_l1\":5,\"cost_giou\":2,\"w_obj\":1,\"w_l1\":5,\"w_giou\":2,"
        "\"bg_weight\":0.1,\"train_limit\":0,\"test_limit\":0,\"eval_limit\":500,\"eval_beam\":3,"
        "\"pretrain_steps\":0,\"pretrain_batch\":128,\"pretrain_lr\":0.002}",
    .build = gen_build,
};
