/* B(box) of Uni-Perceiver v2's regional token q_sem + B(box): the sine
 * encoding of cx, cy, w, h (d/4 features each, DINO's box encoding) through
 * "proj" = Linear(d, d). The box enters as values: no gradient flows back
 * into it (the engine has no sin/cos op, and the box is trained by the box
 * losses). */
#ifndef UZ_BOX_ENCODING_H
#define UZ_BOX_ENCODING_H

#include "models/nn_layers.h"

typedef struct uz_box_encoding {
    int64_t width;  /* d, a multiple of 8 */
    uz_nn_linear proj;
} uz_box_encoding;

uz_status uz_box_encoding_declare(uz_box_encoding *e, uz_params *p, const char *prefix,
                                  int64_t width);
void uz_box_encoding_init(uz_box_encoding *e, uint64_t seed);
/* boxes [..., 4] (cxcywh in (0, 1)) -> [..., d]. */
uz_tensor *uz_box_encoding_forward(uz_ctx *ctx, const uz_box_encoding *e, uz_tensor *boxes);

#endif
