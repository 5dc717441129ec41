/* Elementwise kernels. Strided operands are coalesced first (size-1 dims
 * dropped, dims whose strides chain merged), so contiguous same-shape inputs
 * become one row of stride-1 chunks, each a plain vectorised loop; the work
 * is split into tiles (rows x columns of the coalesced view) across threads.
 * Inner loops are specialised for strides 1 and 0 (a broadcast operand held
 * in a register). An operand read with a large inner stride (a transposed
 * view) gets tiles of several short rows, so the cache lines it pulls in are
 * reused by the neighbouring rows instead of evicted. */
#include "kernels_cpu.h"
#include "simd_math.h"

#include "../activation_terms.h"

#include <string.h>

/* The chunks are fixed, so which elements take libmvec's vector path
 * (simd_math.h) does not depend on the thread count. */
enum {
    PAR_MIN = 32768,        /* elements before threads pay off for cheap ops */
    PAR_MIN_COSTLY = 4096,  /* the same for transcendental ops */
    CHUNK = 4096,           /* columns per tile when every inner stride is 0 or 1 */
    TILE_ROWS = 16,         /* tile shape when some operand is read across lines */
    TILE_COLS = 128
};

enum { MAX_OPS = 3 }; /* strided operands: where's cond, a and b */

typedef struct ew_plan {
    int ndim;
    int64_t shape[UZ_MAX_DIMS];
    int64_t st[MAX_OPS][UZ_MAX_DIMS];
    int64_t rows, inner;
    int64_t tile_rows, tile_cols, row_tiles, col_tiles;
} ew_plan;

/* The contiguous output (and gradient) always chains, so only the strided
 * operands decide whether two dims merge. */
static void plan_make(ew_plan *p, int ndim, const int64_t *shape, int nops,
                      const int64_t *const *st)
{
    int m = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1)
            continue;
        bool merge = m > 0;
        for (int k = 0; merge && k < nops; k++)
            merge = p->st[k][m - 1] == st[k][d] * shape[d];
        if (merge) {
            p->shape[m - 1] *= shape[d];
            for (int k = 0; k < nops; k++)
                p->st[k][m - 1] = st[k][d];
            continue;
        }
        p->shape[m] = shape[d];
        for (int k = 0; k < nops; k++)
            p->st[k][m] = st[k][d];
        m++;
    }
    if (m == 0) {
        p->shape[0] = 1;
        for (int k = 0; k < nops; k++)
            p->st[k][0] = 0;
        m = 1;
    }
    p->ndim = m;
    p->inner = p->shape[m - 1];
    p->rows = 1;
    for (int d = 0; d < m - 1; d++)
        p->rows *= p->shape[d];
    bool strided = false;
    for (int k = 0; k < nops; k++)
        strided = strided || (p->st[k][m - 1] != 0 && p->st[k][m - 1] != 1);
    p->tile_rows = strided ? TILE_ROWS : 1;
    p->tile_cols = strided ? TILE_COLS : CHUNK;
    p->row_tiles = (p->rows + p->tile_rows - 1) / p->tile_rows;
    p->col_tiles = (p->inner + p->tile_cols - 1) / p->tile_cols;
}

static int64_t row_offset(const ew_plan *p, int k, int64_t r)
{
    int64_t off = 0;
    for (int d = p->ndim - 2; d >= 0; d--) {
        off += (r % p->shape[d]) * p->st[k][d];
        r /= p->shape[d];
    }
    return off;
}

static bool has_empty(int ndim, const int64_t *shape)
{
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0)
            return true;
    return false;
}

/* Tile t of a plan: rows [r0, r1), columns [j0, j0 + n). */
typedef struct ew_tile {
    int64_t r0, r1, j0, n;
} ew_tile;

static ew_tile tile_of(const ew_plan *p, int64_t t)
{
    ew_tile w;
    w.r0 = t / p->col_tiles * p->tile_rows;
    w.r1 = w.r0 + p->tile_rows < p->rows ? w.r0 + p->tile_rows : p->rows;
    w.j0 = t % p->col_tiles * p->tile_cols;
    w.n = p->inner - w.j0 < p->tile_cols ? p->inner - w.j0 : p->tile_cols;
    return w;
}

