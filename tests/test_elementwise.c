/* Elementwise ops: values against double-precision loops (broadcasting,
 * transposed views, 0-d operands, sizes that take the threaded paths),
 * gradient checks for every op, broadcast gradients at scale, and errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "core/kernels_elementwise.h"
#include "gradcheck.h"

/* ck_assert marks a point (a write to the runner) on every success: too
 * slow inside loops over 10^5 elements, so loops fail through this instead. */
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond))                                                                         \
            ck_abort_msg(__VA_ARGS__);                                                       \
    } while (0)

typedef uz_tensor *(*binop_fn)(uz_ctx *, uz_tensor *, uz_tensor *);

static const struct {
    binop_fn fn;
    uz_binary_op op;
    const char *name;
} binops[] = {
    {uz_add, UZ_BINARY_ADD, "add"}, {uz_sub, UZ_BINARY_SUB, "sub"}, {uz_mul, UZ_BINARY_MUL, "mul"},
    {uz_div, UZ_BINARY_DIV, "div"}, {uz_pow, UZ_BINARY_POW, "pow"},
};
enum { N_BINOPS = sizeof binops / sizeof binops[0] };

static double ref_binary(uz_binary_op op, double x, double y)
{
    switch (op) {
    case UZ_BINARY_ADD: return x + y;
    case UZ_BINARY_SUB: return x - y;
    case UZ_BINARY_MUL: return x * y;
    case UZ_BINARY_DIV: return x / y;
    case UZ_BINARY_POW: return pow(x, y);
    }
    return NAN;
}

/* Element of t at output index idx (out_ndim dims) under broadcasting. */
static float bget(const uz_tensor *t, int out_ndim, const int64_t *idx)
{
    int64_t ti[UZ_MAX_DIMS] = {0};
    int lead = out_ndim - t->ndim;
    for (int d = 0; d < t->ndim; d++)
        ti[d] = t->shape[d] == 1 ? 0 : idx[d + lead];
    return uz_tensor_get(t, ti);
}

static void unflatten(const uz_tensor *t, int64_t flat, int64_t *idx)
{
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = flat % t->shape[d];
        flat /= t->shape[d];
    }
}

static bool close_to(double got, double want, double rtol)
{
    return fabs(got - want) <= 1e-6 + rtol * fabs(want);
}

/* Every element of out = op(a, b) against the double-precision result. */
static void check_binary(uz_binary_op op, const uz_tensor *a, const uz_tensor *b,
                         const uz_tensor *out, const char *what)
{
    int64_t n = uz_tensor_numel(out), idx[UZ_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unflatten(out, i, idx);
        double want = ref_binary(op, bget(a, out->ndim, idx), bget(b, out->ndim, idx));
        double got = out->data[i];
        CHECK(close_to(got, want, 2e-6), "%s element %lld: %.9g vs %.9g", what,
                      (long long)i, got, want);
    }
}

/* Operands positive and away from 0 so div and pow stay tame. */
static uz_tensor *operand(uz_ctx *ctx, int ndim, const int64_t *shape, uint64_t seed)
{
    uz_tensor *t = uz_test_rand(ctx, ndim, shape, seed, 0.5f, 2.0f);
    t->requires_grad = false;
    return t;
}

START_TEST(test_binary_known)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_tensor_from(ctx, 2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    uz_tensor *b = uz_tensor_from(ctx, 1, (int64_t[]){3}, (float[]){10, 20, 30});
    uz_tensor *c = uz_add(ctx, a, b);
    UZ_CK_NOTNULL(c);
    const float want[] = {11, 22, 33, 14, 25, 36};
    ck_assert_int_eq(c->ndim, 2);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(c->data[i], want[i]);
    uz_tensor *col = uz_tensor_from(ctx, 2, (int64_t[]){2, 1}, (float[]){2, -1});
    uz_tensor *p = uz_pow(ctx, a, col); /* rows squared, then inverted */
    UZ_CK_NOTNULL(p);
    const float pw[] = {1, 4, 9, 0.25f, 0.2f, 1.0f / 6.0f};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq_tol(p->data[i], pw[i], 1e-7f);
    uz_ctx_free(ctx);
}
END_TEST

