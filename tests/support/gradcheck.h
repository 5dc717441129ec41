/* Finite-difference gradient checks and random test tensors.
 *
 * The check compares, for every element x_j of every input that requires
 * grad, the analytic d f/d x_j from uz_backward_with against the central
 * difference (f(x+eps) - f(x-eps)) / 2eps, where f = sum(out * w) with w a
 * fixed random tensor (so every output element and its position matter).
 *
 * Tolerance (default eps = 1e-3, |num - ana| <= atol + rtol*|num| with
 * atol = 5e-3, rtol = 1e-2): the forward runs in float32, whose rounding is
 * ~6e-8 relative per op; with |f| of order the number of outputs N (values
 * and weights in [-1, 1]) the difference quotient carries a rounding error of
 * about N * 6e-8 / 2e-3 = 3e-5 N, i.e. <= 3e-3 for the N <= 100 outputs the
 * checks use, while the truncation error eps^2 f'''/6 is ~1e-7. An error in
 * a backward formula (a missing term, a wrong index) is O(1) and is caught. */
#ifndef UZ_TEST_GRADCHECK_H
#define UZ_TEST_GRADCHECK_H

#include "core/unizoo.h"

typedef uz_tensor *(*uz_gc_fn)(uz_ctx *ctx, uz_tensor **in, void *user);

typedef struct uz_gc_tol {
    double eps, atol, rtol;
} uz_gc_tol;

#define UZ_GC_DEFAULT ((uz_gc_tol){1e-3, 5e-3, 1e-2})

/* Runs the check on in[0..n_in). Returns true when every gradient matches;
 * otherwise writes the first mismatch (input, element, numeric, analytic) to msg. */
bool uz_gradcheck(uz_tensor **in, int n_in, uz_gc_fn fn, void *user, uz_gc_tol tol, char *msg,
                  size_t msglen);

/* Leaf tensor with uniform values in [lo, hi), requires_grad set. */
uz_tensor *uz_test_rand(uz_ctx *ctx, int ndim, const int64_t *shape, uint64_t seed, float lo,
                        float hi);

/* Max |a - b| over equal-shaped tensors (strided reads). */
double uz_test_max_abs_diff(const uz_tensor *a, const uz_tensor *b);

/* ck_assert with the library's last error message on failure. */
#define UZ_CK_OK(expr) ck_assert_msg((expr) == UZ_OK, "%s", uz_error_message())
#define UZ_CK_NOTNULL(p) ck_assert_msg((p) != NULL, "%s", uz_error_message())

#endif
