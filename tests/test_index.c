/* concat, split, index_select and gather: values against naive loops (on
 * contiguous and strided inputs), gradient checks, repeated-index gradient
 * accumulation, thread-count independence, and error messages. */
#include <check.h>
#include <omp.h>
#include <string.h>

#include "check_main.h"
#include "gradcheck.h"

static void unravel(int64_t flat, int ndim, const int64_t *shape, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
}

static bool has(const char *needle)
{
    return strstr(uz_error_message(), needle) != NULL;
}

/* ---- concat ---------------------------------------------------------------- */

/* Naive concat along dim: find which input owns each output element. */
static void check_concat(uz_tensor *const *ts, int n, int dim, const uz_tensor *out)
{
    int64_t numel = uz_tensor_numel(out), idx[UZ_MAX_DIMS];
    for (int64_t p = 0; p < numel; p++) {
        unravel(p, out->ndim, out->shape, idx);
        int64_t pos = idx[dim];
        int i = 0;
        while (i < n && pos >= ts[i]->shape[dim])
            pos -= ts[i++]->shape[dim];
        ck_assert_int_lt(i, n);
        int64_t src[UZ_MAX_DIMS];
        memcpy(src, idx, sizeof src);
        src[dim] = pos;
        ck_assert_float_eq(uz_tensor_get(out, idx), uz_tensor_get(ts[i], src));
    }
}

START_TEST(test_concat_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 3, (int64_t[]){2, 1, 4}, 2, -1, 1);
    uz_tensor *ct = uz_test_rand(ctx, 3, (int64_t[]){2, 4, 2}, 3, -1, 1);
    uz_tensor *c = uz_transpose(ctx, ct, 1, 2); /* [2,2,4], strided */
    uz_tensor *ts[3] = {a, b, c};
    uz_tensor *out = uz_concat(ctx, ts, 3, 1);
    UZ_CK_NOTNULL(out);
    ck_assert_int_eq(out->ndim, 3);
    ck_assert_int_eq(out->shape[1], 6);
    check_concat(ts, 3, 1, out);

    uz_tensor *d = uz_test_rand(ctx, 3, (int64_t[]){1, 3, 4}, 4, -1, 1);
    uz_tensor *t0[2] = {a, d};
    out = uz_concat(ctx, t0, 2, 0);
    UZ_CK_NOTNULL(out);
    ck_assert_int_eq(out->shape[0], 3);
    check_concat(t0, 2, 0, out);

    uz_tensor *e = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 0}, 5, -1, 1); /* empty piece */
    uz_tensor *tl[3] = {a, e, uz_transpose(ctx, uz_test_rand(ctx, 3, (int64_t[]){2, 5, 3}, 6, -1, 1), 1, 2)};
    out = uz_concat(ctx, tl, 3, -1);
    UZ_CK_NOTNULL(out);
    ck_assert_int_eq(out->shape[2], 9);
    check_concat(tl, 3, 2, out);

    uz_tensor *one[1] = {c};
    out = uz_concat(ctx, one, 1, 0);
    UZ_CK_NOTNULL(out);
    ck_assert(uz_tensor_is_contiguous(out));
    ck_assert_double_eq(uz_test_max_abs_diff(out, c), 0.0);
    uz_ctx_free(ctx);
}
END_TEST

static uz_tensor *f_concat(uz_ctx *ctx, uz_tensor **in, void *user)
{
    int dim = *(const int *)user;
    /* in[1] enters transposed, so one piece is a strided view. */
    uz_tensor *ts[3] = {in[0], uz_transpose(ctx, in[1], 0, 1), in[2]};
    return uz_concat(ctx, ts, 3, dim);
}

START_TEST(test_concat_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[3];
    int dim = 1;
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 2}, 1, -1, 1);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 2, -1, 1); /* transposed to [3,4] */
    in[2] = uz_test_rand(ctx, 2, (int64_t[]){3, 1}, 3, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 3, f_concat, &dim, UZ_GC_DEFAULT, msg, sizeof msg), "dim 1: %s", msg);
    dim = 0;
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){2, 3}, 4, -1, 1);
    in[1] = uz_test_rand(ctx, 2, (int64_t[]){3, 1}, 5, -1, 1); /* transposed to [1,3] */
    in[2] = uz_test_rand(ctx, 2, (int64_t[]){3, 3}, 6, -1, 1);
    in[2]->requires_grad = false; /* a constant piece gets no gradient */
    ck_assert_msg(uz_gradcheck(in, 3, f_concat, &dim, UZ_GC_DEFAULT, msg, sizeof msg), "dim 0: %s", msg);
    ck_assert_ptr_null(in[2]->grad);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- split ----------------------------------------------------------------- */

