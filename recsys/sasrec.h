/* The SASRec-style sequence encoder of RecBole's SASRec / DuoRec / MCLRec:
 * item + learned position embeddings, LayerNorm and dropout on the input,
 * then post-LN transformer layers with separate query/key/value/dense
 * projections, an additive -10000 causal + padding mask, GELU (erf) feed
 * forward, and the hidden state at position len-1 as the sequence's
 * representation. The item table is tied with the output layer.
 *
 * Parameter names are RecBole's (prefix + "item_embedding.weight",
 * "position_embedding.weight", "trm_encoder.layer.<i>.multi_head_attention.
 * {query,key,value,dense,LayerNorm}.*", "trm_encoder.layer.<i>.feed_forward.
 * {dense_1,dense_2,LayerNorm}.*", "LayerNorm.*"), so the official checkpoints
 * load by name. Sequences are left-aligned: items at positions 0..len-1,
 * padding id 0 after them. */
#ifndef UZ_RECSYS_SASREC_H
#define UZ_RECSYS_SASREC_H

#include "core/unizoo.h"
#include "recsys/metrics.h"
#include "recsys/split.h"

enum { UZ_SASREC_MAX_LAYERS = 16 };

typedef struct uz_sasrec_config {
    /* Real items, with ids 1..n_items. The table has n_items + 2 rows: row 0
     * is padding and the last row is the one RecBole allocates beyond its
     * item count (which counts the padding id); it is never used, and kept
     * so that checkpoints match shape for shape. */
    int64_t n_items;
    int64_t hidden;        /* d */
    int layers;
    int heads;             /* must divide hidden */
    int64_t inner;         /* feed-forward width */
    int64_t max_len;       /* learned positions; longest input sequence */
    float hidden_dropout;  /* input embedding, attention output, FFN output */
    float attn_dropout;    /* on the attention probabilities */
    float ln_eps;
} uz_sasrec_config;

/* The MCLRec paper's settings: d 64, 2 layers, 2 heads, inner 256, length 50,
 * dropout 0.5 / 0.5, eps 1e-12. */
uz_sasrec_config uz_sasrec_config_default(int64_t n_items);

typedef struct uz_sasrec_layer {
    uz_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b, *attn_ln_w, *attn_ln_b;
    uz_tensor *ff1_w, *ff1_b, *ff2_w, *ff2_b, *ff_ln_w, *ff_ln_b;
} uz_sasrec_layer;

typedef struct uz_sasrec {
    uz_sasrec_config cfg;
    uz_tensor *item_emb;   /* [n_items + 2, d] */
    uz_tensor *pos_emb;    /* [max_len, d] */
    uz_tensor *ln_w, *ln_b;
    uz_sasrec_layer layer[UZ_SASREC_MAX_LAYERS];
} uz_sasrec;

/* Checks cfg and declares the encoder's parameters in p under prefix
 * ("" for the checkpoint's own names). */
uz_status uz_sasrec_declare(uz_sasrec *enc, uz_params *p, const char *prefix,
                            const uz_sasrec_config *cfg);

/* RecBole's init: every Linear and Embedding weight N(0, 0.02) (the padding
 * row included), biases 0, LayerNorm weights 1. Each tensor draws from a
 * stream hashed from its name. Call after uz_params_finalize. */
void uz_sasrec_init(uz_sasrec *enc, uint64_t seed);

/* Reads the encoder's tensors by name (prefix included) from a safetensors
 * file, ignoring any others there (e.g. augmenters); a missing tensor or a
 * shape mismatch is an error naming it. */
uz_status uz_sasrec_load(const uz_sasrec *enc, const char *path);

/* ids [B, L] (row stride L, L <= max_len), left-aligned, 0 = padding;
 * lengths[B] in [1, L]: the representation is read at position len-1, so
 * padding ids inside the first len positions (masked items) are allowed.
 * Returns [B, d]. With a causal mask nothing at or before len-1 depends on
 * later positions, so rows are encoded in runs of similar length, each cut
 * to its own longest row, and the result equals the full-length
 * computation. training turns dropout on (drawn from ctx's seed and
 * streams, one stream per dropout per run). */
uz_tensor *uz_sasrec_forward(uz_ctx *ctx, const uz_sasrec *enc, const int32_t *ids,
                             const int32_t *lengths, int64_t B, int64_t L, bool training);

/* Scores of h [B, d] against table rows 0..n_items -> [B, n_items + 1]
 * (column = item id; column 0 is padding, which RecBole's softmax keeps). */
uz_tensor *uz_sasrec_logits(uz_ctx *ctx, const uz_sasrec *enc, uz_tensor *h);

/* RecBole's next-item loss: mean full-softmax cross-entropy of
 * uz_sasrec_logits(h) against item ids targets[B]; an id outside
 * [0, n_items] is an error naming the row. */
uz_tensor *uz_sasrec_ce_loss(uz_ctx *ctx, const uz_sasrec *enc, uz_tensor *h,
                             const int32_t *targets);

/* ---- evaluation (recsys/sasrec_eval.c) ------------------------------------ */

/* The encoder as recommend's uz_seqrec_encoder (enc_ctx = a uz_sasrec_runner):
 * the batch's representations in eval mode, no gradients, in ctx (reset
 * after each call). */
typedef struct uz_sasrec_runner {
    const uz_sasrec *enc;
    uz_ctx *ctx;
} uz_sasrec_runner;

uz_status uz_sasrec_encode(void *runner, const uz_seqrec_batch *batch, float *out);

typedef struct uz_sasrec_eval_opts {
    int64_t batch;      /* samples per forward and scoring GEMM; 0 = 512 */
    bool mask_history;  /* -inf on items of the full history (off in the paper) */
} uz_sasrec_eval_opts;

/* Full-ranking metrics of samples s (e.g. a split's test part, whose
 * histories are cut to the encoder's max_len) over all items 1..n_items of
 * d: scores = h E^T, the target ranked by the items scoring strictly higher.
 * Samples are processed in order of history length, so each batch is cut
 * to its longest history with little padding; the result does not depend
 * on the order beyond the rounding of the sums. NULL opts = defaults.
 * d's item count must equal the encoder's n_items. */
uz_status uz_sasrec_evaluate(const uz_sasrec *enc, const uz_seqrec *d,
                             const uz_seqrec_samples *s, const uz_sasrec_eval_opts *opts,
                             uz_rank_metrics *out);

#endif
