/* MCLRec's objective and its training step (see mclrec.h). */
#include "mclrec.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

uz_mclrec_config uz_mclrec_config_default(void)
{
    return (uz_mclrec_config){
        .variant = UZ_MCLREC_ALTERNATING,
        .lambda = 0.0f,
        .beta = 0.01f,
        .tau = 1.0f,
        .use_reg = true,
        .reg_weight = 0.1f,
        .reg_mode = UZ_MARGIN_CODE,
        .lr = 1e-3f,
        .aug_lr = 1e-3f,
    };
}

uz_status uz_mclrec_variant_parse(const char *name, uz_mclrec_variant *out)
{
    static const char *const names[] = {"mclrec", "mclrec-j", "cl4srec", "sasrec"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (uz_mclrec_variant)i;
            return UZ_OK;
        }
    return UZ_FAIL(UZ_ERR_ARG, "mclrec: unknown variant \"%s\" (mclrec, mclrec-j, cl4srec, sasrec)",
                   name ? name : "(null)");
}

uz_status uz_margin_mode_parse(const char *name, uz_margin_mode *out)
{
    if (name && strcmp(name, "code") == 0)
        *out = UZ_MARGIN_CODE;
    else if (name && strcmp(name, "paper") == 0)
        *out = UZ_MARGIN_PAPER;
    else
        return UZ_FAIL(UZ_ERR_ARG, "mclrec: unknown regulariser mode \"%s\" (code, paper)",
                       name ? name : "(null)");
    return UZ_OK;
}

static bool has_augmenters(uz_mclrec_variant v)
{
    return v == UZ_MCLREC_ALTERNATING || v == UZ_MCLREC_JOINT;
}

static uz_status check_config(const uz_mclrec_config *c)
{
    if ((unsigned)c->variant > UZ_MCLREC_SASREC)
        return UZ_FAIL(UZ_ERR_ARG, "mclrec: variant %d out of range", (int)c->variant);
    if (!(c->tau > 0.0f))
        return UZ_FAIL(UZ_ERR_ARG, "mclrec: tau %g must be positive", (double)c->tau);
    if (!(c->lambda >= 0.0f) || !(c->beta >= 0.0f) || !(c->reg_weight >= 0.0f))
        return UZ_FAIL(UZ_ERR_ARG, "mclrec: loss weights must be >= 0 (lambda %g, beta %g, reg %g)",
                       (double)c->lambda, (double)c->beta, (double)c->reg_weight);
    if (!(c->lr > 0.0f) || !(c->aug_lr > 0.0f))
        return UZ_FAIL(UZ_ERR_ARG, "mclrec: learning rates must be positive (lr %g, aug_lr %g)",
                       (double)c->lr, (double)c->aug_lr);
    return UZ_OK;
}

uz_status uz_mclrec_new(const uz_mclrec_config *cfg, const uz_sasrec *enc, uz_params *enc_params,
                        uint64_t seed, uz_mclrec **out)
{
    *out = NULL;
    uz_status st = check_config(cfg);
    if (st)
        return st;
    uz_mclrec *m = uz_calloc(sizeof *m, "mclrec");
    if (!m)
        return uz_error_status();
    m->cfg = *cfg;
    m->enc = enc;
    m->enc_params = enc_params;
    /* PyTorch's Adam is AdamW without weight decay. */
    uz_optim_config adam = uz_optim_defaults(UZ_OPTIM_ADAMW);
    adam.weight_decay = 0.0f;
    st = uz_optim_new(&adam, enc_params, &m->enc_optim);
    if (!st && has_augmenters(cfg->variant)) {
        m->aug_params = uz_params_new();
        if (!m->aug_params)
            st = uz_error_status();
        for (int i = 0; i < 2 && !st; i++)
            st = uz_augmenter_declare(&m->aug[i], m->aug_params, i == 0 ? "aug_1" : "aug_2",
                                      enc->cfg.hidden);
        if (!st)
            st = uz_params_finalize(m->aug_params);
        if (!st) {
            uz_augmenter_init(&m->aug[0], seed, 0);
            uz_augmenter_init(&m->aug[1], seed, 2 * UZ_AUGMENTER_LAYERS);
            st = uz_optim_new(&adam, m->aug_params, &m->aug_optim);
        }
    }
    if (st) {
        uz_mclrec_free(m);
        return st;
    }
    *out = m;
    return UZ_OK;
}

void uz_mclrec_free(uz_mclrec *m)
{
    if (!m)
        return;
    uz_optim_free(m->aug_optim);
    uz_optim_free(m->enc_optim);
    uz_params_free(m->aug_params);
    uz_free(m);
}

