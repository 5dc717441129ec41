/* The attribute-level conditional mixture-of-experts feed-forward of
 * Uni-Perceiver-MoE: E experts, each a GELU MLP d -> hidden -> d, and a gate
 * Linear(8 -> E) applied not to the tokens but to a fixed 8-dim attribute
 * vector given per sequence segment, so all tokens of a segment share one
 * route: softmax over E, the top-k experts, their probabilities renormalised
 * to sum to 1, and the segment's output is the weighted sum of those k
 * experts' outputs. The weights are differentiable w.r.t. the gate; the
 * choice of experts is not (as in the reference's top-k gating).
 *
 * Deviations from the reference (uniperceiver/task_moe): its gate maps the
 * attribute through Linear(8 -> d) + LayerNorm before a bias-free
 * Linear(d -> E) and routes the two linear layers of the FFN separately
 * (mixing pre-activation); ours is the single linear gate and whole-MLP
 * experts of the design, without noise, capacity limits or balance loss
 * (the route of a segment is fixed, so there is nothing to balance per token).
 *
 * Parameter names under the caller's prefix: "gate.weight" [E, 8],
 * "gate.bias" [E], "experts.<e>.fc.weight" [hidden, d], "experts.<e>.fc.bias"
 * [hidden], "experts.<e>.proj.weight" [d, hidden], "experts.<e>.proj.bias" [d]. */
#ifndef UZ_MOE_FFN_H
#define UZ_MOE_FFN_H

#include "core/unizoo.h"

enum { UZ_MOE_ATTR_DIM = 8, UZ_MOE_MAX_EXPERTS = 16 };

/* The attribute vector, 8 binary entries:
 *   [0..3] task one-hot: classify, detect, caption, retrieve;
 *   [4]    0 for the input side (what is being recognised), 1 for the target
 *          side (candidates: class names, vocabulary words, retrieval texts);
 *   [5..7] modality one-hot: image (global and regional tokens), text,
 *          caption query (the generation stream of captioning).
 * E.g. caption input image tokens = 0010 0 100, vocabulary candidates =
 * 0010 1 010. */
typedef enum uz_moe_task {
    UZ_MOE_CLASSIFY,
    UZ_MOE_DETECT,
    UZ_MOE_CAPTION,
    UZ_MOE_RETRIEVE
} uz_moe_task;

typedef enum uz_moe_modality { UZ_MOE_IMAGE, UZ_MOE_TEXT, UZ_MOE_CAPTION_QUERY } uz_moe_modality;

uz_status uz_moe_attribute(uz_moe_task task, bool target, uz_moe_modality modality,
                           float out[UZ_MOE_ATTR_DIM]);

typedef struct uz_moe_config {
    int64_t width;  /* d */
    int64_t hidden; /* each expert's hidden width; 0 means 4 d */
    int experts;    /* E, 1..UZ_MOE_MAX_EXPERTS */
    int top_k;      /* 1..E */
    uz_gelu_mode gelu;
} uz_moe_config;

typedef struct uz_moe_ffn {
    uz_moe_config cfg; /* with the defaults filled in */
    uz_tensor *gate_w, *gate_b;
    uz_tensor *fc_w[UZ_MOE_MAX_EXPERTS], *fc_b[UZ_MOE_MAX_EXPERTS];
    uz_tensor *proj_w[UZ_MOE_MAX_EXPERTS], *proj_b[UZ_MOE_MAX_EXPERTS];
} uz_moe_ffn;

/* A run of `len` consecutive positions of the sequence that share the
 * attribute vector attr[UZ_MOE_ATTR_DIM] (the same for every batch row). */
typedef struct uz_moe_segment {
    int64_t len;
    const float *attr;
} uz_moe_segment;

/* Checks cfg and declares the parameters in p under prefix (e.g. "moe."). */
uz_status uz_moe_ffn_declare(uz_moe_ffn *m, uz_params *p, const char *prefix,
                             const uz_moe_config *cfg);

/* Weights N(0, 0.02) (the gate's too, so all routes start near-equal
 * weights), biases 0. Call after uz_params_finalize. */
void uz_moe_ffn_init(uz_moe_ffn *m, uint64_t seed);

/* x [B, T, d] -> [B, T, d]; segs[0..n_segs) tile the T positions in order.
 * Each expert runs once, on the rows of all segments routed to it. */
uz_tensor *uz_moe_ffn_forward(uz_ctx *ctx, const uz_moe_ffn *m, uz_tensor *x,
                              const uz_moe_segment *segs, int n_segs);

#endif