START_TEST(test_binary_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    struct {
        int na, nb;
        int64_t sa[3], sb[3];
        bool transpose_a;
    } cases[] = {
        {3, 2, {2, 3, 4}, {3, 1}, false},    /* trailing broadcast */
        {1, 3, {4}, {2, 3, 4}, false},       /* new leading dims */
        {3, 3, {4, 3, 2}, {2, 3, 4}, true},  /* a transposed to [2,3,4] */
        {0, 1, {0}, {3}, false},             /* 0-d with a vector */
        {3, 2, {2, 1, 4}, {3, 1}, false},    /* both stretched */
        {2, 3, {1, 4}, {3, 1, 1}, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uz_tensor *a = operand(ctx, cases[c].na, cases[c].sa, 10 + c);
        uz_tensor *b = operand(ctx, cases[c].nb, cases[c].sb, 20 + c);
        if (cases[c].transpose_a)
            a = uz_transpose(ctx, a, 0, 2);
        for (int o = 0; o < N_BINOPS; o++) {
            uz_tensor *out = binops[o].fn(ctx, a, b);
            UZ_CK_NOTNULL(out);
            char what[64];
            snprintf(what, sizeof what, "case %zu %s", c, binops[o].name);
            check_binary(binops[o].op, a, b, out, what);
            uz_tensor *rev = binops[o].fn(ctx, b, a);
            UZ_CK_NOTNULL(rev);
            check_binary(binops[o].op, b, a, rev, what);
        }
    }
    uz_tensor *s0 = operand(ctx, 0, (int64_t[]){1}, 1), *s1 = operand(ctx, 0, (int64_t[]){1}, 2);
    uz_tensor *s = uz_mul(ctx, s0, s1);
    UZ_CK_NOTNULL(s);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_float_eq(s->data[0], s0->data[0] * s1->data[0]);
    uz_ctx_free(ctx);
}
END_TEST

/* Sizes past the threading thresholds: contiguous, bias-like, column and
 * transposed broadcasts. */
START_TEST(test_binary_large)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = operand(ctx, 2, (int64_t[]){300, 500}, 1);
    uz_tensor *same = operand(ctx, 2, (int64_t[]){300, 500}, 2);
    uz_tensor *row = operand(ctx, 1, (int64_t[]){500}, 3);
    uz_tensor *col = operand(ctx, 2, (int64_t[]){300, 1}, 4);
    uz_tensor *tr = uz_transpose(ctx, operand(ctx, 2, (int64_t[]){500, 300}, 5), 0, 1);
    uz_tensor *others[] = {same, row, col, tr};
    for (int i = 0; i < 4; i++)
        for (int o = 0; o < N_BINOPS; o++) {
            uz_tensor *out = binops[o].fn(ctx, a, others[i]);
            UZ_CK_NOTNULL(out);
            check_binary(binops[o].op, a, others[i], out, binops[o].name);
        }
    uz_ctx_free(ctx);
}
END_TEST

/* Broadcast gradients summed at sizes that take the threaded reduce paths,
 * against double-precision sums. */
START_TEST(test_broadcast_grad_large)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    int64_t R = 400, C = 300;
    uz_tensor *a = uz_test_rand(ctx, 2, (int64_t[]){R, C}, 1, -1, 1);
    uz_tensor *b = uz_test_rand(ctx, 1, (int64_t[]){C}, 2, -1, 1);
    uz_tensor *c = uz_test_rand(ctx, 2, (int64_t[]){R, 1}, 3, -1, 1);
    uz_tensor *y = uz_mul(ctx, uz_add(ctx, a, c), b); /* (a + c) * b */
    UZ_CK_NOTNULL(y);
    float *w = malloc(sizeof(float) * (size_t)(R * C));
    uz_rng_fill_uniform(w, R * C, 9, 1, 0, -1.0f, 1.0f);
    UZ_CK_OK(uz_backward_with(ctx, y, w));
    for (int64_t j = 0; j < C; j++) {
        double want = 0, scale = 0;
        for (int64_t i = 0; i < R; i++) {
            double t = (double)w[i * C + j] * ((double)a->data[i * C + j] + c->data[i]);
            want += t;
            scale += fabs(t);
        }
        CHECK(fabs(b->grad->data[j] - want) <= 1e-5 * scale, "db[%lld]: %g vs %g",
                      (long long)j, (double)b->grad->data[j], want);
    }
    for (int64_t i = 0; i < R; i++) {
        double want = 0, scale = 0;
        for (int64_t j = 0; j < C; j++) {
            double t = (double)w[i * C + j] * b->data[j];
            want += t;
            scale += fabs(t);
        }
        CHECK(fabs(c->grad->data[i] - want) <= 1e-5 * scale, "dc[%lld]: %g vs %g",
                      (long long)i, (double)c->grad->data[i], want);
        for (int64_t j = 0; j < C; j++)
            CHECK(a->grad->data[i * C + j] == w[i * C + j] * b->data[j], "da[%lld,%lld]",
                  (long long)i, (long long)j);
    }
    free(w);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- gradient checks -------------------------------------------------------------- */

