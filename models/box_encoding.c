/* Box encoding: fixed sine features, then a learned linear map. */
#include "box_encoding.h"

#include "models/sine_encoding.h"

uz_status uz_box_encoding_declare(uz_box_encoding *e, uz_params *p, const char *prefix,
                                  int64_t width)
{
    /* d/4 features per number, and sine features come in (sin, cos) pairs. */
    if (width <= 0 || width % 8 != 0)
        return UZ_FAIL(UZ_ERR_ARG, "box_encoding: width is %lld, must be a positive multiple of 8",
                       (long long)width);
    e->width = width;
    return uz_nn_linear_declare(&e->proj, p, prefix, "proj", width, width);
}

void uz_box_encoding_init(uz_box_encoding *e, uint64_t seed)
{
    uz_nn_linear_init(&e->proj, seed);
}

uz_tensor *uz_box_encoding_forward(uz_ctx *ctx, const uz_box_encoding *e, uz_tensor *boxes)
{
    return uz_nn_linear_forward(ctx, &e->proj, uz_sine_encode_boxes(ctx, boxes, e->width / 4));
}
