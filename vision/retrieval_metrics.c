/* Retrieval recall at 1/5/10 both ways and top-1 accuracy. Ranks are
 * counts of competitors scoring at least as high, so nothing is sorted and
 * ties go against the hit; per-row counts are integers, so the parallel
 * loops give the same result for any thread count. */
#include "vision/retrieval_metrics.h"

#include <math.h>
#include <stdbool.h>

enum { PAR_MIN = 1 << 16 }; /* scores before threads pay off */

static const int64_t recall_k[3] = {1, 5, 10};

static uz_status check_no_nan(const float *s, int64_t n, int64_t c, const char *op)
{
    for (int64_t i = 0; i < n * c; i++)
        if (isnan(s[i]))
            return UZ_FAIL(UZ_ERR_NUMERIC, "%s: score [%lld][%lld] is NaN", op,
                           (long long)(i / c), (long long)(i % c));
    return UZ_OK;
}

uz_status uz_retrieval_recall_compute(const float *sim, int64_t n_images, int64_t n_texts,
                                      const int64_t *text_image, uz_retrieval_recall *out)
{
    const char *op = "retrieval_recall";
    if (n_images < 1 || n_texts < 1)
        return UZ_FAIL(UZ_ERR_ARG, "%s: need images and texts, got %lld x %lld", op,
                       (long long)n_images, (long long)n_texts);
    for (int64_t t = 0; t < n_texts; t++)
        if (text_image[t] < 0 || text_image[t] >= n_images)
            return UZ_FAIL(UZ_ERR_ARG, "%s: text %lld names image %lld, outside [0, %lld)", op,
                           (long long)t, (long long)text_image[t], (long long)n_images);
    uz_status st = check_no_nan(sim, n_images, n_texts, op);
    if (st != UZ_OK)
        return st;

    /* Image -> text: the best own text's rank among the other images' texts. */
    int64_t i2t[3] = {0, 0, 0}, no_text = -1;
#pragma omp parallel for if (n_images * n_texts > PAR_MIN) schedule(static) \
    reduction(+ : i2t[:3]) reduction(max : no_text)
    for (int64_t i = 0; i < n_images; i++) {
        const float *row = sim + i * n_texts;
        float best = -INFINITY;
        bool any = false;
        for (int64_t t = 0; t < n_texts; t++) {
            if (text_image[t] == i && (!any || row[t] > best)) {
                best = row[t];
                any = true;
            }
        }
        if (!any) {
            no_text = i > no_text ? i : no_text;
            continue;
        }
        int64_t rank = 0;
        for (int64_t t = 0; t < n_texts; t++)
            rank += text_image[t] != i && row[t] >= best;
        for (int k = 0; k < 3; k++)
            i2t[k] += rank < recall_k[k];
    }
    if (no_text >= 0)
        return UZ_FAIL(UZ_ERR_ARG, "%s: image %lld has no text", op, (long long)no_text);

    /* Text -> image: its image's rank in the text's column. */
    int64_t t2i[3] = {0, 0, 0};
#pragma omp parallel for if (n_images * n_texts > PAR_MIN) schedule(static) \
    reduction(+ : t2i[:3])
    for (int64_t t = 0; t < n_texts; t++) {
        int64_t g = text_image[t], rank = 0;
        float own = sim[g * n_texts + t];
        for (int64_t i = 0; i < n_images; i++)
            rank += i != g && sim[i * n_texts + t] >= own;
        for (int k = 0; k < 3; k++)
            t2i[k] += rank < recall_k[k];
    }
    double ni = (double)n_images, nt = (double)n_texts;
    *out = (uz_retrieval_recall){(double)i2t[0] / ni, (double)i2t[1] / ni, (double)i2t[2] / ni,
                                 (double)t2i[0] / nt, (double)t2i[1] / nt, (double)t2i[2] / nt};
    return UZ_OK;
}

uz_status uz_top1_accuracy(const float *scores, int64_t n, int64_t c, const int32_t *labels,
                           double *accuracy)
{
    const char *op = "top1_accuracy";
    if (n < 1 || c < 1)
        return UZ_FAIL(UZ_ERR_ARG, "%s: need a non-empty [n, c] score matrix, got %lld x %lld",
                       op, (long long)n, (long long)c);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= c)
            return UZ_FAIL(UZ_ERR_ARG, "%s: label %d of row %lld outside [0, %lld)", op,
                           (int)labels[i], (long long)i, (long long)c);
    uz_status st = check_no_nan(scores, n, c, op);
    if (st != UZ_OK)
        return st;
    int64_t correct = 0;
#pragma omp parallel for if (n * c > PAR_MIN) schedule(static) reduction(+ : correct)
    for (int64_t i = 0; i < n; i++) {
        const float *row = scores + i * c;
        float own = row[labels[i]];
        bool hit = true;
        for (int64_t j = 0; j < c && hit; j++)
            hit = j == labels[i] || row[j] < own;
        correct += hit;
    }
    *accuracy = (double)correct / (double)n;
    return UZ_OK;
}