typedef struct bin_case {
    binop_fn fn;
    int transpose; /* 1: transpose in[0]'s first two dims, 2: both inputs', 3: op(x, x) */
} bin_case;

static uz_tensor *f_binary(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const bin_case *c = user;
    uz_tensor *a = in[0], *b = in[1];
    if (c->transpose == 3)
        return c->fn(ctx, a, a);
    if (c->transpose >= 1)
        a = uz_transpose(ctx, a, 0, 1);
    if (c->transpose == 2)
        b = uz_transpose(ctx, b, 0, 1);
    return c->fn(ctx, a, b);
}

/* Inputs in each op's smooth domain: divisors and pow bases in [0.5, 1.5]. */
static void binary_inputs(uz_ctx *ctx, int o, uz_tensor **in, int na, const int64_t *sa, int nb,
                          const int64_t *sb, uint64_t seed)
{
    bool pos_a = binops[o].op == UZ_BINARY_POW, pos_b = binops[o].op == UZ_BINARY_DIV;
    in[0] = uz_test_rand(ctx, na, sa, seed, pos_a ? 0.5f : -1.0f, pos_a ? 1.5f : 1.0f);
    in[1] = uz_test_rand(ctx, nb, sb, seed + 1, pos_b ? 0.5f : -1.0f, pos_b ? 1.5f : 1.0f);
}

START_TEST(test_binary_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    struct {
        int na, nb;
        int64_t sa[3], sb[3];
        int transpose;
    } cases[] = {
        {3, 2, {2, 3, 4}, {3, 1}, 0},  /* [2,3,4] op [3,1] */
        {2, 3, {3, 1}, {2, 3, 4}, 0},  /* and the other way round */
        {1, 3, {4}, {2, 3, 4}, 0},     /* [4] op [2,3,4] */
        {2, 2, {4, 3}, {3, 4}, 1},     /* transposed leaf */
        {3, 2, {4, 3, 2}, {4, 1}, 1},  /* transposed and broadcast */
        {2, 2, {4, 3}, {4, 3}, 2},     /* both transposed */
        {0, 2, {0}, {2, 3}, 0},        /* 0-d operand */
        {2, 2, {3, 4}, {3, 4}, 3},     /* one tensor on both sides */
    };
    for (int o = 0; o < N_BINOPS; o++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            uz_tensor *in[2];
            binary_inputs(ctx, o, in, cases[c].na, cases[c].sa, cases[c].nb, cases[c].sb,
                          100 + 10 * c);
            if (cases[c].transpose == 3 && binops[o].op == UZ_BINARY_POW)
                in[0] = uz_test_rand(ctx, 2, (int64_t[]){3, 4}, 7, 0.5f, 1.5f);
            bin_case bc = {binops[o].fn, cases[c].transpose};
            ck_assert_msg(uz_gradcheck(in, cases[c].transpose == 3 ? 1 : 2, f_binary, &bc,
                                       UZ_GC_DEFAULT, msg, sizeof msg),
                          "%s case %zu: %s", binops[o].name, c, msg);
        }
    uz_ctx_free(ctx);
}
END_TEST

/* PyTorch's zero masks: pow's exponent gets no gradient where base = 0 and
 * exponent >= 0, and the base none where the exponent is 0. */
START_TEST(test_pow_masks)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = uz_tensor_from(ctx, 1, (int64_t[]){3}, (float[]){0, 2, 3});
    uz_tensor *b = uz_tensor_from(ctx, 1, (int64_t[]){3}, (float[]){2, 0, 2});
    a->requires_grad = b->requires_grad = true;
    uz_tensor *y = uz_pow(ctx, a, b);
    UZ_CK_OK(uz_backward_with(ctx, y, (float[]){1, 1, 1}));
    const float da[] = {0, 0, 6}, db[] = {0, logf(2.0f), 9 * logf(3.0f)};
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq_tol(a->grad->data[i], da[i], 1e-6f);
        ck_assert_float_eq_tol(b->grad->data[i], db[i], 1e-5f);
    }
    uz_ctx_free(ctx);
}
END_TEST

