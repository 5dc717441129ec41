/* The generalist's image encoder f_image (Uni-Perceiver v2, Eq. 1-3):
 * backbone -> F1, F2, F3; region proposals over F2 and F3; global tokens from
 * F3. The image token sequence is [global (M' pools, then the h w map
 * tokens), regional (Q)], regional token j = q_sem_j + B(box_j).
 * Parameter prefixes under the caller's: "backbone.", "rpn.",
 * "global_tokens.", "box_encoding." (see each block's header);
 * tests/reference/uzgen/vision.py is the PyTorch twin with the same names. */
#ifndef UZ_IMAGE_ENCODER_H
#define UZ_IMAGE_ENCODER_H

#include "models/attn_pool.h"
#include "models/backbone.h"
#include "models/box_encoding.h"
#include "models/region_proposal.h"

typedef struct uz_image_encoder_config {
    uz_backbone_config backbone; /* channels, widths (stem, F1, F2, F3) */
    int64_t width;               /* d, a multiple of 8 */
    int heads;                   /* attention heads everywhere; divides d and F3's width */
    int64_t ffn_hidden;          /* DETR decoder FFN; 0 means 4 d */
    int n_queries;               /* Q regional tokens */
    int n_layers;                /* L decoder layers of the proposal encoder */
    int n_pools;                 /* M' attention pools */
    float anchor_size;           /* F2's anchor side; 0 means 0.1 */
    uz_rpn_query_content query_content; /* the proposal queries' initial contents */
    float dropout;               /* decoder residual dropout */
    float ln_eps;                /* 0 means 1e-5 */
} uz_image_encoder_config;

/* The design's defaults: grayscale, widths 32/64/96/128, d 128, 4 heads,
 * FFN 512, Q 16, L 2, M' 2, anchors 0.1/0.2, no dropout. */
uz_image_encoder_config uz_image_encoder_default_config(void);

typedef struct uz_image_encoder {
    uz_image_encoder_config cfg;
    uz_backbone backbone;
    uz_region_proposal rpn;
    uz_global_tokens global_tokens;
    uz_box_encoding box_encoding;
} uz_image_encoder;

typedef struct uz_image_encoding {
    uz_tensor *tokens;       /* [B, n_global + n_regional, d] */
    int64_t n_global;        /* M' + h w */
    int64_t n_regional;      /* Q */
    uz_tensor *features[3];  /* F1, F2, F3 */
    uz_region_proposals det; /* boxes, objectness, auxiliary and encoder outputs */
} uz_image_encoding;

/* Checks cfg (an error names the bad field) and declares every parameter. */
uz_status uz_image_encoder_declare(uz_image_encoder *e, uz_params *p, const char *prefix,
                                   const uz_image_encoder_config *cfg);
/* Each block's initialisation (after uz_params_finalize). */
void uz_image_encoder_init(uz_image_encoder *e, uint64_t seed);
/* images [B, channels, H, W] -> out; F2 and F3 together must hold at least
 * Q tokens (a 32x32 image gives 8x8 + 4x4 = 80). */
uz_status uz_image_encoder_forward(uz_ctx *ctx, const uz_image_encoder *e, uz_tensor *images,
                                   bool training, uz_image_encoding *out);

#endif
