/* Multi-scale conv backbone on uz_conv2d + uz_relu. */
#include "backbone.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

uz_status uz_backbone_declare(uz_backbone *b, uz_params *p, const char *prefix,
                              const uz_backbone_config *cfg)
{
    if (cfg->channels <= 0)
        return UZ_FAIL(UZ_ERR_ARG, "backbone: channels is %d, must be positive", cfg->channels);
    for (int i = 0; i < 4; i++)
        if (cfg->widths[i] <= 0)
            return UZ_FAIL(UZ_ERR_ARG, "backbone: widths[%d] is %lld, must be positive", i,
                           (long long)cfg->widths[i]);
    b->cfg = *cfg;
    const int64_t *w = cfg->widths;
    uz_status st = uz_nn_conv2d_declare(&b->stem, p, prefix, "stem", cfg->channels, w[0], 3, 1, 1);
    for (int s = 0; s < 3 && st == UZ_OK; s++) {
        char name[64];
        snprintf(name, sizeof name, "stages.%d.conv1", s);
        st = uz_nn_conv2d_declare(&b->conv1[s], p, prefix, name, w[s], w[s + 1], 3, 2, 1);
        snprintf(name, sizeof name, "stages.%d.conv2", s);
        if (st == UZ_OK)
            st = uz_nn_conv2d_declare(&b->conv2[s], p, prefix, name, w[s + 1], w[s + 1], 3, 1, 1);
    }
    return st;
}

/* He initialisation (N(0, 2 / fan_in), biases 0), as torchvision's ResNets:
 * it keeps the activations' scale through the ReLU stack, where PyTorch's
 * default conv init shrinks it about fourfold per layer, which would leave
 * the image content far below the position encodings added downstream. */
static void he_init(const uz_nn_conv2d *c, uint64_t seed)
{
    const int64_t *s = c->weight->shape;
    float std = sqrtf(2.0f / (float)(s[1] * s[2] * s[3]));
    uz_rng_fill_normal(c->weight->data, uz_tensor_numel(c->weight), seed,
                       uz_nn_stream(c->weight), 0, 0.0f, std);
    memset(c->bias->data, 0, sizeof(float) * (size_t)uz_tensor_numel(c->bias));
}

void uz_backbone_init(uz_backbone *b, uint64_t seed)
{
    he_init(&b->stem, seed);
    for (int s = 0; s < 3; s++) {
        he_init(&b->conv1[s], seed);
        he_init(&b->conv2[s], seed);
    }
}

uz_status uz_backbone_forward(uz_ctx *ctx, const uz_backbone *b, uz_tensor *images,
                              uz_tensor *features[3])
{
    features[0] = features[1] = features[2] = NULL;
    if (!images)
        return uz_error_status() != UZ_OK ? uz_error_status()
                                          : UZ_FAIL(UZ_ERR_ARG, "backbone: no images");
    if (images->ndim != 4 || images->shape[1] != b->cfg.channels) {
        char s[UZ_SHAPE_STR_LEN];
        return UZ_FAIL(UZ_ERR_ARG, "backbone: images %s are not [B, %d, H, W]",
                       uz_shape_str(images, s, sizeof s), b->cfg.channels);
    }
    uz_tensor *x = uz_relu(ctx, uz_nn_conv2d_forward(ctx, &b->stem, images));
    for (int s = 0; s < 3; s++) {
        x = uz_relu(ctx, uz_nn_conv2d_forward(ctx, &b->conv1[s], x));
        x = uz_relu(ctx, uz_nn_conv2d_forward(ctx, &b->conv2[s], x));
        features[s] = x;
    }
    return x ? UZ_OK : uz_error_status();
}