START_TEST(test_split_views)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 3, (int64_t[]){2, 6, 3}, 1, -1, 1);
    uz_tensor *out[3];
    UZ_CK_OK(uz_split(ctx, t, 1, (int64_t[]){1, 3, 2}, 3, out));
    int64_t start[3] = {0, 1, 4}, len[3] = {1, 3, 2};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(out[i]->shape[1], len[i]);
        ck_assert_ptr_eq(out[i]->data, t->data + start[i] * t->stride[1]); /* a view, no copy */
        for (int64_t a = 0; a < 2; a++)
            for (int64_t j = 0; j < len[i]; j++)
                for (int64_t k = 0; k < 3; k++)
                    ck_assert_float_eq(uz_tensor_get(out[i], (int64_t[]){a, j, k}),
                                       uz_tensor_get(t, (int64_t[]){a, start[i] + j, k}));
    }
    /* Splitting the concatenation gives back the pieces. */
    uz_tensor *cat = uz_concat(ctx, out, 3, 1);
    uz_tensor *back[3];
    UZ_CK_OK(uz_split(ctx, cat, -2, (int64_t[]){1, 3, 2}, 3, back));
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(uz_test_max_abs_diff(back[i], out[i]), 0.0);
    /* A zero-size piece is allowed. */
    UZ_CK_OK(uz_split(ctx, t, 0, (int64_t[]){0, 2}, 2, out));
    ck_assert_int_eq(out[0]->shape[0], 0);
    ck_assert_int_eq(out[1]->shape[0], 2);
    uz_ctx_free(ctx);
}
END_TEST

/* Pieces swapped and rejoined, the middle one scaled through a second use:
 * every piece's gradient must land in its own slice. */
static uz_tensor *f_split(uz_ctx *ctx, uz_tensor **in, void *user)
{
    (void)user;
    uz_tensor *p[3];
    if (uz_split(ctx, uz_transpose(ctx, in[0], 0, 1), 1, (int64_t[]){2, 1, 2}, 3, p) != UZ_OK)
        return NULL;
    uz_tensor *ts[4] = {p[2], p[1], p[0], p[1]};
    return uz_concat(ctx, ts, 4, 1);
}

START_TEST(test_split_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){5, 3}, 1, -1, 1)};
    ck_assert_msg(uz_gradcheck(in, 1, f_split, NULL, UZ_GC_DEFAULT, msg, sizeof msg), "%s", msg);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- index_select ---------------------------------------------------------- */

static void check_index_select(const uz_tensor *t, int dim, const int32_t *idx, const uz_tensor *out)
{
    ck_assert_int_eq(out->ndim, t->ndim);
    int64_t numel = uz_tensor_numel(out), p_idx[UZ_MAX_DIMS];
    for (int64_t p = 0; p < numel; p++) {
        unravel(p, out->ndim, out->shape, p_idx);
        int64_t src[UZ_MAX_DIMS];
        memcpy(src, p_idx, sizeof src);
        src[dim] = idx[p_idx[dim]];
        ck_assert_float_eq(uz_tensor_get(out, p_idx), uz_tensor_get(t, src));
    }
}