/* ---- unary ------------------------------------------------------------------------ */

typedef enum un_id {
    U_EXP, U_LOG, U_SQRT, U_RELU, U_SIGMOID, U_TANH, U_SILU, U_GELU_ERF, U_GELU_TANH,
    U_ADD_S, U_MUL_S, U_POW_2, U_POW_3, U_POW_HALF, U_POW_NEG, U_POW_0, N_UNARY
} un_id;

static const char *const un_names[] = {
    "exp", "log", "sqrt", "relu", "sigmoid", "tanh", "silu", "gelu_erf", "gelu_tanh",
    "add_scalar", "mul_scalar", "pow 2", "pow 3", "pow 0.5", "pow -1.5", "pow 0"};

static uz_tensor *apply_unary(uz_ctx *ctx, un_id id, uz_tensor *x)
{
    switch (id) {
    case U_EXP: return uz_exp(ctx, x);
    case U_LOG: return uz_log(ctx, x);
    case U_SQRT: return uz_sqrt(ctx, x);
    case U_RELU: return uz_relu(ctx, x);
    case U_SIGMOID: return uz_sigmoid(ctx, x);
    case U_TANH: return uz_tanh(ctx, x);
    case U_SILU: return uz_silu(ctx, x);
    case U_GELU_ERF: return uz_gelu(ctx, x, UZ_GELU_ERF);
    case U_GELU_TANH: return uz_gelu(ctx, x, UZ_GELU_TANH);
    case U_ADD_S: return uz_add_scalar(ctx, x, 0.75f);
    case U_MUL_S: return uz_mul_scalar(ctx, x, -1.5f);
    case U_POW_2: return uz_pow_scalar(ctx, x, 2.0f);
    case U_POW_3: return uz_pow_scalar(ctx, x, 3.0f);
    case U_POW_HALF: return uz_pow_scalar(ctx, x, 0.5f);
    case U_POW_NEG: return uz_pow_scalar(ctx, x, -1.5f);
    case U_POW_0: return uz_pow_scalar(ctx, x, 0.0f);
    case N_UNARY: break;
    }
    return NULL;
}

/* The definitions, in double (GELU as in torch.nn.functional.gelu). */
static double ref_unary(un_id id, double x)
{
    const double k = sqrt(2.0 / acos(-1.0));
    switch (id) {
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_RELU: return x > 0 ? x : 0;
    case U_SIGMOID: return 1 / (1 + exp(-x));
    case U_TANH: return tanh(x);
    case U_SILU: return x / (1 + exp(-x));
    case U_GELU_ERF: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case U_GELU_TANH: return 0.5 * x * (1 + tanh(k * (x + 0.044715 * x * x * x)));
    case U_ADD_S: return x + 0.75;
    case U_MUL_S: return x * -1.5;
    case U_POW_2: return x * x;
    case U_POW_3: return x * x * x;
    case U_POW_HALF: return sqrt(x);
    case U_POW_NEG: return pow(x, -1.5);
    case U_POW_0: return 1;
    case N_UNARY: break;
    }
    return NAN;
}

static bool positive_domain(un_id id)
{
    return id == U_LOG || id == U_SQRT || id == U_POW_HALF || id == U_POW_NEG;
}

/* Test input: [0.5, 2) where the op needs x > 0, else [-3, 3) moved at least
 * 0.1 away from 0 so relu's kink stays outside the finite differences. */
static uz_tensor *unary_input(uz_ctx *ctx, un_id id, int ndim, const int64_t *shape,
                              uint64_t seed)
{
    if (positive_domain(id))
        return uz_test_rand(ctx, ndim, shape, seed, 0.5f, 2.0f);
    uz_tensor *t = uz_test_rand(ctx, ndim, shape, seed, -3.0f, 3.0f);
    for (int64_t i = 0; i < uz_tensor_numel(t); i++)
        if (fabsf(t->data[i]) < 0.1f)
            t->data[i] += t->data[i] < 0 ? -0.1f : 0.1f;
    return t;
}

