/* Image-text retrieval recall and classification accuracy from score
 * matrices. Ties are broken against the hit (pessimistically): an item that
 * scores exactly as high as the correct one counts as ranked above it, so a
 * constant scorer gets no credit and results do not depend on input order. */
#ifndef UZ_VISION_RETRIEVAL_METRICS_H
#define UZ_VISION_RETRIEVAL_METRICS_H

#include <stdint.h>

#include "core/error.h"

/* Fractions in [0, 1]. */
typedef struct uz_retrieval_recall {
    double i2t_r1, i2t_r5, i2t_r10; /* image -> text */
    double t2i_r1, t2i_r5, t2i_r10; /* text -> image */
} uz_retrieval_recall;

/* sim[n_images, n_texts] (row-major, higher = more similar); text t
 * describes image text_image[t]. Image -> text: an image is a hit at K when
 * any of its texts ranks within the first K of its row (its best text's rank
 * = the number of other images' texts scoring >= it). Text -> image: a hit
 * when its image ranks within the first K of its column. Every image needs
 * at least one text; an out-of-range index, an image without text or a NaN
 * score is an error naming it. */
uz_status uz_retrieval_recall_compute(const float *sim, int64_t n_images, int64_t n_texts,
                                      const int64_t *text_image, uz_retrieval_recall *out);

/* Fraction of rows of scores[n, c] whose label's score is strictly above
 * every other score of the row (a tie for first is a miss). Labels must lie
 * in [0, c); NaN scores are an error. */
uz_status uz_top1_accuracy(const float *scores, int64_t n, int64_t c, const int32_t *labels,
                           double *accuracy);

#endif