static int64_t n_tiles(const ew_plan *p) { return p->row_tiles * p->col_tiles; }

/* ---- binary ------------------------------------------------------------------ */

/* o[j] = EXPR(x = a[j*sa], y = b[j*sb]). */
#define BIN_LOOP(EXPR)                                                                       \
    do {                                                                                     \
        if (sa == 1 && sb == 1) {                                                            \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                              \
            {                                                                                \
                float x = a[j], y = b[j];                                                    \
                o[j] = (EXPR);                                                               \
            }                                                                                \
        } else if (sa == 1 && sb == 0) {                                                     \
            float y = b[0];                                                                  \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                              \
            {                                                                                \
                float x = a[j];                                                              \
                o[j] = (EXPR);                                                               \
            }                                                                                \
        } else if (sa == 0 && sb == 1) {                                                     \
            float x = a[0];                                                                  \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                              \
            {                                                                                \
                float y = b[j];                                                              \
                o[j] = (EXPR);                                                               \
            }                                                                                \
        } else {                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                \
                float x = a[j * sa], y = b[j * sb];                                          \
                o[j] = (EXPR);                                                               \
            }                                                                                \
        }                                                                                    \
    } while (0)

static void bin_run(uz_binary_op op, float *o, const float *a, int64_t sa, const float *b,
                    int64_t sb, int64_t n)
{
    switch (op) {
    case UZ_BINARY_ADD: BIN_LOOP(x + y); break;
    case UZ_BINARY_SUB: BIN_LOOP(x - y); break;
    case UZ_BINARY_MUL: BIN_LOOP(x * y); break;
    case UZ_BINARY_DIV: BIN_LOOP(x / y); break;
    case UZ_BINARY_POW: BIN_LOOP(powf(x, y)); break;
    }
}

/* gr[j] += EXPR(g = go[j], z = out[j], x = a[j*sa], y = b[j*sb]); assign
 * writes 0 + EXPR instead (the bits of adding to a zeroed buffer, without
 * the fill). */
#define BIN_GRAD_LOOP(EXPR)                                                                  \
    do {                                                                                     \
        if (sa == 1 && sb == 1) {                                                            \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                              \
            {                                                                                \
                float g = go[j], z = out[j], x = a[j], y = b[j];                             \
                (void)z, (void)x, (void)y;                                                   \
                gr[j] = (assign ? 0.0f : gr[j]) + (EXPR);                                    \
            }                                                                                \
        } else if (sa == 1 && sb == 0) {                                                     \
            float y = b[0];                                                                  \
            (void)y;                                                                         \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                              \
            {                                                                                \
                float g = go[j], z = out[j], x = a[j];                                       \
                (void)z, (void)x;                                                            \
                gr[j] = (assign ? 0.0f : gr[j]) + (EXPR);                                    \
            }                                                                                \
        } else if (sa == 0 && sb == 1) {                                                     \
            float x = a[0];                                                                  \
            (void)x;                                                                         \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                              \
            {                                                                                \
                float g = go[j], z = out[j], y = b[j];                                       \
                (void)z, (void)y;                                                            \
                gr[j] = (assign ? 0.0f : gr[j]) + (EXPR);                                    \
            }                                                                                \
        } else {                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                \
                float g = go[j], z = out[j], x = a[j * sa], y = b[j * sb];                   \
                (void)z, (void)x, (void)y;                                                   \
                gr[j] = (assign ? 0.0f : gr[j]) + (EXPR);                                    \
            }                                                                                \
        }                                                                                    \
    } while (0)

