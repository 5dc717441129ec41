/* MCLRec (Qin et al., SIGIR 2023) on the SASRec encoder: the objective's
 * pieces and the official training step, with CL4SRec and SASRec as
 * variants of the same code (../shared/reference/mclrec.md §1.5-1.8).
 *
 * For a batch with augmented views S1, S2 (recsys/augment.h) and encoder
 * f, augmenters F1, F2 (recsys/augmenter.h):
 *   h = f(S), h1 = f(S1), h2 = f(S2), z1 = F1(h1), z2 = F2(h2)
 *   L_rec = full-softmax CE of h against the next item
 *   L_cl1 = InfoNCE(h1, h2) at temperature tau
 *   L_cl2 = InfoNCE(h1, z2) + InfoNCE(h2, z1) + InfoNCE(z1, z2) at tau 1
 *   R     = regulariser (recsys/contrastive.h) on the same three pairs at
 *           tau ("code" margins, the default), or on (z1, z2) only ("paper")
 * Encoder objective: L_rec + lambda L_cl1 + beta (L_cl2 + reg_weight R).
 * Augmenter objective: lambda L_cl1 + L_cl2 + reg_weight R (the official
 * step 2: no beta, L_rec 0; L_cl1 carries no augmenter gradient). */
#ifndef UZ_RECSYS_MCLREC_H
#define UZ_RECSYS_MCLREC_H

#include "recsys/augmenter.h"
#include "recsys/contrastive.h"
#include "recsys/sasrec.h"
#include "train/optim.h"

typedef enum uz_mclrec_variant {
    /* The official schedule (joint: 0): per batch, step 1 updates the
     * encoder with the augmenters frozen, step 2 re-encodes the batch with
     * the updated encoder and updates the augmenters, step 3 updates the
     * encoder again; the three reuse the views, with fresh dropout. */
    UZ_MCLREC_ALTERNATING,
    /* MCLRec-J (joint: 1): one update of encoder and augmenters together on
     * the encoder objective. */
    UZ_MCLREC_JOINT,
    /* CL4SRec: L_rec + lambda L_cl1, no augmenters. */
    UZ_MCLREC_CL4SREC,
    /* SASRec: L_rec only; the views are not used. */
    UZ_MCLREC_SASREC
} uz_mclrec_variant;

typedef struct uz_mclrec_config {
    uz_mclrec_variant variant;
    float lambda;            /* lmd: weight of L_cl1 */
    float beta;              /* weight of L_cl2 and R in the encoder objective */
    float tau;               /* temperature of L_cl1 and R */
    bool use_reg;            /* use_rl */
    float reg_weight;        /* R's factor (meta_rl's 0.1) */
    uz_margin_mode reg_mode;
    float lr;                /* Adam for the encoder */
    float aug_lr;            /* Adam for the augmenters */
} uz_mclrec_config;

/* MCLRec.yaml / seq.yaml: alternating, lambda 0, beta 0.01, tau 1, R on
 * with weight 0.1 and the code's margins, Adam lr 1e-3 for both. */
uz_mclrec_config uz_mclrec_config_default(void);
/* "mclrec", "mclrec-j", "cl4srec", "sasrec". */
uz_status uz_mclrec_variant_parse(const char *name, uz_mclrec_variant *out);
/* "code", "paper". */
uz_status uz_margin_mode_parse(const char *name, uz_margin_mode *out);

typedef struct uz_mclrec {
    uz_mclrec_config cfg;
    const uz_sasrec *enc;        /* not owned */
    uz_params *enc_params;       /* not owned: the store enc was declared in */
    /* Owned; NULL for CL4SRec and SASRec. "aug_1.dense_{1,2,3}.*" and
     * "aug_2.dense_{1,2,3}.*", PyTorch's default init. */
    uz_params *aug_params;
    uz_augmenter aug[2];
    /* Owned: Adam (AdamW with weight decay 0) over enc_params and over
     * aug_params (NULL without augmenters). Their states are what a
     * checkpoint must save besides the two stores. */
    uz_optim *enc_optim;
    uz_optim *aug_optim;
} uz_mclrec;

/* Builds the augmenters (initialised from seed) and the optimizers for an
 * encoder whose parameters live in enc_params (finalised). */
uz_status uz_mclrec_new(const uz_mclrec_config *cfg, const uz_sasrec *enc, uz_params *enc_params,
                        uint64_t seed, uz_mclrec **out);
void uz_mclrec_free(uz_mclrec *m);

/* One batch: ids [size, max_len] left-aligned with lengths in [1, max_len],
 * targets the next items, and the two augmented views in the same layout
 * (NULL for SASRec). */
typedef struct uz_mclrec_batch {
    int64_t size, max_len;
    const int32_t *ids, *lengths, *targets;
    const int32_t *view_ids[2], *view_lengths[2];
} uz_mclrec_batch;

typedef enum uz_mclrec_objective {
    UZ_MCLREC_ENCODER_OBJECTIVE,    /* steps 1 and 3, the joint update, the baselines */
    UZ_MCLREC_AUGMENTER_OBJECTIVE   /* step 2 */
} uz_mclrec_objective;

/* The loss terms of one evaluation (0-d tensors; NULL where a term is not
 * part of the variant). */
typedef struct uz_mclrec_terms {
    uz_tensor *rec, *cl1, *cl2, *reg;
} uz_mclrec_terms;

/* The objective as a 0-d tensor recorded for backward (terms may be NULL).
 * The augmenter objective encodes with gradients off: the encoder's
 * gradient from it is discarded by the official code anyway, so only the
 * augmenters' part of the graph is recorded. Whether the augmenters get
 * gradients follows their parameters' requires_grad
 * (uz_augmenter_set_trainable). training turns dropout on. */
uz_tensor *uz_mclrec_loss(uz_mclrec *m, uz_ctx *ctx, const uz_mclrec_batch *b,
                          uz_mclrec_objective objective, bool training, uz_mclrec_terms *terms);

typedef struct uz_mclrec_step_stats {
    int n_updates;          /* 3 (alternating) or 1 */
    float loss[3];          /* each update's objective */
    float total;            /* their sum (the official per-batch training loss) */
    float rec, cl1, cl2, reg;   /* the first update's terms (0 when absent) */
    float grad_norm;        /* the encoder's gradient norm in the first update */
} uz_mclrec_step_stats;

/* One training step of the configured variant on batch b, in training mode
 * (dropout from ctx's seed and streams, which advance over the updates).
 * ctx is reset after every update, so it must hold nothing the caller
 * needs; once a first step has sized the arena, further steps on batches of
 * the same shape allocate nothing. Gradients are left zeroed. A non-finite
 * loss fails with UZ_ERR_NUMERIC (the parameters are not updated by that
 * update). stats may be NULL. */
uz_status uz_mclrec_train_step(uz_mclrec *m, uz_ctx *ctx, const uz_mclrec_batch *b,
                               uz_mclrec_step_stats *stats);

#endif