START_TEST(test_unary_values)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    for (int id = 0; id < N_UNARY; id++) {
        /* 3000 elements: the serial path; 100000: the threaded one. */
        int64_t sizes[] = {3000, 100000};
        for (int s = 0; s < 2; s++) {
            uz_tensor *x = unary_input(ctx, (un_id)id, 1, &sizes[s], 40 + id);
            uz_tensor *y = apply_unary(ctx, (un_id)id, x);
            UZ_CK_NOTNULL(y);
            for (int64_t i = 0; i < sizes[s]; i++) {
                double want = ref_unary((un_id)id, x->data[i]);
                CHECK(close_to(y->data[i], want, 3e-6), "%s(%.9g): %.9g vs %.9g",
                              un_names[id], (double)x->data[i], (double)y->data[i], want);
            }
        }
    }
    uz_ctx_free(ctx);
}
END_TEST

/* GELU's two forms at points where they differ, and extremes that must not
 * produce NaN. */
START_TEST(test_activation_known)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    const float xs[] = {-100.0f, -10.0f, -1.0f, 0.0f, 1.0f, 3.0f, 100.0f};
    uz_tensor *x = uz_tensor_from(ctx, 1, (int64_t[]){7}, xs);
    uz_tensor *ge = uz_gelu(ctx, x, UZ_GELU_ERF), *gt = uz_gelu(ctx, x, UZ_GELU_TANH);
    uz_tensor *sg = uz_sigmoid(ctx, x), *si = uz_silu(ctx, x);
    UZ_CK_NOTNULL(ge);
    UZ_CK_NOTNULL(gt);
    /* gelu(1): Phi(1) = 0.8413447460685429; tanh form 0.8411919906082768. */
    ck_assert_float_eq_tol(ge->data[4], 0.84134474606854293f, 3e-7f);
    ck_assert_float_eq_tol(gt->data[4], 0.84119199060827680f, 3e-7f);
    ck_assert_float_eq_tol(ge->data[2], -0.15865525393145707f, 3e-7f);
    for (int i = 0; i < 7; i++) {
        ck_assert(isfinite(ge->data[i]) && isfinite(gt->data[i]));
        ck_assert(isfinite(sg->data[i]) && isfinite(si->data[i]));
    }
    ck_assert_float_eq(sg->data[0], 0.0f);
    ck_assert_float_eq(sg->data[6], 1.0f);
    ck_assert_float_eq(si->data[6], 100.0f);
    ck_assert_float_eq(ge->data[6], 100.0f);
    uz_ctx_free(ctx);
}
END_TEST

typedef struct un_case {
    un_id id;
    bool transpose;
} un_case;

static uz_tensor *f_unary(uz_ctx *ctx, uz_tensor **in, void *user)
{
    const un_case *c = user;
    uz_tensor *x = c->transpose ? uz_transpose(ctx, in[0], 0, 1) : in[0];
    return apply_unary(ctx, c->id, x);
}

START_TEST(test_unary_grad)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    for (int id = 0; id < N_UNARY; id++)
        for (int tr = 0; tr < 2; tr++) {
            uz_tensor *in[1] = {unary_input(ctx, (un_id)id, 2, (int64_t[]){4, 5}, 60 + id)};
            un_case c = {(un_id)id, tr == 1};
            ck_assert_msg(uz_gradcheck(in, 1, f_unary, &c, UZ_GC_DEFAULT, msg, sizeof msg),
                          "%s%s: %s", un_names[id], tr ? " (transposed)" : "", msg);
        }
    uz_ctx_free(ctx);
}
END_TEST

/* ---- where -------------------------------------------------------------------------- */

static uz_tensor *f_where(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_where(ctx, user, in[0], in[1]);
}

static uz_tensor *f_where_t(uz_ctx *ctx, uz_tensor **in, void *user)
{
    return uz_where(ctx, user, uz_transpose(ctx, in[0], 0, 1), in[1]);
}

