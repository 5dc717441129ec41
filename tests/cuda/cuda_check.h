/* Support for the CUDA suites: a main() that skips without a GPU and runs
 * Check without forking, and the two checks every op goes through on CUDA.
 *
 *  - uz_cuda_agree runs the same function on the CPU and on CUDA over the
 *    same host inputs and compares the outputs and the gradients of
 *    sum(out * w) (w fixed random) with respect to every input that
 *    requires grad. The inputs are CPU leaves; on CUDA they are moved with
 *    uz_tensor_to inside the context set to CUDA, so the function must
 *    build its own views (transposes...) to test strided inputs there.
 *  - uz_cuda_gradcheck is uz_gradcheck (finite differences) with the
 *    function evaluated on CUDA, its result brought back to the host.
 *
 * Tolerances: an element passes when |cuda - cpu| <= rtol |cpu| + rtol M,
 * M the largest |cpu| of that tensor (so values that cancel to ~0 are held
 * to the tensor's scale, not to their own). UZ_CUDA_EXACT (1e-5) is for
 * f32 paths: both sides round each op to f32 (~6e-8), and the summation
 * orders differ, which over the few hundred terms of these shapes stays
 * below 1e-6; transcendental functions differ by an ulp or two between
 * glibc and CUDA. UZ_CUDA_TF32 (5e-3) is for TF32 tensor-core GEMMs and
 * convolutions, whose products keep 10 mantissa bits (2^-11 = 5e-4 per
 * product, growing with the sum's length). */
#ifndef UZ_TEST_CUDA_CHECK_H
#define UZ_TEST_CUDA_CHECK_H

#include "core/device.h"
#include "gradcheck.h"

#include <check.h>

typedef struct uz_cuda_tol {
    double rtol;
} uz_cuda_tol;

#define UZ_CUDA_EXACT ((uz_cuda_tol){1e-5})
#define UZ_CUDA_TF32 ((uz_cuda_tol){5e-3})

bool uz_cuda_agree(uz_tensor **in, int n_in, uz_gc_fn fn, void *user, uz_cuda_tol tol,
                   char *msg, size_t msglen);

bool uz_cuda_gradcheck(uz_tensor **in, int n_in, uz_gc_fn fn, void *user, uz_gc_tol tol,
                       char *msg, size_t msglen);

/* Compares n host values against a reference with uz_cuda_tol's rule;
 * writes the first mismatch (labelled `what`) to msg. */
bool uz_cuda_close(const float *got, const float *ref, int64_t n, uz_cuda_tol tol,
                   const char *what, char *msg, size_t msglen);

/* ck_assert around the two checks, printing their message. */
#define UZ_CK_AGREE(in, n, fn, user, tol)                                                    \
    do {                                                                                     \
        char msg_[512];                                                                      \
        ck_assert_msg(uz_cuda_agree((in), (n), (fn), (user), (tol), msg_, sizeof msg_), "%s", \
                      msg_);                                                                 \
    } while (0)
#define UZ_CK_GRADCHECK(in, n, fn, user)                                                     \
    do {                                                                                     \
        char msg_[512];                                                                      \
        ck_assert_msg(uz_cuda_gradcheck((in), (n), (fn), (user), UZ_GC_DEFAULT, msg_,       \
                                        sizeof msg_),                                        \
                      "%s", msg_);                                                           \
    } while (0)

#endif