static uz_status check_batch(const uz_mclrec *m, const uz_mclrec_batch *b)
{
    if (b->size < 1 || b->max_len < 1 || !b->ids || !b->lengths || !b->targets)
        return UZ_FAIL(UZ_ERR_ARG, "mclrec: batch %lld x %lld needs ids, lengths and targets",
                       (long long)b->size, (long long)b->max_len);
    if (m->cfg.variant != UZ_MCLREC_SASREC) {
        for (int v = 0; v < 2; v++)
            if (!b->view_ids[v] || !b->view_lengths[v])
                return UZ_FAIL(UZ_ERR_ARG, "mclrec: the %s variant needs both augmented views "
                                           "(view %d missing)",
                               m->cfg.variant == UZ_MCLREC_CL4SREC ? "cl4srec" : "mclrec", v + 1);
        /* In-batch negatives need a second row (the regulariser takes the
         * hardest negative, InfoNCE would have none). */
        if (b->size < 2)
            return UZ_FAIL(UZ_ERR_ARG, "mclrec: contrastive losses need a batch of >= 2, got %lld",
                           (long long)b->size);
    }
    return UZ_OK;
}

/* weight * t, skipping the multiply for weight 1. */
static uz_tensor *scaled(uz_ctx *ctx, uz_tensor *t, float weight)
{
    return weight == 1.0f ? t : uz_mul_scalar(ctx, t, weight);
}

/* L_cl2 and (optionally) R over the official three pairs (h1, z2),
 * (h2, z1), (z1, z2); the paper's R uses (z1, z2) only. */
static void augmenter_terms(const uz_mclrec *m, uz_ctx *ctx, uz_tensor *h1, uz_tensor *h2,
                            uz_tensor *z1, uz_tensor *z2, uz_tensor **cl2, uz_tensor **reg)
{
    const uz_mclrec_config *c = &m->cfg;
    uz_tensor *pair[3][2] = {{h1, z2}, {h2, z1}, {z1, z2}};
    uz_tensor *nce[3], *margin[3] = {NULL, NULL, NULL};
    for (int p = 0; p < 3; p++) {
        uz_tensor *s = uz_contrastive_scores(ctx, pair[p][0], pair[p][1], 1.0f);
        nce[p] = uz_info_nce_scores(ctx, s);
        if (c->use_reg && c->reg_mode == UZ_MARGIN_CODE) {
            uz_tensor *s_reg =
                c->tau == 1.0f ? s : uz_contrastive_scores(ctx, pair[p][0], pair[p][1], c->tau);
            margin[p] = uz_contrastive_margin(ctx, s_reg, UZ_MARGIN_CODE);
        }
    }
    *cl2 = uz_add(ctx, uz_add(ctx, nce[0], nce[1]), nce[2]);
    *reg = NULL;
    if (!c->use_reg)
        return;
    if (c->reg_mode == UZ_MARGIN_CODE)
        *reg = uz_add(ctx, uz_add(ctx, margin[0], margin[1]), margin[2]);
    else
        *reg = uz_contrastive_margin(ctx, uz_contrastive_scores(ctx, z1, z2, c->tau),
                                     UZ_MARGIN_PAPER);
}

uz_tensor *uz_mclrec_loss(uz_mclrec *m, uz_ctx *ctx, const uz_mclrec_batch *b,
                          uz_mclrec_objective objective, bool training, uz_mclrec_terms *terms)
{
    uz_mclrec_terms t = {NULL, NULL, NULL, NULL};
    if (terms)
        *terms = t;
    const uz_mclrec_config *c = &m->cfg;
    if (check_batch(m, b))
        return NULL;
    bool encoder = objective == UZ_MCLREC_ENCODER_OBJECTIVE;
    if (!encoder && !has_augmenters(c->variant)) {
        UZ_FAIL(UZ_ERR_ARG, "mclrec: the augmenter objective needs a variant with augmenters");
        return NULL;
    }
    int64_t B = b->size, L = b->max_len;
    uz_tensor *loss = NULL;
    if (encoder) {
        uz_tensor *h = uz_sasrec_forward(ctx, m->enc, b->ids, b->lengths, B, L, training);
        loss = t.rec = uz_sasrec_ce_loss(ctx, m->enc, h, b->targets);
        if (!loss)
            return NULL;
    }
    if (c->variant != UZ_MCLREC_SASREC) {
        /* Step 2's encoder gradient is discarded (the next zero_grad in the
         * official code), so the views are encoded without recording. */
        bool was = uz_grad_enable(ctx, encoder && uz_grad_enabled(ctx));
        uz_tensor *h1 = uz_sasrec_forward(ctx, m->enc, b->view_ids[0], b->view_lengths[0], B, L,
                                          training);
        uz_tensor *h2 = uz_sasrec_forward(ctx, m->enc, b->view_ids[1], b->view_lengths[1], B, L,
                                          training);
        t.cl1 = uz_info_nce(ctx, h1, h2, c->tau);
        uz_grad_enable(ctx, was);
        uz_tensor *cl1 = scaled(ctx, t.cl1, c->lambda);
        loss = encoder ? uz_add(ctx, loss, cl1) : cl1;
        if (has_augmenters(c->variant)) {
            uz_tensor *z1 = uz_augmenter_forward(ctx, &m->aug[0], h1);
            uz_tensor *z2 = uz_augmenter_forward(ctx, &m->aug[1], h2);
            augmenter_terms(m, ctx, h1, h2, z1, z2, &t.cl2, &t.reg);
            uz_tensor *contrast = t.cl2;
            if (c->use_reg)
                contrast = uz_add(ctx, contrast, scaled(ctx, t.reg, c->reg_weight));
            loss = uz_add(ctx, loss, scaled(ctx, contrast, encoder ? c->beta : 1.0f));
        }
    }
    if (loss && terms)
        *terms = t;
    return loss;
}

