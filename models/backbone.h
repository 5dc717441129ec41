/* The generalist's small multi-scale conv net: a conv3x3 stride-1 stem, then
 * three stages of (conv3x3 stride 2, conv3x3 stride 1), ReLU after every
 * conv. The stage outputs are F1 (H/2), F2 (H/4) and F3 (H/8), sizes rounded
 * up. Parameters: "stem.weight" [w0, channels, 3, 3], "stem.bias",
 * "stages.<s>.conv1.*" (stride 2) and "stages.<s>.conv2.*" for s = 0..2. */
#ifndef UZ_BACKBONE_H
#define UZ_BACKBONE_H

#include "models/nn_layers.h"

typedef struct uz_backbone_config {
    int channels;       /* image channels: 1 (grayscale) or 3 */
    int64_t widths[4];  /* stem, F1, F2, F3 channels (design: 32, 64, 96, 128) */
} uz_backbone_config;

typedef struct uz_backbone {
    uz_backbone_config cfg;
    uz_nn_conv2d stem, conv1[3], conv2[3];
} uz_backbone;

/* Checks cfg (an error names the bad field) and declares the parameters. */
uz_status uz_backbone_declare(uz_backbone *b, uz_params *p, const char *prefix,
                              const uz_backbone_config *cfg);
/* He initialisation: weights N(0, 2 / fan_in), biases 0. */
void uz_backbone_init(uz_backbone *b, uint64_t seed);
/* images [B, channels, H, W] -> features[0..2] = F1, F2, F3. */
uz_status uz_backbone_forward(uz_ctx *ctx, const uz_backbone *b, uz_tensor *images,
                              uz_tensor *features[3]);

#endif