START_TEST(test_index_select_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *base = uz_test_rand(ctx, 3, (int64_t[]){3, 4, 5}, 1, -1, 1);
    uz_tensor *strided = uz_permute(ctx, base, (int[]){2, 0, 1}); /* [5,3,4] */
    const int32_t idx[6] = {2, 0, 2, 1, 2, 0};
    for (int dim = 0; dim < 3; dim++) {
        uz_tensor *srcs[2] = {base, strided};
        for (int s = 0; s < 2; s++) {
            uz_tensor *out = uz_index_select(ctx, srcs[s], dim, idx, 6);
            UZ_CK_NOTNULL(out);
            ck_assert_int_eq(out->shape[dim], 6);
            check_index_select(srcs[s], dim, idx, out);
        }
    }
    uz_tensor *out = uz_index_select(ctx, base, -1, idx, 3);
    UZ_CK_NOTNULL(out);
    check_index_select(base, 2, idx, out);
    out = uz_index_select(ctx, base, 1, NULL, 0); /* no indices: empty dim */
    UZ_CK_NOTNULL(out);
    ck_assert_int_eq(out->shape[1], 0);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct sel_args {
    int dim;
    const int32_t *idx;
    int64_t n;
    bool transpose;
} sel_args;

static uz_tensor *f_index_select(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const sel_args *a = user;
    uz_tensor *t = a->transpose ? uz_transpose(ctx, in[0], 0, -1) : in[0];
    return uz_index_select(ctx, t, a->dim, a->idx, a->n);
}

START_TEST(test_index_select_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    const int32_t rep[5] = {1, 3, 1, 0, 1};
    uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 1, -1, 1)};
    sel_args a = {0, rep, 5, false};
    ck_assert_msg(uz_gradcheck(in, 1, f_index_select, &a, UZ_GC_DEFAULT, msg, sizeof msg), "dim 0: %s", msg);
    a = (sel_args){1, rep, 5, true}; /* transposed [3,4] leaf, select along its dim 1 */
    ck_assert_msg(uz_gradcheck(in, 1, f_index_select, &a, UZ_GC_DEFAULT, msg, sizeof msg), "transposed: %s", msg);
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 4, 3}, 2, -1, 1);
    a = (sel_args){1, rep, 4, false};
    ck_assert_msg(uz_gradcheck(in, 1, f_index_select, &a, UZ_GC_DEFAULT, msg, sizeof msg), "3-d: %s", msg);

    /* Exact accumulation: row 1 picked three times gets three upstream rows. */
    uz_tensor *t = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 3, -1, 1);
    uz_tensor *out = uz_index_select(ctx, t, 0, rep, 5);
    float up[15];
    for (int i = 0; i < 15; i++)
        up[i] = (float)(i + 1);
    UZ_CK_OK(uz_backward_with(ctx, out, up));
    const float want[4][3] = {{10, 11, 12}, {1 + 7 + 13, 2 + 8 + 14, 3 + 9 + 15}, {0, 0, 0}, {4, 5, 6}};
    for (int64_t r = 0; r < 4; r++)
        for (int64_t c = 0; c < 3; c++)
            ck_assert_float_eq(uz_tensor_get(t->grad, (int64_t[]){r, c}), want[r][c]);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- gather ---------------------------------------------------------------- */

static void check_gather(const uz_tensor *t, int dim, const int32_t *index, const uz_tensor *out)
{
    int64_t numel = uz_tensor_numel(out), p_idx[UZ_MAX_DIMS];
    for (int64_t p = 0; p < numel; p++) {
        unravel(p, out->ndim, out->shape, p_idx);
        int64_t src[UZ_MAX_DIMS];
        memcpy(src, p_idx, sizeof src);
        src[dim] = index[p];
        ck_assert_float_eq(uz_tensor_get(out, p_idx), uz_tensor_get(t, src));
    }
}