/* The formulas are PyTorch's (derivatives.yaml), zero-masking included. */
static void bin_grad_run(uz_binary_op op, int wrt, bool assign, float *gr, const float *go,
                         const float *out, const float *a, int64_t sa, const float *b, int64_t sb,
                         int64_t n)
{
    switch (op) {
    case UZ_BINARY_ADD: BIN_GRAD_LOOP(g); break;
    case UZ_BINARY_SUB:
        if (wrt == 0)
            BIN_GRAD_LOOP(g);
        else
            BIN_GRAD_LOOP(-g);
        break;
    case UZ_BINARY_MUL:
        if (wrt == 0)
            BIN_GRAD_LOOP(g * y);
        else
            BIN_GRAD_LOOP(g * x);
        break;
    case UZ_BINARY_DIV:
        if (wrt == 0)
            BIN_GRAD_LOOP(g / y);
        else
            BIN_GRAD_LOOP(-g * z / y);
        break;
    case UZ_BINARY_POW:
        if (wrt == 0)
            BIN_GRAD_LOOP(y == 0.0f ? 0.0f : g * y * powf(x, y - 1.0f));
        else
            BIN_GRAD_LOOP((x == 0.0f && y >= 0.0f) ? 0.0f : g * z * logf(x));
        break;
    }
}

static int64_t bin_par_min(uz_binary_op op)
{
    return op == UZ_BINARY_POW ? PAR_MIN_COSTLY : PAR_MIN;
}

static void cpu_binary(uz_binary_op op, float *out, const float *a, const int64_t *a_stride,
                       const float *b, const int64_t *b_stride, int ndim, const int64_t *shape)
{
    if (has_empty(ndim, shape))
        return;
    ew_plan p;
    plan_make(&p, ndim, shape, 2, (const int64_t *const[]){a_stride, b_stride});
    int64_t tiles = n_tiles(&p), par_min = bin_par_min(op);
    int64_t sa = p.st[0][p.ndim - 1], sb = p.st[1][p.ndim - 1];
#pragma omp parallel for if (p.rows * p.inner > par_min) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        ew_tile w = tile_of(&p, t);
        for (int64_t r = w.r0; r < w.r1; r++)
            bin_run(op, out + r * p.inner + w.j0, a + row_offset(&p, 0, r) + w.j0 * sa, sa,
                    b + row_offset(&p, 1, r) + w.j0 * sb, sb, w.n);
    }
}

static void cpu_binary_backward(uz_binary_op op, int wrt, bool assign, float *grad,
                                const float *gout,
                                const float *out, const float *a, const int64_t *a_stride,
                                const float *b, const int64_t *b_stride, int ndim,
                                const int64_t *shape)
{
    if (has_empty(ndim, shape))
        return;
    ew_plan p;
    plan_make(&p, ndim, shape, 2, (const int64_t *const[]){a_stride, b_stride});
    int64_t tiles = n_tiles(&p), par_min = bin_par_min(op);
    int64_t sa = p.st[0][p.ndim - 1], sb = p.st[1][p.ndim - 1];
#pragma omp parallel for if (p.rows * p.inner > par_min) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        ew_tile w = tile_of(&p, t);
        for (int64_t r = w.r0; r < w.r1; r++) {
            int64_t flat = r * p.inner + w.j0;
            bin_grad_run(op, wrt, assign, grad + flat, gout + flat, out + flat,
                         a + row_offset(&p, 0, r) + w.j0 * sa, sa,
                         b + row_offset(&p, 1, r) + w.j0 * sb, sb, w.n);
        }
    }
}

/* ---- unary ------------------------------------------------------------------- */

#define UN_LOOP(EXPR)                                                                        \
    do {                                                                                     \
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                                  \
        {                                                                                    \
            float x = a[j];                                                                  \
            o[j] = (EXPR);                                                                   \
        }                                                                                    \
    } while (0)

#define UN_GRAD_LOOP(EXPR)                                                                   \
    do {                                                                                     \
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++)                                  \
        {                                                                                    \
            float g = go[j], x = a[j], z = out[j];                                           \
            (void)x, (void)z;                                                                \
            gr[j] = (assign ? 0.0f : gr[j]) + (EXPR);                                        \
        }                                                                                    \
    } while (0)

