/* Fixed sine encodings of positions and boxes (DETR, DINO). They are
 * constants: computed from values, with no parameters and no gradient. */
#ifndef UZ_SINE_ENCODING_H
#define UZ_SINE_ENCODING_H

#include "core/unizoo.h"

/* feats (even) numbers for the scalar v: sin(v / 10000^(2k / feats)) and
 * cos(the same) for k < feats / 2, interleaved (sin, cos, sin, cos, ...). */
void uz_sine_encode(double v, int64_t feats, float *out);

/* DETR's PositionEmbeddingSine(d / 2, normalize=True, scale=2 pi) of an
 * unpadded h x w map as [h * w, d] (d a multiple of 4): token i * w + j is
 * the encoding of y = (i + 1) / (h + 1e-6) * 2 pi, then that of x (j, w). */
uz_tensor *uz_sine_position_2d(uz_ctx *ctx, int64_t h, int64_t w, int64_t d);

/* boxes [..., 4] (cx, cy, w, h in (0, 1)) -> [..., 4 feats]: each number
 * times 2 pi, encoded with feats features. Reads the values only, so the
 * result carries no gradient back to the boxes. */
uz_tensor *uz_sine_encode_boxes(uz_ctx *ctx, uz_tensor *boxes, int64_t feats);

#endif