START_TEST(test_gather_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *base = uz_test_rand(ctx, 3, (int64_t[]){3, 4, 5}, 1, -1, 1);
    uz_tensor *strided = uz_transpose(ctx, uz_test_rand(ctx, 3, (int64_t[]){5, 4, 3}, 2, -1, 1), 0, 2);
    int32_t index[60];
    /* Index smaller than the input outside dim (and larger along dim). */
    const int64_t ishape[3][3] = {{6, 3, 2}, {2, 7, 4}, {3, 2, 8}};
    for (int dim = 0; dim < 3; dim++) {
        int64_t n = ishape[dim][0] * ishape[dim][1] * ishape[dim][2];
        for (int64_t p = 0; p < n; p++)
            index[p] = (int32_t)((p * 7 + 3) % base->shape[dim]);
        uz_tensor *srcs[2] = {base, strided};
        for (int s = 0; s < 2; s++) {
            uz_tensor *out = uz_gather(ctx, srcs[s], dim, index, 3, ishape[dim]);
            UZ_CK_NOTNULL(out);
            for (int d = 0; d < 3; d++)
                ck_assert_int_eq(out->shape[d], ishape[dim][d]);
            check_gather(srcs[s], dim, index, out);
        }
    }
    /* The classic use: pick one class score per row. */
    uz_tensor *scores = uz_tensor_from(ctx, 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    uz_tensor *picked = uz_gather(ctx, scores, -1, (int32_t[]){2, 0}, 2, (int64_t[]){2, 1});
    UZ_CK_NOTNULL(picked);
    ck_assert_float_eq(picked->data[0], 3.0f);
    ck_assert_float_eq(picked->data[1], 4.0f);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct gather_args {
    int dim, ndim;
    const int32_t *index;
    const int64_t *shape;
    bool transpose;
} gather_args;

static uz_tensor *f_gather(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const gather_args *a = user;
    uz_tensor *t = a->transpose ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    return uz_gather(ctx, t, a->dim, a->index, a->ndim, a->shape);
}

START_TEST(test_gather_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    /* Repeats within a column (same target several times). */
    const int32_t idx2[8] = {0, 2, 2, 1, 0, 0, 2, 1};
    uz_tensor *in[1] = {uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1)};
    gather_args a = {0, 2, idx2, (int64_t[]){2, 4}, false};
    ck_assert_msg(uz_gradcheck(in, 1, f_gather, &a, UZ_GC_DEFAULT, msg, sizeof msg), "dim 0: %s", msg);
    a = (gather_args){1, 2, idx2, (int64_t[]){3, 2}, true}; /* transposed [4,3] leaf */
    ck_assert_msg(uz_gradcheck(in, 1, f_gather, &a, UZ_GC_DEFAULT, msg, sizeof msg), "transposed: %s", msg);
    const int32_t idx3[12] = {1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1};
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 2, -1, 1);
    a = (gather_args){1, 3, idx3, (int64_t[]){2, 2, 3}, false}; /* smaller outside dim */
    ck_assert_msg(uz_gradcheck(in, 1, f_gather, &a, UZ_GC_DEFAULT, msg, sizeof msg), "3-d: %s", msg);

    /* Exact accumulation of a repeated target. */
    uz_tensor *t = uz_test_rand(ctx, 2, (int64_t[]){2, 3}, 3, -1, 1);
    uz_tensor *out = uz_gather(ctx, t, 1, (int32_t[]){1, 1, 1, 0, 2, 2}, 2, (int64_t[]){2, 3});
    UZ_CK_OK(uz_backward_with(ctx, out, (float[]){1, 2, 4, 8, 16, 32}));
    const float want[6] = {0, 7, 0, 8, 0, 48};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(t->grad->data[i], want[i]);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- determinism ----------------------------------------------------------- */

/* Backward of index_select and gather with many repeats, big enough to run
 * in parallel; returns the input gradients for one thread count. */
static void index_grads(int threads, float *g_sel, float *g_gat, int64_t rows, int64_t cols,
                        int64_t n_idx)
{
    omp_set_num_threads(threads);
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *t = uz_test_rand(ctx, 2, (int64_t[]){rows, cols}, 1, -1, 1);
    int32_t *idx = uz_ctx_alloc(ctx, sizeof(int32_t) * (size_t)(n_idx * cols));
    for (int64_t j = 0; j < n_idx * cols; j++)
        idx[j] = (int32_t)((j * 2654435761u) % (uint64_t)rows);
    uz_tensor *sel = uz_index_select(ctx, t, 0, idx, n_idx);
    UZ_CK_NOTNULL(sel);
    float *up = uz_ctx_alloc(ctx, sizeof(float) * (size_t)(n_idx * cols));
    uz_rng_fill_uniform(up, n_idx * cols, 5, 0, 0, -1.0f, 1.0f);
    UZ_CK_OK(uz_backward_with(ctx, sel, up));
    memcpy(g_sel, t->grad->data, sizeof(float) * (size_t)(rows * cols));
    t->grad = NULL;
    uz_tensor *gat = uz_gather(ctx, t, 0, idx, 2, (int64_t[]){n_idx, cols});
    UZ_CK_NOTNULL(gat);
    UZ_CK_OK(uz_backward_with(ctx, gat, up));
    memcpy(g_gat, t->grad->data, sizeof(float) * (size_t)(rows * cols));
    uz_ctx_free(ctx);
}

START_TEST(test_index_deterministic)
{
    enum { ROWS = 50, COLS = 300, N_IDX = 400 }; /* 120000 elements, above the parallel threshold */
    static float a_sel[ROWS * COLS], a_gat[ROWS * COLS], b_sel[ROWS * COLS], b_gat[ROWS * COLS];
    int keep = omp_get_max_threads();
    index_grads(1, a_sel, a_gat, ROWS, COLS, N_IDX);
    index_grads(4, b_sel, b_gat, ROWS, COLS, N_IDX);
    omp_set_num_threads(keep);
    ck_assert_int_eq(memcmp(a_sel, b_sel, sizeof a_sel), 0);
    ck_assert_int_eq(memcmp(a_gat, b_gat, sizeof a_gat), 0);
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

START_TEST(test_index_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 1, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 2, (int64_t[]){2, 5}, 2, -1, 1);
    uz_tensor *ab[2] = {a, b};
    ck_assert_ptr_null(uz_concat(ctx, ab, 2, 0));
    ck_assert_msg(has("concat") && has("[2,5]") && has("[3,4]"), "%s", uz_error_message());
    uz_tensor *c3 = uz_test_rand(ctx, 3, (int64_t[]){3, 4, 1}, 3, -1, 1);
    uz_tensor *ac[2] = {a, c3};
    ck_assert_ptr_null(uz_concat(ctx, ac, 2, 0));
    ck_assert_msg(has("[3,4,1]") && has("[3,4]"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_concat(ctx, ab, 2, 2));
    ck_assert_msg(has("concat: dim 2 out of range"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_concat(ctx, ab, 0, 0));
    ck_assert_msg(has("at least one"), "%s", uz_error_message());
    uz_tensor *an[2] = {a, NULL};
    ck_assert_ptr_null(uz_concat(ctx, an, 2, 0)); /* NULL propagates */

    uz_tensor *out[2] = {a, a};
    ck_assert_int_eq(uz_split(ctx, a, 1, (int64_t[]){1, 2}, 2, out), UZ_ERR_ARG);
    ck_assert_msg(has("add up to 3") && has("size 4"), "%s", uz_error_message());
    ck_assert_ptr_null(out[0]);
    ck_assert_int_eq(uz_split(ctx, a, 1, (int64_t[]){5, -1}, 2, out), UZ_ERR_ARG);
    ck_assert_msg(has("negative"), "%s", uz_error_message());
    ck_assert_int_eq(uz_split(ctx, a, 2, (int64_t[]){4}, 1, out), UZ_ERR_ARG);
    ck_assert_msg(has("dim 2 out of range"), "%s", uz_error_message());
    ck_assert_int_ne(uz_split(ctx, NULL, 0, (int64_t[]){4}, 1, out), UZ_OK);

    ck_assert_ptr_null(uz_index_select(ctx, a, 1, (int32_t[]){0, 3, 4, 1}, 4));
    ck_assert_msg(has("index 4 at position 2") && has("[0, 4)"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_index_select(ctx, a, 0, (int32_t[]){-1}, 1));
    ck_assert_msg(has("index -1 at position 0") && has("[0, 3)"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_index_select(ctx, a, 2, (int32_t[]){0}, 1));
    ck_assert_msg(has("index_select: dim 2 out of range"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_index_select(ctx, NULL, 0, (int32_t[]){0}, 1));

    const int32_t gi[6] = {0, 1, 2, 0, 3, 1};
    ck_assert_ptr_null(uz_gather(ctx, a, 0, gi, 2, (int64_t[]){2, 3}));
    ck_assert_msg(has("index 3 at position 4") && has("[0, 3)"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_gather(ctx, a, 0, gi, 2, (int64_t[]){1, 6}));
    ck_assert_msg(has("gather: index shape [1,6] does not fit input [3,4] in dim 1"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_gather(ctx, a, 0, gi, 1, (int64_t[]){6}));
    ck_assert_msg(has("index has 1 dims but input [3,4] has 2"), "%s", uz_error_message());
    ck_assert_ptr_null(uz_gather(ctx, NULL, 0, gi, 2, (int64_t[]){2, 3}));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_concat_values);
    tcase_add_test(tc, test_concat_grad);
    tcase_add_test(tc, test_split_views);
    tcase_add_test(tc, test_split_grad);
    tcase_add_test(tc, test_index_select_values);
    tcase_add_test(tc, test_index_select_grad);
    tcase_add_test(tc, test_gather_values);
    tcase_add_test(tc, test_gather_grad);
    tcase_add_test(tc, test_index_deterministic);
    tcase_add_test(tc, test_index_errors);
    suite_add_tcase(s, tc);
    return s;
}