/* UZ_SIMD_CLONES: GELU, exp and the others run 8 lanes wide where the CPU allows. */
static UZ_SIMD_CLONES void un_run(uz_unary_op op, float s, float *o, const float *a, int64_t n)
{
    switch (op) {
    case UZ_UNARY_ADD_SCALAR: UN_LOOP(x + s); break;
    case UZ_UNARY_MUL_SCALAR: UN_LOOP(x * s); break;
    case UZ_UNARY_POW_SCALAR:
        /* Squares are common (losses, norms); x*x is fast and correctly rounded. */
        if (s == 2.0f)
            UN_LOOP(x * x);
        else
            UN_LOOP(powf(x, s));
        break;
    case UZ_UNARY_EXP: UN_LOOP(expf(x)); break;
    case UZ_UNARY_LOG: UN_LOOP(logf(x)); break;
    case UZ_UNARY_SQRT: UN_LOOP(sqrtf(x)); break;
    case UZ_UNARY_RELU: UN_LOOP(x <= 0.0f ? 0.0f : x); break; /* NaN passes through */
    case UZ_UNARY_SIGMOID: UN_LOOP(uz_sigmoid1(x)); break;
    case UZ_UNARY_TANH: UN_LOOP(tanhf(x)); break;
    case UZ_UNARY_SILU: UN_LOOP(x * uz_sigmoid1(x)); break;
    case UZ_UNARY_GELU_ERF: UN_LOOP(uz_gelu_erf1(x)); break;
    case UZ_UNARY_GELU_TANH: UN_LOOP(x * uz_gelu_tanh_sigmoid(x)); break;
    case UZ_UNARY_ABS: UN_LOOP(fabsf(x)); break;
    }
}

/* gr[j] += g f'(x); assign writes 0 + g f'(x) (see BIN_GRAD_LOOP). */
static UZ_SIMD_CLONES void un_grad_run(uz_unary_op op, float s, bool assign, float *gr,
                                       const float *go, const float *out, const float *a,
                                       int64_t n)
{
    switch (op) {
    case UZ_UNARY_ADD_SCALAR: UN_GRAD_LOOP(g); break;
    case UZ_UNARY_MUL_SCALAR: UN_GRAD_LOOP(g * s); break;
    case UZ_UNARY_POW_SCALAR:
        if (s == 0.0f) {
            if (assign)
                memset(gr, 0, sizeof(float) * (size_t)n);
            return;
        }
        if (s == 2.0f)
            UN_GRAD_LOOP(g * 2.0f * x);
        else
            UN_GRAD_LOOP(g * s * powf(x, s - 1.0f));
        break;
    case UZ_UNARY_EXP: UN_GRAD_LOOP(g * z); break;
    case UZ_UNARY_LOG: UN_GRAD_LOOP(g / x); break;
    case UZ_UNARY_SQRT: UN_GRAD_LOOP(g / (2.0f * z)); break;
    case UZ_UNARY_RELU: UN_GRAD_LOOP(z <= 0.0f ? 0.0f : g); break;
    case UZ_UNARY_SIGMOID: UN_GRAD_LOOP(g * (1.0f - z) * z); break;
    case UZ_UNARY_TANH: UN_GRAD_LOOP(g * (1.0f - z * z)); break;
    case UZ_UNARY_SILU: UN_GRAD_LOOP(g * uz_silu1_grad(x)); break;
    case UZ_UNARY_GELU_ERF: UN_GRAD_LOOP(g * uz_gelu_erf1_grad(x)); break;
    case UZ_UNARY_GELU_TANH: UN_GRAD_LOOP(g * uz_gelu_tanh1_grad(x)); break;
    /* sign(x), 0 at 0 (PyTorch's abs backward: the subgradient 0 at the kink). */
    case UZ_UNARY_ABS: UN_GRAD_LOOP(x > 0.0f ? g : (x < 0.0f ? -g : 0.0f)); break;
    }
}

