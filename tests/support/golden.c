/* Golden-file helpers. */
#include "golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *uz_test_shared_file(const char *rel, char *buf, size_t n)
{
    const char *src = getenv("UZ_SOURCE_DIR");
    snprintf(buf, n, "%s/../shared/%s", src ? src : ".", rel);
    if (access(buf, R_OK) != 0) {
        fprintf(stderr, "skipped: %s not found (../shared is absent)\n", buf);
        return NULL;
    }
    return buf;
}

const char *uz_golden_path(const char *name, char *buf, size_t n)
{
    const char *root = getenv("UZ_SOURCE_DIR");
    int len = snprintf(buf, n, "%s%stests/golden/%s", root ? root : "", root ? "/" : "", name);
    if (len < 0 || (size_t)len >= n) {
        UZ_FAIL(UZ_ERR_ARG, "golden: path for '%s' is too long", name);
        return NULL;
    }
    return buf;
}

uz_st_file *uz_golden_open(const char *name)
{
    char path[4096];
    uz_st_file *f = NULL;
    if (!uz_golden_path(name, path, sizeof path) || uz_st_open(path, &f) != UZ_OK)
        return NULL;
    return f;
}

uz_tensor *uz_golden_tensor(uz_ctx *ctx, const uz_st_file *f, const char *name)
{
    const uz_st_tensor *s = uz_st_find(f, name);
    if (!s)
        return NULL;
    uz_tensor *t = uz_tensor_empty(ctx, s->ndim, s->shape);
    if (!t || uz_st_read_f32(f, name, s->ndim, s->shape, t->data) != UZ_OK)
        return NULL;
    return t;
}

/* "[i,j,k]" of flat row-major index i in shape. */
static void index_str(const uz_tensor *t, int64_t i, char *buf, size_t n)
{
    int64_t idx[UZ_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? i % t->shape[d] : 0;
        i = t->shape[d] ? i / t->shape[d] : 0;
    }
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, d ? ",%lld" : "%lld", (long long)idx[d]);
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

bool uz_golden_close_enough(const uz_tensor *got, const uz_tensor *want, double atol, double rtol,
                            char *msg, size_t n)
{
    char sg[UZ_SHAPE_STR_LEN], sw[UZ_SHAPE_STR_LEN];
    if (!got || !want) {
        snprintf(msg, n, "golden: NULL tensor (%s)", uz_error_message());
        return false;
    }
    if (!uz_tensor_same_shape(got, want)) {
        snprintf(msg, n, "golden: shape %s, expected %s", uz_shape_str(got, sg, sizeof sg),
                 uz_shape_str(want, sw, sizeof sw));
        return false;
    }
    int64_t count = uz_tensor_numel(got);
    size_t bytes = sizeof(float) * (size_t)(count ? count : 1);
    float *g = malloc(bytes), *w = malloc(bytes);
    if (!g || !w) {
        free(g);
        free(w);
        snprintf(msg, n, "golden: out of memory comparing %lld elements", (long long)count);
        return false;
    }
    uz_tensor_copy_out(got, g);
    uz_tensor_copy_out(want, w);
    int64_t bad = 0, worst = 0;
    double worst_err = -1.0;
    for (int64_t i = 0; i < count; i++) {
        double err = fabs((double)g[i] - (double)w[i]);
        if (isnan(err))
            err = INFINITY;
        if (!(err <= atol + rtol * fabs((double)w[i])))
            bad++;
        if (err > worst_err) {
            worst_err = err;
            worst = i;
        }
    }
    char at[UZ_SHAPE_STR_LEN];
    if (count == 0) {
        snprintf(msg, n, "golden: empty tensors %s match", uz_shape_str(got, sg, sizeof sg));
    } else {
        index_str(got, worst, at, sizeof at);
        snprintf(msg, n,
                 "golden: max |got - want| = %.3g at %s (got %.9g, want %.9g); %lld of %lld "
                 "elements outside atol %.3g + rtol %.3g",
                 worst_err, at, (double)g[worst], (double)w[worst], (long long)bad,
                 (long long)count, atol, rtol);
    }
    free(g);
    free(w);
    return bad == 0;
}
