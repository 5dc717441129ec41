/* The generalist's region-proposal encoder: a two-stage DETR (as DINO /
 * MaskDINO) with binary objectness only, over F2 and F3.
 *
 * Memory: "input_proj.<l>" (1x1 conv to d) of F2 (l = 0) and F3 (l = 1),
 * flattened row-major, F2's tokens first: N = h2 w2 + h3 w3 tokens. Memory
 * position: DETR's 2-D sine encoding of each map plus "level_embed" [2, d].
 *
 * Encoder proposals: every memory token m predicts, from
 * LN(Linear(memory)) ("enc_output", "enc_output_norm"), an objectness logit
 * ("enc_score_head", Linear(d, 1)); the Q selected below also a box
 * sigmoid(delta + logit(anchor)) ("enc_bbox_head", MLP d-d-d-4). The anchor
 * of a token is its cell's centre with side anchor_size on F2 and 2
 * anchor_size on F3 (default 0.1 and 0.2 of the image: objects in the scenes
 * cover a large part of the canvas, so small deltas reach them; Deformable
 * DETR uses 0.05 * 2^level on larger images).
 *
 * Queries: the Q tokens of highest objectness (ties: lower index first) give
 * the initial reference boxes (values: neither the choice nor these boxes
 * carry gradient). The query contents are either learned ("tgt_embed.weight"
 * [Q, d], DINO's mixed selection) or those tokens' LN(Linear(memory)) rows as
 * values (MaskDINO's default, LEARN_TGT off: each query starts from what the
 * backbone saw where it was picked; no "tgt_embed").
 * Each of the L "layers.<i>" (a DETR decoder layer) gets the query position
 * MLP(sine encoding of its reference box, d/2 features per number)
 * ("ref_point_head", MLP 2d-d-d, shared), then the shared heads score the
 * queries ("score_head") and refine the boxes ("bbox_head"): box =
 * sigmoid(delta + logit(reference)); the next layer's reference is that box
 * as values (Deformable DETR's iterative refinement, detached).
 *
 * Logits are log-odds of "an object"; boxes are cx, cy, w, h in (0, 1). */
#ifndef UZ_REGION_PROPOSAL_H
#define UZ_REGION_PROPOSAL_H

#include "models/detr_decoder.h"
#include "models/mlp.h"

enum { UZ_RPN_MAX_LAYERS = 8 };

typedef enum uz_rpn_query_content {
    UZ_RPN_QUERY_LEARNED,  /* DINO: tgt_embed */
    UZ_RPN_QUERY_SELECTED  /* MaskDINO: the selected tokens' encoder outputs */
} uz_rpn_query_content;

typedef struct uz_region_proposal_config {
    int64_t in_channels[2];         /* channels of F2 and F3 */
    uz_detr_decoder_config decoder; /* d (a multiple of 4), heads, ffn, dropout, eps */
    int n_queries;                  /* Q */
    int n_layers;                   /* L, 1..UZ_RPN_MAX_LAYERS */
    float anchor_size;              /* F2's anchor side; 0 means 0.1 */
    uz_rpn_query_content query_content;
} uz_region_proposal_config;

typedef struct uz_region_proposal {
    uz_region_proposal_config cfg; /* with the defaults filled in */
    uz_nn_conv2d input_proj[2];
    uz_tensor *level_embed;
    uz_nn_linear enc_output, enc_score_head;
    uz_nn_layer_norm enc_output_norm;
    uz_mlp enc_bbox_head, ref_point_head, bbox_head;
    uz_tensor *tgt_embed; /* NULL for UZ_RPN_QUERY_SELECTED */
    uz_detr_decoder_layer layers[UZ_RPN_MAX_LAYERS];
    uz_nn_linear score_head;
} uz_region_proposal;

typedef struct uz_region_proposals {
    uz_tensor *q_sem;   /* [B, Q, d], the last layer's query features */
    uz_tensor *boxes;   /* [B, Q, 4], the last layer's boxes */
    uz_tensor *logits;  /* [B, Q], the last layer's objectness */
    int n_layers;
    uz_tensor *layer_boxes[UZ_RPN_MAX_LAYERS];  /* per layer, for auxiliary losses */
    uz_tensor *layer_logits[UZ_RPN_MAX_LAYERS];
    int64_t n_tokens;      /* N */
    uz_tensor *enc_logits; /* [B, N], every memory token's objectness */
    uz_tensor *enc_boxes;  /* [B, Q, 4], the selected tokens' boxes: the first references */
    int32_t *selected;     /* [B, Q] memory tokens that seeded the queries (step lifetime) */
} uz_region_proposals;

/* Fills the defaults of cfg and checks it and declares the parameters; an
 * error names the bad field. */
uz_status uz_region_proposal_declare(uz_region_proposal *r, uz_params *p, const char *prefix,
                                     const uz_region_proposal_config *cfg);
/* PyTorch's defaults, plus DINO's: level and query embeddings N(0, 1), the
 * last layer of each box head zero (boxes start at their references), and
 * each score head's bias at the prior logit(0.01). */
void uz_region_proposal_init(uz_region_proposal *r, uint64_t seed);
/* f2 [B, C2, h2, w2], f3 [B, C3, h3, w3] -> out (every tensor from ctx).
 * Q may not exceed N. */
uz_status uz_region_proposal_forward(uz_ctx *ctx, const uz_region_proposal *r, uz_tensor *f2,
                                     uz_tensor *f3, bool training, uz_region_proposals *out);

#endif