static int64_t un_par_min(uz_unary_op op)
{
    switch (op) {
    case UZ_UNARY_ADD_SCALAR:
    case UZ_UNARY_MUL_SCALAR:
    case UZ_UNARY_RELU:
    case UZ_UNARY_ABS:
        return PAR_MIN;
    default:
        return PAR_MIN_COSTLY;
    }
}

static void cpu_unary(uz_unary_op op, float s, float *out, const float *a, int64_t n)
{
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (n > un_par_min(op)) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t j0 = c * CHUNK, len = n - j0 < CHUNK ? n - j0 : CHUNK;
        un_run(op, s, out + j0, a + j0, len);
    }
}

static void cpu_unary_backward(uz_unary_op op, float s, bool assign, float *grad,
                               const float *gout, const float *out, const float *a, int64_t n)
{
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for if (n > un_par_min(op)) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t j0 = c * CHUNK, len = n - j0 < CHUNK ? n - j0 : CHUNK;
        un_grad_run(op, s, assign, grad + j0, gout + j0, out + j0, a + j0, len);
    }
}

/* ---- where ------------------------------------------------------------------- */

static void where_run(float *o, const float *c, int64_t sc, const float *x, int64_t sa,
                      const float *y, int64_t sb, int64_t n)
{
    if (sc == 1 && sa == 1 && sb == 1) {
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            o[j] = c[j] != 0.0f ? x[j] : y[j];
    } else {
        for (int64_t j = 0; j < n; j++)
            o[j] = c[j * sc] != 0.0f ? x[j * sa] : y[j * sb];
    }
}

static void cpu_where(float *out, const float *cond, const int64_t *cond_stride, const float *a,
                      const int64_t *a_stride, const float *b, const int64_t *b_stride, int ndim,
                      const int64_t *shape)
{
    if (has_empty(ndim, shape))
        return;
    ew_plan p;
    plan_make(&p, ndim, shape, 3, (const int64_t *const[]){cond_stride, a_stride, b_stride});
    int64_t tiles = n_tiles(&p);
    int64_t sc = p.st[0][p.ndim - 1], sa = p.st[1][p.ndim - 1], sb = p.st[2][p.ndim - 1];
#pragma omp parallel for if (p.rows * p.inner > PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        ew_tile w = tile_of(&p, t);
        for (int64_t r = w.r0; r < w.r1; r++)
            where_run(out + r * p.inner + w.j0, cond + row_offset(&p, 0, r) + w.j0 * sc, sc,
                      a + row_offset(&p, 1, r) + w.j0 * sa, sa,
                      b + row_offset(&p, 2, r) + w.j0 * sb, sb, w.n);
    }
}

static void cpu_where_backward(bool to_a, float *grad, const float *gout, const float *cond,
                               const int64_t *cond_stride, int ndim, const int64_t *shape)
{
    if (has_empty(ndim, shape))
        return;
    ew_plan p;
    plan_make(&p, ndim, shape, 1, (const int64_t *const[]){cond_stride});
    int64_t tiles = n_tiles(&p), sc = p.st[0][p.ndim - 1];
#pragma omp parallel for if (p.rows * p.inner > PAR_MIN) schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        ew_tile w = tile_of(&p, t);
        for (int64_t r = w.r0; r < w.r1; r++) {
            const float *c = cond + row_offset(&p, 0, r) + w.j0 * sc;
            float *gr = grad + r * p.inner + w.j0;
            const float *go = gout + r * p.inner + w.j0;
#pragma omp simd
            for (int64_t j = 0; j < w.n; j++)
                gr[j] += (c[j * sc] != 0.0f) == to_a ? go[j] : 0.0f;
        }
    }
}

const struct uz_kernels_elementwise uz_cpu_kernels_elementwise = {
    .binary = cpu_binary,
    .binary_backward = cpu_binary_backward,
    .unary = cpu_unary,
    .unary_backward = cpu_unary_backward,
    .where = cpu_where,
    .where_backward = cpu_where_backward,
};