static float value_of(const uz_tensor *t)
{
    float v = 0.0f;
    if (t)
        uz_tensor_copy_out(t, &v);
    return v;
}

static const char *const objective_name[] = {"encoder", "augmenter"};

/* One optimizer update: loss, backward, the optimizers' steps, zeroed
 * gradients and a reset context whatever happened. */
static uz_status update(uz_mclrec *m, uz_ctx *ctx, const uz_mclrec_batch *b,
                        uz_mclrec_objective objective, bool step_encoder, bool step_augmenters,
                        float *loss_value, uz_mclrec_step_stats *terms_out)
{
    uz_mclrec_terms t;
    uz_tensor *loss = uz_mclrec_loss(m, ctx, b, objective, true, &t);
    uz_status st = loss ? UZ_OK : uz_error_status();
    if (!st) {
        *loss_value = value_of(loss);
        if (!isfinite(*loss_value))
            st = UZ_FAIL(UZ_ERR_NUMERIC, "mclrec: %s objective is %g (L_rec %g, L_cl1 %g, L_cl2 %g, R %g)",
                         objective_name[objective], (double)*loss_value, (double)value_of(t.rec),
                         (double)value_of(t.cl1), (double)value_of(t.cl2), (double)value_of(t.reg));
    }
    if (!st && terms_out) {
        terms_out->rec = value_of(t.rec);
        terms_out->cl1 = value_of(t.cl1);
        terms_out->cl2 = value_of(t.cl2);
        terms_out->reg = value_of(t.reg);
    }
    if (!st)
        st = uz_backward(ctx, loss);
    /* MCLRec-J is one Adam over encoder and augmenters at one learning
     * rate; two Adams over the two stores are the same update (Adam is
     * per element, and no clipping couples them). */
    float aug_lr = m->cfg.variant == UZ_MCLREC_JOINT ? m->cfg.lr : m->cfg.aug_lr;
    if (!st && step_encoder)
        st = uz_optim_step(m->enc_optim, m->cfg.lr, NULL, terms_out ? &terms_out->grad_norm : NULL);
    if (!st && step_augmenters)
        st = uz_optim_step(m->aug_optim, aug_lr, NULL, NULL);
    uz_params_zero_grad(m->enc_params);
    if (m->aug_params)
        uz_params_zero_grad(m->aug_params);
    uz_ctx_reset(ctx);
    return st;
}

static void set_augmenters_trainable(const uz_mclrec *m, bool on)
{
    if (has_augmenters(m->cfg.variant))
        for (int i = 0; i < 2; i++)
            uz_augmenter_set_trainable(&m->aug[i], on);
}

uz_status uz_mclrec_train_step(uz_mclrec *m, uz_ctx *ctx, const uz_mclrec_batch *b,
                               uz_mclrec_step_stats *stats)
{
    uz_mclrec_step_stats s;
    memset(&s, 0, sizeof s);
    uz_status st;
    if (m->cfg.variant == UZ_MCLREC_ALTERNATING) {
        s.n_updates = 3;
        set_augmenters_trainable(m, false);
        st = update(m, ctx, b, UZ_MCLREC_ENCODER_OBJECTIVE, true, false, &s.loss[0], &s);
        set_augmenters_trainable(m, true);
        if (!st)
            st = update(m, ctx, b, UZ_MCLREC_AUGMENTER_OBJECTIVE, false, true, &s.loss[1], NULL);
        set_augmenters_trainable(m, false);
        if (!st)
            st = update(m, ctx, b, UZ_MCLREC_ENCODER_OBJECTIVE, true, false, &s.loss[2], NULL);
        set_augmenters_trainable(m, true);
    } else {
        s.n_updates = 1;
        st = update(m, ctx, b, UZ_MCLREC_ENCODER_OBJECTIVE, true,
                    m->cfg.variant == UZ_MCLREC_JOINT, &s.loss[0], &s);
    }
    for (int i = 0; i < s.n_updates; i++)
        s.total += s.loss[i];
    if (stats)
        *stats = s;
    return st;
}