START_TEST(test_where)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    char msg[256];
    uz_tensor *cond = uz_tensor_from(ctx, 2, (int64_t[]){3, 1}, (float[]){1, 0, -2});
    uz_tensor *in[2];
    in[0] = uz_test_rand(ctx, 3, (int64_t[]){2, 3, 4}, 1, -1, 1);
    in[1] = uz_test_rand(ctx, 1, (int64_t[]){4}, 2, -1, 1);
    uz_tensor *y = uz_where(ctx, cond, in[0], in[1]);
    UZ_CK_NOTNULL(y);
    ck_assert_int_eq(y->ndim, 3);
    int64_t idx[3];
    for (int64_t i = 0; i < 24; i++) {
        unflatten(y, i, idx);
        float want = cond->data[idx[1]] != 0 ? uz_tensor_get(in[0], idx) : in[1]->data[idx[2]];
        ck_assert_float_eq(y->data[i], want);
    }
    ck_assert_msg(uz_gradcheck(in, 2, f_where, cond, UZ_GC_DEFAULT, msg, sizeof msg),
                  "broadcast: %s", msg);
    /* cond full-size and checkered, a transposed leaf, b a 0-d tensor. */
    uz_tensor *checker = uz_tensor_empty(ctx, 2, (int64_t[]){3, 4});
    for (int i = 0; i < 12; i++)
        checker->data[i] = (float)((i + i / 4) % 2);
    in[0] = uz_test_rand(ctx, 2, (int64_t[]){4, 3}, 3, -1, 1);
    in[1] = uz_test_rand(ctx, 0, (int64_t[]){1}, 4, -1, 1);
    ck_assert_msg(uz_gradcheck(in, 2, f_where_t, checker, UZ_GC_DEFAULT, msg, sizeof msg),
                  "transposed: %s", msg);
    uz_ctx_free(ctx);
}
END_TEST

/* ---- bookkeeping and errors ---------------------------------------------------------- */

START_TEST(test_no_grad_no_node)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = operand(ctx, 2, (int64_t[]){2, 3}, 1);
    uz_tensor *y = uz_exp(ctx, uz_add(ctx, a, a));
    UZ_CK_NOTNULL(y);
    ck_assert(!y->requires_grad);
    ck_assert_ptr_null(y->node);
    a->requires_grad = true;
    bool was = uz_grad_enable(ctx, false);
    y = uz_mul(ctx, a, a);
    uz_grad_enable(ctx, was);
    ck_assert_ptr_null(y->node);
    uz_ctx_free(ctx);
}
END_TEST

static void expect_error(uz_tensor *t, const char *const *parts)
{
    ck_assert_ptr_null(t);
    for (int i = 0; parts[i]; i++)
        ck_assert_msg(strstr(uz_error_message(), parts[i]), "'%s' missing from: %s", parts[i],
                      uz_error_message());
}

START_TEST(test_errors)
{
    uz_ctx *ctx = uz_ctx_new(0, 0);
    uz_tensor *a = operand(ctx, 2, (int64_t[]){2, 3}, 1);
    uz_tensor *v4 = operand(ctx, 1, (int64_t[]){4}, 2);
    uz_tensor *c = operand(ctx, 3, (int64_t[]){2, 3, 4}, 3);
    uz_tensor *d = operand(ctx, 2, (int64_t[]){3, 2}, 4);
    expect_error(uz_add(ctx, a, v4), (const char *[]){"add:", "[2,3] and [4]", NULL});
    expect_error(uz_mul(ctx, c, d), (const char *[]){"mul:", "[2,3,4] and [3,2]", NULL});
    expect_error(uz_pow(ctx, d, c), (const char *[]){"pow:", "[3,2] and [2,3,4]", NULL});
    expect_error(uz_where(ctx, v4, a, a),
                 (const char *[]){"where:", "[4] (cond)", "[2,3]", NULL});
    expect_error(uz_gelu(ctx, a, (uz_gelu_mode)7), (const char *[]){"gelu:", "mode 7", NULL});
    ck_assert_ptr_null(uz_add(ctx, NULL, a));
    ck_assert_ptr_null(uz_sub(ctx, a, NULL));
    ck_assert_ptr_null(uz_exp(ctx, NULL));
    ck_assert_ptr_null(uz_mul_scalar(ctx, NULL, 2.0f));
    ck_assert_ptr_null(uz_where(ctx, NULL, a, a));
    ck_assert_ptr_null(uz_gelu(ctx, NULL, UZ_GELU_ERF));
    uz_ctx_free(ctx);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_binary_known);
    tcase_add_test(tc, test_binary_values);
    tcase_add_test(tc, test_binary_large);
    tcase_add_test(tc, test_broadcast_grad_large);
    tcase_add_test(tc, test_binary_grad);
    tcase_add_test(tc, test_pow_masks);
    tcase_add_test(tc, test_unary_values);
    tcase_add_test(tc, test_activation_known);
    tcase_add_test(tc, test_unary_grad);
    tcase_add_test(tc, test_where);
    tcase_add_test(tc, test_no_grad_no_node);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
